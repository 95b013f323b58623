// A flagged account cannot opt out of the watermark by asking for JSON or forcing a tool call:
// through a real gateway and the OpenAI SDK, its structured answers and tool arguments come back
// valid against their schema with the prose in their strings marked, and `detect` attributes the
// harvest to its key; an unflagged account's answers are left as they were.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { Ajv } from 'ajv';
import { startHarness, storedEvents, type Harness } from '../../test/helpers/gateway.ts';
import { startRawUpstream, type RawUpstream } from '../../test/helpers/raw-upstream.ts';
import { inlinePolicyHooks } from '../../test/helpers/policy.ts';
import { deriveWatermarkKey } from '../watermark/keys.ts';
import { detectWatermark } from '../watermark/detect.ts';
import { FIXTURES } from '../../test/helpers/sse-fixtures.ts';

const MASTER = 'gateway-json-watermark-master-secret';
const FLAGGED = 'wk_test_flagged_0123456789abcdefghijklm';
const prose = readFileSync(new URL('assistant-answers.txt', FIXTURES), 'utf8');
/** The prose of about `from`..`to`, starting at a sentence (a string value that opens mid-word is not marked). */
const passage = (from: number, to: number) => { const at = prose.indexOf('. ', from) + 2; return prose.slice(at, at + to - from); };
const SCHEMA = { type: 'object', properties: { answer: { type: 'string' }, confidence: { enum: ['low', 'very high'] } }, required: ['answer', 'confidence'], additionalProperties: false };
const validate = new Ajv().compile(SCHEMA);
let h: Harness;
let upstream: RawUpstream;
let policy: ReturnType<typeof inlinePolicyHooks>;
let served = 0;

/** The upstream's answer to the n-th request: a JSON object, as content or as a forced tool call's arguments. */
const answerFor = (n: number) => JSON.stringify({ answer: passage(n * 600, n * 600 + 600), confidence: 'very high' });

before(async () => {
  upstream = await startRawUpstream((_req, res, raw) => {
    const body = JSON.parse(raw);
    const json = answerFor(served++);
    const tool = Array.isArray(body.tools);
    const base = { id: 'chatcmpl-1', created: 1, model: body.model };
    if (!body.stream) {
      const message = tool ? { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'answer', arguments: json } }] } : { role: 'assistant', content: json };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: tool ? 'tool_calls' : 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 100, total_tokens: 105 } }));
      return;
    }
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let out = chunk({ role: 'assistant', content: tool ? null : '' });
    if (tool) out += chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'answer', arguments: '' } }] });
    for (const piece of json.match(/[\s\S]{1,6}/g)!) out += chunk(tool ? { tool_calls: [{ index: 0, function: { arguments: piece } }] } : { content: piece });
    out += chunk({}, tool ? 'tool_calls' : 'stop') + 'data: [DONE]\n\n';
    res.end(out);
  });
  // The shipped policy's shape: no watermark for the tier, the `shape` verdict switches it on.
  policy = inlinePolicyHooks(
    'version: 1\ndefaults: { reasoning: full, logprobs: true, watermark: false }\nverdicts:\n  shape: { capabilities: { watermark: true } }\n',
    { watermarkSecret: MASTER, verdicts: { forAccount: (id) => ({ level: id === 'acc_flagged' ? 'shape' : 'none', verdict: null, clusterId: null }) } },
  );
  h = await startHarness({ hooks: [policy.hooks], keys: [{ secret: FLAGGED, accountId: 'acc_flagged' }], upstreamOverride: () => [{ name: 'raw', base_url: upstream.url, models: ['*'] }] });
});
after(async () => { await h.close(); await upstream.close(); policy.cleanup(); });

test('a flagged account asking for JSON or forcing a tool call gets schema-valid answers whose prose carries its mark', async () => {
  const flagged = new OpenAI({ apiKey: FLAGGED, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: 'Explain photosynthesis; put the full explanation in answer' }];
  const response_format = { type: 'json_schema' as const, json_schema: { name: 'a', schema: SCHEMA } };
  const tools = [{ type: 'function' as const, function: { name: 'answer', parameters: SCHEMA } }];
  const tool_choice = { type: 'function' as const, function: { name: 'answer' } };
  const harvest: string[] = [];
  const original: string[] = [];
  const check = (json: string, n: number, how: string) => {
    const v = JSON.parse(json) as { answer: string; confidence: string };
    assert.ok(validate(structuredClone(v)), `${how}: the answer satisfies its schema: ${JSON.stringify(validate.errors)}`);
    assert.equal(v.confidence, 'very high', `${how}: the enum value is kept`);
    const before = JSON.parse(answerFor(n)).answer;
    assert.notEqual(v.answer, before, `${how}: the prose carries the mark`);
    assert.equal(v.answer.split(/\s+/).length, before.split(/\s+/).length, `${how}: only words are replaced`);
    harvest.push(json);
    original.push(answerFor(n));
  };
  const created = await flagged.chat.completions.create({ model: 'gpt-4o', messages, response_format });
  check(created.choices[0].message.content!, 0, 'json_schema');
  const streamed = await flagged.chat.completions.stream({ model: 'gpt-4o', messages, response_format }).finalChatCompletion();
  check(streamed.choices[0].message.content!, 1, 'json_schema streamed');
  const called = await flagged.chat.completions.create({ model: 'gpt-4o', messages, tools, tool_choice });
  check((called.choices[0].message.tool_calls![0] as { function: { arguments: string } }).function.arguments, 2, 'forced tool call');
  const calledStream = await flagged.chat.completions.stream({ model: 'gpt-4o', messages, tools, tool_choice }).finalChatCompletion();
  check((calledStream.choices[0].message.tool_calls![0] as { function: { arguments: string } }).function.arguments, 3, 'forced tool call streamed');

  const events = (await storedEvents(h, 4)).filter((e) => e.account_id === 'acc_flagged');
  assert.equal(events.length, 4);
  for (const e of events) {
    assert.equal(e.enforcement.watermark, 'wm1:account:acc_flagged', 'the event names the key');
    assert.ok(!e.enforcement.shaping.includes('watermark:skipped_json'), 'not skipped as JSON');
  }
  assert.equal(events.filter((e) => e.enforcement.shaping.includes('watermark:json')).length, 2, 'the JSON answers are noted as marked JSON');

  const keys = ['acc_flagged', 'acc_test', 'acc_other'].map((id) => deriveWatermarkKey(MASTER, { kind: 'account', id }));
  const found = detectWatermark(harvest.join('\n'), keys, 1e-3);
  assert.ok(found.detected && found.best?.keyId === 'wm1:account:acc_flagged', `the JSON harvest is attributed to the flagged account (slots ${found.slots}, p ${found.best?.correctedP})`);
  assert.ok(!detectWatermark(original.join('\n'), keys, 1e-3).detected, 'the upstream\'s own answers carry no mark');
});

test('an account under no verdict gets its JSON answer as the upstream wrote it', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const n = served;
  const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'a', schema: SCHEMA } } });
  assert.equal(res.choices[0].message.content, answerFor(n), 'unchanged');
});
