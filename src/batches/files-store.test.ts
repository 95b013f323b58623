// The file store on SQLite and PostgreSQL: an upload is written in chunks and reads back whole, an
// upload past the limit leaves nothing, files are listed per owner and page, and expired files and
// abandoned uploads are pruned. Also the batch store's OpenAI batches, which the Anthropic routes never list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../store/index.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';
import { CHUNK_BYTES, FileTooLarge, readAll, PostgresFileStore, SqliteFileStore, type FileStore, type StoredFile } from './files-store.ts';
import { PostgresBatchStore, SqliteBatchStore, type BatchRecord, type BatchStore } from './store.ts';

async function eachStore(run: (name: string, files: FileStore, batches: BatchStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-files-'));
  const db = openSqlite(join(dir, 'w.db'));
  try { await run('sqlite', new SqliteFileStore(db), new SqliteBatchStore(db)); } finally { db.close(); rmSync(dir, { recursive: true, force: true }); }
  await withPgSchema('batch_files_test', async (pool) => {
    const files = new PostgresFileStore(pool);
    const batches = new PostgresBatchStore(pool);
    await files.migrate();
    await batches.migrate();
    await run('postgres', files, batches);
  }, 4);
}

const meta = (id: string, created: number, over: Partial<StoredFile> = {}): Omit<StoredFile, 'bytes'> => ({
  id, account_id: 'acc_a', org_id: 'org_1', purpose: 'batch', filename: `${id}.jsonl`, created_at: created, expires_at: created + 86_400_000, batch_id: null, kind: null, ...over,
});
async function* pieces(total: number, size: number): AsyncIterable<Buffer> {
  for (let sent = 0; sent < total; sent += size) yield Buffer.alloc(Math.min(size, total - sent), sent / size % 251);
}

test('uploads are chunked, read back whole, bounded, listed per owner and pruned', async () => {
  await eachStore(async (name, files) => {
    const big = CHUNK_BYTES * 2 + 12_345;
    const expected = Buffer.concat(await (async () => { const out: Buffer[] = []; for await (const p of pieces(big, 65_536)) out.push(p); return out; })());
    assert.equal(await files.upload(meta('f1', 1000), pieces(big, 65_536), big), big, name);
    assert.ok((await readAll(files.chunks('f1'))).equals(expected), `${name}: content reads back as written`);
    assert.equal((await files.get('f1'))?.bytes, big);

    await assert.rejects(files.upload(meta('f2', 2000), pieces(big, 65_536), big - 1), FileTooLarge);
    assert.equal(await files.get('f2'), null, `${name}: nothing of a refused upload is visible`);
    assert.equal((await readAll(files.chunks('f2'))).length, 0, `${name}: and its chunks are gone`);

    await files.upload(meta('f3', 3000), pieces(10, 10), 100);
    await files.upload(meta('f4', 4000, { account_id: 'acc_b', org_id: null }), pieces(10, 10), 100);
    await files.addOutput({ ...meta('out1', 5000, { purpose: 'batch_output', batch_id: 'batch_1', kind: 'output' }), bytes: null });
    await files.addOutput({ ...meta('out1', 6000, { purpose: 'batch_output', batch_id: 'batch_1', kind: 'output' }), bytes: null });
    const owner = { accountId: 'acc_a', orgId: 'org_1' };
    const ids = async (page: Partial<Parameters<FileStore['list']>[1]> = {}) => (await files.list(owner, { limit: 10, order: 'desc', now: 10_000, ...page })).map((f) => f.id);
    assert.deepEqual(await ids(), ['out1', 'f3', 'f1'], `${name}: newest first, another account's file not listed, an output recorded once`);
    assert.deepEqual(await ids({ order: 'asc' }), ['f1', 'f3', 'out1']);
    assert.deepEqual(await ids({ after: 'out1', limit: 1 }), ['f3'], `${name}: pages after an id`);
    assert.deepEqual(await ids({ purpose: 'batch_output' }), ['out1']);
    assert.deepEqual(await files.list({ accountId: 'acc_c', orgId: 'org_1' }, { limit: 10, order: 'desc', now: 10_000 }).then((r) => r.map((f) => f.id)), ['out1', 'f3', 'f1'], `${name}: the organisation sees its files`);
    await files.setBytes('out1', 77);
    assert.equal((await files.get('out1'))?.bytes, 77);

    // expired files go; chunks with no file go once stale (an upload in progress is not touched)
    await files.setExpiry('f3', 5000);
    assert.deepEqual(await ids({ now: 6000 }), ['out1', 'f1'], `${name}: an expired file is not listed`);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let firstWritten!: () => void;
    const written = new Promise<void>((r) => { firstWritten = r; });
    async function* slow(): AsyncIterable<Buffer> {
      yield Buffer.alloc(CHUNK_BYTES, 1);
      yield Buffer.alloc(1, 2); // the first chunk is written when this one is asked for
      firstWritten();
      await held;
      yield Buffer.alloc(10, 3);
    }
    const uploading = files.upload(meta('f5', 5500), slow(), CHUNK_BYTES * 2);
    await written;
    assert.equal(await files.prune(6000, Date.now() - 60_000), 1, `${name}: one expired file pruned`);
    release();
    assert.equal(await uploading, CHUNK_BYTES + 11);
    assert.equal((await readAll(files.chunks('f5'))).length, CHUNK_BYTES + 11, `${name}: an upload in progress keeps its chunks`);
    assert.equal(await files.get('f3'), null);
    assert.equal((await readAll(files.chunks('f3'))).length, 0);
    assert.equal(await files.delete('f1'), true);
    assert.equal(await files.delete('f1'), false);
    assert.equal((await readAll(files.chunks('f1'))).length, 0, `${name}: a deleted file's chunks are gone`);
  });
});

test('OpenAI batches are stored with their details and listed apart from Message Batches', async () => {
  await eachStore(async (name, _files, store) => {
    const base: BatchRecord = {
      id: 'msgbatch_1', account_id: 'acc_a', org_id: null, key_id: 'k', client_ip: '203.0.113.1', user_agent: null, anthropic_version: '2023-06-01',
      anthropic_beta: null, status: 'in_progress', created_at: 1000, expires_at: 90_000_000, ended_at: null, cancel_initiated_at: null,
    };
    const openai = { endpoint: '/v1/embeddings', input_file_id: 'file-1', completion_window: '24h', model: 'text-embedding-3-small', metadata: { a: 'b' }, output_expires_seconds: 7200, errors: null };
    await store.create(base, [{ custom_id: 'x', params: '{}' }]);
    await store.create({ ...base, id: 'batch_2', created_at: 2000, anthropic_version: null, openai }, [{ custom_id: 'y', params: '{"input":"hi"}' }]);
    assert.deepEqual((await store.get('batch_2'))?.openai, openai, name);
    assert.equal((await store.get('msgbatch_1'))?.openai, null);
    const owner = { accountId: 'acc_a', orgId: null };
    assert.deepEqual((await store.list(owner, { limit: 10 }, 'openai')).map((b) => b.id), ['batch_2'], name);
    assert.deepEqual((await store.list(owner, { limit: 10 }, 'anthropic')).map((b) => b.id), ['msgbatch_1'], name);
    const [claimed] = await store.claim(3000, 1, 60_000);
    await store.finish([{ batchId: claimed.batch.id, idx: claimed.idx, state: 'succeeded', result: '{"status_code":200}' }]);
    const outcomes = await store.outcomes(claimed.batch.id);
    assert.deepEqual(outcomes, [{ idx: 0, custom_id: claimed.custom_id, state: 'succeeded', result: '{"status_code":200}' }], name);
  });
});

test('background responses are claimed before older batches, once', async () => {
  await eachStore(async (name, _files, store) => {
    const base: BatchRecord = {
      id: 'msgbatch_old', account_id: 'acc_a', org_id: null, key_id: 'k', client_ip: '203.0.113.1', user_agent: null, anthropic_version: null,
      anthropic_beta: null, status: 'in_progress', created_at: 1000, expires_at: 90_000_000, ended_at: null, cancel_initiated_at: null,
    };
    await store.create(base, [{ custom_id: 'a', params: '{}' }, { custom_id: 'b', params: '{}' }]);
    const openai = { endpoint: '/v1/responses', input_file_id: '', completion_window: '24h', model: 'gpt-5', metadata: null, output_expires_seconds: null, errors: null };
    await store.create({ ...base, id: 'resp_bg_1', created_at: 5000, openai, background: true }, [{ custom_id: 'response', params: '{"input":"hi"}' }]);
    const claimed = await store.claim(6000, 5, 60_000);
    assert.deepEqual(claimed.map((c) => `${c.batch.id}/${c.custom_id}`), ['resp_bg_1/response', 'msgbatch_old/a', 'msgbatch_old/b'], `${name}: the background response first, once, then the older batch`);
    assert.equal(claimed[0].batch.background, true);
    const both = await store.list({ accountId: 'acc_a', orgId: null }, { limit: 10 }, 'openai');
    assert.deepEqual(both.map((b) => b.id), [], `${name}: a background response is not an OpenAI batch`);
    assert.deepEqual((await store.list({ accountId: 'acc_a', orgId: null }, { limit: 10 }, 'background')).map((b) => b.id), ['resp_bg_1']);
  });
});
