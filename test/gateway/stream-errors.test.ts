// Warden's own mid-stream errors (the upstream dropped, the stream ran past its duration cap) in
// each API's own in-stream framing, read with the official SDKs: Chat Completions and legacy
// completions a `data:` error object (the SDK throws APIError), Anthropic an `error` event, and
// Responses an `error` event then `response.failed`, numbered on from the events before them.
import { test, before, after } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import OpenAI, { APIError } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { startTestWarden } from '../helpers/warden.ts';

let h: Harness;
before(async () => {
  // 100 tokens a second, 300-token answers: 3 s, past the 500 ms cap; a drop comes after 3 events.
  h = await startHarness({ mock: { tokensPerSecond: 100, answerTokens: [300, 300] }, config: { server: { stream_max_duration_ms: 500 } } });
});
after(() => h.close());

const openai = () => new OpenAI({ apiKey: GOOD_KEY, baseURL: `${h.url}/v1`, maxRetries: 0 });
const DROPPED = ['WARDEN_UPSTREAM_UNAVAILABLE', 'WARDEN_UPSTREAM_ERROR'];

for (const [what, model, codes] of [['upstream drop', 'mock-fail-drop-3', DROPPED], ['duration cap', 'gpt-4o-mini', ['WARDEN_STREAM_TOO_LONG']]] as const) {
  test(`Responses, ${what}: an error event then response.failed, numbered on from the stream`, async () => {
    const events: any[] = [];
    // The SDK yields Responses error events as events (it throws only on untyped `{"error":...}` data).
    for await (const e of await openai().responses.create({ model, input: 'Tell me a long story.', stream: true })) events.push(e);
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'response.created');
    assert.ok(types.includes('response.output_text.delta'), 'what came before the error was streamed');
    assert.deepEqual(types.slice(-2), ['error', 'response.failed'], types.join(' '));
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i), 'sequence numbers run on without a gap');
    const [error, failed] = events.slice(-2);
    assert.ok((codes as readonly string[]).includes(error.warden_code), error.warden_code);
    assert.equal(error.code, 'server_error', 'OpenAI\'s code for a failed response');
    assert.equal(typeof error.message, 'string');
    assert.equal(failed.response.status, 'failed');
    assert.equal(failed.response.id, events[0].response.id);
    assert.deepEqual(failed.response.error, { code: error.code, message: error.message });
  });
}

test('Responses stream helper: the error rejects the final response', async () => {
  const stream = openai().responses.stream({ model: 'mock-fail-drop-3', input: 'x' });
  const seen: string[] = [];
  stream.on('event', (e) => seen.push(e.type));
  await assert.rejects(stream.finalResponse(), (err: any) => err?.code === 'server_error');
  assert.equal(seen.at(-1), 'error');
});

test('Chat Completions, upstream drop and duration cap: the SDK throws APIError with the code', async () => {
  for (const [model, codes] of [['mock-fail-drop-3', DROPPED], ['gpt-4o-mini', ['WARDEN_STREAM_TOO_LONG']]] as const) {
    let chunks = 0;
    await assert.rejects(async () => {
      for await (const _ of await openai().chat.completions.create({ model, messages: [{ role: 'user', content: 'Tell me a long story.' }], stream: true })) chunks++;
    }, (err: unknown) => err instanceof APIError && err.code === 'server_error' && (codes as readonly string[]).includes((err.error as any)?.warden_code));
    assert.ok(chunks > 0);
  }
});

test('legacy completions, upstream drop: the SDK throws APIError with the code', async () => {
  let chunks = 0;
  await assert.rejects(async () => {
    for await (const _ of await openai().completions.create({ model: 'mock-fail-drop-3', prompt: 'Once upon a time', max_tokens: 50, stream: true })) chunks++;
  }, (err: unknown) => err instanceof APIError && err.code === 'server_error' && DROPPED.includes((err.error as any)?.warden_code));
  assert.ok(chunks > 0);
});

test('Anthropic Messages, upstream drop: the SDK throws with the error event', async () => {
  const client = new Anthropic({ apiKey: GOOD_KEY, baseURL: h.url, maxRetries: 0 });
  let events = 0;
  await assert.rejects(async () => {
    for await (const _ of await client.messages.create({ model: 'mock-fail-drop-3', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], stream: true })) events++;
  }, (err: any) => err instanceof Anthropic.APIError && err.error?.type === 'error' && DROPPED.includes(err.error?.error?.code));
  assert.ok(events > 0);
});

test('Responses, duration cap on a shaped answer (events through the output filters): the error is numbered on from what the client got', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-stream-errors-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, 'version: 1\ndefaults: { reasoning: none }\n');
  const w = await startTestWarden({
    mock: { latency_ms: 0, tokens_per_second: 100 }, server: { port: 0, stream_max_duration_ms: 1000 },
    policy: { file: policyFile, watch: false, geo: { enabled: false } },
  });
  try {
    const { key } = await w.account('shaped', 'email_verified');
    const client = new OpenAI({ apiKey: key, baseURL: `${w.url}/v1`, maxRetries: 0 });
    const events: any[] = [];
    for await (const e of await client.responses.create({ model: 'o4-mini', input: 'Think hard, then tell me a long story.', reasoning: { effort: 'high', summary: 'auto' }, max_output_tokens: 4000, stream: true })) events.push(e);
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(-2), ['error', 'response.failed'], types.join(' '));
    assert.equal(events.at(-2).code, 'server_error', 'OpenAI\'s code');
    assert.equal(events.at(-2).warden_code, 'WARDEN_STREAM_TOO_LONG');
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i), 'sequence numbers run on without a gap');
    const [recorded] = await w.events((e) => e.response.error_code === 'WARDEN_STREAM_TOO_LONG');
    assert.ok(recorded.enforcement.shaping.length > 0, 'the answer was shaped');
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
