// A streamed answer through an output transformer that can tell from an event's text that it leaves
// the event alone (the answer filter: no reasoning, no log-probabilities): the events it leaves
// alone are relayed as the upstream's bytes without being decoded, the others rewritten. What the
// client receives, and what is recorded, must be the same bytes and counts as when every event is
// decoded and handed to the transformer, whatever the upstream's chunking.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream } from '../helpers/raw-upstream.ts';
import type { GatewayHooks, OutputTransformer } from '../../src/gateway/lifecycle.ts';
import { chatAnswerFilter } from '../../src/shape/answer-openai.ts';
import type { ReasoningSeal } from '../../src/shape/seal.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

const PAD = ',"obfuscation":"x9Q"';
const chunk = (delta: object, extra: object = {}) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: null, ...extra }] }).slice(0, -1)},"usage":null${PAD}}\n\n`;
const logprobs = { content: [{ token: 'Ça', logprob: -0.1, bytes: [195, 135, 97], top_logprobs: [] }] };

/** A Chat stream with what the filter rewrites between plain deltas: reasoning, log-probabilities, a comment, a CRLF event, non-ASCII text. */
const BODY = Buffer.from([
  chunk({ role: 'assistant', content: '' }),
  chunk({ reasoning_content: 'Let me think about Ça va.' }),
  chunk({ reasoning_content: ' Étape deux.' }),
  chunk({ content: 'Ça va ' }),
  ': keep-alive\n\n',
  chunk({ content: 'très bien, ' }),
  chunk({ content: '日本語 and 🎉 ' }, { logprobs }),
  chunk({ content: 'merci.' }).replace(/\n/g, '\r\n'),
  chunk({ content: ' "quoted" \\ text' }),
  chunk({ content: 'Fin.' }),
  chunk({}, { finish_reason: 'stop' }),
  `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":12,"total_tokens":19}${PAD}}\n\n`,
  'data: [DONE]\n\n',
].join(''));

/** Cut points: every event split somewhere, some inside a multi-byte character. */
function pieces(body: Buffer, step: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += step) out.push(body.subarray(i, Math.min(body.length, i + step)));
  return out;
}

async function upstream(step: number) {
  const u = await startRawUpstream((_req, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const parts = pieces(BODY, step);
    const next = () => {
      const p = parts.shift();
      if (!p) { res.end(); return; }
      res.write(p);
      setImmediate(next);
    };
    next();
  });
  open.push(u);
  return u;
}

const filterOpts = (reasoning: 'none' | 'summary') => ({
  reasoning, logprobs: false, seal: null as unknown as ReasoningSeal,
  summarise: (text: string, max: number) => `summary of ${text.length} chars`.slice(0, max), summaryMaxChars: 200, anthropicWithheld: 'redacted' as const,
});

/** The filter as it is, or without `passes` (every event decoded and handed to it), counting the events it is handed. */
function hooks(reasoning: 'none' | 'summary', judged: boolean, seen: { events: number }): GatewayHooks[] {
  return [{
    name: 'answer-filter',
    output: (): OutputTransformer => {
      const f = chatAnswerFilter(filterOpts(reasoning));
      const sse = (ev: Parameters<NonNullable<OutputTransformer['sse']>>[0]) => { seen.events++; return f.sse!(ev); };
      return judged ? { passes: f.passes, sse } : { sse };
    },
  }];
}

async function streamThrough(step: number, reasoning: 'none' | 'summary', judged: boolean) {
  const u = await upstream(step);
  const seen = { events: 0 };
  const h: Harness = await startHarness({ upstreamOverride: () => [{ name: 'raw', base_url: u.url, models: ['*'] }], hooks: hooks(reasoning, judged, seen) });
  open.push(h);
  const r = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${GOOD_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  const bytes = Buffer.from(await r.arrayBuffer());
  const [e] = await storedEvents(h, 1);
  const { ttfb_ms: _ttfb, ...response } = e.response;
  return { bytes, response, seen: seen.events };
}

for (const reasoning of ['none', 'summary'] as const) {
  for (const step of [BODY.length, 97, 13]) {
    test(`Chat stream through the answer filter (reasoning ${reasoning}, upstream writes of ${step} bytes): the same bytes and record as with every event decoded`, async () => {
      const decoded = await streamThrough(step, reasoning, false);
      const scanned = await streamThrough(step, reasoning, true);
      const text = decoded.bytes.toString('utf8');
      assert.ok(!text.includes('Étape') && !text.includes('"logprob"'), `the filter withheld the reasoning and the log-probabilities: ${text}`);
      assert.ok(text.includes('Ça va ') && text.includes('🎉') && text.includes(': keep-alive\n\n'), `the answer text and the comment went through: ${text}`);
      assert.ok(!text.includes('"usage":null'), 'the usage the gateway asked for is hidden as before');
      assert.equal(scanned.bytes.toString('utf8'), text);
      assert.ok(scanned.bytes.equals(decoded.bytes), 'byte for byte the same stream');
      assert.deepEqual(scanned.response, decoded.response);
      assert.equal(decoded.response.output_tokens, 12);
      assert.ok(decoded.response.answer_fp, 'the answer has a fingerprint');
      // Plain text deltas were relayed without being handed to the filter.
      assert.ok(scanned.seen < decoded.seen, `the filter was handed ${scanned.seen} of the ${decoded.seen} events`);
    });
  }
}
