// What an account under a verdict can learn from the answer's envelope: nothing its tier's
// answer does not show. A harvester that reads `x-warden-shaping`, or a Responses echo of a lower
// budget, rotates accounts the moment it appears; the operator still sees every change recorded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import type { VerdictView } from '../../src/detect/verdict.ts';

const PLAIN = 'wk_test_plain_0123456789abcdefghijklmno';
const FLAGGED = 'wk_test_flagged_0123456789abcdefghijklm';
const STRICT = 'wk_test_strict_0123456789abcdefghijklmn';

const verdicts: VerdictView = {
  forAccount: (id) => ({ level: id === 'acc_flagged' ? 'shape' : 'none', verdict: null, clusterId: null }),
};

let h: Harness;
let policy: ReturnType<typeof inlinePolicyHooks>;

before(async () => {
  policy = inlinePolicyHooks([
    'version: 1',
    'defaults: { reasoning: full, logprobs: true, top_logprobs_max: 20, n_max: 4, max_tokens_ceiling: 8192 }',
    'tiers:',
    '  email_verified: { n_max: 2 }',
    'verdicts:',
    '  shape: { action: restrict, capabilities: { reasoning: none, logprobs: false, n_max: 1, max_tokens_ceiling: 2048 } }',
    'rules:',
    '  - id: strict-budget',
    '    when: { account: acc_strict }',
    '    action: restrict',
    '    on_shape: refuse',
    '    capabilities: { max_tokens_ceiling: 1000 }',
    '',
  ].join('\n'), { verdicts });
  h = await startHarness({
    hooks: [policy.hooks],
    keys: [{ secret: PLAIN, accountId: 'acc_plain' }, { secret: FLAGGED, accountId: 'acc_flagged' }, { secret: STRICT, accountId: 'acc_strict' }],
  });
});
after(async () => { await h.close(); policy.cleanup(); });

const lastBody = (path: string) => [...h.mock.received].reverse().find((r) => r.path === path)?.body as Record<string, any>;

async function post(key: string, path: string, body: object) {
  const r = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) };
}

test('an account under a shaping verdict is told only what its tier changes, and the operator sees all of it', async () => {
  const ask = { model: 'gpt-4o-mini', n: 3, max_tokens: 5000, logprobs: true, messages: [{ role: 'user', content: 'hi' }] };
  const plain = await post(PLAIN, '/v1/chat/completions', ask);
  assert.equal(plain.status, 200, plain.text);
  assert.equal(plain.headers.get('x-warden-shaping'), 'n:capped', 'the tier caps n: the customer is told');
  const flagged = await post(FLAGGED, '/v1/chat/completions', ask);
  assert.equal(flagged.status, 200, flagged.text);
  const sent = lastBody('/v1/chat/completions');
  assert.equal(sent.max_tokens, 2048, 'the verdict still caps the budget');
  assert.equal(sent.n, 1);
  assert.equal(sent.logprobs, undefined, 'and strips log-probabilities');
  assert.equal(flagged.headers.get('x-warden-shaping'), plain.headers.get('x-warden-shaping'), 'the header reads as the unflagged account\'s');

  // Only the verdict changes this one: no header at all, as for the unflagged account.
  const quiet = { model: 'gpt-4o-mini', max_tokens: 5000, messages: [{ role: 'user', content: 'hi' }] };
  assert.equal((await post(PLAIN, '/v1/chat/completions', quiet)).headers.get('x-warden-shaping'), null);
  const q = await post(FLAGGED, '/v1/chat/completions', quiet);
  assert.equal(q.status, 200, q.text);
  assert.equal(q.headers.get('x-warden-shaping'), null, 'a header here would name the verdict');

  const events = (await storedEvents(h, 4)).filter((e) => e.account_id === 'acc_flagged');
  assert.equal(events.length, 2, `events of the flagged account: ${events.length}`);
  for (const e of events) {
    assert.ok(e.enforcement.shaping.includes('max_tokens:capped'), `recorded: ${e.enforcement.shaping}`);
    assert.ok(e.enforcement.policy.includes('verdict:shape'), `policy: ${e.enforcement.policy}`);
    assert.ok(e.enforcement.policy.includes('shaping:undisclosed'), `the record says the client was not told: ${e.enforcement.policy}`);
  }
});

test('a Responses answer echoes the budget and effort the account asked for, not the verdict\'s', async () => {
  const ask = { model: 'o4-mini', input: 'hi', max_output_tokens: 5000, reasoning: { effort: 'high', summary: 'auto' } };
  const plain = (await post(PLAIN, '/v1/responses', ask)).json();
  const r = await post(FLAGGED, '/v1/responses', ask);
  assert.equal(r.status, 200, r.text);
  const sent = lastBody('/v1/responses');
  assert.equal(sent.max_output_tokens, 2048, 'the upstream got the verdict\'s budget');
  assert.equal(sent.reasoning.summary, undefined, 'and no summary request (reasoning withheld)');
  const flagged = r.json();
  assert.equal(flagged.max_output_tokens, plain.max_output_tokens, 'echoed budget as the unflagged account sees it');
  assert.equal(flagged.max_output_tokens, 5000);
  assert.deepEqual(flagged.reasoning, plain.reasoning, 'echoed reasoning settings as asked');
  assert.equal(r.headers.get('x-warden-shaping'), null);

  const client = new OpenAI({ apiKey: FLAGGED, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const stream = client.responses.stream(ask as any);
  const echoed: Array<number | null> = [];
  for await (const ev of stream) if ('response' in ev) echoed.push((ev as any).response.max_output_tokens);
  assert.ok(echoed.length >= 2, `lifecycle events: ${echoed.length}`);
  for (const v of echoed) assert.equal(v, 5000, 'every streamed response object echoes the asked budget');
  assert.equal((await stream.finalResponse()).reasoning?.effort, 'high');
});

test('a rule with on_shape: refuse answers 403 instead of rewriting what the client set', async () => {
  const over = await post(STRICT, '/v1/chat/completions', { model: 'gpt-4o-mini', max_tokens: 5000, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(over.status, 403, over.text);
  const err = over.json().error;
  assert.equal(err.param, 'max_tokens', JSON.stringify(err));
  assert.equal(err.type, 'permission_error', JSON.stringify(err));
  assert.match(err.message, /max_tokens/);
  assert.equal(over.headers.get('x-warden-error'), 'WARDEN_POLICY_DENIED');

  const within = await post(STRICT, '/v1/chat/completions', { model: 'gpt-4o-mini', max_tokens: 500, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(within.status, 200, 'a request the rule does not change goes through');
  const unnamed = await post(STRICT, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(unnamed.status, 200, 'a budget the client never named is written in, not refused');
  assert.equal(lastBody('/v1/chat/completions').max_completion_tokens, 1000);
  const refused = (await storedEvents(h, 1)).filter((e) => e.account_id === 'acc_strict' && e.response.status === 403);
  assert.equal(refused.length, 1);
  assert.ok(refused[0].enforcement.policy.includes('refused:shape'), `${refused[0].enforcement.policy}`);
  assert.ok(refused[0].enforcement.policy.includes('rule:strict-budget'));
});
