/**
 * Reading a streamed answer: the gateway's in-place SSE scan against parsing every event.
 * For each stream of the built-in mock (chat, chat with reasoning, Responses, Anthropic with
 * thinking), microseconds per stream to find the events, meter the answer (text, reasoning,
 * usage) and hand back the bytes to forward:
 *   parse every event  SseParser, JSON.parse of each event's data, AnswerMeter.observeEvent (the baseline)
 *   warden             SseScanner + AnswerMeter.scanDelta, what the gateway runs when no policy rewrites events
 *   warden, shaping    SseParser + AnswerMeter.observeDeltaFast, the meter's share of the path taken when
 *                      policy rewrites events (reasoning withheld or summarised, logprobs stripped, watermark)
 * Twice: the stream in one chunk (an unpaced upstream on a fast link) and one event per chunk (a
 * real model's pace). Then marking a streamed answer (policy `watermark: true`): the watermark's
 * output transformer over the stream's events, against parsing and re-serialising every event (the
 * baseline: what rewriting each event costs before any marking). One process, variants measured
 * in turn, median of `--repeats`.
 *
 *   node --import tsx bench/sse.ts [--repeats 7] [--ms 400]
 */
import { parseArgs } from 'node:util';
import { createMockUpstream } from '../src/mock/index.ts';
import { SseParser, SseScanner, type SseSink } from '../src/gateway/sse.ts';
import { AnswerMeter } from '../src/gateway/usage.ts';
import type { ApiFlavour } from '../src/events/index.ts';
import { watermarkTransformer } from '../src/watermark/transform.ts';
import { deriveWatermarkKey } from '../src/watermark/keys.ts';
import { parseSse, runTransformer } from '../test/helpers/sse-fixtures.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '7' }, ms: { type: 'string', default: '400' } } });
const repeats = Number(values.repeats);
const ms = Number(values.ms);

const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0, reasoningTokens: [48, 48] });
const fetchStream = async (path: string, body: object): Promise<Buffer> => {
  const res = await fetch(mock.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
  return Buffer.from(await res.arrayBuffer());
};
const messages = [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }];
const STREAMS: [string, ApiFlavour, Buffer][] = [
  ['chat, 64 tokens', 'openai.chat', await fetchStream('/v1/chat/completions', { model: 'gpt-4o-mini', messages, max_tokens: 64, stream: true, stream_options: { include_usage: true } })],
  ['chat with reasoning', 'openai.chat', await fetchStream('/v1/chat/completions', { model: 'o3-mini', messages, max_tokens: 160, stream: true, stream_options: { include_usage: true } })],
  ['responses, 64 tokens', 'openai.responses', await fetchStream('/v1/responses', { model: 'gpt-4.1', input: messages[0].content, max_output_tokens: 64, stream: true })],
  ['anthropic with thinking', 'anthropic.messages', await fetchStream('/v1/messages', { model: 'claude-sonnet-4-5', messages, max_tokens: 1200, stream: true, thinking: { type: 'enabled', budget_tokens: 1024 } })],
];
await mock.close();

/** The stream's events, one per chunk. */
const perEvent = (b: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = b.indexOf('\n\n'); i !== -1; i = b.indexOf('\n\n', start)) { out.push(b.subarray(start, i + 2)); start = i + 2; }
  if (start < b.length) out.push(b.subarray(start));
  return out;
};

/** Every event parsed to strings; with `fast`, text deltas go to the meter's fast path first (the shaping path). */
function viaParser(flavour: ApiFlavour, chunks: Buffer[], fast = false): number {
  const meter = new AnswerMeter(flavour);
  const parser = new SseParser();
  let bytes = 0;
  for (const c of chunks) {
    for (const ev of parser.push(c)) {
      if (ev.data !== '[DONE]' && ev.data !== '' && !(fast && meter.observeDeltaFast(ev.data, ev.event))) meter.observeEvent(JSON.parse(ev.data), ev.event);
      bytes += ev.raw.length;
    }
  }
  return bytes + meter.summary('').output_chars;
}

function viaScanner(flavour: ApiFlavour, chunks: Buffer[]): number {
  const meter = new AnswerMeter(flavour);
  const scanner = new SseScanner();
  const sink: SseSink = {
    simple: (c, ds, de, name) => meter.scanDelta(c, ds, de, name),
    other: (ev) => { if (ev.data !== '[DONE]' && ev.data !== '') meter.observeEvent(JSON.parse(ev.data), ev.event); return true; },
  };
  let bytes = 0;
  for (const c of chunks) bytes += scanner.push(c, sink)?.length ?? 0;
  return bytes + meter.summary('').output_chars;
}

/** Microseconds per stream, running `f` for `ms` milliseconds. */
function time(f: () => number): number {
  let n = 0;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(ms) * 1_000_000n;
  let now = t0;
  while (now < until) {
    for (let k = 0; k < 50; k++) sink += f();
    n += 50;
    now = process.hrtime.bigint();
  }
  if (sink === -1) console.log(sink);
  return Number(now - t0) / 1e3 / n;
}

console.log(`\nReading a streamed answer, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`median of ${repeats} runs of ${ms} ms each, variants in turn; µs per stream\n`);
console.log('| stream | bytes | events | chunks | parse every event (baseline) | warden (in-place scan) | ratio | warden, shaping | ratio |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [name, flavour, bytes] of STREAMS) {
  const events = perEvent(bytes);
  for (const [label, chunks] of [['one', [bytes]], ['one per event', events]] as [string, Buffer[]][]) {
    const reference = viaParser(flavour, chunks);
    if (viaScanner(flavour, chunks) !== reference || viaParser(flavour, chunks, true) !== reference) throw new Error(`${name}: the fast paths and the parse disagree`);
    const base: number[] = [];
    const scan: number[] = [];
    const shaping: number[] = [];
    for (let r = 0; r < repeats; r++) {
      base.push(time(() => viaParser(flavour, chunks)));
      scan.push(time(() => viaScanner(flavour, chunks)));
      shaping.push(time(() => viaParser(flavour, chunks, true)));
    }
    const b = median(base);
    const s = median(scan);
    const p = median(shaping);
    console.log(`| ${name} | ${bytes.length.toLocaleString('en')} | ${events.length} | ${label} | ${b.toFixed(1)} | ${s.toFixed(1)} | ${(s / b).toFixed(2)} | ${p.toFixed(1)} | ${(p / b).toFixed(2)} |`);
  }
}

console.log('\nMarking a streamed answer (watermark transformer), µs per stream\n');
console.log('| stream | events | parse and re-serialise every event (baseline) | warden (watermark) | ratio |');
console.log('|---|---|---|---|---|');
const key = deriveWatermarkKey('bench-master-secret-0123456789', { kind: 'account', id: 'acc_bench' }).key;
for (const [name, flavour, bytes] of STREAMS) {
  if (flavour === 'openai.responses') continue;
  const events = parseSse(bytes.toString('utf8'));
  const rewriteAll = () => { let n = 0; for (const ev of events) n += ev.data.startsWith('{') ? JSON.stringify(JSON.parse(ev.data)).length : ev.data.length; return n; };
  const mark = () => runTransformer(watermarkTransformer(flavour, key), events).length;
  const base: number[] = [];
  const marked: number[] = [];
  for (let r = 0; r < repeats; r++) {
    base.push(time(rewriteAll));
    marked.push(time(mark));
  }
  const b = median(base);
  const m = median(marked);
  console.log(`| ${name} | ${events.length} | ${b.toFixed(1)} | ${m.toFixed(1)} | ${(m / b).toFixed(2)} |`);
}
