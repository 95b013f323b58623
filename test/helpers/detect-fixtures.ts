// What the detector's scenario tests share: the repository's prompt fixtures (real prompts, kept
// small), a seeded random source, so a scenario is the same on every run, and a replay that
// follows each account's level.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, verdictRank, type EngineOptions, type PromptPool } from '../../src/detect/index.ts';
import { FLAG } from '../../src/detect/features.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../../src/events/index.ts';

/** The prompts of one fixture file under test/fixtures/prompts (`distill/gsm8k-sample.jsonl`). */
export function promptFixture(path: string): string[] {
  return readFileSync(new URL(`../fixtures/prompts/${path}`, import.meta.url), 'utf8')
    .trim().split('\n').map((l) => JSON.parse(l).text as string);
}

/** Rows of a fixture file under test/fixtures (`multilingual/gsm8k-translated.jsonl`), with their language where given. */
export function fixtureRows(path: string): Array<{ text: string; lang?: string }> {
  return readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8')
    .trim().split('\n').map((l) => JSON.parse(l) as { text: string; lang?: string });
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

/** How many of the accounts whose ids start with `prefix` reached throttle, and from which of their requests. */
export function replaySummary(res: ReturnType<typeof replayThroughDetector>, prefix: string): { throttled: number; accounts: number; text: string } {
  const at: number[] = [];
  let k = 0;
  for (const [id] of res.seen) {
    if (!id.startsWith(prefix)) continue;
    k++;
    const n = res.throttledAt.get(id);
    if (n !== undefined) at.push(n);
  }
  at.sort((a, b) => a - b);
  return { throttled: at.length, accounts: k, text: `${prefix}: ${at.length} of ${k} throttled${at.length ? `, from request ${at[0]}-${at[at.length - 1]}` : ''}` };
}

/** Every account whose id starts with `prefix` (one at least) reached throttle, its verdict naming `signal`. */
export function assertAllThrottled(res: ReturnType<typeof replayThroughDetector>, prefix: string, signal: string): void {
  let k = 0;
  for (const [id, n] of res.seen) {
    if (!id.startsWith(prefix)) continue;
    k++;
    const v = res.e.forAccount(id).verdict;
    assert.ok(res.throttledAt.has(id), `${id} (${n} requests) reaches throttle; highest ${res.highest.get(id)}: ${JSON.stringify(v?.reasons.slice(0, 6))}`);
    assert.ok(v?.reasons.some((x) => x.signal === signal), `${id}'s verdict names ${signal}: ${JSON.stringify(v?.reasons.map((x) => x.signal))}`);
  }
  assert.ok(k > 0, `accounts ${prefix}* were run`);
}

/** Every account whose id starts with `prefix` (one at least) stayed at watch or below. */
export function assertAtMostWatch(res: ReturnType<typeof replayThroughDetector>, prefix: string): void {
  let k = 0;
  for (const [id, n] of res.seen) {
    if (!id.startsWith(prefix)) continue;
    k++;
    assert.ok((res.highest.get(id) ?? 0) <= verdictRank('watch'), `${id} (${n} requests) stays at watch or below; reached ${res.highest.get(id)}: ${JSON.stringify(res.e.forAccount(id).verdict?.reasons.slice(0, 10))}`);
  }
  assert.ok(k > 0, `accounts ${prefix}_* were run`);
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

/**
 * One single-shot chat request of an account that shares nothing with any other (its own card,
 * address and network, numbered `home`), answered with `out` tokens.
 */
export function singleShotEvent(account: string, home: number, n: number, ts: number, text: string, out: number): InteractionEvent {
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `83.${home}.7.9`, user_agent: 'python-httpx/0.27', country: 'US', asn: 4000 + home },
    request: { stream: false, system: null, messages: [{ role: 'user', text, chars: text.length }], tools: [], tool_choice: null, params: emptyParams(), bytes: text.length + 200 },
    response: { status: 200, error_code: null, input_tokens: roughTokens(text), output_tokens: out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: out * 2, reasoning_chars: 0 },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `83.${home}.7.9`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/** About as many tokens as a tokenizer makes of `text`: a Chinese, Japanese or Korean character one each, other text four characters a token. */
export function roughTokens(text: string): number {
  let wide = 0;
  for (const ch of text) if (/[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]/.test(ch)) wide++;
  return Math.max(1, wide + Math.ceil((text.length - wide) / 4));
}

/** The request times of a person's pace from `t0`: a few sessions a day, 2-6 requests each, irregular gaps. */
export function personPaceTimes(r: () => number, t0: number, days: number): number[] {
  const out: number[] = [];
  for (let d = 0; d < days; d++) {
    for (let s = 0, sessions = 2 + Math.floor(r() * 3); s < sessions; s++) {
      let ts = t0 + d * 86_400_000 + (8 + r() * 12) * 3_600_000;
      for (let q = 0, k = 2 + Math.floor(r() * 5); q < k; q++) { out.push(ts); ts += 20_000 + Math.exp(Math.log(120_000) + (r() - 0.5) * 5); }
    }
  }
  return out;
}

/** What a pipeline wraps around each item in one language: the reasoning asked for, a grading task, a rewrite on a sensitive topic. */
export interface LanguageWraps { cot: string[]; rubric: string[]; rewrite: string[] }

/**
 * Each item wrapped in a request for the reasoning and in a grading task (before the item or after
 * it, in turn) is read as such, and each rewrite on a sensitive topic is read as one.
 */
export function assertWrapsRead(lang: string, items: string[], wrap: LanguageWraps, flags: (text: string) => number): void {
  const missed: string[] = [];
  items.forEach((item, i) => {
    for (const [kind, bit] of [['cot', FLAG.cot], ['rubric', FLAG.rubric]] as const) {
      const ask = wrap[kind][i % wrap[kind].length];
      const text = i % 2 === 0 ? `${ask}\n\n${item}` : `${item}\n${ask}`;
      if ((flags(text) & bit) === 0) missed.push(`${kind}: ${ask}`);
    }
  });
  assert.deepEqual([...new Set(missed)], [], `${lang}: wrapped items not read`);
  for (const ask of wrap.rewrite) {
    assert.ok((flags(`${ask}\n\n${items[0]}`) & FLAG.sensitiveRewrite) !== 0, `${lang}: a rewrite on a sensitive topic: ${ask}`);
  }
}
