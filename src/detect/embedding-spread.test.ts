// Embedding harvest: a new account embedding a broad corpus is shaped on its own (an established one
// is held at watch: a customer embedding a public dataset looks the same); customers indexing
// their own subject, and a product embedding its users' questions next to its chat traffic, are
// not; a harvest split by subject across linked accounts is recognised as one; every verdict says
// which condition held with its value and threshold; the sketches survive a snapshot.
// (A split harvest's accounts each look like a customer's index: that they are not is the
// cluster's evidence, checked on the account alone below.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine, verdictRank } from './index.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSnapshot, writeSnapshot } from './snapshot.ts';
import { emptyParams, emptyEnforcement, type InteractionEvent } from '../events/index.ts';
import { embeddingCorpus, simulatedEmbeddings, EMBED_MODEL } from '../traffic/embed.ts';
import { defaultPromptDir, loadPromptCorpus } from '../traffic/prompts.ts';

const T0 = Date.parse('2026-05-04T08:00:00.000Z');
const { subjects, all } = embeddingCorpus(loadPromptCorpus(defaultPromptDir()));

interface Who { id: string; ip?: string; card?: string; created?: string }

/** A distinct octet per account (accounts share addresses only when a test says so). */
const octet = (id: string) => [...id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 251, 7) + 1;

