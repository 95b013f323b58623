/**
 * What a streamed background response costs, against the same request streamed in the foreground.
 *
 * Through a running Warden (SQLite, built-in mock unpaced, everything `warden serve` runs except
 * limits, which would pace both alike), `--requests` Responses requests with `stream: true`, sent
 * `concurrency` at a time and each read to its last event:
 *
 * - baseline: in the foreground (the gateway streams the upstream's events to the client);
 * - background: with `background: true` too (kept, run by the runner through the same pipeline,
 *   each event renumbered, kept in memory and stored in batches, read by the client as it comes);
 * - replay: each finished background response read again from its first event (from the store).
 *
 * Reported per response: wall time, the process's CPU time (client and server share it, alike in
 * each mode), and the time to its first text delta; ratios to the baseline of the same round.
 * Modes alternate, `--rounds` times; medians.
 *
 * Then, on the batch store alone (SQLite): the cost of claiming a background response while
 * `--unsettled` others have finished, with each ending as its request finishes (what Warden does)
 * against each left open until the next settle (the baseline: every claim looked them over).
 *
 *   node --import tsx bench/background-stream.ts [--requests 400] [--rounds 3] [--unsettled 200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/index.ts';
import { startWarden } from '../src/cli/serve.ts';
import { machine, median } from './lib.ts';
import { SqliteBatchStore, type BatchRecord } from '../src/batches/index.ts';
import { openSqlite } from '../src/store/index.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '400' }, rounds: { type: 'string', default: '3' }, unsettled: { type: 'string', default: '200' } } });
const N = Number(values.requests);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = 4;
const TOKEN = 'adm_bench_background_0123456789';
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-bgstream-'));

const config = parseConfig({
  server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, admin: { token: TOKEN },
  mock: { latency_ms: 0, tokens_per_second: 0 }, limits: { enabled: false }, batches: { concurrency: CONCURRENCY },
});
const w = await startWarden(config, { demo: false, log: () => {} });
const admin = async (path: string, body: object) => (await (await fetch(`${w.url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;
const account = await admin('/accounts', { name: 'bench', email: 'bench@example.org', tier: 'enterprise' });
const key: string = (await admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret;
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
const body = (i: number, background: boolean) => JSON.stringify({ model: 'gpt-5', input: `Question ${i}: explain why the sky is blue, in detail.`, stream: true, ...(background ? { background: true } : {}) });
console.log(`# ${machine()}; ${new Date().toISOString()}; ${N} streamed responses, ${CONCURRENCY} at a time, ${ROUNDS} rounds`);

interface Read { id: string; firstDeltaMs: number; events: number }
/** Read an SSE stream to its end: the response's id, when its first text delta came, how many events. */
async function readStream(res: Response, started: number): Promise<Read> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let firstDeltaMs = -1;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    text += decoder.decode(r.value, { stream: true });
    if (firstDeltaMs < 0 && text.includes('response.output_text.delta')) firstDeltaMs = performance.now() - started;
  }
  const at = text.indexOf('"id":"');
  return { id: text.slice(at + 6, text.indexOf('"', at + 6)), firstDeltaMs, events: text.split('\n\n').length - 1 };
}

async function run(mode: 'foreground' | 'background' | 'replay', ids: string[]): Promise<{ wallMs: number; cpuUs: number; firstDeltaMs: number; events: number; ids: string[] }> {
  const firsts: number[] = [];
  const out: string[] = [];
  let events = 0;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < N; i = next++) {
      const started = performance.now();
      const res = mode === 'replay'
        ? await fetch(`${w.url}/v1/responses/${ids[i]}?stream=true`, { headers })
        : await fetch(`${w.url}/v1/responses`, { method: 'POST', headers, body: body(i, mode === 'background') });
      if (res.status !== 200) throw new Error(`${mode}: ${res.status} ${await res.text()}`);
      const read = await readStream(res, started);
      firsts.push(read.firstDeltaMs);
      events += read.events;
      out[i] = read.id;
    }
  }));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuUs: (cpu.user + cpu.system) / N, firstDeltaMs: median(firsts), events: events / N, ids: out };
}

// Warm up: code paths compiled, the tokenizer loaded, the store's tables touched.
await run('foreground', []);
const warmIds = (await run('background', [])).ids;
await run('replay', warmIds);

