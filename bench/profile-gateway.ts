/**
 * CPU profile of Warden under closed-loop load (for finding hot spots, not a figure to publish).
 * Writes warden.cpuprofile into --dir (main thread, after warm-up) (open it in Chrome DevTools or summarise with bench/cpuprofile-top.ts).
 * With --heap, samples allocations instead (freed ones included) and writes warden.heapprofile;
 * summarise with `bench/heapprofile-top.ts FILE --requests N` (N is printed here).
 *
 * --rate N loads Warden with an open loop at N requests/s instead of the closed loop (what survives a
 * collection depends on how many requests are in flight).
 * --warden-node-flags=... passes Node/V8 flags to Warden (--warden-node-flags=--no-turbo-inlining puts
 * each allocation on the function that makes it, not on the one it was inlined into).
 *
 *   node --import tsx bench/profile-gateway.ts [--seconds 8] [--stream] [--heap] [--dir /tmp/prof] [--extra JSON] [--rate N] [--warden-node-flags=...]
 */
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startChild, closedLoop, openLoop } from './lib.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, stream: { type: 'boolean', default: false }, heap: { type: 'boolean', default: false }, dir: { type: 'string', default: '/tmp/prof' }, extra: { type: 'string' }, concurrency: { type: 'string', default: '32' }, 'warden-node-flags': { type: 'string', default: '' }, rate: { type: 'string' } } });
if (values.rate !== undefined && !(Number(values.rate) > 0)) throw new Error('--rate is a number of requests per second');
const script = new URL('./gateway-servers.ts', import.meta.url).pathname;
const mock = await startChild(script, ['mock']);
mkdirSync(values.dir, { recursive: true });
const envVar = values.heap ? 'WARDEN_BENCH_HEAP' : 'WARDEN_BENCH_PROFILE';
process.env[envVar] = `${values.dir}/warden${values.stream ? '-stream' : ''}.${values.heap ? 'heapprofile' : 'cpuprofile'}`;
const warden = await startChild(script, ['warden', mock.url, ...(values.extra ? [values.extra] : [])], values['warden-node-flags'].split(/\s+/).filter(Boolean));
delete process.env[envVar];
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream: values.stream });
const target = { url: warden.url, path: '/v1/chat/completions', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${warden.key}` } };
await closedLoop(target, 8, 2);
warden.proc.kill('SIGUSR2');
if (values.rate) {
  const o = await openLoop(target, Number(values.rate), Number(values.seconds));
  console.log(`warden ${values.stream ? 'streaming' : 'non-streaming'}: open loop at ${values.rate} req/s, p50 ${o.p50.toFixed(2)} / p99 ${o.p99.toFixed(2)} ms, ${o.errors} errors, ${o.sent} requests profiled`);
} else {
  const r = await closedLoop(target, Number(values.concurrency), Number(values.seconds));
  console.log(`warden ${values.stream ? 'streaming' : 'non-streaming'}: ${r.rps.toFixed(0)} req/s, ${r.errors} errors, ${Math.round(r.rps * Number(values.seconds))} requests profiled`);
}
await new Promise<void>((res) => { warden.proc.once('exit', () => res()); warden.proc.kill('SIGTERM'); });
mock.proc.kill('SIGTERM');
