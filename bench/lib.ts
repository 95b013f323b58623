/** Shared helpers for benchmarks: child servers, load generation, percentiles, machine info. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import os from 'node:os';
import { Pool } from 'undici';
import type { InteractionEvent } from '../src/events/index.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';

export interface ChildServer { url: string; key?: string; proc: ChildProcess }

/**
 * Start `node --import tsx <script> ...args` and wait for its first stdout line (JSON). With
 * `cpus` (a taskset list such as "1" or "2-3") the child runs on those CPUs only. Its other stdout
 * lines (what flags such as --trace-gc print) go to `onLine` when given, else to stderr.
 */
export async function startChild(script: string, args: string[], nodeArgs: string[] = [], cpus?: string, onLine?: (line: string) => void): Promise<ChildServer> {
  if (script.endsWith('/gateway-servers.ts') && args[0] === 'warden') buildWarden();
  const argv = [...nodeArgs, '--import', 'tsx', script, ...args];
  const [cmd, cmdArgs] = cpus ? ['taskset', ['-c', cpus, process.execPath, ...argv]] : [process.execPath, argv];
  const proc = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WARDEN_LOG_LEVEL: 'warn' } });
  const rl = createInterface({ input: proc.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    // the first JSON line: node flags such as --trace-gc may print before it
    // (they go on to stderr, read so that a full pipe never blocks the child).
    let ready = false;
    rl.on('line', (l) => {
      if (!ready && l.startsWith('{') && readyLine(l)) { ready = true; resolve(l); } else if (onLine) onLine(l); else process.stderr.write(`${l}\n`);
    });
    proc.once('exit', (code) => reject(new Error(`${script} ${args.join(' ')} exited with ${code}`)));
  });
  return { ...JSON.parse(line), proc };
}

/** The server's ready line ({url, key?}), not one of its JSON log lines (a variant that logs at info writes those first). */
function readyLine(line: string): boolean {
  try {
    const o = JSON.parse(line) as { url?: unknown; level?: unknown };
    return typeof o.url === 'string' && o.level === undefined;
  } catch {
    return false;
  }
}

let built = false;

/**
 * Compile Warden (tsc, as `npm run build` does) once per benchmark process, so that the servers under
 * test run the JavaScript `npm start` runs and the figures are of the code being measured.
 */
export function buildWarden(): void {
  // WARDEN_BENCH_PREBUILT=1: dist/ was just built (`npm run build`); on a loaded machine the
  // compile alone can take longer than a benchmark's run.
  if (built || process.env.WARDEN_BENCH_PREBUILT === '1') return;
  const root = new URL('..', import.meta.url).pathname;
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.json`], { stdio: 'inherit' });
  built = true;
}

/**
 * Split the machine between load and servers under test: the calling process (the load generator)
 * and `CpuSplit.load` children on CPU 0, the servers under test on the others, as they would have
 * a machine of their own. Without the split, the load generator, which spins a core to send on
 * time, and the mock upstream take turns with the server on every core, and the server's p99
 * measures the scheduler. Null when the machine has one CPU or no taskset.
 */
export interface CpuSplit { load: string; servers: string }
export function splitCpus(): CpuSplit | null {
  const n = os.cpus().length;
  if (n < 2) return null;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return { load: '0', servers: n === 2 ? '1' : `1-${n - 1}` };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export interface LoadTarget {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

async function once(pool: Pool, t: LoadTarget): Promise<{ ok: boolean; ttfb: number }> {
  const start = performance.now();
  const res = await pool.request({ path: t.path, method: 'POST', headers: t.headers, body: t.body });
  let ttfb = -1;
  for await (const _chunk of res.body) if (ttfb < 0) ttfb = performance.now() - start;
  return { ok: res.statusCode === 200, ttfb };
}

/**
 * How the open loop keeps time. `spin` polls the clock without sleeping and measures each latency
 * from the scheduled send time, as wrk2 does: sends are on time, but the load generator takes a
 * whole core from the servers under test. `timer` sleeps between sends on a 1 ms timer and measures
 * from the moment each request was handed to the client, leaving that core to the servers; on the
 * 2-core machine it did not change the servers' p99 beyond the run-to-run spread (BENCHMARKS.md).
 */
export type Pacing = 'timer' | 'spin';

export interface OpenLoopResult {
  p50: number;
  p99: number;
  errors: number;
  sent: number;
  /** How late the load generator sent, ms, p99 (send time minus scheduled time). */
  lateP99: number;
}

/**
 * Open loop: send at a fixed rate regardless of answers, for `seconds`. Requests are never held
 * back by slow answers (256 connections, queued in the client beyond that), so a stalled server
 * shows in the latencies rather than in a lower rate.
 */
export async function openLoop(t: LoadTarget, ratePerS: number, seconds: number, pacing: Pacing = 'spin', connections = 256): Promise<OpenLoopResult> {
  const pool = new Pool(new URL(t.url).origin, { connections, pipelining: 1 });
  const latencies: number[] = [];
  const late: number[] = [];
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const total = Math.round(ratePerS * seconds);
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) / 1000) * ratePerS) + 1);
    while (sent < due) {
      const scheduled = start + (sent / ratePerS) * 1000;
      const from = pacing === 'spin' ? scheduled : performance.now();
      late.push(performance.now() - scheduled);
      sent++;
      inflight.push(once(pool, t).then((r) => { if (!r.ok) errors++; latencies.push(performance.now() - from); }, () => { errors++; }));
    }
    await new Promise((r) => (pacing === 'spin' ? setImmediate(r) : setTimeout(r, 1)));
  }
  await Promise.all(inflight);
  await pool.close();
  latencies.sort((a, b) => a - b);
  late.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, sent, lateP99: percentile(late, 99) };
}

/** Closed loop: `concurrency` workers back to back for `seconds`; returns completed requests/s. */
export async function closedLoop(t: LoadTarget, concurrency: number, seconds: number): Promise<{ rps: number; errors: number }> {
  const pool = new Pool(new URL(t.url).origin, { connections: concurrency, pipelining: 1 });
  let done = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      try { const r = await once(pool, t); if (r.ok) done++; else errors++; } catch { errors++; }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  return { rps: done / elapsed, errors };
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** Median of a list (the upper one of the middle two for an even length). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU seconds (user + system, all threads) a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * A day of synthetic requests (ending 2026-06-02T12:00Z, evenly spread) appended to a SQLite events
 * store, for the dashboard's benchmarks: `accountOf(i)` and `ipOf(i)` say whose request i is.
 */
export async function appendSyntheticDay(
  store: { appendBatch(events: InteractionEvent[]): Promise<unknown> }, n: number,
  accountOf: (i: number) => number, ipOf: (i: number) => number,
): Promise<{ from: string; to: string; end: number }> {
  const end = Date.parse('2026-06-02T12:00:00.000Z');
  const span = 24 * 3600_000;
  const batch: InteractionEvent[] = [];
  for (let i = 0; i < n; i++) {
    const ip = ipOf(i);
    batch.push(sampleEvent(i, {
      id: `01BENCH${String(i).padStart(19, '0')}`,
      ts: new Date(end - span + Math.floor((i / n) * span)).toISOString(),
      account_id: `acct_${accountOf(i)}`,
      client: { ip: `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`, user_agent: 'bench', country: 'NL', asn: 64500 },
    }));
    if (batch.length === 5000) { await store.appendBatch(batch); batch.length = 0; }
  }
  await store.appendBatch(batch);
  return { from: new Date(end - span).toISOString(), to: new Date(end).toISOString(), end };
}
