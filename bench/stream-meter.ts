/**
 * CPU of a streamed answer's own work in the gateway, per stream, without the network: the
 * mock upstream's Chat Completions stream (64 tokens, usage asked for, OpenAI's padding) relayed
 * as `relay-stream.ts` relays it, run in-process.
 *   scan       no output transformer: the events scanned in place, usage metered, the usage chunk and
 *              `"usage":null` taken out (what `auth + recording` streams pay)
 *   transform  an output transformer (watermark) rewrote the events: each one decoded and metered,
 *              and the start of the answer as sent read again for its fingerprint
 * `--base DIR` also measures another checkout's src/gateway (a git worktree of an earlier commit),
 * in alternating rounds, for a before/after in one run.
 *
 *   node --import tsx bench/stream-meter.ts [--rounds 6] [--streams 3000] [--base /path/to/worktree]
 */
import { parseArgs } from 'node:util';
import { createMockUpstream } from '../src/mock/index.ts';
import { machine } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, streams: { type: 'string', default: '3000' }, base: { type: 'string' } } });
const rounds = Number(values.rounds);
const N = Number(values.streams);

const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
const r = await fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream: true, stream_options: { include_usage: true } }) });
const body = Buffer.from(await r.arrayBuffer());
await mock.close();

type Tree = { sse: typeof import('../src/gateway/sse.ts'); usage: typeof import('../src/gateway/usage.ts') };
const trees: Record<string, Tree> = { this: { sse: await import('../src/gateway/sse.ts'), usage: await import('../src/gateway/usage.ts') } };
if (values.base) {
  const dir = `${values.base.replace(/\/$/, '')}/src/gateway`;
  trees.base = { sse: await import(`${dir}/sse.ts`), usage: await import(`${dir}/usage.ts`) };
}

function scan(t: Tree) {
  const meter = new t.usage.AnswerMeter('openai.chat');
  const scanner = new t.sse.SseScanner();
  const sink = {
    simple: (c: Parameters<typeof meter.scanDelta>[0], ds: number, de: number, name: string | undefined) => meter.scanDelta(c, ds, de, name),
    other: (ev: { data: string; event?: string }) => {
      if (ev.data === '[DONE]' || ev.data === '') return true;
      let d: Record<string, any> | null = null;
      try { d = JSON.parse(ev.data); } catch { d = null; }
      if (!d) return true;
      meter.observeEvent(d, ev.event);
      return !(d.usage && Array.isArray(d.choices) && d.choices.length === 0);
    },
  };
  const out = scanner.push(body, sink);
  if (out) t.sse.dropUsageNull(out);
  return meter.summary('x');
}

function transform(t: Tree) {
  const meter = new t.usage.AnswerMeter('openai.chat');
  const parser = new t.sse.SseParser({ comments: true });
  for (const ev of parser.push(body)) {
    if (ev.data === '[DONE]') { meter.done(); continue; }
    if (!meter.observeDeltaFast(ev.data, ev.event)) { try { meter.observeEvent(JSON.parse(ev.data), ev.event); } catch { /* not JSON */ } }
    // The transformer's output (here the event unchanged): the answer's start as sent.
    meter.observeSentEvent(ev.data, ev.event);
  }
  return meter.summary('x');
}

const cases = { scan, transform } as const;
const res: Record<string, number[]> = {};
const names = Object.keys(trees);
for (let round = 0; round < rounds; round++) {
  for (const k of round % 2 ? [...names].reverse() : names) {
    for (const [name, fn] of Object.entries(cases)) {
      for (let i = 0; i < Math.min(300, N); i++) fn(trees[k]);
      const c0 = process.cpuUsage();
      for (let i = 0; i < N; i++) fn(trees[k]);
      const c = process.cpuUsage(c0);
      (res[`${name}, ${k}`] ??= []).push((c.user + c.system) / N);
    }
  }
}
const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(`\nStream path CPU per stream (${body.length} bytes, ${body.toString('latin1').split('\n\n').length - 1} events), ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`median of ${rounds} rounds of ${N} streams${values.base ? ', trees alternating' : ''}\n`);
console.log('| path, tree | µs / stream | rounds |');
console.log('|---|---|---|');
for (const [k, v] of Object.entries(res)) console.log(`| ${k} | ${median(v).toFixed(1)} | ${v.map((x) => x.toFixed(0)).join(' ')} |`);
if (trees.base) {
  for (const name of Object.keys(cases)) {
    const fn = cases[name as keyof typeof cases];
    if (JSON.stringify(fn(trees.this)) !== JSON.stringify(fn(trees.base))) console.log(`\n${name}: the two trees measure the stream differently`);
  }
}
process.exit(0);
