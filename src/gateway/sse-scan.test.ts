import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SseEventFailed, SseParser, SseScanner, type SseSink } from './sse.ts';
import type { SseEvent } from './lifecycle.ts';
import { AnswerMeter } from './usage.ts';
import { createMockUpstream } from '../mock/index.ts';
import type { ApiFlavour } from '../events/index.ts';

/** What the gateway forwards and measures for a stream, the reference way: every event parsed to strings (comment blocks forwarded as they are). */
function viaParser(flavour: ApiFlavour, chunks: Buffer[], strip: boolean) {
  const meter = new AnswerMeter(flavour);
  const parser = new SseParser({ comments: true });
  const out: Buffer[] = [];
  const take = (events: ReturnType<SseParser['push']>) => {
    for (const ev of events) {
      const simple = ev.data === '[DONE]' || ev.data === '' || meter.observeDeltaFast(ev.data, ev.event);
      if (!simple) {
        let data: Record<string, any> | null = null;
        try { data = JSON.parse(ev.data); } catch { data = null; }
        if (data) meter.observeEvent(data, ev.event);
        if (strip && data && data.usage && Array.isArray(data.choices) && data.choices.length === 0) continue;
      }
      out.push(ev.raw);
    }
  };
  for (const c of chunks) take(parser.push(c));
  take(parser.flush());
  return { bytes: Buffer.concat(out).toString('latin1'), summary: meter.summary('') };
}

/** The same through SseScanner and scanDelta, as the gateway streams when no transformer is active. */
function viaScanner(flavour: ApiFlavour, chunks: Buffer[], strip: boolean) {
  const meter = new AnswerMeter(flavour);
  const scanner = new SseScanner();
  const sink: SseSink = {
    simple: (c, ds, de, name) => meter.scanDelta(c, ds, de, name),
    other: (ev: SseEvent) => {
      if (ev.data === '[DONE]' || ev.data === '') return true;
      let data: Record<string, any> | null = null;
      try { data = JSON.parse(ev.data); } catch { data = null; }
      if (!data) return true;
      meter.observeEvent(data, ev.event);
      return !(strip && data.usage && Array.isArray(data.choices) && data.choices.length === 0);
    },
  };
  const out: Buffer[] = [];
  for (const c of chunks) { const b = scanner.push(c, sink); if (b) out.push(Buffer.from(b)); }
  const tail = scanner.flush(sink);
  if (tail) out.push(tail);
  return { bytes: Buffer.concat(out).toString('latin1'), summary: meter.summary('') };
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const c of [...points, bytes.length]) { chunks.push(bytes.subarray(prev, c)); prev = c; }
  return chunks;
}

function sameAsParser(flavour: ApiFlavour, stream: string, strip = false): void {
  const bytes = Buffer.from(stream);
  const reference = viaParser(flavour, [bytes], strip);
  assert.deepEqual(viaScanner(flavour, [bytes], strip), reference);
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: bytes.length * 4 }), { maxLength: 16 }), (cuts) => {
    assert.deepEqual(viaScanner(flavour, split(bytes, cuts), strip), reference);
  }), { numRuns: 150 });
}

const CHAT_EDGE = [
  'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a \\"quoted\\" wörd\\n\\u00e9 🤔"},"finish_reason":null}]}\n\n',
  ': keep-alive\n\n',
  'data: {"id":"c","choices":[{"index":0,"delta":{"content": "spaced"},"finish_reason":null}]}\r\n\r\n',
  'event: chunk\ndata: {"id":"c","choices":[{"index":0,"delta":{"content":"named"},"finish_reason":null}]}\n\n',
  'data:{"id":"c","choices":[{"index":0,"delta":{"content":"no space"},"finish_reason":null}]}\n\n',
  'data: {"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"hmm, ünï"},"finish_reason":null}]}\n\n',
  'data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{\\"a\\":1}"}}]},"finish_reason":null}]}\n\n',
  'data: {"id":"c","choices":[{"index":0,"delta":{"content":null},"finish_reason":null}]}\n\n',
  'data: {"id":"c","choices":[{"index":0,"delta":{},"logprobs":{"content":[{"token":"x"}]},"finish_reason":null}]}\n\n',
  'data: {"id":"c","choices":[{"index":0,"delta":{"content":"tail"},"finish_reason":"stop"}]}\n\n',
  'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,"completion_tokens_details":{"reasoning_tokens":2}}}\n\n',
  'data: line one\ndata: line two\n\n',
  'data: [DONE]\n\n',
  'data: {"id":"c","choices":[{"index":0,"delta":{"content":"unterminated last event"},"finish_reason":null}]}',
].join('');