function event(who: Who, n: number, sec: number, texts: string[], flavour: InteractionEvent['flavour'] = 'openai.embeddings'): InteractionEvent {
  const embeds = flavour === 'openai.embeddings';
  return {
    schema: 'warden.interaction/1', id: `${who.id}-${n}-${flavour}`, ts: new Date(T0 + sec * 1000).toISOString(), duration_ms: 120,
    flavour, model: embeds ? EMBED_MODEL : 'gpt-test', upstream: 'mock', account_id: who.id, org_id: null, key_id: `key-${who.id}`,
    client: { ip: who.ip ?? `198.51.${octet(who.id)}.${1 + (n % 200)}`, user_agent: 'OpenAI/Python 1.99.0', country: 'US', asn: 7018 },
    request: { stream: false, system: null, messages: texts.map((t) => ({ role: 'user', text: t, chars: t.length })), tools: [], tool_choice: null, params: emptyParams(), bytes: 400 },
    response: {
      status: 200, error_code: null, input_tokens: 40 * texts.length, output_tokens: embeds ? 0 : 80, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0,
      finish_reason: embeds ? null : 'stop', ttfb_ms: 100, output_chars: embeds ? 0 : 300, reasoning_chars: 0,
      ...(embeds ? { embeddings: simulatedEmbeddings(texts) } : {}),
    },
    account: { created_at: who.created ?? '2025-01-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: `${who.id}.example`, payment_fp: who.card ?? `card-${who.id}`, signup_ip: who.ip ?? `10.${octet(who.id)}.0.1`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/** Deterministic picks from a list. */
function picks(list: string[], seed: number, n: number): string[] {
  let h = seed >>> 0 || 1;
  return Array.from({ length: n }, () => { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; return list[h % list.length]; });
}

/** Customers each indexing their own subject (the traffic every account is measured against), plus `extra` events. */
function run(extra: (e: DetectorEngine, n: number, sec: number) => void, rounds = 60, config: Record<string, unknown> = {}) {
  const e = new DetectorEngine({ config });
  for (let n = 0; n < rounds; n++) {
    const sec = n * 30;
    for (let s = 0; s < 8; s++) e.ingest(event({ id: `acct_index_${s}` }, n, sec + s, picks(subjects[s % subjects.length].texts, 1000 * s + n, 16)));
    // Retrieval products: their users' questions (any subject), one at a time, each also sent to the model.
    for (let q = 0; q < 24; q++) {
      const question = picks(all, 7 * n + q, 1);
      const who = { id: `acct_product_${q % 3}` };
      e.ingest(event(who, 8 * n + q, sec + 10 + q / 10, question));
      e.ingest(event(who, 8 * n + q, sec + 10 + q / 10, question, 'openai.chat'));
    }
    extra(e, n, sec);
  }
  e.flush();
  return e;
}

const FRESH = '2026-05-03T00:00:00.000Z';

test('a new account embedding a broad corpus is shaped alone, with each condition explained; customers are not', () => {
  const e = run((eng, n, sec) => {
    if (n < 20) return;
    eng.ingest(event({ id: 'acct_harvest', created: FRESH }, n, sec + 20, picks(all, 99 + n, 32)));
    // An established customer embedding a broad public dataset: the same by its vectors.
    eng.ingest(event({ id: 'acct_dataset' }, n, sec + 21, picks(all, 5000 + n, 32)));
  });
  assert.equal(e.forAccount('acct_harvest').level, 'shape');
  const established = e.forAccount('acct_dataset');
  assert.equal(established.level, 'watch', 'an established customer is held at watch alone');
  assert.ok(established.verdict!.reasons.some((r) => r.signal === 'fresh_account' && r.value === 'no'));
  assert.ok(e.forAccount('acct_harvest').verdict!.reasons.some((r) => r.signal === 'fresh_account' && r.value === 'yes'));
  const why = e.forAccount('acct_harvest').verdict!.reasons;
  const reason = (s: string) => why.find((r) => r.signal === s);
  assert.equal(reason('embedding_spread_test')?.value, 'pass');
  assert.equal(reason('embedded_texts')?.threshold, 500);
  assert.ok((reason('embedding_concentration')!.value as number) <= (reason('embedding_concentration')!.threshold as number));
  assert.equal(reason('embedding_share')?.value, 1);
  for (let s = 0; s < 8; s++) assert.ok(verdictRank(e.forAccount(`acct_index_${s}`).level) < verdictRank('throttle'), `index ${s} at ${e.forAccount(`acct_index_${s}`).level}`);
  for (let p = 0; p < 3; p++) assert.ok(verdictRank(e.forAccount(`acct_product_${p}`).level) < verdictRank('throttle'), `product ${p} at ${e.forAccount(`acct_product_${p}`).level}`);
});

test('below the bounds nothing is judged: too few texts, or too little other traffic to compare with', () => {
  const few = run((eng, n, sec) => { if (n >= 50) eng.ingest(event({ id: 'acct_small', created: FRESH }, n, sec + 20, picks(all, 5 + n, 32))); });
  assert.equal(few.forAccount('acct_small').level, 'none', '320 texts is below 500');
  const alone = new DetectorEngine();
  for (let n = 0; n < 40; n++) alone.ingest(event({ id: 'acct_first', created: FRESH }, n, n * 30, picks(all, n, 32)));
  alone.flush();
  assert.equal(alone.forAccount('acct_first').level, 'none', 'no other traffic: nothing to measure against');
});

test('a harvest split by region of the space across linked accounts is recognised as one actor', () => {
  // The corpus cut into regions of the encoder's space (an adaptive split: each region narrow, as
  // a customer's subject is): each text goes to the direction it points to most, one account per
  // direction; the accounts share a card and an address.
  const region = (t: string) => {
    const p = simulatedEmbeddings([t])!.sum;
    let best = 0;
    for (let j = 1; j < p.length; j++) if (Math.abs(p[j]) > Math.abs(p[best])) best = j;
    return best * 2 + (p[best] < 0 ? 1 : 0);
  };
  const slices: string[][] = Array.from({ length: 16 }, () => []);
  for (const t of all) slices[region(t) % 16].push(t);
  const e = run((eng, n, sec) => {
    // Each region in proportion to its share of the corpus: together, the corpus.
    for (let a = 0; a < 16; a++) eng.ingest(event({ id: `acct_part_${a}`, ip: '203.0.113.9', card: 'card-shared' }, n, sec + 20 + a, picks(slices[a], 500 + a * 100 + n, Math.max(1, Math.round((192 * slices[a].length) / all.length)))));
  });
  const v = e.forAccount('acct_part_0').verdict!;
  assert.equal(v.subject.kind, 'cluster');
  assert.ok(verdictRank(v.level) >= verdictRank('throttle'), v.level);
  assert.ok(v.reasons.some((r) => r.signal === 'embedding_spread_test' && r.value === 'pass'), v.reasons.map((r) => r.signal).join());
  const campaign = e.campaign(v.campaign_id!)!;
  assert.ok(campaign.targets.embeddings > 0.95, `embeddings target ${campaign.targets.embeddings}`);
  for (let a = 0; a < 16; a++) {
    const own = e.accountVerdict(`acct_part_${a}`);
    assert.ok(!own?.reasons.some((r) => r.signal === 'embedding_spread_test'), `slice ${a} alone passes as broad`);
  }
});

test('the sketches are kept in a snapshot', async () => {
  const e = run((eng, n, sec) => { if (n >= 20) eng.ingest(event({ id: 'acct_harvest', created: FRESH }, n, sec + 20, picks(all, 99 + n, 32))); }, 30);
  assert.equal(e.forAccount('acct_harvest').level, 'none', '320 texts so far');
  const dir = mkdtempSync(join(tmpdir(), 'warden-embed-snap-'));
  await writeSnapshot(e, join(dir, 's.detector'), 600);
  const copy = new DetectorEngine();
  assert.equal((await readSnapshot(copy, join(dir, 's.detector'))).restored, true);
  rmSync(dir, { recursive: true, force: true });
  for (let n = 30; n < 45; n++) copy.ingest(event({ id: 'acct_harvest', created: FRESH }, n, n * 30 + 20, picks(all, 99 + n, 32)));
  copy.flush();
  assert.equal(copy.forAccount('acct_harvest').level, 'shape');
});

test('the concentration bound is configurable and checked', () => {
  assert.throws(() => new DetectorEngine({ config: { embedding_max_concentration: 2 } }), /embedding_max_concentration/);
  // A bound as loose as a subject's concentration takes the subject indexes for broad corpora.
  const harvest = (eng: DetectorEngine, n: number, sec: number) => { if (n >= 20) eng.ingest(event({ id: 'acct_harvest', created: FRESH }, n, sec + 20, picks(all, 99 + n, 32))); };
  const loose = run(harvest, 60, { embedding_max_concentration: 0.6 });
  const passes = (e: DetectorEngine, id: string) => !!e.accountVerdict(id)?.reasons.some((r) => r.signal === 'embedding_spread_test');
  const held = [...Array(8).keys()].filter((k) => passes(loose, `acct_index_${k}`)).length;
  assert.ok(held >= 4, `${held} of 8 indexes pass under a loose bound`);
  const strict = run(harvest, 60);
  assert.equal([...Array(8).keys()].filter((k) => passes(strict, `acct_index_${k}`)).length, 0);
  assert.equal(strict.forAccount('acct_harvest').level, 'shape');
});
