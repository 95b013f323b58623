/**
 * Gateway overhead benchmark. Three paths to the same mock upstream, in one run:
 *   direct  -> mock
 *   proxy   -> minimal pass-through proxy -> mock   (the floor)
 *   warden  -> Warden, full pipeline (auth, event recording) -> mock
 * For non-streaming and streaming requests: latency p50/p99 at a fixed offered rate (open loop),
 * and maximum sustained throughput (closed loop). Reports Warden's added latency over direct and
 * its throughput as a ratio of the proxy's.
 *
 *   node --import tsx bench/gateway.ts [--rate 1000] [--seconds 5] [--concurrency 32]
 */
import { parseArgs } from 'node:util';
import { startChild, openLoop, closedLoop, machine, type LoadTarget } from './lib.ts';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '32' }, extra: { type: 'string' } } });
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const script = new URL('./gateway-servers.ts', import.meta.url).pathname;

const mock = await startChild(script, ['mock']);
const proxy = await startChild(script, ['proxy', mock.url]);
const warden = await startChild(script, ['warden', mock.url, ...(values.extra ? [values.extra] : [])]);

const body = (stream: boolean) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream });
const target = (url: string, stream: boolean, key?: string): LoadTarget => ({
  url, path: '/v1/chat/completions', body: body(stream),
  headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
});

const rows: string[] = [];
const results: Record<string, unknown> = {};
for (const stream of [false, true]) {
  const label = stream ? 'streaming' : 'non-streaming';
  const paths = { direct: target(mock.url, stream), proxy: target(proxy.url, stream), warden: target(warden.url, stream, warden.key) };
  // warm up every path
  for (const t of Object.values(paths)) await closedLoop(t, 8, 1);
  const lat: Record<string, { p50: number; p99: number; errors: number }> = {};
  const thr: Record<string, { rps: number; errors: number }> = {};
  for (const [name, t] of Object.entries(paths)) lat[name] = await openLoop(t, rate, seconds);
  for (const [name, t] of Object.entries(paths)) thr[name] = await closedLoop(t, concurrency, seconds);
  const added50 = lat.warden.p50 - lat.direct.p50;
  const added99 = lat.warden.p99 - lat.direct.p99;
  const proxyAdded50 = lat.proxy.p50 - lat.direct.p50;
  const ratio = thr.warden.rps / thr.proxy.rps;
  results[label] = { lat, thr, added50, added99, ratio };
  rows.push(`| ${label} | ${lat.direct.p50.toFixed(2)} / ${lat.direct.p99.toFixed(2)} | ${lat.proxy.p50.toFixed(2)} / ${lat.proxy.p99.toFixed(2)} | ${lat.warden.p50.toFixed(2)} / ${lat.warden.p99.toFixed(2)} | +${proxyAdded50.toFixed(2)} | +${added50.toFixed(2)} / +${added99.toFixed(2)} | ${thr.direct.rps.toFixed(0)} | ${thr.proxy.rps.toFixed(0)} | ${thr.warden.rps.toFixed(0)} | ${ratio.toFixed(2)} |`);
}

for (const c of [mock, proxy, warden]) c.proc.kill('SIGTERM');

console.log(`\nGateway overhead, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`offered rate ${rate} req/s for ${seconds} s (latency, ms, p50 / p99); closed loop with ${concurrency} connections (req/s)\n`);
console.log('| requests | direct p50/p99 | proxy p50/p99 | warden p50/p99 | proxy added p50 | warden added p50/p99 | direct req/s | proxy req/s | warden req/s | warden/proxy throughput |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log('\n' + JSON.stringify(results));
process.exit(0);
