/**
 * Limits benchmark.
 *
 * 1. Cost of one decision over five scopes (key, account, org, IP, /24 subnet: 13 meters: rates,
 *    token quotas and concurrency), in memory and over Redis on loopback: p50/p99 per decision,
 *    the settle that follows it, and Redis round trips per request (counted on the client).
 *    Baselines measured in the same run: a one-meter memory decision, and a Redis PING on the
 *    same connection (the floor for any Redis round trip).
 * 2. Gateway throughput with the limits hooks on vs off (memory backend), closed loop, through
 *    the full Warden pipeline to the mock upstream.
 *
 *   node --import tsx bench/limits.ts [--n 20000] [--seconds 5] [--concurrency 32] [--no-gateway]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Limiter, MemoryBackend, RedisBackend, limitsConfigSchema, LIMIT_FIELDS, type LimitRequest } from '../src/limits/index.ts';
import { closedLoop, machine, percentile, startChild } from './lib.ts';

const { values } = parseArgs({ options: {
  n: { type: 'string', default: '20000' }, seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '32' },
  'no-gateway': { type: 'boolean', default: false },
} });
const N = Number(values.n);

const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
const scopeLimits = { ...unlimited, rpm: 1e9, burst: 1e6, tpm: 1e12, concurrency: 1e6 };
const netLimits = { ...unlimited, rpm: 1e9, burst: 1e6, concurrency: 1e6 };
const fiveScopes = limitsConfigSchema.parse({
  tiers: Object.fromEntries(['unverified', 'email_verified', 'identity_verified', 'enterprise'].map((t) => [t, { key: scopeLimits, account: scopeLimits, org: scopeLimits }])),
  network: { ip: netLimits, subnet: netLimits, asn: unlimited },
  cluster: unlimited,
});
const oneMeter = limitsConfigSchema.parse({
  tiers: Object.fromEntries(['unverified', 'email_verified', 'identity_verified', 'enterprise'].map((t) => [t, { key: unlimited, account: { ...unlimited, rpm: 1e9, burst: 1e6 }, org: unlimited }])),
  network: { ip: unlimited, subnet: unlimited, asn: unlimited },
  cluster: unlimited,
});

function request(i: number, ip: boolean): LimitRequest {
  const a = i % 1000;
  return {
    keyId: `key_${a}`, accountId: `acc_${a}`, orgId: ip ? `org_${a % 100}` : null, tier: 'email_verified', programme: 'none',
    ip: ip ? `198.51.${(a >> 4) & 255}.${a & 255}` : null, asn: null, clusterId: null, model: 'gpt-4o-mini',
    verdictLevel: 'none', inputTokens: 50, outputTokens: 256,
  };
}

interface Stats { p50: number; p99: number; mean: number }
function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: sorted.reduce((s, x) => s + x, 0) / sorted.length };
}

async function measureLimiter(limiter: Limiter, n: number, withIp: boolean): Promise<{ decide: Stats; settle: Stats; meters: number }> {
  const decide: number[] = [];
  const settle: number[] = [];
  let meters = 0;
  for (let i = 0; i < n + 1000; i++) {
    const t0 = performance.now();
    const d = await limiter.decide(request(i, withIp));
    const t1 = performance.now();
    if (!d.allowed || d.mode !== 'backend') throw new Error(`unexpected decision ${d.mode} ${d.allowed}`);
    await limiter.settle(d.reservation!, { inputTokens: 40, outputTokens: 200 });
    const t2 = performance.now();
    if (i >= 1000) { decide.push((t1 - t0) * 1000); settle.push((t2 - t1) * 1000); } // µs, after warm-up
    meters = d.meters.length;
  }
  return { decide: stats(decide), settle: stats(settle), meters };
}

const fmt = (s: Stats) => `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)}`;

// Memory
const memOne = await measureLimiter(new Limiter({ config: oneMeter, backend: new MemoryBackend() }), N, false);
const memFive = await measureLimiter(new Limiter({ config: fiveScopes, backend: new MemoryBackend() }), N, true);

// Redis
const prefix = `wbench:limits:${process.pid}:`;
const client = new Redis('redis://127.0.0.1:6379', { enableOfflineQueue: true });
await client.ping();
let roundTrips = 0;
const send = client.sendCommand.bind(client);
client.sendCommand = ((...args: Parameters<typeof send>) => { roundTrips++; return send(...args); }) as typeof send;
const ping: number[] = [];
for (let i = 0; i < Math.min(N, 5000) + 500; i++) {
  const t0 = performance.now();
  await client.ping();
  if (i >= 500) ping.push((performance.now() - t0) * 1000);
}
const pingStats = stats(ping);
const redisN = Math.min(N, 10000);
const redisLimiter = new Limiter({ config: { ...fiveScopes, backend: 'redis' }, backend: new RedisBackend({ client, keyPrefix: prefix }) });
// Warm-up loads the scripts (the first EVALSHA of each answers NOSCRIPT and falls back to EVAL once).
await measureLimiter(redisLimiter, 0, true);
const tripsBefore = roundTrips;
const redisFive = await measureLimiter(redisLimiter, redisN, true);
const tripsPerRequest = (roundTrips - tripsBefore) / (redisN + 1000);
const keys = await client.keys(`${prefix}*`);
for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
await client.quit();

// Gateway on vs off
let gateway: { off: number; on: number; ratio: number; errorsOn: number; errorsOff: number } | null = null;
if (!values['no-gateway']) {
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const mock = await startChild(new URL('./gateway-servers.ts', import.meta.url).pathname, ['mock']);
  const server = new URL('./limits-server.ts', import.meta.url).pathname;
  const off = await startChild(server, ['off', mock.url]);
  const on = await startChild(server, ['on', mock.url]);
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64 });
  const target = (s: { url: string; key?: string }) => ({ url: s.url, path: '/v1/chat/completions', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${s.key}` } });
  for (const s of [off, on]) await closedLoop(target(s), 8, 1);
  // Alternate to spread any drift of the machine over both sides.
  const offRuns: number[] = [];
  const onRuns: number[] = [];
  let errorsOn = 0;
  let errorsOff = 0;
  for (let r = 0; r < 2; r++) {
    const a = await closedLoop(target(off), concurrency, seconds / 2);
    const b = await closedLoop(target(on), concurrency, seconds / 2);
    offRuns.push(a.rps); onRuns.push(b.rps); errorsOff += a.errors; errorsOn += b.errors;
  }
  const offRps = offRuns.reduce((s, x) => s + x, 0) / offRuns.length;
  const onRps = onRuns.reduce((s, x) => s + x, 0) / onRuns.length;
  gateway = { off: offRps, on: onRps, ratio: onRps / offRps, errorsOn, errorsOff };
  for (const c of [mock, off, on]) c.proc.kill('SIGTERM');
}

console.log(`\nLimits, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`decision over five scopes (key, account, org, ip, subnet) = ${memFive.meters} meters; sequential, µs p50 / p99\n`);
console.log('| path | decide p50 / p99 (µs) | settle p50 / p99 (µs) | vs baseline (p50) | round trips / request |');
console.log('|---|---|---|---|---|');
console.log(`| memory, 1 meter (baseline) | ${fmt(memOne.decide)} | ${fmt(memOne.settle)} | 1.00 | 0 |`);
console.log(`| memory, 5 scopes / ${memFive.meters} meters | ${fmt(memFive.decide)} | ${fmt(memFive.settle)} | ${(memFive.decide.p50 / memOne.decide.p50).toFixed(2)} x 1-meter | 0 |`);
console.log(`| Redis PING, loopback (baseline) | ${fmt(pingStats)} | - | 1.00 | 1 |`);
console.log(`| Redis, 5 scopes / ${redisFive.meters} meters | ${fmt(redisFive.decide)} | ${fmt(redisFive.settle)} | ${(redisFive.decide.p50 / pingStats.p50).toFixed(2)} x PING | ${tripsPerRequest.toFixed(2)} (1 decide + 1 settle) |`);
if (gateway) {
  console.log(`\ngateway throughput, closed loop ${values.concurrency} connections, non-streaming, memory backend:`);
  console.log(`| limits off req/s | limits on req/s | on / off |`);
  console.log('|---|---|---|');
  console.log(`| ${gateway.off.toFixed(0)} | ${gateway.on.toFixed(0)} | ${gateway.ratio.toFixed(2)} |`);
  if (gateway.errorsOn || gateway.errorsOff) console.log(`errors: on ${gateway.errorsOn}, off ${gateway.errorsOff}`);
}
console.log('\n' + JSON.stringify({ memOne, memFive, ping: pingStats, redisFive, tripsPerRequest, gateway }));
process.exit(0);
