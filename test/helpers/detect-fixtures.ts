// What the detector's scenario tests share: the repository's prompt fixtures (real prompts, kept
// small) and a seeded random source, so a scenario is the same on every run.
import { readFileSync } from 'node:fs';

/** The prompts of one fixture file under test/fixtures/prompts (`distill/gsm8k-sample.jsonl`). */
export function promptFixture(path: string): string[] {
  return readFileSync(new URL(`../fixtures/prompts/${path}`, import.meta.url), 'utf8')
    .trim().split('\n').map((l) => JSON.parse(l).text as string);
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
