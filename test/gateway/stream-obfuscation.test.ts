// OpenAI's stream obfuscation (`"obfuscation"` padding on streamed deltas) through Warden: passed
// to the client as the upstream sent it, never counted as answer text, and turned off when the
// client asks (`stream_options.include_obfuscation: false`).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(() => h.close());

const chunksOf = (sse: string) => sse.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));

async function stream(path: string, body: object) {
  const r = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  return r.text();
}

test('chat: each chunk keeps its padding, and the answer is counted without it', async () => {
  const body = { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Tell me about the Rhine' }] };
  const chunks = chunksOf(await stream('/v1/chat/completions', body));
  const withChoice = chunks.filter((c) => c.choices.length > 0);
  assert.ok(withChoice.length > 3);
  for (const c of withChoice) {
    assert.equal(typeof c.obfuscation, 'string', `padded as upstream sent it: ${JSON.stringify(c)}`);
    assert.equal('usage' in c, false, 'the usage key Warden asked for is still hidden from a client that did not');
  }
  const text = withChoice.map((c) => c.choices[0].delta.content ?? '').join('');
  const [e] = await storedEvents(h, 1);
  assert.equal(e.response.output_chars, text.length, 'padding is not answer text');

  const bare = await stream('/v1/chat/completions', { ...body, stream_options: { include_obfuscation: false } });
  assert.ok(!bare.includes('"obfuscation"'), 'the client turned it off: the upstream was told');
  const sent = h.mock.received.at(-1)!.body as Record<string, any>;
  assert.deepEqual(sent.stream_options, { include_obfuscation: false, include_usage: true }, 'the client\'s option is forwarded beside Warden\'s');
});

test('Responses and the SDK: delta events keep their padding, the final text has none', async () => {
  const client = new OpenAI({ apiKey: GOOD_KEY, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const s = client.responses.stream({ model: 'gpt-4o-mini', input: 'Tell me about the Danube' });
  let padded = 0;
  let deltas = '';
  for await (const ev of s) if (ev.type === 'response.output_text.delta') { deltas += ev.delta; if (typeof (ev as any).obfuscation === 'string') padded++; }
  const final = await s.finalResponse();
  assert.ok(padded > 3, `padded deltas: ${padded}`);
  assert.equal(final.output_text, deltas);
  assert.ok(!final.output_text.includes('obfuscation'));
});
