/**
 * Gateway overhead benchmark. Three paths to the same mock upstream, in one run:
 *   direct  -> mock
 *   proxy   -> minimal pass-through proxy -> mock   (the floor)
 *   core    -> Warden with auth, limits and event recording (policy, detector, ledger off) -> mock
 *   warden  -> Warden with everything `warden serve` runs by default (also policy and shaping,
 *              the online detector and the ledger) -> mock
 * For non-streaming and streaming requests: latency p50/p99 at a fixed offered rate (open loop),
 * and maximum sustained throughput (closed loop). Reports Warden's added latency over direct and
 * its throughput as a ratio of the proxy's.
 *
 * The machine is shared and noisy: every path is warmed up first (JIT, pools), and each figure is
 * the median of --repeats runs taken in turn across the paths (direct, proxy, core, warden, direct...).
 *
 * With --pin, the load generator and the mock upstream run on CPU 0 and the servers under test on
 * the others (see splitCpus in lib.ts). On a 2-core machine that gives each server one core, which
 * Warden with everything on (main thread, writer threads, detector) cannot serve 1,000 req/s on.
 *
 * --warden-node-flags passes Node/V8 flags to the two Warden processes only (the = is needed because
 * the value starts with a dash). --variant-node-flags adds a fifth path, "core*": Warden core
 * started with those flags, measured in turn with the others, so a setting is compared with the
 * default in the same run (for example --variant-node-flags=--max-semi-space-size=4).
 *
 * --pacing chooses how the open loop keeps time (see Pacing in lib.ts): spin (default) or timer.
 *
 *   node --import tsx bench/gateway.ts [--rate 1000] [--seconds 5] [--concurrency 32] [--repeats 3] [--pin]
 *     [--pacing timer|spin] [--warden-node-flags=...] [--variant-node-flags=...]
 */
import { parseArgs } from 'node:util';
import { startChild, openLoop, closedLoop, machine, median, splitCpus, type LoadTarget, type Pacing } from './lib.ts';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '32' }, repeats: { type: 'string', default: '3' }, extra: { type: 'string' }, pin: { type: 'boolean', default: false }, 'warden-node-flags': { type: 'string', default: '' }, 'variant-node-flags': { type: 'string', default: '' }, pacing: { type: 'string', default: 'spin' } } });
if (values.pacing !== 'timer' && values.pacing !== 'spin') throw new Error('--pacing is timer or spin');
const pacing: Pacing = values.pacing;
let lateP99 = 0;
const wardenFlags = values['warden-node-flags'].split(/\s+/).filter(Boolean);
const variantFlags = values['variant-node-flags'].split(/\s+/).filter(Boolean);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const repeats = Number(values.repeats);
const script = new URL('./gateway-servers.ts', import.meta.url).pathname;

const cpus = values.pin ? splitCpus() : null;
const mock = await startChild(script, ['mock'], [], cpus?.load);
const proxy = await startChild(script, ['proxy', mock.url], [], cpus?.servers);
const CORE_ONLY = JSON.stringify({ policy: { enabled: false }, detect: { enabled: false }, ledger: { enabled: false } });
const core = await startChild(script, ['warden', mock.url, CORE_ONLY], wardenFlags, cpus?.servers);
const warden = await startChild(script, ['warden', mock.url, ...(values.extra ? [values.extra] : [])], wardenFlags, cpus?.servers);
const variant = variantFlags.length ? await startChild(script, ['warden', mock.url, CORE_ONLY], variantFlags, cpus?.servers) : null;

const body = (stream: boolean) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream });
const target = (url: string, stream: boolean, key?: string): LoadTarget => ({
  url, path: '/v1/chat/completions', body: body(stream),
  headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
});

