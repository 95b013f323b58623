// What the detector's scenario tests share: the repository's prompt fixtures (real prompts, kept
// small), a seeded random source, so a scenario is the same on every run, and a replay that
// follows each account's level.
import { readFileSync } from 'node:fs';
import { DetectorEngine, verdictRank, type EngineOptions, type PromptPool } from '../../src/detect/index.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

/** The prompts of one fixture file under test/fixtures/prompts (`distill/gsm8k-sample.jsonl`). */
export function promptFixture(path: string): string[] {
  return readFileSync(new URL(`../fixtures/prompts/${path}`, import.meta.url), 'utf8')
    .trim().split('\n').map((l) => JSON.parse(l).text as string);
}

/** The prompt pool the labelled scenarios draw from (test/fixtures/detect/prompts.json). */
export function detectPromptPool(): PromptPool {
  return JSON.parse(readFileSync(new URL('../fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
}

/** A seeded source of numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    let t = (s += 0x6d2b79f5) >>> 0;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Feed `events` to a new detector in time order and follow each account: the highest level it
 * reached at any time, its requests seen, and the request at which it first reached throttle.
 */
export function replayThroughDetector(events: InteractionEvent[], config: EngineOptions['config'] = {}) {
  const e = new DetectorEngine({ config });
  const all = [...events].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  const seen = new Map<string, number>();
  const highest = new Map<string, number>();
  const throttledAt = new Map<string, number>();
  for (const ev of all) {
    e.ingest(ev);
    const id = ev.account_id!;
    seen.set(id, (seen.get(id) ?? 0) + 1);
    const l = verdictRank(e.forAccount(id).level);
    highest.set(id, Math.max(highest.get(id) ?? 0, l));
    if (l >= verdictRank('throttle') && !throttledAt.has(id)) throttledAt.set(id, seen.get(id)!);
  }
  e.flush();
  for (const id of seen.keys()) highest.set(id, Math.max(highest.get(id) ?? 0, verdictRank(e.forAccount(id).level)));
  return { e, seen, highest, throttledAt };
}
