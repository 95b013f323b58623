/**
 * Time to ready of `warden serve`: from spawning the process to its first `/readyz` 200, as wall
 * time and as the process's CPU time then (user + system, from /proc). Builds are run in turn,
 * `--runs` rounds, so that each figure is measured beside the others on the same machine load.
 *
 *   node --import tsx bench/start-ready.ts --port 38660 --runs 3 [--pg URL] \
 *     before=.dist-before/src/cli/main.js after=dist/src/cli/main.js [first-start=dist/src/cli/main.js:nocache]
 *
 * `:nocache` runs that build with the kept geo tables removed first (a first start). Linux only.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultGeoCacheDir } from '../src/policy/geo-cache.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { port: { type: 'string', default: '38660' }, runs: { type: 'string', default: '3' }, pg: { type: 'string' } } });
const builds = positionals.map((p) => { const [name, rest] = p.split('='); const [main, flag] = rest.split(':'); return { name, main, nocache: flag === 'nocache' }; });
const TICK = 100; // USER_HZ

async function once(main: string, nocache: boolean): Promise<{ wall: number; cpu: number }> {
  if (nocache) rmSync(defaultGeoCacheDir(), { recursive: true, force: true });
  const dir = mkdtempSync(join(tmpdir(), 'start-ready-'));
  const env: Record<string, string | undefined> = { ...process.env, WARDEN_LOG_LEVEL: 'silent', WARDEN_SERVER__PORT: values.port, WARDEN_STORE__SQLITE_PATH: join(dir, 'w.db') };
  if (values.pg) Object.assign(env, { WARDEN_STORE__DRIVER: 'postgres', WARDEN_STORE__POSTGRES_URL: values.pg, WARDEN_ADMIN_TOKEN: 'wadm_bench_start_ready_0123456789', WARDEN_REASONING_SECRET: 'bench-start-ready-0123456789abcdef', WARDEN_LEDGER__ENABLED: 'false' });
  const t0 = performance.now();
  const child = spawn(process.execPath, [main, 'serve', '--no-demo'], { env, stdio: 'ignore' });
  const cpu = () => { const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / TICK; };
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      if (child.exitCode !== null) throw new Error(`${main} exited ${child.exitCode}`);
      try { if ((await fetch(`http://127.0.0.1:${values.port}/readyz`)).status === 200) break; } catch { /* not listening yet */ }
    }
    return { wall: (performance.now() - t0) / 1000, cpu: cpu() };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = new Map<string, { wall: number; cpu: number }[]>(builds.map((b) => [b.name, []]));
for (let r = 0; r < Number(values.runs); r++) {
  for (const b of builds) {
    const m = await once(b.main, b.nocache);
    results.get(b.name)!.push(m);
    console.error(`round ${r + 1} ${b.name}: wall ${m.wall.toFixed(2)} s, cpu ${m.cpu.toFixed(2)} s`);
  }
}
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const base = builds[0].name;
const baseCpu = median(results.get(base)!.map((m) => m.cpu));
const baseWall = median(results.get(base)!.map((m) => m.wall));
for (const b of builds) {
  const ms = results.get(b.name)!;
  const cpu = median(ms.map((m) => m.cpu)), wall = median(ms.map((m) => m.wall));
  console.log(`${b.name.padEnd(12)} cpu ${cpu.toFixed(2)} s (x${(cpu / baseCpu).toFixed(2)} of ${base})  wall ${wall.toFixed(2)} s (x${(wall / baseWall).toFixed(2)})  [${ms.map((m) => m.cpu.toFixed(2)).join(' ')}]`);
}
