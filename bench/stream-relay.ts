/**
 * CPU of relaying one streamed answer, per stream, in-process and without the network: the mock
 * upstream's Chat Completions stream (64 tokens, usage asked for and hidden, OpenAI's padding)
 * through `streamAnswer` (src/gateway/relay-stream.ts) as `warden serve` relays it, with the answer
 * filter that `warden serve`'s default policy sets (no reasoning, no log-probabilities), and, for
 * comparison, without any output transformer (as Warden core relays it). The client's socket and
 * the upstream call are stand-ins that take every write at once; the stream is whole at once.
 * `--base DIR` also measures another checkout (a git worktree of an earlier commit), in
 * alternating rounds, and checks that both send the same bytes and record the same summary.
 *
 *   node --import tsx bench/stream-relay.ts [--rounds 6] [--streams 3000] [--chunks 1] [--base /path/to/worktree]
 *
 * `--chunks N`: the stream arrives in N pieces of about equal size (cut anywhere) instead of one.
 */
import { parseArgs } from 'node:util';
import { createMockUpstream } from '../src/mock/index.ts';
import { machine } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, streams: { type: 'string', default: '3000' }, chunks: { type: 'string', default: '1' }, base: { type: 'string' } } });
const rounds = Number(values.rounds);
const N = Number(values.streams);
const nChunks = Number(values.chunks);

const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
const r = await fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream: true, stream_options: { include_usage: true } }) });
const body = Buffer.from(await r.arrayBuffer());
await mock.close();
const size = Math.ceil(body.length / nChunks);
const pieces = Array.from({ length: nChunks }, (_, i) => body.subarray(i * size, Math.min(body.length, (i + 1) * size))).filter((p) => p.length > 0);

interface Tree {
  streamAnswer: typeof import('../src/gateway/relay-stream.ts').streamAnswer;
  AnswerMeter: typeof import('../src/gateway/usage.ts').AnswerMeter;
  chatAnswerFilter: typeof import('../src/shape/answer-openai.ts').chatAnswerFilter;
}
async function load(root: string): Promise<Tree> {
  const [relay, usage, shape] = await Promise.all([import(`${root}/src/gateway/relay-stream.ts`), import(`${root}/src/gateway/usage.ts`), import(`${root}/src/shape/answer-openai.ts`)]);
  return { streamAnswer: relay.streamAnswer, AnswerMeter: usage.AnswerMeter, chatAnswerFilter: shape.chatAnswerFilter };
}
const trees: Record<string, Tree> = { this: await load(new URL('..', import.meta.url).pathname.replace(/\/$/, '')) };
if (values.base) trees.base = await load(values.base.replace(/\/$/, ''));

const deps = { streamMaxDurationMs: 600_000, streamKeepaliveMs: 0, log: { warn() {}, error() {} } };
const filterOpts = { reasoning: 'none' as const, logprobs: false, seal: null as never, summarise: (t: string) => t, summaryMaxChars: 200, anthropicWithheld: 'redacted' as const };

/** One stream relayed; returns the bytes written and the meter's summary (for the comparison). */
function relay(t: Tree, filtered: boolean, keep: boolean): { bytes: number; out?: Buffer; summary?: unknown } {
  const written: Buffer[] = [];
  let bytes = 0;
  const raw = {
    headersSent: true, destroyed: false, writableEnded: false, writableLength: 0,
    writeHead() { return raw; },
    write(b: Buffer | string) { bytes += b.length; if (keep) written.push(Buffer.from(b)); return true; },
    end() { raw.writableEnded = true; },
    once() {}, off() {}, flushHeaders() {},
  };
  const reply = { raw, hijack() {} };
  const meter = new t.AnswerMeter('openai.chat');
  meter.usageAsked = true;
  const run = {
    ctx: { id: 'x', flavour: 'openai.chat', wire: 'openai', startedAt: Date.now(), responseHeaders: {}, abortReason: null, abort() {} },
    meter, status: 0, errorCode: null, ttfbMs: null, finished: false, eventsSent: 0, closingFailed: false, upstream: null, call: null,
    watch: { waiting() {}, endWithin() {} },
  };
  const call = {
    consume(c: { data(b: Buffer): boolean; end(): void }) { for (const p of pieces) c.data(p); c.end(); },
    resume() {}, abort() {},
  };
  const transformers = filtered ? [t.chatAnswerFilter(filterOpts)] : [];
  void t.streamAnswer(deps as never, run as never, reply as never, call as never, transformers, true, {});
  return keep ? { bytes, out: Buffer.concat(written), summary: meter.summary('x', 1) } : { bytes };
}

const cases = { 'answer filter (warden serve)': true, 'no transformer (core)': false } as const;
const res: Record<string, number[]> = {};
const names = Object.keys(trees);
for (let round = 0; round < rounds; round++) {
  for (const k of round % 2 ? [...names].reverse() : names) {
    for (const [name, filtered] of Object.entries(cases)) {
      for (let i = 0; i < Math.min(300, N); i++) relay(trees[k], filtered, false);
      const c0 = process.cpuUsage();
      for (let i = 0; i < N; i++) relay(trees[k], filtered, false);
      const c = process.cpuUsage(c0);
      (res[`${name}, ${k}`] ??= []).push((c.user + c.system) / N);
    }
  }
}
const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(`\nStream relay CPU per stream (${body.length} bytes in ${pieces.length} piece(s), ${body.toString('latin1').split('\n\n').length - 1} events), ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`median of ${rounds} rounds of ${N} streams${values.base ? ', trees alternating' : ''}\n`);
console.log('| path, tree | µs / stream | rounds |');
console.log('|---|---|---|');
for (const [k, v] of Object.entries(res)) console.log(`| ${k} | ${median(v).toFixed(1)} | ${v.map((x) => x.toFixed(0)).join(' ')} |`);
if (trees.base) {
  for (const [name, filtered] of Object.entries(cases)) {
    const a = relay(trees.this, filtered, true);
    const b = relay(trees.base, filtered, true);
    const same = a.out!.equals(b.out!) && JSON.stringify(a.summary) === JSON.stringify(b.summary);
    console.log(`\n${name}: ${same ? 'both trees send the same bytes and record the same summary' : 'THE TREES DIFFER'} (${a.out!.length} bytes sent)`);
  }
}
process.exit(0);
