// Legacy completions (`POST /v1/completions`) through the gateway with the official OpenAI SDK:
// answers and streams as the upstream sends them, usage recorded, each prompt of a batch in the
// event; the policy caps and strips what it does on chat (log-probabilities, logit_bias, choices),
// and the watermark marks the text, streamed or not, except an echoed prompt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import { deriveWatermarkKey } from '../../src/watermark/keys.ts';
import { watermarkText } from '../../src/watermark/embed.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

const MASTER = 'completions-test-watermark-master-secret';
const key = deriveWatermarkKey(MASTER, { kind: 'account', id: 'acc_test' }).key;
let plain: Harness;
let governed: Harness;
let mock: MockUpstream;
let policy: ReturnType<typeof inlinePolicyHooks>;

before(async () => {
  // The harness's key is email-verified: no log-probabilities, two choices at most, marked answers.
  policy = inlinePolicyHooks('version: 1\ndefaults: { logprobs: true, top_logprobs_max: 5 }\ntiers:\n  email_verified: { logprobs: false, n_max: 2, max_tokens_ceiling: 50, logit_bias: none, watermark: true }\n', { watermarkSecret: MASTER });
  mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  const upstreams = () => [{ name: 'mock', base_url: mock.url, models: ['*'] }];
  plain = await startHarness({ upstreamOverride: upstreams });
  governed = await startHarness({ hooks: [policy.hooks], upstreamOverride: upstreams });
});
after(async () => { await plain.close(); await governed.close(); await mock.close(); policy.cleanup(); });

const sdk = (h: Harness) => new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
const lastForwarded = () => mock.received.filter((r) => r.path === '/v1/completions').at(-1)!.body as Record<string, any>;
async function direct(body: Record<string, unknown>) {
  return (await fetch(`${mock.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<any>;
}
const eventsOf = async (h: Harness, n: number, flavour = 'openai.completions') => (await storedEvents(h, n)).filter((e: InteractionEvent) => e.flavour === flavour);

test('a completion, a batch of prompts and a stream pass through as the upstream sends them, and are recorded', async () => {
  const c = sdk(plain);
  const one = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Write a haiku about rivers.', max_tokens: 30, logprobs: 2 });
  const upstream = await direct(lastForwarded());
  assert.equal(one.object, 'text_completion');
  assert.equal(one.choices[0].text, upstream.choices[0].text);
  assert.deepEqual(one.choices[0].logprobs, upstream.choices[0].logprobs);
  assert.deepEqual(one.usage, upstream.usage);

  const batch = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['Name a fruit.', 'Name a colour.'], max_tokens: 8 });
  assert.deepEqual(batch.choices.map((x) => x.index), [0, 1]);

  const stream = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Write a haiku about rivers.', max_tokens: 30, stream: true });
  let text = '';
  let sawUsage = false;
  for await (const chunk of stream) { text += chunk.choices[0]?.text ?? ''; if (chunk.usage) sawUsage = true; }
  assert.equal(text, one.choices[0].text, 'the same text, streamed');
  assert.equal(sawUsage, false, 'the usage chunk Warden asked for is not shown to a client that did not');
  assert.equal(lastForwarded().stream_options?.include_usage, true);

  const events = await eventsOf(plain, 3);
  assert.equal(events.length, 3);
  const [e1, e2, e3] = events;
  assert.deepEqual([e1.response.input_tokens, e1.response.output_tokens, e1.response.usage_source], [upstream.usage.prompt_tokens, upstream.usage.completion_tokens, 'upstream']);
  assert.deepEqual([e1.request.params.logprobs, e1.request.params.top_logprobs, e1.request.params.max_tokens], [true, 2, 30]);
  assert.equal(e1.response.answer_id, one.id);
  assert.deepEqual(e2.request.messages.map((m) => m.text), ['Name a fruit.', 'Name a colour.']);
  assert.equal(e3.request.stream, true);
  assert.equal(e3.response.output_tokens, upstream.usage.completion_tokens, 'usage of the stream, from the chunk Warden asked for');
  assert.equal(e3.response.finish_reason, upstream.choices[0].finish_reason);
});

test('bad requests are refused in OpenAI error JSON and recorded', async () => {
  const post = (body: unknown) => fetch(`${plain.url}/v1/completions`, { method: 'POST', headers: { authorization: `Bearer ${plain.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  let res = await post({ model: 'gpt-3.5-turbo-instruct' });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as any).error.param, 'prompt');
  res = await post({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', logprobs: 9 });
  assert.equal(res.status, 400, 'the upstream refuses logprobs above 5');
  assert.equal(((await res.json()) as any).error.param, 'logprobs');
  res = await fetch(`${plain.url}/v1/completions`, { method: 'POST', headers: { authorization: `Bearer ${plain.key}`, 'content-type': 'application/json' }, body: '{"model": "gpt-3.5-turbo-instruct", "prompt": ' });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as any).error.warden_code, 'WARDEN_INVALID_JSON');
  res = await fetch(`${plain.url}/v1/completions`, { method: 'GET', headers: { authorization: `Bearer ${plain.key}` } });
  assert.equal(res.status, 405);
  assert.equal(((await res.json()) as any).error.warden_code, 'WARDEN_METHOD_NOT_ALLOWED');
  const refused = (await eventsOf(plain, 6)).filter((e) => e.response.status === 400);
  assert.deepEqual(refused.map((e) => e.response.error_code), ['WARDEN_INVALID_REQUEST', 'WARDEN_UPSTREAM_ERROR', 'WARDEN_INVALID_JSON'], 'refusals recorded, malformed JSON too');
});