const rows: Record<string, { wall: number[]; cpu: number[]; first: number[]; events: number[] }> = {};
const add = (mode: string, r: Awaited<ReturnType<typeof run>>, base: Awaited<ReturnType<typeof run>>) => {
  const row = rows[mode] ??= { wall: [], cpu: [], first: [], events: [] };
  row.wall.push(r.wallMs / base.wallMs);
  row.cpu.push(r.cpuUs / base.cpuUs);
  row.first.push(r.firstDeltaMs);
  row.events.push(r.events);
};
for (let round = 0; round < ROUNDS; round++) {
  const fg = await run('foreground', []);
  const bg = await run('background', []);
  const replay = await run('replay', bg.ids);
  console.log(`round ${round + 1}: foreground ${(fg.wallMs / N).toFixed(2)} ms/response wall, ${fg.cpuUs.toFixed(0)} µs CPU, first delta ${fg.firstDeltaMs.toFixed(1)} ms; `
    + `background ${(bg.wallMs / N).toFixed(2)} ms, ${bg.cpuUs.toFixed(0)} µs, first delta ${bg.firstDeltaMs.toFixed(1)} ms; `
    + `replay ${(replay.wallMs / N).toFixed(2)} ms, ${replay.cpuUs.toFixed(0)} µs`);
  add('foreground', fg, fg);
  add('background', bg, fg);
  add('replay', replay, fg);
}
console.log('\n| mode | events per response | wall time / foreground | CPU / foreground | first text delta (median of medians) |');
console.log('|---|---|---|---|---|');
for (const [mode, r] of Object.entries(rows)) {
  console.log(`| ${mode} | ${median(r.events).toFixed(0)} | ${median(r.wall).toFixed(2)} | ${median(r.cpu).toFixed(2)} | ${median(r.first).toFixed(1)} ms |`);
}
await w.close();

// The batch store alone: claiming the next background response while others have just finished.
const UNSETTLED = Number(values.unsettled);
async function claimCost(endAtFinish: boolean): Promise<number> {
  const db = openSqlite(join(dir, `claims-${endAtFinish}-${Math.random()}.db`));
  const store = new SqliteBatchStore(db);
  const record = (id: string, t: number): BatchRecord => ({ id, account_id: 'a', org_id: null, key_id: 'k', client_ip: '203.0.113.1', user_agent: null, anthropic_version: null, anthropic_beta: null, status: 'in_progress', created_at: t, expires_at: t + 86_400_000, ended_at: null, cancel_initiated_at: null, background: true, openai: null });
  let t = 1_000_000;
  const finishOne = async () => {
    const claimed = await store.claim(t, 1, 60_000);
    await store.finish(claimed.map((c) => ({ batchId: c.batch.id, idx: c.idx, state: 'succeeded' as const, result: '{}', at: endAtFinish ? t : undefined })));
  };
  // Finished since the last settle, still open in the baseline.
  for (let i = 0; i < UNSETTLED; i++) { await store.create(record(`resp_bg_u${String(i).padStart(6, '0')}`, t++), [{ custom_id: 'response', params: '{}' }]); await finishOne(); }
  const times: number[] = [];
  for (let i = 0; i < 300; i++) {
    await store.create(record(`resp_bg_n${String(i).padStart(6, '0')}`, t++), [{ custom_id: 'response', params: '{}' }]);
    const t0 = performance.now();
    const claimed = await store.claim(t, 1, 60_000);
    times.push(performance.now() - t0);
    await store.finish(claimed.map((c) => ({ batchId: c.batch.id, idx: c.idx, state: 'succeeded' as const, result: '{}', at: endAtFinish ? t : undefined })));
  }
  db.close();
  return median(times) * 1000;
}
const claims: { warden: number; baseline: number }[] = [];
for (let round = 0; round < ROUNDS; round++) claims.push({ baseline: await claimCost(false), warden: await claimCost(true) });
console.log(`\nclaiming a background response with ${UNSETTLED} finished since the last settle (median µs per claim, per round): `
  + claims.map((c) => `left open ${c.baseline.toFixed(0)}, ended at finish ${c.warden.toFixed(0)} (${(c.warden / c.baseline).toFixed(2)})`).join('; '));
rmSync(dir, { recursive: true, force: true });