const ANTHROPIC_EDGE = [
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1}}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think \\"hard\\" ünïcødé 🤔"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}\n\n',
  ': a comment line\n\n',
  'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello, wörld"}}\r\n\r\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"plain"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"q\\":"}}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

/**
 * Deltas that repeat one envelope byte for byte, as every upstream's do, then change what follows
 * the text (a padding field, a finish reason, usage, reasoning, a tool call, a second choice) or the
 * envelope itself: each change must be seen as the needles see it.
 */
const CHAT_SHAPES = [
  ...['To', ' be', ', or', ' not'].map((t) => `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(t)}},"logprobs":null,"finish_reason":null}],"usage":null}\n\n`),
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" \\"to\\" bé 🤔"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" be"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x1"}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":":"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abcdef"}\n\n',
  // OpenAI's padding, new for every delta (another envelope, learnt from its first delta): letters
  // that spell a needle, an escaped quote, fields after it, none.
  'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":" new"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Qw"}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":" pad"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"reasoningXY"}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":" ded"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"a\\"b"}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":" out"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"z","usage":{"prompt_tokens":4,"completion_tokens":11}}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":" more"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":""}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":" over"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"y","choices":[{"index":0,"delta":{"content":"X"},"finish_reason":"stop"}],"id":"c2"}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" that","reasoning_content":"why"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" is","tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null},{"index":1,"delta":{"content":" other"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" question"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":4,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":1}}}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":1,"delta":{"content":" (two)"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":"length"}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"unfinished},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: [DONE]\n\n',
].join('');