const rows: string[] = [];
const results: Record<string, unknown> = {};
for (const stream of [false, true]) {
  const label = stream ? 'streaming' : 'non-streaming';
  const paths: Record<string, LoadTarget> = { direct: target(mock.url, stream), proxy: target(proxy.url, stream), core: target(core.url, stream, core.key) };
  if (variant) paths['core*'] = target(variant.url, stream, variant.key);
  paths.warden = target(warden.url, stream, warden.key);
  // warm up every path: closed loop, then a short open loop at the measured rate
  for (const t of Object.values(paths)) { await closedLoop(t, concurrency, 3); await openLoop(t, rate, 1, pacing); }
  const runs: Record<string, { p50: number[]; p99: number[]; errors: number; rps: number[] }> = {};
  for (const name of Object.keys(paths)) runs[name] = { p50: [], p99: [], errors: 0, rps: [] };
  for (let r = 0; r < repeats; r++) {
    for (const [name, t] of Object.entries(paths)) {
      const o = await openLoop(t, rate, seconds, pacing);
      lateP99 = Math.max(lateP99, o.lateP99);
      runs[name].p50.push(o.p50); runs[name].p99.push(o.p99); runs[name].errors += o.errors;
    }
    for (const [name, t] of Object.entries(paths)) {
      const c = await closedLoop(t, concurrency, seconds);
      runs[name].rps.push(c.rps); runs[name].errors += c.errors;
    }
  }
  const lat: Record<string, { p50: number; p99: number; errors: number }> = {};
  const thr: Record<string, { rps: number; errors: number }> = {};
  for (const [name, v] of Object.entries(runs)) {
    lat[name] = { p50: median(v.p50), p99: median(v.p99), errors: v.errors };
    thr[name] = { rps: median(v.rps), errors: 0 };
  }
  const f = (n: number) => n.toFixed(2);
  const signed = (n: number) => (n < 0 ? f(n) : `+${f(n)}`);
  const row = (name: string) => {
    const added50 = lat[name].p50 - lat.direct.p50;
    const added99 = lat[name].p99 - lat.direct.p99;
    // Over the floor proxy too: on a small machine the proxy's own p99 shows what scheduling adds.
    const overProxy = name === 'proxy' ? '-' : `${signed(lat[name].p50 - lat.proxy.p50)} / ${signed(lat[name].p99 - lat.proxy.p99)}`;
    const ratio = thr[name].rps / thr.proxy.rps;
    results[`${label} ${name}`] = { lat: lat[name], thr: thr[name], added50, added99, ratio };
    rows.push(`| ${label} | ${name} | ${f(lat[name].p50)} / ${f(lat[name].p99)} | ${signed(added50)} / ${signed(added99)} | ${overProxy} | ${thr[name].rps.toFixed(0)} | ${ratio.toFixed(2)} | ${lat[name].errors + thr[name].errors} |`);
  };
  rows.push(`| ${label} | direct | ${f(lat.direct.p50)} / ${f(lat.direct.p99)} | - | - | ${thr.direct.rps.toFixed(0)} | - | ${lat.direct.errors + thr.direct.errors} |`);
  for (const name of Object.keys(paths)) if (name !== 'direct') row(name);
}

for (const c of [mock, proxy, core, warden, variant]) c?.proc.kill('SIGTERM');

console.log(`\nGateway overhead, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
if (wardenFlags.length) console.log(`Warden processes started with: ${wardenFlags.join(' ')}`);
if (variant) console.log(`core* is Warden core started with: ${variantFlags.join(' ')}`);
console.log(cpus ? `CPUs: load generator and mock upstream on ${cpus.load}, each server under test on ${cpus.servers}` : 'CPUs: shared by all processes (--pin to give the servers under test their own)');
console.log(pacing === 'timer'
  ? `load generator paced by a 1 ms timer, latency from each request's send (sent late by up to ${lateP99.toFixed(2)} ms at p99, worst run)`
  : `load generator spinning on the clock, latency from each request's scheduled send (sent late by up to ${lateP99.toFixed(2)} ms at p99, worst run)`);
console.log(`offered rate ${rate} req/s for ${seconds} s (latency, ms, p50 / p99); closed loop with ${concurrency} connections (req/s); median of ${repeats} runs per path, taken in turn\n`);
console.log('| requests | path | latency p50 / p99 | added over direct p50 / p99 | over the proxy p50 / p99 | max req/s | throughput / proxy | errors |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log('\n' + JSON.stringify(results));
process.exit(0);
