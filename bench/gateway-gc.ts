/**
 * Young-generation garbage collection under load, per server: how often it runs, how long it
 * pauses the server, and how much each collection copies (what survives it). Warden's p99 follows
 * these pauses (BENCHMARKS.md, gateway), and they are measured here apart from the load
 * generator's own noise. Servers: the floor proxy and Warden core (auth, limits, recording; policy,
 * detector and ledger off), each started with --trace-gc-nvp; the scavenges of its main thread
 * are read while an open loop drives it, the servers taken in turn, --repeats times.
 *
 * --pin puts the mock and the load generator on CPU 0 and the server under test on the others.
 * --extra merges JSON into Warden core's configuration (for example '{"limits":{"enabled":false}}'
 * to see what a part costs); --warden-node-flags=... passes Node/V8 flags to Warden only.
 *
 *   node --import tsx bench/gateway-gc.ts [--rate 1000] [--seconds 5] [--repeats 3] [--stream] [--pin]
 *     [--extra JSON] [--warden-node-flags=...]
 */
import { parseArgs } from 'node:util';
import { startChild, openLoop, machine, median, splitCpus, type ChildServer, type LoadTarget } from './lib.ts';

const { values } = parseArgs({ options: {
  rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '5' }, repeats: { type: 'string', default: '3' },
  stream: { type: 'boolean', default: false }, pin: { type: 'boolean', default: false }, extra: { type: 'string', default: '{}' },
  'warden-node-flags': { type: 'string', default: '' },
} });
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const repeats = Number(values.repeats);
if (!(rate > 0) || !(seconds > 0) || !(repeats >= 1)) throw new Error('--rate, --seconds and --repeats are positive numbers');
let extra: Record<string, unknown>;
try { extra = JSON.parse(values.extra); } catch { throw new Error('--extra is a JSON object'); }

/** A server whose scavenge lines (main thread) are collected while `recording` is on. */
interface Traced { name: string; server: ChildServer; lines: string[]; recording: boolean }

const script = new URL('./gateway-servers.ts', import.meta.url).pathname;
const cpus = values.pin ? splitCpus() : null;
const mock = await startChild(script, ['mock'], [], cpus?.load);
const traced = async (name: string, args: string[], flags: string[]): Promise<Traced> => {
  const t: Traced = { name, server: null as unknown as ChildServer, lines: [], recording: false };
  t.server = await startChild(script, args, ['--trace-gc-nvp', ...flags], cpus?.servers, (l) => { if (t.recording && l.includes(' gc=')) t.lines.push(l); });
  return t;
};
const core = JSON.stringify({ policy: { enabled: false }, detect: { enabled: false }, ledger: { enabled: false }, ...extra });
const servers = [
  await traced('proxy', ['proxy', mock.url], []),
  await traced('Warden core', ['warden', mock.url, core], values['warden-node-flags'].split(/\s+/).filter(Boolean)),
];

const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream: values.stream });
const target = (s: ChildServer): LoadTarget => ({
  url: s.url, path: '/v1/chat/completions', body,
  headers: { 'content-type': 'application/json', ...(s.key ? { authorization: `Bearer ${s.key}` } : {}) },
});

interface Run { scavenges: number; pauseMs: number; meanPauseMs: number; maxPauseMs: number; survivedKb: number; p50: number; p99: number }
/** A `name=value` figure of one --trace-gc-nvp line. */
const field = (line: string, name: string): number => Number(new RegExp(`\\b${name}=([0-9.]+)`).exec(line)?.[1] ?? NaN);

/** The scavenges of the isolate that collected most (the main thread: worker threads collect far less). */
function summarise(lines: string[], p50: number, p99: number): Run {
  const isolate = (l: string) => l.slice(0, l.indexOf(']'));
  const scavenges = lines.filter((l) => / gc=s /.test(l));
  const counts = new Map<string, number>();
  for (const l of scavenges) counts.set(isolate(l), (counts.get(isolate(l)) ?? 0) + 1);
  const main = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  const mine = scavenges.filter((l) => isolate(l) === main);
  const pauses = mine.map((l) => field(l, 'pause'));
  const survived = mine.map((l) => field(l, 'new_space_survived') + field(l, 'promoted'));
  const total = pauses.reduce((a, b) => a + b, 0);
  return {
    scavenges: mine.length, pauseMs: total, meanPauseMs: mine.length ? total / mine.length : 0, maxPauseMs: Math.max(0, ...pauses),
    // The median collection: a stall of the machine piles requests up and inflates a few.
    survivedKb: mine.length ? median(survived) / 1024 : 0, p50, p99,
  };
}

const runs = new Map<string, Run[]>(servers.map((s) => [s.name, []]));
for (const s of servers) await openLoop(target(s.server), rate, 2); // warm-up: JIT, connections
for (let r = 0; r < repeats; r++) {
  for (const s of servers) {
    s.lines = [];
    s.recording = true;
    const o = await openLoop(target(s.server), rate, seconds);
    s.recording = false;
    runs.get(s.name)!.push(summarise(s.lines, o.p50, o.p99));
  }
}
for (const c of [mock, ...servers.map((s) => s.server)]) c.proc.kill('SIGTERM');

const requests = Math.round(rate * seconds);
const range = (xs: number[], digits: number) => {
  const lo = Math.min(...xs); const hi = Math.max(...xs);
  return lo === hi ? lo.toFixed(digits) : `${lo.toFixed(digits)}-${hi.toFixed(digits)}`;
};
console.log(`\nYoung-generation collections under load, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(cpus ? `CPUs: load generator and mock on ${cpus.load}, the server under test on ${cpus.servers}` : 'CPUs: shared by all processes (--pin to give the server under test its own)');
console.log(`${values.stream ? 'streaming' : 'non-streaming'} requests, open loop at ${rate} req/s for ${seconds} s (${requests} requests) per run, ${repeats} runs per server taken in turn; main thread only${values.extra !== '{}' ? `; Warden core with ${values.extra}` : ''}\n`);
console.log(`| server | scavenges per run | time in pauses per run (ms) | mean pause (ms) | longest pause (ms) | survived + promoted, median scavenge (KB) | request p50 / p99 (ms) |`);
console.log('|---|---|---|---|---|---|---|');
for (const [name, rs] of runs) {
  console.log(`| ${name} | ${range(rs.map((x) => x.scavenges), 0)} | ${range(rs.map((x) => x.pauseMs), 0)} | ${range(rs.map((x) => x.meanPauseMs), 2)} | ${range(rs.map((x) => x.maxPauseMs), 1)} | ${range(rs.map((x) => x.survivedKb), 0)} | ${median(rs.map((x) => x.p50)).toFixed(2)} / ${median(rs.map((x) => x.p99)).toFixed(2)} |`);
}
console.log('\n' + JSON.stringify(Object.fromEntries(runs)));
process.exit(0);