const ANTHROPIC_SHAPES = [
  ...['Weigh', 'ing ', 'it "up"'].map((t) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":${JSON.stringify(t)}}}\n\n`),
  ...['Yes', ', ', 'wörld'].map((t) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":${JSON.stringify(t)}}}\n\n`),
  'event: ping\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"renamed"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"more","extra":1}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"\\u00e9t\\u00e9"}}\n\n',
].join('');

/** What a full parse of every event measures (no fast path at all). */
function fullParse(flavour: ApiFlavour, stream: string) {
  const meter = new AnswerMeter(flavour);
  for (const ev of new SseParser().push(Buffer.from(stream))) {
    if (ev.data === '[DONE]' || ev.data === '') continue;
    let data: Record<string, any> | null = null;
    try { data = JSON.parse(ev.data); } catch { data = null; }
    if (data) meter.observeEvent(data, ev.event);
  }
  return meter.summary('');
}

test('deltas that repeat an envelope are measured as a full parse of every event measures them', () => {
  // Left out: an event that is not JSON (measured by the fast paths, by no parse), and a text
  // delta sent as a `ping` (a ping is never measured by the fast paths).
  const without = (stream: string, what: string) => stream.split('\n\n').filter((e) => !e.includes(what)).join('\n\n');
  const chat = without(CHAT_SHAPES, 'unfinished');
  const anthropic = without(ANTHROPIC_SHAPES, 'renamed');
  assert.deepEqual(viaParser('openai.chat', [Buffer.from(chat)], false).summary, fullParse('openai.chat', chat));
  assert.deepEqual(viaParser('anthropic.messages', [Buffer.from(anthropic)], false).summary, fullParse('anthropic.messages', anthropic));
});

test('scanning in place forwards the same bytes and measures the same usage as parsing every event', () => {
  sameAsParser('openai.chat', CHAT_EDGE);
  sameAsParser('openai.chat', CHAT_EDGE, true);
  sameAsParser('anthropic.messages', ANTHROPIC_EDGE);
  sameAsParser('openai.chat', CHAT_SHAPES);
  sameAsParser('openai.chat', CHAT_EDGE + CHAT_SHAPES, true);
  sameAsParser('anthropic.messages', ANTHROPIC_SHAPES);
  const usage = viaScanner('openai.chat', [Buffer.from(CHAT_EDGE)], true);
  assert.equal(usage.bytes.includes('"usage":{'), false, 'the usage chunk Warden asked for is hidden');
  assert.equal(usage.summary.output_tokens, 5);
  assert.equal(usage.summary.finish_reason, 'stop');
});

test('scanning matches parsing on the mock upstream streams of all three APIs', async () => {
  const mock = await createMockUpstream({ port: 0, reasoningTokens: [20, 40] });
  try {
    const get = async (path: string, body: object) => {
      const res = await fetch(mock.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
      return res.text();
    };
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
    const messages = [{ role: 'user', content: 'Explain tides, then call lookup for the next high tide in Brest.' }];
    sameAsParser('openai.chat', await get('/v1/chat/completions', { model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } }), true);
    sameAsParser('openai.chat', await get('/v1/chat/completions', { model: 'o3-mini', messages, stream: true, reasoning_effort: 'high' }));
    sameAsParser('openai.chat', await get('/v1/chat/completions', { model: 'gpt-4o', messages, tools, stream: true }));
    sameAsParser('openai.responses', await get('/v1/responses', { model: 'gpt-4.1', input: 'Explain tides.', stream: true }));
    sameAsParser('anthropic.messages', await get('/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 2048, messages, stream: true, thinking: { type: 'enabled', budget_tokens: 1024 } }));
    sameAsParser('anthropic.messages', await get('/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 256, messages, tools: [{ name: 'lookup', input_schema: { type: 'object' } }], stream: true }));
  } finally {
    await mock.close();
  }
});

test('an event the sink cannot read: the scanner hands back the events (and comments) before it in the chunk, left-out ones excepted', () => {
  const chunk = Buffer.from('data: one\n\n: comment only\n\ndata: two\n\ndata: bad\n\ndata: after\n\n');
  const sink: SseSink = {
    simple: (c, ds, de) => {
      if (c.text.slice(ds, de) === 'bad') throw new Error('unreadable');
      return c.text.slice(ds, de) !== 'two';
    },
    other: (ev) => ev.data !== 'two',
  };
  assert.throws(() => new SseScanner().push(chunk, sink), (err: unknown) => {
    assert.ok(err instanceof SseEventFailed);
    assert.equal((err.cause as Error).message, 'unreadable');
    assert.equal(err.before?.toString(), 'data: one\n\n: comment only\n\n', 'the first event and the comment block; "two" is left out; nothing from "bad" on');
    return true;
  });
  // The first event fails: nothing before it.
  assert.throws(() => new SseScanner().push(Buffer.from('data: bad\n\ndata: one\n\n'), sink), (err: unknown) => err instanceof SseEventFailed && err.before === null);
});

test('blocks that are not events (keep-alive comments) are forwarded as they are, by the scanner and by the parser', () => {
  const stream = ': OPENROUTER PROCESSING\n\ndata: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n: keep-alive\r\n\r\ndata: [DONE]\n\n: trailing';
  const scanned = viaScanner('openai.chat', [Buffer.from(stream)], false);
  assert.equal(scanned.bytes, stream + '\n\n');
  assert.deepEqual(viaParser('openai.chat', [Buffer.from(stream)], false), scanned);
  assert.equal(scanned.summary.output_chars, 2);
});

test('an event the sink replaces is forwarded as the replacement, in its place, the bytes around it untouched (also the unterminated last one)', () => {
  const sink: SseSink = {
    simple: () => false,
    other: (ev) => (ev.event === 'error' ? { event: 'error', data: ev.data.replace('secret', '[x]') } : true),
  };
  const scanner = new SseScanner();
  const out = scanner.push(Buffer.from('data: one\r\n\r\nevent: error\ndata: {"m":"secret"}\n\ndata: two\n\nevent: error\ndata: {"m":"secret again"}'), sink);
  assert.equal(out?.toString(), 'data: one\r\n\r\nevent: error\ndata: {"m":"[x]"}\n\ndata: two\n\n');
  assert.equal(scanner.flush(sink)?.toString(), 'event: error\ndata: {"m":"[x] again"}\n\n');
});
