/**
 * What running requests as a batch costs, against a client sending the same requests itself.
 *
 * 1. Throughput: N requests through a running Warden (SQLite, built-in mock, everything `warden
 *    serve` runs except limits, which would pace both alike), sent by an HTTP client `concurrency`
 *    at a time (the baseline), against the same requests as one batch, run `batches.concurrency`
 *    at a time. Both APIs: Anthropic Messages as a Message Batch (created, polled until ended, results
 *    read), and OpenAI chat completions as an OpenAI batch (input file uploaded, batch created,
 *    polled until completed, output file read). Alternated, `--rounds` times.
 * 2. The gateway's event loop while a batch of `--big` requests is written to SQLite: the longest
 *    delay (perf_hooks' monitor) with the requests written 500 per transaction, yielding between
 *    them (what Warden does), against one transaction for the whole batch (the baseline).
 * 3. The same for an uploaded input file of `--file-mb` MiB: written a megabyte a time as it
 *    arrives (Warden), against one row holding the whole file (the baseline).
 * 4. The same while an OpenAI batch is made from a stored input file of `--big` requests: read a
 *    chunk at a time and checked 200 lines per turn of the loop (Warden), against the file read
 *    whole and every line parsed in one go (the baseline).
 * 5. Pacing: `--paced` requests of an account whose limit allows a burst of 5 and 10 a second, sent
 *    by a client one at a time that waits each refusal's `retry-after-ms`, as the SDKs do (the
 *    baseline), against the same requests as one batch. Time, and refusals on the way.
 *
 *   node --import tsx bench/batches.ts [--requests 1000] [--rounds 3] [--big 10000] [--file-mb 32] [--paced 60]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/index.ts';
import { startWarden } from '../src/cli/serve.ts';
import { SqliteBatchStore, SqliteFileStore, type BatchRecord } from '../src/batches/index.ts';
import { readBatchInput } from '../src/batches/openai-input.ts';
import { readAll } from '../src/batches/files-store.ts';
import { openSqlite } from '../src/store/index.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '3' }, big: { type: 'string', default: '10000' }, 'file-mb': { type: 'string', default: '32' }, paced: { type: 'string', default: '60' } } });
const FILE_MB = Number(values['file-mb']);
const PACED = Number(values.paced);
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
const chatParams = (i: number) => ({ ...params(i), model: 'gpt-4o-mini' });
const bearer = { authorization: `Bearer ${key}` };
console.log(`# ${machine()}; ${new Date().toISOString()}; ${N} requests, ${CONCURRENCY} at a time, ${rounds} rounds`);

async function direct(api: 'anthropic' | 'openai' = 'anthropic'): Promise<number> {
  const t = performance.now();
  let next = 0;
  const [url, h, body] = api === 'anthropic'
    ? [`${w.url}/v1/messages`, headers, params] as const
    : [`${w.url}/v1/chat/completions`, { ...bearer, 'content-type': 'application/json' }, chatParams] as const;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) {
      const i = next++;
      const r = await fetch(url, { method: 'POST', headers: h, body: JSON.stringify(body(i)) });
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
  const results = await (await fetch(`${w.url}/v1/messages/batches/${created.id}/results`, { headers })).text();
  if (results.trim().split('\n').length !== N) throw new Error('batch: results missing');
  return performance.now() - t;
}

async function openaiBatch(): Promise<number> {
  const t = performance.now();
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([Array.from({ length: N }, (_, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: chatParams(i) })).join('\n')]), 'in.jsonl');
  const file = await (await fetch(`${w.url}/v1/files`, { method: 'POST', headers: bearer, body: form })).json() as any;
  const created = await (await fetch(`${w.url}/v1/batches`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }) })).json() as any;
  let b: any;
  for (;;) {
    b = await (await fetch(`${w.url}/v1/batches/${created.id}`, { headers: bearer })).json();
    if (b.status === 'completed') break;
    if (b.status !== 'in_progress') throw new Error(`openai batch: ${JSON.stringify(b)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  if (b.request_counts.completed !== N) throw new Error(`openai batch: ${JSON.stringify(b.request_counts)}`);
  const output = await (await fetch(`${w.url}/v1/files/${b.output_file_id}/content`, { headers: bearer })).text();
  if (output.trim().split('\n').length !== N) throw new Error('openai batch: output missing');
  return performance.now() - t;
}

await direct(); await batch(); await direct('openai'); await openaiBatch(); // warm up
const d: number[] = [];
const b: number[] = [];
const od: number[] = [];
const ob: number[] = [];
for (let r = 0; r < rounds; r++) {
  d.push(await direct()); b.push(await batch());
  od.push(await direct('openai')); ob.push(await openaiBatch());
}
const dm = median(d); const bm = median(b);
const odm = median(od); const obm = median(ob);
console.log('\n| path | time, ms (median) | requests/s | ratio to the client sending them |');
console.log('|---|---|---|---|');
console.log(`| Messages: a client, ${CONCURRENCY} at a time over HTTP (baseline) | ${dm.toFixed(0)} | ${(N / dm * 1000).toFixed(0)} | 1.00 |`);
console.log(`| Messages: one Message Batch, run ${CONCURRENCY} at a time, results read | ${bm.toFixed(0)} | ${(N / bm * 1000).toFixed(0)} | ${(bm / dm).toFixed(2)} |`);
console.log(`| chat completions: a client, ${CONCURRENCY} at a time over HTTP (baseline) | ${odm.toFixed(0)} | ${(N / odm * 1000).toFixed(0)} | 1.00 |`);
console.log(`| chat completions: one OpenAI batch (upload, run ${CONCURRENCY} at a time, output read) | ${obm.toFixed(0)} | ${(N / obm * 1000).toFixed(0)} | ${(obm / odm).toFixed(2)} |`);
console.log(`rounds: client ${d.map((x) => x.toFixed(0)).join(', ')}; batch ${b.map((x) => x.toFixed(0)).join(', ')}; openai client ${od.map((x) => x.toFixed(0)).join(', ')}; openai batch ${ob.map((x) => x.toFixed(0)).join(', ')}`);
await w.close();

// 5. Pacing against an account's rate limit.
{
  const limited = await startWarden(parseConfig({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'paced.db') }, log: { level: 'silent' }, admin: { token: TOKEN },
    mock: { latency_ms: 0, tokens_per_second: 0 }, batches: { concurrency: CONCURRENCY }, limits: { tiers: { email_verified: { account: { rpm: 600, burst: 5 } } } },
    // The detector off: it links these accounts (one address, one template, created together) and
    // tightens their limits round after round, which is not what this measures.
    detect: { enabled: false },
  }), { demo: false, log: () => {} });
  const adminAt = async (path: string, body: object) => (await (await fetch(`${limited.url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;
  const keyOf = async (name: string) => {
    const acct = await adminAt('/accounts', { name, email: `${name}@example.org`, tier: 'email_verified' });
    return { id: acct.id as string, key: (await adminAt(`/accounts/${acct.id}/keys`, { name: 'k' })).secret as string };
  };
  const refusedOf = async (accountId: string) => {
    await limited.gateway.recorder.flush();
    let n = 0;
    for await (const e of limited.stores.events.iterate()) if (e.account_id === accountId && e.response.status === 429) n++;
    return n;
  };
  const h = (key: string) => ({ 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' });
  const rows: string[] = [];
  const clientTimes: number[] = []; const batchTimes: number[] = []; const clientRefused: number[] = []; const batchRefused: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = await keyOf(`client${r}`);
    let t = performance.now();
    for (let i = 0; i < PACED; i++) {
      for (;;) {
        const res = await fetch(`${limited.url}/v1/messages`, { method: 'POST', headers: h(a.key), body: JSON.stringify(params(i)) });
        await res.arrayBuffer();
        if (res.status === 200) break;
        if (res.status !== 429) throw new Error(`paced client: ${res.status}`);
        await new Promise((ok) => setTimeout(ok, Number(res.headers.get('retry-after-ms')) || 1000));
      }
    }
    clientTimes.push(performance.now() - t);
    clientRefused.push(await refusedOf(a.id));
    const b = await keyOf(`batch${r}`);
    t = performance.now();
    const created = await (await fetch(`${limited.url}/v1/messages/batches`, { method: 'POST', headers: h(b.key), body: JSON.stringify({ requests: Array.from({ length: PACED }, (_, i) => ({ custom_id: `r${i}`, params: params(i) })) }) })).json() as any;
    for (;;) {
      const got = await (await fetch(`${limited.url}/v1/messages/batches/${created.id}`, { headers: h(b.key) })).json() as any;
      if (got.processing_status === 'ended') {
        if (got.request_counts.succeeded !== PACED) throw new Error(`paced batch: ${JSON.stringify(got.request_counts)}`);
        break;
      }
      await new Promise((ok) => setTimeout(ok, 20));
    }
    batchTimes.push(performance.now() - t);
    batchRefused.push(await refusedOf(b.id));
  }
  await limited.close();
  const ct = median(clientTimes); const bt = median(batchTimes);
  rows.push(`| a client, one at a time, waiting each refusal's retry-after-ms (baseline) | ${ct.toFixed(0)} | ${median(clientRefused)} | 1.00 |`);
  rows.push(`| one batch, paced by the runner | ${bt.toFixed(0)} | ${median(batchRefused)} | ${(bt / ct).toFixed(2)} |`);
  console.log(`\nPacing: ${PACED} requests, an account limit of 10 a second with a burst of 5 (the least possible: ${((PACED - 5) / 10).toFixed(1)} s), medians of ${rounds}:`);
  console.log('| path | time, ms | refused on the way | ratio of times |');
  console.log('|---|---|---|---|');
  for (const row of rows) console.log(row);
  console.log(`rounds: client ${clientTimes.map((x) => x.toFixed(0)).join(', ')} (refused ${clientRefused.join(', ')}); batch ${batchTimes.map((x) => x.toFixed(0)).join(', ')} (refused ${batchRefused.join(', ')})`);
}

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

// 3. An uploaded input file, arriving 64 KiB at a time as a socket would give it.
const files = new SqliteFileStore(db);
const FILE_BYTES = FILE_MB * 1024 * 1024;
const piece = Buffer.alloc(65_536, 0x61);
async function* arriving(): AsyncIterable<Buffer> {
  for (let sent = 0; sent < FILE_BYTES; sent += piece.length) { yield piece; await new Promise((r) => setImmediate(r)); }
}
async function oneRow(id: string): Promise<void> {
  const parts: Buffer[] = [];
  for await (const p of arriving()) parts.push(p);
  db.prepare('INSERT INTO batch_file_chunks (file_id, seq, data, written_at) VALUES (?, 0, ?, 0)').run(id, Buffer.concat(parts));
}
const meta = (id: string) => ({ id, account_id: 'a', org_id: null, purpose: 'batch' as const, filename: 'f', created_at: Date.now(), expires_at: null, batch_id: null, kind: null });
const oneBlob: { maxMs: number; ms: number }[] = [];
const streamed: { maxMs: number; ms: number }[] = [];
for (let r = 0; r < rounds; r++) {
  oneBlob.push(await stall(oneRow, `blob${r}`));
  streamed.push(await stall(async (id) => { await files.upload(meta(id), arriving(), FILE_BYTES); }, `file${r}`));
}
const om = median(oneBlob.map((x) => x.maxMs)); const sm = median(streamed.map((x) => x.maxMs));
console.log(`\nUploading a ${FILE_MB} MiB batch input file to SQLite on the serving thread, arriving 64 KiB at a time (medians of ${rounds}):`);
console.log('| how | longest event-loop delay, ms | time to write, ms | ratio of delays |');
console.log('|---|---|---|---|');
console.log(`| held in memory, one row (baseline) | ${om.toFixed(1)} | ${median(oneBlob.map((x) => x.ms)).toFixed(0)} | 1.00 |`);
console.log(`| a megabyte a row as it arrives (Warden) | ${sm.toFixed(1)} | ${median(streamed.map((x) => x.ms)).toFixed(0)} | ${(sm / om).toFixed(2)} |`);

// 4. Making an OpenAI batch from a stored input file of BIG requests.
const inputText = Array.from({ length: BIG }, (_, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: chatParams(i) })).join('\n');
async function* once(): AsyncIterable<Buffer> { yield Buffer.from(inputText); }
await files.upload(meta('input'), once(), 1 << 30);
async function wholeParse(): Promise<void> {
  const text = (await readAll(files.chunks('input'))).toString('utf8');
  const items = text.split('\n').map((l) => JSON.parse(l)).map((o) => ({ custom_id: o.custom_id, params: JSON.stringify(o.body) }));
  if (items.length !== BIG) throw new Error('parse');
}
const parsedWhole: { maxMs: number; ms: number }[] = [];
const parsedStreamed: { maxMs: number; ms: number }[] = [];
for (let r = 0; r < rounds; r++) {
  parsedWhole.push(await stall(wholeParse, 'x'));
  parsedStreamed.push(await stall(async () => {
    const p = await readBatchInput(files.chunks('input'), '/v1/chat/completions', BIG);
    if (p.items.length !== BIG) throw new Error(JSON.stringify(p.errors.slice(0, 3)));
  }, 'y'));
}
const pw = median(parsedWhole.map((x) => x.maxMs)); const ps = median(parsedStreamed.map((x) => x.maxMs));
console.log(`\nReading and checking a stored input file of ${BIG} requests (${(inputText.length / 1048576).toFixed(1)} MiB) on the serving thread (medians of ${rounds}):`);
console.log('| how | longest event-loop delay, ms | time, ms | ratio of delays |');
console.log('|---|---|---|---|');
console.log(`| read whole, every line parsed in one go (baseline) | ${pw.toFixed(1)} | ${median(parsedWhole.map((x) => x.ms)).toFixed(0)} | 1.00 |`);
console.log(`| a chunk at a time, 200 lines a turn (Warden) | ${ps.toFixed(1)} | ${median(parsedStreamed.map((x) => x.ms)).toFixed(0)} | ${(ps / pw).toFixed(2)} |`);
db.close();
rmSync(dir, { recursive: true, force: true });