test('policy: log-probabilities and logit_bias stripped, choices capped, the text marked (streamed too), an echo left alone', async () => {
  const c = sdk(governed);
  const res = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Describe a lighthouse.', max_tokens: 500, n: 4, best_of: 4, logprobs: 5, logit_bias: { '1000': 5 } });
  const sent = lastForwarded();
  assert.deepEqual([sent.max_tokens, sent.n, sent.best_of, sent.logprobs, sent.logit_bias], [50, 2, 2, undefined, undefined]);
  assert.equal(res.choices.length, 2);
  const upstream = await direct(sent);
  assert.equal(res.choices[0].logprobs ?? null, null);
  assert.equal(res.choices[0].text, watermarkText(upstream.choices[0].text, key).text);
  assert.notEqual(res.choices[0].text, upstream.choices[0].text, 'a 50-token answer has words to mark');

  const stream = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Describe a lighthouse.', max_tokens: 50, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, watermarkText(upstream.choices[0].text, key).text, 'streamed, marked the same');

  const echoed = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Describe a lighthouse.', max_tokens: 50, echo: true });
  assert.ok(echoed.choices[0].text.startsWith('Describe a lighthouse.'));
  assert.equal(echoed.choices[0].text, (await direct(lastForwarded())).choices[0].text);

  const events = await eventsOf(governed, 3);
  assert.deepEqual(events[0].enforcement.shaping.slice().sort(), ['best_of:capped', 'logit_bias:stripped', 'logprobs:stripped', 'max_tokens:capped', 'n:capped']);
  assert.equal(events[0].enforcement.watermark, 'wm1:account:acc_test');
  assert.ok(events[2].enforcement.shaping.includes('watermark:skipped_echo'));
  assert.equal(events[2].request.params.echo, true);
  assert.equal(events[0].request.params.echo, undefined);
  assert.equal(events[2].enforcement.watermark, null);
});

test('n_max bounds the samples of one prompt: a prompt repeated in a batch counts as more choices of it', async () => {
  const c = sdk(governed);
  // n_max 2: five copies of one question are five samples of it, whatever n says.
  const before = mock.received.length;
  const harvest = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: Array(5).fill('Explain X'), max_tokens: 20, n: 5, temperature: 1 }).then(() => null, (e) => e);
  assert.ok(harvest instanceof OpenAI.APIError, 'five copies of one prompt under n_max 2 are refused');
  assert.equal(harvest.status, 403, `refused as a policy matter, got ${harvest.status}`);
  assert.equal(harvest.param, 'prompt', 'the refusal names the prompt array');
  assert.match(harvest.message, /at most 2/, 'and says how many samples of one prompt are allowed');
  assert.equal(mock.received.length, before, 'nothing was forwarded');

  // Two copies fit n_max 2 with one choice each: n is lowered to 1, not the request refused.
  const pair = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['Name a fruit.', 'Name a fruit.', 'Name a colour.'], max_tokens: 8, n: 2, best_of: 2 });
  const sent = lastForwarded();
  assert.deepEqual([sent.n, sent.best_of], [1, 1], 'one choice per copy of the repeated prompt');
  assert.equal(pair.choices.length, 3, 'two samples of the fruit, one of the colour');
  // Distinct prompts keep their n.
  await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['Name a fruit.', 'Name a colour.'], max_tokens: 8, n: 2 });
  assert.equal(lastForwarded().n, 2, 'distinct prompts keep n_max choices each');
  const refused = (await eventsOf(governed, 1)).find((e) => e.response.status === 403 && e.enforcement.policy.includes('refused:n'));
  assert.ok(refused, 'the refusal is noted on the event (refused:n)');
});

test('n_max: duplicate rows sampled deterministically pass; trivial variants of one prompt count as copies', async () => {
  const c = sdk(governed);
  // A dataset classified at temperature 0 with one choice each: its duplicate rows are no extra samples.
  const rows = ['Classify: great product', 'Classify: great product', 'Classify: great product', 'Classify: awful'];
  const classified = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: rows, max_tokens: 4, n: 1, temperature: 0 }).then((r) => r, (e) => e);
  assert.ok(!(classified instanceof Error), `duplicate rows at temperature 0 are served, not refused (${classified?.message})`);
  assert.equal(classified.choices.length, 4, 'one answer per row');
  assert.deepEqual(lastForwarded().prompt, rows, 'every row is forwarded');

  // Sampled (temperature unset): copies that differ only in case, spacing or a final full stop are copies.
  const before = mock.received.length;
  const variants = ['Explain X', 'Explain X ', 'explain x\n', ' Explain   X', 'Explain X.'];
  const harvest = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: variants, max_tokens: 20 }).then(() => null, (e) => e);
  assert.ok(harvest instanceof OpenAI.APIError, 'five trivial variants of one prompt under n_max 2 are refused');
  assert.equal(harvest.status, 403, `refused as a policy matter, got ${harvest.status}`);
  assert.equal(harvest.param, 'prompt', 'the refusal names the prompt array');
  assert.match(harvest.message, /5 times/, `and says how often the prompt is repeated (${harvest.message})`);
  assert.match(harvest.message, /temperature/, `and how to send the rows anyway (${harvest.message})`);
  assert.equal(mock.received.length, before, 'nothing was forwarded');

  // Temperature 0 but several choices: the copies are samples again.
  const many = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: rows, max_tokens: 4, n: 2, temperature: 0 }).then(() => null, (e) => e);
  assert.ok(many instanceof OpenAI.APIError && many.status === 403, 'n > 1 samples each copy: refused');
});
