/**
 * What running requests as a Message Batch costs, against a client sending the same requests
 * itself.
 *
 * 1. Throughput: N Messages requests through a running Warden (SQLite, built-in mock, everything
 *    `warden serve` runs except limits, which would pace both alike), sent by an HTTP client
 *    `concurrency` at a time (the baseline), against the same requests as one batch (created, run
 *    `batches.concurrency` at a time, polled until ended). Alternated, `--rounds` times.
 * 2. The gateway's event loop while a batch of `--big` requests is written to SQLite: the longest
 *    delay (perf_hooks' monitor) with the requests written 500 per transaction, yielding between
 *    them (what Warden does), against one transaction for the whole batch (the baseline).
 *
 *   node --import tsx bench/batches.ts [--requests 1000] [--rounds 3] [--big 10000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/index.ts';
import { startWarden } from '../src/cli/serve.ts';
import { SqliteBatchStore, type BatchRecord } from '../src/batches/index.ts';
import { openSqlite } from '../src/store/index.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '3' }, big: { type: 'string', default: '10000' } } });
const N = Number(values.requests);
const rounds = Number(values.rounds);
const BIG = Number(values.big);
const CONCURRENCY = 4;
const TOKEN = 'adm_bench_batches_0123456789';
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-batches-'));

const config = parseConfig({
  server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, admin: { token: TOKEN },
  mock: { latency_ms: 0, tokens_per_second: 0 }, limits: { enabled: false }, batches: { concurrency: CONCURRENCY, max_requests: Math.max(N, BIG) },
});
const w = await startWarden(config, { demo: false, log: () => {} });
const admin = async (path: string, body: object) => (await (await fetch(`${w.url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;
const account = await admin('/accounts', { name: 'bench', email: 'bench@example.org', tier: 'enterprise' });
const key: string = (await admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret;
const headers = { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const params = (i: number) => ({ model: 'claude-sonnet-5', max_tokens: 64, messages: [{ role: 'user', content: `Question ${i}: what is ${i} squared, and why?` }] });
console.log(`# ${machine()}; ${new Date().toISOString()}; ${N} requests, ${CONCURRENCY} at a time, ${rounds} rounds`);

async function direct(): Promise<number> {
  const t = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) {
      const i = next++;
      const r = await fetch(`${w.url}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(params(i)) });
      if (r.status !== 200) throw new Error(`direct request failed: ${r.status}`);
      await r.arrayBuffer();
    }
  }));
  return performance.now() - t;
}

async function batch(): Promise<number> {
  const t = performance.now();
  const requests = Array.from({ length: N }, (_, i) => ({ custom_id: `r${i}`, params: params(i) }));
  const created = await (await fetch(`${w.url}/v1/messages/batches`, { method: 'POST', headers, body: JSON.stringify({ requests }) })).json() as any;
  for (;;) {
    const b = await (await fetch(`${w.url}/v1/messages/batches/${created.id}`, { headers })).json() as any;
    if (b.processing_status === 'ended') {
      if (b.request_counts.succeeded !== N) throw new Error(`batch: ${JSON.stringify(b.request_counts)}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t;
}

await direct(); await batch(); // warm up
const d: number[] = [];
const b: number[] = [];
for (let r = 0; r < rounds; r++) { d.push(await direct()); b.push(await batch()); }
const dm = median(d); const bm = median(b);
console.log('\n| path | time, ms (median) | requests/s | ratio to the client sending them |');
console.log('|---|---|---|---|');
console.log(`| a client, ${CONCURRENCY} at a time over HTTP (baseline) | ${dm.toFixed(0)} | ${(N / dm * 1000).toFixed(0)} | 1.00 |`);
console.log(`| one batch, run ${CONCURRENCY} at a time | ${bm.toFixed(0)} | ${(N / bm * 1000).toFixed(0)} | ${(bm / dm).toFixed(2)} |`);
console.log(`rounds: client ${d.map((x) => x.toFixed(0)).join(', ')}; batch ${b.map((x) => x.toFixed(0)).join(', ')}`);
await w.close();

// 2. Writing a big batch on the thread that serves requests.
const db = openSqlite(join(dir, 'stall.db'));
const store = new SqliteBatchStore(db);
const items = Array.from({ length: BIG }, (_, i) => ({ custom_id: `r${i}`, params: JSON.stringify(params(i)) }));
const record = (id: string): BatchRecord => ({ id, account_id: 'a', org_id: null, key_id: 'k', client_ip: '127.0.0.1', user_agent: null, anthropic_version: null, anthropic_beta: null, status: 'in_progress', created_at: Date.now(), expires_at: Date.now() + 1e7, ended_at: null, cancel_initiated_at: null });
function oneTransaction(id: string): Promise<void> {
  const insert = db.prepare('INSERT INTO message_batch_items (batch_id, idx, custom_id, params, state) VALUES (?, ?, ?, ?, \'pending\')');
  db.transaction(() => { items.forEach((it, i) => insert.run(id, i, it.custom_id, it.params)); })();
  return Promise.resolve();
}
async function stall(write: (id: string) => Promise<void>, id: string): Promise<{ maxMs: number; ms: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  // keep the loop ticking, as a serving gateway's would
  const ticker = setInterval(() => {}, 1);
  await new Promise((r) => setTimeout(r, 20)); // the monitor samples from its first turn of the loop
  const t = performance.now();
  await write(id);
  const ms = performance.now() - t;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(ticker);
  h.disable();
  return { maxMs: h.max / 1e6, ms };
}
const chunked: { maxMs: number; ms: number }[] = [];
const whole: { maxMs: number; ms: number }[] = [];
for (let r = 0; r < rounds; r++) {
  whole.push(await stall(oneTransaction, `whole${r}`));
  chunked.push(await stall((id) => store.create(record(id), items), `chunk${r}`));
}
const wm = median(whole.map((x) => x.maxMs)); const cm = median(chunked.map((x) => x.maxMs));
console.log(`\nWriting a batch of ${BIG} requests to SQLite on the serving thread (medians of ${rounds}):`);
console.log('| how | longest event-loop delay, ms | time to write, ms | ratio of delays |');
console.log('|---|---|---|---|');
console.log(`| one transaction (baseline) | ${wm.toFixed(1)} | ${median(whole.map((x) => x.ms)).toFixed(0)} | 1.00 |`);
console.log(`| 500 per transaction, yielding between (Warden) | ${cm.toFixed(1)} | ${median(chunked.map((x) => x.ms)).toFixed(0)} | ${(cm / wm).toFixed(2)} |`);
db.close();
rmSync(dir, { recursive: true, force: true });
