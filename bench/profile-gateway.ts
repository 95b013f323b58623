/**
 * CPU profile of Warden under closed-loop load (for finding hot spots, not a figure to publish).
 * Writes warden.cpuprofile into --dir (main thread, after warm-up) (open it in Chrome DevTools or summarise with bench/cpuprofile-top.ts).
 *
 *   node --import tsx bench/profile-gateway.ts [--seconds 8] [--stream] [--dir /tmp/prof] [--extra JSON]
 */
import { parseArgs } from 'node:util';
import { startChild, closedLoop } from './lib.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, stream: { type: 'boolean', default: false }, dir: { type: 'string', default: '/tmp/prof' }, extra: { type: 'string' }, concurrency: { type: 'string', default: '32' } } });
const script = new URL('./gateway-servers.ts', import.meta.url).pathname;
const mock = await startChild(script, ['mock']);
process.env.WARDEN_BENCH_PROFILE = `${values.dir}/warden${values.stream ? '-stream' : ''}.cpuprofile`;
const warden = await startChild(script, ['warden', mock.url, ...(values.extra ? [values.extra] : [])]);
delete process.env.WARDEN_BENCH_PROFILE;
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream: values.stream });
const target = { url: warden.url, path: '/v1/chat/completions', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${warden.key}` } };
await closedLoop(target, 8, 2);
warden.proc.kill('SIGUSR2');
const r = await closedLoop(target, Number(values.concurrency), Number(values.seconds));
console.log(`warden ${values.stream ? 'streaming' : 'non-streaming'}: ${r.rps.toFixed(0)} req/s, ${r.errors} errors`);
await new Promise<void>((res) => { warden.proc.once('exit', () => res()); warden.proc.kill('SIGTERM'); });
mock.proc.kill('SIGTERM');
