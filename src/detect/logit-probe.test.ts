// Logit probing: an account sweeping logit_bias maps over the same prompts is shaped on its own;
// the three legitimate uses of logit_bias that look like it request by request are left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine, verdictRank } from './index.ts';
import { emptyParams, emptyEnforcement, promptFingerprint, summariseLogitBias, type InteractionEvent } from '../events/index.ts';

const T0 = Date.parse('2026-05-04T08:00:00.000Z');

/**
 * One chat event. As the gateway records it: the bias map's summary carries the prompt's
 * fingerprint whether or not the prompt's text is recorded.
 */
function event(account: string, n: number, sec: number, prompt: string, recorded: boolean, params: Partial<InteractionEvent['request']['params']>): InteractionEvent {
  const text = recorded ? prompt : null;
  const chars = prompt.length;
  if (params.logit_bias) params = { ...params, logit_bias: { ...params.logit_bias, prompt: promptFingerprint([['user', prompt]]) } };
  return {
    schema: 'warden.interaction/1', id: `${account}-${n}`, ts: new Date(T0 + sec * 1000).toISOString(), duration_ms: 300,
    flavour: 'openai.chat', model: 'gpt-test', upstream: 'mock', account_id: account, org_id: null, key_id: `key-${account}`,
    client: { ip: `198.51.100.${account.length}`, user_agent: 'OpenAI/Python 1.99.0', country: 'US', asn: 7018 },
    request: { stream: false, system: null, messages: [{ role: 'user', text, chars }], tools: [], tool_choice: null, params: { ...emptyParams(), ...params }, bytes: 400 },
    response: { status: 200, error_code: null, input_tokens: 40, output_tokens: 1, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'length', ttfb_ms: 200, output_chars: 4, reasoning_chars: 0 },
    account: { created_at: '2025-01-01T00:00:00.000Z', tier: 'identity_verified', programme: 'none', email_domain: 'example.com', payment_fp: `card-${account}`, signup_ip: `10.0.${account.length}.1`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/** A bias map pushing `count` tokens from `start` up by `value`. */
function biasMap(start: number, count: number, value = 100) {
  const m: Record<string, number> = {};
  for (let k = 0; k < count; k++) m[String(start + k)] = value;
  return summariseLogitBias(m)!;
}

const PROMPTS = ['The capital of France is', 'Once upon a time there was', 'def fibonacci(n):'];
const labels = biasMap(9642, 2); // " yes" / " no"-style label tokens, the same every time

function run(recordPrompts = true) {
  const e = new DetectorEngine();
  for (let n = 0; n < 240; n++) {
    const sec = n * 30; // two hours: the verdict's explanation is refreshed within them
    // Extraction: three prompts in turn, the next five tokens of the vocabulary each time, top-5 log-probabilities.
    const p = PROMPTS[n % 3];
    e.ingest(event('acct_extract', n, sec, p, recordPrompts, { max_tokens: 1, logprobs: true, top_logprobs: 5, logit_bias: biasMap(1000 + 5 * Math.floor(n / 3), 5) }));
    // A classifier: a new review each time, the same two label tokens, their log-probabilities for a confidence.
    const review = `Review ${n}: the product arrived ${n % 2 ? 'late and broken' : 'early and works well'}. Is this review positive?`;
    e.ingest(event('acct_classify', n, sec + 1, review, recordPrompts, { max_tokens: 1, logprobs: true, top_logprobs: 2, logit_bias: labels }));
    // Constrained decoding: a growing prompt, each step choosing among the options' next tokens.
    const prefix = 'Fill in the form. Name: Ada. Role: ' + 'x'.repeat(n % 40) + ` step ${n}`;
    e.ingest(event('acct_guided', n, sec + 2, prefix, recordPrompts, { max_tokens: 1, logit_bias: biasMap(20_000 + 7 * n, 3) }));
    // A researcher running five multiple-choice benchmarks again and again (seeds, prompt variants):
    // five answer-letter maps, every question asked many times, always with its benchmark's letters.
    const bench = n % 5;
    const question = `Benchmark ${bench}, question ${Math.floor(n / 5) % 12}: which option is correct? Answer with the letter.`;
    e.ingest(event('acct_rerun', n, sec + 4, question, recordPrompts, { max_tokens: 1, logprobs: true, top_logprobs: 4, logit_bias: biasMap(300 + 10 * bench, 4 + bench) }));
    // A writing tool banning the words it already used (pushed down, ordinary answers): no probe at all.
    const line = `Write line ${n} of the poem without repeating words.`;
    e.ingest(event('acct_banlist', n, sec + 3, line, recordPrompts, { max_tokens: 200, logit_bias: biasMap(30_000 + 11 * n, 8, -100) }));
  }
  e.flush();
  return e;
}

for (const recordPrompts of [true, false]) {
  test(`the sweep is shaped with its explanation; classifier, constrained decoding and ban lists are not (prompts ${recordPrompts ? 'recorded' : 'not recorded'})`, () => {
    const e = run(recordPrompts);
    const v = e.forAccount('acct_extract');
    assert.equal(v.level, 'shape');
    const reasons = Object.fromEntries(v.verdict!.reasons.map((r) => [r.signal, r]));
    assert.equal(reasons.logit_probe_test?.value, 'pass');
    // As last explained: a standing verdict is explained again hourly or when its score moves (the
    // sweep's score holds at the shape threshold), so over two hours the reading of the first hour's maps.
    assert.ok((reasons.logit_bias_maps.value as number) >= 40, JSON.stringify(reasons.logit_bias_maps));
    assert.equal(reasons.logit_bias_maps.threshold, 4);
    assert.match(reasons.logit_bias_maps_per_prompt.detail!, /over 3 distinct prompts/);
    for (const id of ['acct_classify', 'acct_guided', 'acct_rerun', 'acct_banlist']) {
      const o = e.forAccount(id);
      assert.ok(verdictRank(o.level) < verdictRank('throttle'), `${id}: ${o.level}`);
      assert.ok(!(o.verdict?.reasons ?? []).some((r) => r.signal === 'logit_probe_test'), id);
    }
  });
}

test('a sweep that stopped is not joined to a later classifier episode', () => {
  const e = new DetectorEngine();
  let n = 0;
  for (; n < 15; n++) e.ingest(event('acct_a', n, n * 10, 'The capital of France is', true, { max_tokens: 1, logprobs: true, logit_bias: biasMap(1000 + 5 * n, 5) }));
  // Weeks later: a classifier with one map over new prompts; the old maps are not counted again.
  for (let k = 0; k < 60; k++, n++) e.ingest(event('acct_a', n, 30 * 86_400 + k * 10, `item ${k}`, true, { max_tokens: 1, logprobs: true, logit_bias: labels }));
  e.flush();
  assert.ok(verdictRank(e.forAccount('acct_a').level) < verdictRank('throttle'));
});
