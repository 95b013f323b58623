/**
 * Where the gateway's CPU goes: Warden CPU time per request (user + system, all threads, from
 * /proc/<pid>/stat) as capabilities are added one at a time, against the pass-through proxy's
 * CPU per request measured in the same run. CPU time per request is less sensitive to a shared
 * machine's noise than throughput. Closed loop; each variant measured in turn, `--repeats` times,
 * median reported.
 *
 *   node --import tsx bench/gateway-cost.ts [--seconds 3] [--concurrency 32] [--repeats 3] [--only 0,1] [--mode stream|json] [--extra JSON]
 *
 * `--only` keeps the listed variants (0 = proxy, always kept as the floor) for a quicker A/B
 * (`--only 5,6`: the access log against `warden serve` without it);
 * `--extra JSON` merges settings into every Warden variant (for example
 * '{"server":{"v8_pretenuring":true}}' to measure a setting against the default in another run).
 * `--base DIR`: each Warden variant is measured twice in every repeat, as this tree builds it and as
 * the tree in DIR does (a git worktree of another commit, built there first: `npx tsc -p DIR`), one
 * after the other, with the median of their per-repeat ratio: an A/B within one run, which a
 * loaded machine moves less than two runs apart.
 * `--warm N`: each server is warmed up with at least N requests (up to 20 s) before it is measured.
 * Two seconds are thousands of requests on a quiet machine, a few hundred on a loaded one, where
 * V8 was then still compiling Warden's request path (optimising compiler and unoptimised code in
 * `perf` samples) and the figures charged that to every request.
 */
import { parseArgs } from 'node:util';
import { startChild, closedLoop, machine, median, cpuSeconds, type LoadTarget } from './lib.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' }, repeats: { type: 'string', default: '3' }, only: { type: 'string' }, mode: { type: 'string' }, base: { type: 'string' }, extra: { type: 'string', default: '{}' }, warm: { type: 'string', default: '2000' } } });
const extraConfig = JSON.parse(values.extra) as Record<string, unknown>;
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const repeats = Number(values.repeats);
const script = new URL('./gateway-servers.ts', import.meta.url).pathname;

const off = { enabled: false };
const ALL_VARIANTS: [string, object | null][] = [
  ['proxy (floor)', null],
  ['auth + recording', { limits: off, policy: off, detect: off, ledger: off }],
  ['+ limits', { policy: off, detect: off, ledger: off }],
  ['+ policy and shaping', { detect: off, ledger: off }],
  ['+ detector', { ledger: off }],
  ['+ ledger (= warden serve)', {}],
  // One JSON line per request on stdout (read by this process, as a log shipper would).
  ['+ access log (log.access)', { log: { level: 'info', access: true } }],
];
const only = values.only ? new Set([0, ...values.only.split(',').map(Number)]) : null;
const baseScript = values.base ? new URL(`file://${values.base.replace(/\/$/, '')}/bench/gateway-servers.ts`).pathname : null;
/** Each variant's server script; with `--base`, every Warden variant followed by its twin from the base tree. */
const VARIANTS: [string, object | null, string, boolean][] = ALL_VARIANTS.filter((_, i) => !only || only.has(i)).flatMap(([name, extra]) => [
  [name, extra, script, false] as [string, object | null, string, boolean],
  ...(extra !== null && baseScript ? [[`${name} (base)`, extra, baseScript, true] as [string, object | null, string, boolean]] : []),
]);
const MODES = values.mode === undefined ? [false, true] : [values.mode === 'stream'];

const mock = await startChild(script, ['mock']);
const servers = [];
for (const [name, extra, file, base] of VARIANTS) {
  const child = extra === null ? await startChild(file, ['proxy', mock.url]) : await startChild(file, ['warden', mock.url, JSON.stringify({ ...extra, ...extraConfig })], [], undefined, () => {});
  servers.push({ name, child, base });
}

const body = (stream: boolean) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the plot of Hamlet in two sentences.' }], max_tokens: 64, stream });

const rows: string[] = [];
/** The longest a server is warmed up, whatever it served meanwhile. */
const WARM_MAX_MS = 20_000;
const warmedUp: string[] = [];
const results: Record<string, unknown> = {};
for (const stream of MODES) {
  const label = stream ? 'streaming' : 'non-streaming';
  const targets = servers.map((s) => ({ name: s.name, base: s.base, pid: s.child.proc.pid!, t: { url: s.child.url, path: '/v1/chat/completions', body: body(stream), headers: { 'content-type': 'application/json', ...(s.child.key ? { authorization: `Bearer ${s.child.key}` } : {}) } } as LoadTarget }));
  const warmed: string[] = [];
  for (const x of targets) {
    let served = 0;
    const started = Date.now();
    while (served < Number(values.warm) && Date.now() - started < WARM_MAX_MS) {
      const warm = await closedLoop(x.t, concurrency, 1);
      if (warm.errors > 0) throw new Error(`${x.name}: ${warm.errors} requests failed while warming up (is the key accepted?)`);
      served += Math.round(warm.rps);
    }
    warmed.push(`${x.name} ${served}`);
  }
  warmedUp.push(`${label}: ${warmed.join(', ')}`);
  const cpu: Record<string, number[]> = {};
  const rps: Record<string, number[]> = {};
  for (let r = 0; r < repeats; r++) {
    for (const x of targets) {
      const c0 = cpuSeconds(x.pid);
      const res = await closedLoop(x.t, concurrency, seconds);
      const used = cpuSeconds(x.pid) - c0;
      // A refused request costs far less than an answered one: a run with refusals measures nothing.
      if (res.errors > 0) throw new Error(`${x.name}: ${res.errors} requests failed (${res.rps.toFixed(0)}/s answered); the figures would be wrong`);
      (cpu[x.name] ??= []).push((used / (res.rps * seconds)) * 1e6);
      (rps[x.name] ??= []).push(res.rps);
    }
  }
  const floor = median(cpu[targets[0].name]);
  let prev = floor;
  for (const [i, x] of targets.entries()) {
    const us = median(cpu[x.name]);
    // Against the floor measured in the same repeat, then the median of those ratios.
    const perRepeat = median(cpu[x.name].map((c, r) => c / cpu[targets[0].name][r]));
    // A base twin: the median of this tree's CPU over the base's, repeat by repeat.
    const twin = x.base ? median(cpu[targets[i - 1].name].map((c, r) => c / cpu[x.name][r])) : null;
    rows.push(`| ${label} | ${x.name} | ${us.toFixed(0)} | ${x === targets[0] || x.base ? '-' : `+${(us - prev).toFixed(0)}`} | ${(us / floor).toFixed(2)}x | ${perRepeat.toFixed(2)}x | ${twin === null ? '-' : `${twin.toFixed(3)}`} | ${median(rps[x.name]).toFixed(0)} |`);
    if (!x.base) prev = us;
  }
  results[label] = { cpuUsPerRequest: cpu, rps };
}
for (const s of [mock, ...servers.map((x) => x.child)]) s.proc.kill('SIGTERM');

console.log(`\nGateway CPU per request by capability, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`closed loop, ${concurrency} connections, ${seconds} s per variant per repeat, median of ${repeats}; CPU of the server process (all threads)`);
console.log(`warm-up requests (--warm ${values.warm}, at most ${WARM_MAX_MS / 1000} s each): ${warmedUp.join('; ')}\n`);
console.log('| requests | server | CPU µs / request | added by this step | vs proxy | vs proxy, median of repeats | this tree / base, median of repeats | req/s (closed loop) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log('\n' + JSON.stringify(results));
process.exit(0);
