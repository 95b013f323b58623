// A customer's SDK that stops reading a stream (the openai SDK's `signal`, a stream helper's
// `abort()`) closes its connection: Warden stops the upstream call there, records the interaction
// as 499 `WARDEN_CLIENT_DISCONNECTED` with the tokens it had passed on, and holds nothing open.
//
// The mock is paced through the harness's options: Warden does not forward a client's `x-mock-*`
// headers (only the API's own headers go upstream), so they would leave the answer unpaced and
// whole in the client's buffers before the abort. (Node 20's fetch can then leave the body's
// reader pending forever once aborted: a hang in the client, not in Warden.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';

/** Tokens the paced answer runs to: 20 s at 40 tokens/s, far past the abort. */
const ANSWER_TOKENS = 800;

async function paced(): Promise<Harness> {
  return startHarness({ mock: { tokensPerSecond: 40, answerTokens: [ANSWER_TOKENS, ANSWER_TOKENS] } });
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** After the client's abort: the upstream call was cut, the event says so, the harness closes at once. */
async function assertAbortedAndRecorded(h: Harness, flavour: string, deltasRead: number) {
  await waitFor('the mock to see its connection close', () => h.mock.stats.aborted === 1 && h.mock.stats.inFlight === 0);
  assert.equal(h.mock.stats.completed, 0, 'the upstream never finished the answer');
  const [e] = await storedEvents(h, 1);
  assert.ok(e, 'the interaction is recorded');
  assert.equal(e.flavour, flavour);
  assert.equal(e.response.status, 499, 'recorded as a client disconnect');
  assert.equal(e.response.error_code, 'WARDEN_CLIENT_DISCONNECTED');
  assert.ok(e.response.output_tokens >= deltasRead, `the tokens passed on are counted (${e.response.output_tokens} >= ${deltasRead} the client read)`);
  assert.ok(e.response.output_tokens < ANSWER_TOKENS / 4, `only the tokens seen before the abort are counted, not the whole answer (${e.response.output_tokens})`);
  const started = Date.now();
  await h.close();
  assert.ok(Date.now() - started < 2000, `the harness closes promptly (${Date.now() - started} ms)`);
}

test('OpenAI chat stream aborted with an AbortController: the loop ends, the upstream call is stopped, 499 recorded', { timeout: 15_000 }, async () => {
  const h = await paced();
  try {
    const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
    const ac = new AbortController();
    const stream = await openai.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me a long story' }], stream: true },
      { signal: ac.signal },
    );
    let chunks = 0;
    let deltas = 0;
    for await (const c of stream) {
      if (c.choices[0]?.delta?.content) deltas++;
      if (++chunks === 3) ac.abort();
    }
    // Chunks that reached the client in the same read as the third are still handed out (the SDK
    // parses a read whole); the loop still ends long before the paced answer would.
    assert.ok(chunks >= 3 && chunks < 3 + 20, `the SDK ends the loop soon after the abort, without an error (${chunks} chunks of a ${ANSWER_TOKENS}-token answer)`);
    await assertAbortedAndRecorded(h, 'openai.chat', deltas);
  } catch (err) { await h.close().catch(() => {}); throw err; }
});

test('OpenAI responses.stream aborted: the upstream call is stopped, 499 recorded', { timeout: 15_000 }, async () => {
  const h = await paced();
  try {
    const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
    const stream = openai.responses.stream({ model: 'gpt-4o-mini', input: 'Tell me a long story' });
    let deltas = 0;
    stream.on('response.output_text.delta', () => { if (++deltas === 3) stream.abort(); });
    await assert.rejects(stream.finalResponse(), (e: unknown) => e instanceof OpenAI.APIUserAbortError, 'the helper reports the abort as the user\'s');
    // Deltas parsed from the same read as the third are still emitted (the SDK parses a read whole),
    // so a loaded machine can hand out a few more; the paced answer would give hundreds.
    assert.ok(deltas >= 3 && deltas < 3 + 20, `the stream stops soon after the abort (${deltas} deltas of a ${ANSWER_TOKENS}-token answer)`);
    await assertAbortedAndRecorded(h, 'openai.responses', deltas);
  } catch (err) { await h.close().catch(() => {}); throw err; }
});

test('Anthropic messages.stream aborted: the upstream call is stopped, 499 recorded', { timeout: 15_000 }, async () => {
  const h = await paced();
  try {
    const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
    const stream = anthropic.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 4000, messages: [{ role: 'user', content: 'Tell me a long story' }] });
    let deltas = 0;
    stream.on('text', () => { if (++deltas === 3) stream.abort(); });
    await assert.rejects(stream.done(), (e: unknown) => e instanceof Anthropic.APIUserAbortError, 'the helper reports the abort as the user\'s');
    // Deltas parsed from the same read as the third are still emitted (the SDK parses a read whole),
    // so a loaded machine can hand out a few more; the paced answer would give hundreds.
    assert.ok(deltas >= 3 && deltas < 3 + 20, `the stream stops soon after the abort (${deltas} deltas of a ${ANSWER_TOKENS}-token answer)`);
    await assertAbortedAndRecorded(h, 'anthropic.messages', deltas);
  } catch (err) { await h.close().catch(() => {}); throw err; }
});
