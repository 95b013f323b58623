// What the detector's scenario tests share: the repository's prompt fixtures (real prompts, kept
// small), a seeded random source, so a scenario is the same on every run, and a replay that
// follows each account's level.
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, verdictRank, type EngineOptions, type PromptPool } from '../../src/detect/index.ts';
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

let chatEvent: InteractionEvent | null = null;

/**
 * One chat event of `account`, `ms` after `t0`, from `ip`. Everything else an account could share
 * (card, signup address, user agent, parameters, network) is its own unless `opts.card` says
 * otherwise; `opts.batchId` marks a request Warden sent for a Message Batch.
 */
export function accountEvent(t0: number, account: string, ms: number, ip: string, opts: { card?: string; batchId?: string | null } = {}): InteractionEvent {
  const base = (chatEvent ??= buildLabelledEvents(detectPromptPool(), { seed: 9, days: 1, organic: { hobbyist: 1 }, campaigns: [] }).events[0]);
  const n = [...account].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7);
  const e: InteractionEvent = {
    ...base, id: `${account}-${ms}-${ip}`, ts: new Date(t0 + ms).toISOString(), account_id: account, org_id: null,
    request: { ...base.request, system: null, tools: [], params: { ...base.request.params, max_tokens: 1000 + (n % 5000) } },
    client: { ip, user_agent: `client/${account}`, country: 'FR', asn: 60_000 + (n % 5000) },
    account: { ...base.account!, created_at: '2025-01-01T00:00:00.000Z', payment_fp: opts.card ?? `card-${account}`, signup_ip: `10.${n % 250}.${(n >> 8) % 250}.1`, email_pattern: null, first_used_at: null },
  };
  if (opts.batchId) e.client.batch_id = opts.batchId;
  return e;
}
