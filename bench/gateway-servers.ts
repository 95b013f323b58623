/**
 * Servers for bench/gateway.ts, each run in its own process:
 *   mock                  the built-in mock upstream, no latency, unpaced
 *   proxy <upstream-url>  the floor: a minimal pass-through proxy (node:http + undici pool)
 *   warden <upstream-url> Warden with its full pipeline (auth, event recording to SQLite), run from
 *                         the compiled JavaScript (dist/) as `npm start` runs it: `startChild` builds it
 * Each prints one JSON line {url, key?} on stdout when ready.
 */
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { createMockUpstream } from '../src/mock/index.ts';

/**
 * Warden's compiled modules (see buildWarden in lib.ts). Through tsx, the sources' on-load transform
 * costs 15-20% more CPU per request (BENCHMARKS.md), which the figures would charge to Warden. The
 * specifier is computed so that type-checking does not need dist/ to exist.
 */
async function compiled(): Promise<{ parseConfig: typeof import('../src/config/index.ts').parseConfig; startWarden: typeof import('../src/cli/serve.ts').startWarden }> {
  const dist = (path: string) => import(new URL(`../dist/src/${path}`, import.meta.url).href);
  const [config, serve] = await Promise.all([dist('config/index.js'), dist('cli/serve.js')]);
  return { parseConfig: config.parseConfig, startWarden: serve.startWarden };
}

const [role, upstream, extra] = process.argv.slice(2);
const HIGH = { rpm: 1e9, burst: 1e6, tpm: 1e13, tpd: 1e15, concurrency: 1e6 };
const HIGH_NET = { rpm: 1e9, burst: 1e6, concurrency: 1e6 };

async function main(): Promise<void> {
  if (role === 'mock') {
    const m = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
    console.log(JSON.stringify({ url: m.url }));
    return;
  }
  if (role === 'proxy') {
    const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
    const server = http.createServer(async (req, res) => {
      try {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const up = await pool.request({ path: req.url!, method: req.method as 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: Buffer.concat(chunks) });
        res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
        for await (const c of up.body) res.write(c);
        res.end();
      } catch {
        res.writeHead(502).end();
      }
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
    return;
  }
  if (role === 'warden') {
    const { parseConfig, startWarden } = await compiled();
    const dir = mkdtempSync(join(tmpdir(), 'warden-bench-'));
    // Sections in `extra` replace the defaults below, except `server`, whose keys are added (the port stays 0).
    const over = (extra ? JSON.parse(extra) : {}) as Record<string, unknown> & { server?: Record<string, unknown> };
    const config = parseConfig({
      store: { sqlite_path: join(dir, 'warden.db') },
      upstreams: [{ name: 'mock', base_url: upstream, models: ['*'] }],
      log: { level: 'warn' },
      // Limits stay on (every meter is evaluated) but far above the offered load, so the benchmark
      // measures the pipeline's cost, not refusals.
      limits: { tiers: { email_verified: { account: HIGH, org: HIGH } }, network: { ip: HIGH_NET, subnet: HIGH_NET }, cluster: HIGH },
      ...over,
      server: { host: '127.0.0.1', port: 0, ...over.server },
    });
    // A variant that sets its own log level (the access log, at info) is not held to the benchmark's quiet one.
    if (over.log) delete process.env.WARDEN_LOG_LEVEL;
    // With `upstreams` set no demo key is made unless asked for; the load generator uses it.
    const w = await startWarden(config, { demo: true, log: () => {} });
    if (process.env.WARDEN_BENCH_PROFILE) await profileOnSignal(process.env.WARDEN_BENCH_PROFILE);
    if (process.env.WARDEN_BENCH_ELD) await reportLoopDelay();
    if (process.env.WARDEN_BENCH_HEAP) await sampleAllocationsOnSignal(process.env.WARDEN_BENCH_HEAP);
    console.log(JSON.stringify({ url: w.url, key: w.demoKey }));
    return;
  }
  throw new Error(`unknown role ${role}`);
}

/** SIGUSR2 starts measuring main-thread event-loop delay; SIGTERM prints its percentiles (ms) to stderr. */
async function reportLoopDelay(): Promise<void> {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const h = monitorEventLoopDelay({ resolution: 1 });
  process.on('SIGUSR2', () => { h.reset(); h.enable(); });
  process.removeAllListeners('SIGTERM');
  process.on('SIGTERM', () => {
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    console.error(`event-loop delay ms: p50 ${ms(h.percentile(50))} p99 ${ms(h.percentile(99))} p99.9 ${ms(h.percentile(99.9))} max ${ms(h.max)}`);
    process.exit(0);
  });
}

/** SIGUSR2 starts the CPU profiler (after warm-up, so start-up is not in it); SIGTERM writes it to `file` and exits. */
async function profileOnSignal(file: string): Promise<void> {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  let started = false;
  process.on('SIGUSR2', () => { started = true; void session.post('Profiler.start'); });
  process.removeAllListeners('SIGTERM');
  process.on('SIGTERM', async () => {
    if (started) writeFileSync(file, JSON.stringify((await session.post('Profiler.stop')).profile));
    process.exit(0);
  });
}

/**
 * SIGUSR2 starts V8's sampling heap profiler, counting every sampled allocation, also those a
 * scavenge or mark-compact has since freed (what a request allocates, not what stays); SIGTERM
 * writes the profile (.heapprofile, Chrome DevTools' format) to `file` and exits.
 */
async function sampleAllocationsOnSignal(file: string): Promise<void> {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  let started = false;
  process.on('SIGUSR2', () => {
    started = true;
    // WARDEN_BENCH_HEAP_KEEP=promoted: only what outlived the young generation (freed by a
    // mark-compact or still alive: what makes scavenges and major collections slow);
    // =retained: only what is still alive when the profile is written (what accumulates).
    // WARDEN_BENCH_HEAP_INTERVAL: mean bytes between samples (1024 by default; a larger one
    // slows the server less, for profiles taken under an open loop).
    const keep = process.env.WARDEN_BENCH_HEAP_KEEP;
    const samplingInterval = Number(process.env.WARDEN_BENCH_HEAP_INTERVAL ?? 1024);
    if (!(samplingInterval >= 1)) throw new Error('WARDEN_BENCH_HEAP_INTERVAL is a number of bytes');
    void session.post('HeapProfiler.startSampling', { samplingInterval, includeObjectsCollectedByMajorGC: keep !== 'retained', includeObjectsCollectedByMinorGC: !keep } as object);
  });
  process.removeAllListeners('SIGTERM');
  process.on('SIGTERM', async () => {
    if (started) writeFileSync(file, JSON.stringify((await session.post('HeapProfiler.stopSampling')).profile));
    process.exit(0);
  });
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));

main().catch((err) => { console.error(err); process.exit(1); });
