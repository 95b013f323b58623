/**
 * Gateway throughput with the ledger on vs off, same run, same machine. Two Warden processes
 * (bench/gateway-servers.ts, full pipeline) in front of one mock upstream, identical except
 * `ledger.enabled`; closed-loop load against one at a time. The machine is shared and its load
 * drifts, so each repeat interleaves short slices (off, on, on, off, ...) and compares the sums;
 * the median of the repeats is reported. Also the CPU time each Warden process spent per request
 * (/proc/<pid>/stat, all its threads: the ledger's writer thread included), which noise affects
 * less than throughput. The ledger-on process must have recorded every completed request
 * (durable entries vs requests, dropped count from /metrics).
 *
 *   node --import tsx bench/ledger-gateway.ts [--seconds 6] [--slices 3] [--concurrency 32] [--repeats 3]
 */
import { parseArgs } from 'node:util';
import { startChild, closedLoop, machine, median, cpuSeconds, type LoadTarget } from './lib.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, slices: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' }, repeats: { type: 'string', default: '3' } } });
/** Seconds of load per side per repeat, in `slices` slices. */
const seconds = Number(values.seconds);
const slices = Number(values.slices);
const concurrency = Number(values.concurrency);
const repeats = Number(values.repeats);
const script = new URL('./gateway-servers.ts', import.meta.url).pathname;

const mock = await startChild(script, ['mock']);
const off = await startChild(script, ['warden', mock.url, JSON.stringify({ ledger: { enabled: false } })]);
const on = await startChild(script, ['warden', mock.url, JSON.stringify({ ledger: { enabled: true, public_reads: true } })]);

const body = (stream: boolean) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream });
const target = (url: string, key: string | undefined, stream: boolean): LoadTarget => ({
  url, path: '/v1/chat/completions', body: body(stream),
  headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
});

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const rows: string[] = [];
const results: Record<string, unknown> = {};
let completedOn = 0;
for (const stream of [false, true]) {
  const label = stream ? 'streaming' : 'non-streaming';
  const sides = {
    off: { target: target(off.url, off.key, stream), pid: off.proc.pid! },
    on: { target: target(on.url, on.key, stream), pid: on.proc.pid! },
  };
  // Warm-up (JIT, connection pools, the ledger's first pages), twice each, alternating.
  for (let w = 0; w < 2; w++) for (const side of Object.values(sides)) await closedLoop(side.target, concurrency, 2);
  const rps: Record<'off' | 'on', number[]> = { off: [], on: [] };
  const cpuPerReq: Record<'off' | 'on', number[]> = { off: [], on: [] };
  const ratios: number[] = [];
  let errors = 0;
  for (let r = 0; r < repeats; r++) {
    const done = { off: 0, on: 0 };
    const cpu = { off: 0, on: 0 };
    for (let k = 0; k < slices; k++) {
      for (const which of (k + r) % 2 === 0 ? ['off', 'on'] as const : ['on', 'off'] as const) {
        const side = sides[which];
        const c0 = cpuSeconds(side.pid);
        const res = await closedLoop(side.target, concurrency, seconds / slices);
        cpu[which] += cpuSeconds(side.pid) - c0;
        done[which] += res.rps * (seconds / slices);
        errors += res.errors;
      }
    }
    completedOn += Math.round(done.on);
    for (const which of ['off', 'on'] as const) {
      rps[which].push(done[which] / seconds);
      cpuPerReq[which].push((cpu[which] / done[which]) * 1e6);
    }
    ratios.push(done.on / done.off);
  }
  const f0 = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  results[label] = { rps, ratios, cpuPerReqUs: cpuPerReq, errors };
  rows.push(`| ${label} | ${f0(rps.off)} | ${f0(rps.on)} | ${ratios.map((x) => x.toFixed(2)).join(', ')} | **${median(ratios).toFixed(2)}** | ${median(cpuPerReq.off).toFixed(0)} / ${median(cpuPerReq.on).toFixed(0)} | ${errors} |`);
}

// Let the writer drain and sign, then check that the ledger-on process recorded everything.
await new Promise((r) => setTimeout(r, 1500));
const appended = await metric(on.url, 'warden_ledger_appended_total');
const dropped = await metric(on.url, 'warden_ledger_dropped_total');
const rejected = await metric(on.url, 'warden_ledger_rejected_total');
const pending = await metric(on.url, 'warden_ledger_pending');
const checkpoint = await (await fetch(`${on.url}/ledger/v1/checkpoint`)).text();
const cpSize = Number(checkpoint.split('\n')[1]);

for (const c of [mock, off, on]) c.proc.kill('SIGTERM');

console.log(`\nGateway throughput, ledger on vs off, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`closed loop, ${concurrency} connections; per repeat ${seconds} s of load on each side in ${slices} interleaved slices; ${repeats} repeats; mock upstream without latency\n`);
console.log('| requests | ledger off req/s (per repeat) | ledger on req/s | on/off per repeat | median on/off | Warden CPU µs per request, off / on (median) | errors |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\nledger-on process: ${appended} entries durable (about ${completedOn} requests completed under measurement, plus warm-ups), latest checkpoint size ${cpSize}, ${dropped} dropped, ${rejected} refused, ${pending} pending`);
console.log('\n' + JSON.stringify({ concurrency, seconds, slices, repeats, results, ledger: { appended, dropped, rejected, pending, checkpointSize: cpSize, completedOn } }));
process.exit(0);
