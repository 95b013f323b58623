// Streams cut short are charged for what was streamed: an Anthropic client that hangs up before the
// final `message_delta`, a stream Warden ends at its duration cap, and one the upstream drops are
// recorded with the tokens the client received, not the placeholder of `message_start`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { countTextTokens } from '../../src/gateway/usage.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

let h: Harness;
before(async () => {
  // 40 tokens a second: a 300-token answer takes over 7 s, cut well before its end.
  h = await startHarness({ mock: { tokensPerSecond: 40, answerTokens: [300, 300] }, config: { server: { stream_max_duration_ms: 900 } } });
});
after(() => h.close());

const headers = { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' };
const message = (model: string, id: string) => JSON.stringify({ model, max_tokens: 400, stream: true, messages: [{ role: 'user', content: `Tell me a long story (${id}).` }] });

/** The text of the text deltas in what the client read. */
function textOf(sse: string): string {
  let text = '';
  for (const line of sse.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    try { const d = JSON.parse(line.slice(6)); if (d.delta?.type === 'text_delta') text += d.delta.text; } catch { /* a partial line */ }
  }
  return text;
}

async function eventFor(n: number, code: string): Promise<InteractionEvent> {
  const events = (await storedEvents(h, n, 5000)).filter((e) => e.response.error_code === code);
  assert.equal(events.length, 1, `one event with ${code}`);
  return events[0];
}

function assertCharged(e: InteractionEvent, received: string) {
  const streamed = countTextTokens(received);
  assert.ok(streamed > 10, `the client received a good part of the answer (${streamed} tokens)`);
  // At least what the client received (its last chunk may not have been read), never message_start's 1.
  assert.ok(e.response.output_tokens >= streamed, `output_tokens ${e.response.output_tokens} >= ${streamed} received`);
  assert.ok(e.response.input_tokens > 5, 'input from message_start');
  assert.equal(e.response.usage_source, 'tokenizer');
}

test('a client that disconnects before message_delta is charged for the text it received', async () => {
  const ac = new AbortController();
  const res = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers, body: message('claude-sonnet-4-5', 'a'), signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  let received = '';
  // Hang up as soon as a good part has arrived (about 0.3 s at 40 tokens a second), well before the
  // 0.9 s cap: a fixed read time let a loaded machine reach the cap first.
  while (countTextTokens(textOf(received)) <= 12) {
    const { value, done } = await reader.read();
    if (done) break;
    received += Buffer.from(value).toString('utf8');
  }
  ac.abort();
  await reader.cancel().catch(() => {});
  const e = await eventFor(1, 'WARDEN_CLIENT_DISCONNECTED');
  assertCharged(e, textOf(received));
});

test('a stream ended at the duration cap is charged for what was streamed', async () => {
  const res = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers, body: message('claude-sonnet-4-5', 'b') });
  const received = await res.text();
  assert.match(received, /WARDEN_STREAM_TOO_LONG/);
  assertCharged(await eventFor(2, 'WARDEN_STREAM_TOO_LONG'), textOf(received));
});

test('a stream the upstream drops is charged for what was streamed', async () => {
  // the mock sends 30 token events, then closes the connection
  const res = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers, body: message('mock-fail-drop-30', 'c') });
  const received = await res.text();
  assert.match(received, /event: error/);
  const e = (await storedEvents(h, 3, 5000)).find((x) => x.model === 'mock-fail-drop-30')!;
  assertCharged(e, textOf(received));
});
