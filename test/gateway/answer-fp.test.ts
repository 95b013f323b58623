// `response.answer_fp`: the fingerprint of the answer text as the client received it, streamed or
// not, after watermarking; none for several choices. The detector compares a later request's
// history with it (docs/detector.md, "Served answers").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import { startRawUpstream, type RawUpstream } from '../helpers/raw-upstream.ts';
import { answerFingerprint } from '../../src/events/index.ts';

/** An answer whose first words are ones the watermark may swap (usually/typically, often/frequently...). */
const SWAPPABLE = 'Usually rivers often shape towns; clearly they frequently grow near fords, and mostly they eventually become markets. Perhaps that is why so many old towns sit on a river.';

let plain: Harness;
let marked: Harness;
let mock: MockUpstream;
let policy: ReturnType<typeof inlinePolicyHooks>;
let raw: RawUpstream;
let markedRaw: Harness;

before(async () => {
  policy = inlinePolicyHooks('version: 1\ntiers:\n  email_verified: { watermark: true }\n', { watermarkSecret: 'answer-fp-test-watermark-master-secret' });
  mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  const upstreams = () => [{ name: 'mock', base_url: mock.url, models: ['*'] }];
  plain = await startHarness({ upstreamOverride: upstreams });
  marked = await startHarness({ hooks: [policy.hooks], upstreamOverride: upstreams });
  // An upstream that always gives SWAPPABLE, whole or a word an event.
  raw = await startRawUpstream((_req, res, body) => {
    if (JSON.parse(body).stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id: 'chatcmpl-fp', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      let out = chunk({ role: 'assistant', content: '' }, null);
      for (const w of SWAPPABLE.split(/(?<= )/)) out += chunk({ content: w }, null);
      res.end(out + chunk({}, 'stop') + 'data: [DONE]\n\n');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'chatcmpl-fp', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: SWAPPABLE }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 30, total_tokens: 40 } }));
    }
  });
  markedRaw = await startHarness({ hooks: [policy.hooks], upstreamOverride: () => [{ name: 'raw', base_url: raw.url, models: ['*'] }] });
});
after(async () => { await plain.close(); await marked.close(); await markedRaw.close(); await raw.close(); await mock.close(); policy.cleanup(); });

/** Send one request; the answer's text as received and the answer's event. */
async function ask(h: Harness, api: 'openai' | 'anthropic' | 'responses', stream: boolean, extra: Record<string, unknown> = {}) {
  const messages = [{ role: 'user', content: 'Write a few sentences about rivers and the towns along them.' }];
  const r = api === 'openai'
    ? await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}` }, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 120, stream, messages, ...extra }) })
    : api === 'responses'
    ? await fetch(`${h.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}` }, body: JSON.stringify({ model: 'gpt-4o-mini', max_output_tokens: 120, stream, input: messages, ...extra }) })
    : await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': h.key, 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 120, stream, messages, ...extra }) });
  const body = await r.text();
  assert.equal(r.status, 200, body);
  let text = '';
  if (!stream) {
    const j = JSON.parse(body);
    text = api === 'openai' ? j.choices[0].message.content
      : api === 'responses' ? j.output.filter((o: any) => o.type === 'message').flatMap((o: any) => o.content).filter((c: any) => c.type === 'output_text').map((c: any) => c.text).join('')
      : j.content.filter((b: any) => b.type === 'text').map((b: any) => b.text).join('');
  } else {
    for (const line of body.split('\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const d = JSON.parse(line.slice(6));
      text += api === 'openai' ? d.choices?.[0]?.delta?.content ?? '' : api === 'responses' ? (d.type === 'response.output_text.delta' ? d.delta : '') : d.type === 'content_block_delta' && d.delta.type === 'text_delta' ? d.delta.text : '';
    }
  }
  const id = r.headers.get('x-warden-request-id');
  for (let n = 1; n < 200; n++) {
    const e = (await storedEvents(h, n)).find((x) => x.id === id);
    if (e) return { text, event: e };
  }
  assert.fail(`no event ${id}`);
}

for (const api of ['openai', 'anthropic', 'responses'] as const) {
  for (const stream of [false, true]) {
    test(`${api}${stream ? ', streamed' : ''}: the fingerprint is the received answer's, watermarked or not`, async () => {
      const a = await ask(plain, api, stream);
      assert.ok(a.text.length > 64, `a real answer: ${a.text}`);
      assert.equal(a.event.response.answer_fp, answerFingerprint(a.text), 'unmarked: the answer as the upstream gave it');
      const b = await ask(marked, api, stream);
      assert.ok(b.event.enforcement.watermark, 'the answer was watermarked');
      assert.equal(b.event.response.answer_fp, answerFingerprint(b.text), 'marked: the answer as the client received it');
      // A client that trims the answer and joins its lines differently sends back the same fingerprint.
      assert.equal(answerFingerprint(`\n  ${b.text.trim().replace(/ +/g, '\n')}  `), b.event.response.answer_fp);
    });
  }
}

for (const stream of [false, true]) {
  test(`a watermark that changes the answer's first words${stream ? ', streamed' : ''}: the fingerprint is the changed text's`, async () => {
    const m = await ask(markedRaw, 'openai', stream);
    assert.notEqual(m.text.slice(0, 60), SWAPPABLE.slice(0, 60), `the watermark changed the answer's start: ${m.text.slice(0, 60)}`);
    assert.equal(m.event.response.answer_fp, answerFingerprint(m.text), 'the answer as the client received it');
    assert.notEqual(m.event.response.answer_fp, answerFingerprint(SWAPPABLE), 'not as the upstream gave it');
  });
}

test('several choices: no one answer, no fingerprint', async () => {
  const a = await ask(plain, 'openai', false, { n: 2 });
  assert.ok(a.text.length > 0, 'answered');
  assert.equal(a.event.response.answer_fp, undefined, `no fingerprint for two choices: ${a.event.response.answer_fp}`);
});
