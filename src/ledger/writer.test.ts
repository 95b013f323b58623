import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { generateSigner } from './note.ts';
import { verifyLedger } from './verify.ts';
import { LedgerError, type AppendReceipt } from './types.ts';
import { LedgerWriter, WriterLoop, type WriteItem } from './writer.ts';
import { resolveWriterWorker } from './writer-thread.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/writer';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-writer-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('worker entry: compiled .js runs writer-worker.js directly; source .ts bootstraps tsx; other flags pass through', () => {
  const dist = resolveWriterWorker('file:///srv/warden/dist/src/ledger/writer-thread.js', { execArgv: ['--enable-source-maps', '--input-type=module', '-e', 'console.log(1)', '--input-type', 'module', '--eval=1', '--print', '2', '--no-warnings'] });
  assert.equal(dist.eval, false);
  assert.equal(String(dist.filename), 'file:///srv/warden/dist/src/ledger/writer-worker.js');
  assert.deepEqual(dist.execArgv, ['--enable-source-maps', '--no-warnings'], 'compiled: the parent execArgv minus the `node -e` flags');

  const resolved: string[] = [];
  const src = resolveWriterWorker('file:///work/warden/src/ledger/writer-thread.ts', {
    execArgv: ['--import', 'tsx', '--enable-source-maps', '--import=tsx/esm', '--import', './telemetry.mjs', '--max-old-space-size=512'],
    resolve: (s) => { resolved.push(s); return 'file:///work/warden/node_modules/tsx/dist/esm/api/index.mjs'; },
  });
  assert.equal(src.eval, true);
  assert.deepEqual(resolved, ['tsx/esm/api']);
  assert.ok(typeof src.filename === 'string');
  assert.ok(src.filename.includes('"file:///work/warden/node_modules/tsx/dist/esm/api/index.mjs"'), 'loads tsx API from where this module resolves it');
  assert.ok(src.filename.includes('"file:///work/warden/src/ledger/writer-worker.ts"'), 'then the .ts worker beside this module');
  assert.ok(src.filename.indexOf('register()') < src.filename.indexOf('writer-worker.ts'), 'registers the loader before importing the entry');
  assert.deepEqual(src.execArgv, ['--enable-source-maps', '--import', './telemetry.mjs', '--max-old-space-size=512']);

  // The real resolution, as the test suite runs it (from source under tsx).
  const here = resolveWriterWorker(new URL('./writer-thread.ts', import.meta.url).href);
  assert.equal(here.eval, true);
  assert.match(String(here.filename), /node_modules\/tsx\//);
});

test('writer runs in a worker thread by default; in this thread for in-memory storage or on request', async () => {
  await withDir(async (dir) => {
    const signer = generateSigner(ORIGIN);
    const viaWorker = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'a.db')), origin: ORIGIN, signers: [signer] });
    assert.equal(viaWorker.writerMode, 'worker');
    await viaWorker.appendInteraction(sampleEvent(1));
    await viaWorker.close();
    const memory = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [signer] });
    assert.equal(memory.writerMode, 'inline');
    assert.equal((await memory.appendInteraction(sampleEvent(2))).index, 0);
    await memory.close();
    await assert.rejects(Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [signer], writer: 'worker' }), /cannot be opened by a writer thread/);
    const inline = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'a.db')), origin: ORIGIN, signers: [signer], writer: 'inline' });
    assert.equal(inline.writerMode, 'inline');
    assert.equal((await inline.appendInteraction(sampleEvent(3))).index, 1);
    await inline.close();
  });
});

/** Append `n` entries from 64 concurrent producers while `during` runs; returns every outcome. */
async function appendUnderFault(ledger: Ledger, n: number, during: () => void): Promise<{ receipts: AppendReceipt[]; errors: unknown[] }> {
  const receipts: AppendReceipt[] = [];
  const errors: unknown[] = [];
  let next = 0;
  let fired = false;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < n) {
      const i = next++;
      if (i === Math.floor(n / 3) && !fired) { fired = true; during(); }
      try {
        receipts.push(await ledger.appendInteraction(sampleEvent(i)));
      } catch (err) {
        errors.push(err);
      }
    }
  }));
  return { receipts, errors };
}

for (const mode of ['exit', 'exit-mid-commit', 'exit-after-commit'] as const) {
  test(`writer thread crash (${mode}) under load: reported, restarted, nothing acknowledged lost, log verifies`, async () => {
    await withDir(async (dir) => {
      const signer = generateSigner(ORIGIN);
      const path = join(dir, 'l.db');
      const errors: unknown[] = [];
      const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 20, batchMax: 64, onError: (e) => errors.push(e) });
      await Promise.all(Array.from({ length: 50 }, (_, i) => ledger.appendInteraction(sampleEvent(10_000 + i))));
      const before = await ledger.checkpoint();
      const out = await appendUnderFault(ledger, 1500, () => ledger.injectWriterFault(mode));
      assert.deepEqual(out.errors, [], 'every entry is committed after the restart (in-flight ones resubmitted once)');
      assert.equal(ledger.stats.writerRestarts, 1);
      assert.ok(errors.some((e) => e instanceof LedgerError && e.code === 'LEDGER_UNAVAILABLE' && /writer thread died/.test(e.message)), 'the crash is reported');
      const indices = out.receipts.map((r) => r.index).sort((a, b) => a - b);
      assert.deepEqual(indices, Array.from({ length: 1500 }, (_, i) => 50 + i), 'each entry exactly once, no gaps');
      assert.equal(ledger.size, 1550);
      for (const r of out.receipts.filter((_, k) => k % 97 === 0)) assert.equal((await ledger.entry(r.index)).id, r.id);
      const after = await ledger.checkpoint();
      const c = await ledger.proveConsistency(before.size, after.size);
      assert.equal(c.old_root, before.rootHash);
      const report = await verifyLedger(ledger.storage, { origin: ORIGIN, verifiers: ledger.verifiers });
      assert.deepEqual(report.problems, []);
      await ledger.close();
      const raw = new Database(path, { readonly: true });
      assert.equal(raw.prepare("SELECT COUNT(*) FROM ledger_entries WHERE id = 'torn-write'").pluck().get(), 0, 'a write torn by the crash was rolled back');
      raw.close();
    });
  });
}

test('bounded queue: beyond max_queue appends are refused (LEDGER_OVERLOADED), fire-and-forget drops are counted and reported', async () => {
  await withDir(async (dir) => {
    const errors: unknown[] = [];
    const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'l.db')), origin: ORIGIN, signers: [generateSigner(ORIGIN)], maxQueue: 100, onError: (e) => errors.push(e) });
    const outcomes = await Promise.allSettled(Array.from({ length: 250 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    const refused = outcomes.filter((o) => o.status === 'rejected');
    assert.equal(refused.length, 150, 'accepted exactly up to the bound, in one turn of the event loop');
    assert.ok(refused.every((o) => o.status === 'rejected' && o.reason instanceof LedgerError && o.reason.code === 'LEDGER_OVERLOADED'));
    assert.equal(ledger.stats.rejected, 150);
    for (let i = 0; i < 130; i++) ledger.submitInteraction(sampleEvent(1000 + i));
    await ledger.flush();
    await new Promise((r) => setImmediate(r));
    assert.equal(ledger.stats.dropped, 30);
    assert.equal(errors.filter((e) => e instanceof LedgerError && e.code === 'LEDGER_OVERLOADED').length, 30);
    assert.equal(ledger.size, 200);
    await ledger.close();
    await assert.rejects(ledger.appendInteraction(sampleEvent(1)), /closed/);
  });
});

test('an entry that cannot cross to the writer is refused alone; its batch neighbours are recorded', async () => {
  await withDir(async (dir) => {
    const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'l.db')), origin: ORIGIN, signers: [generateSigner(ORIGIN)] });
    const bad = { ...sampleEvent(2), enforcement: { ...sampleEvent(2).enforcement, hook: () => 1 } } as unknown as ReturnType<typeof sampleEvent>;
    const [a, b, c] = await Promise.allSettled([ledger.appendInteraction(sampleEvent(1)), ledger.appendInteraction(bad), ledger.appendInteraction(sampleEvent(3))]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(c.status, 'fulfilled');
    assert.equal(b.status, 'rejected');
    assert.equal((b as PromiseRejectedResult).reason.code, 'LEDGER_BAD_REQUEST');
    assert.equal(ledger.size, 2);
    await ledger.close();
  });
});

test('verify on reopen: an altered entry after the last checkpoint, or fewer entries than acknowledged, stops the writer', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'l.db');
    const signer = generateSigner(ORIGIN);
    const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(path), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 60_000 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    await ledger.checkpoint();
    await Promise.all(Array.from({ length: 10 }, (_, i) => ledger.appendInteraction(sampleEvent(100 + i))));
    // No checkpoint since entry 20 (interval 60 s): a second writer opening now must vouch for entries 20..29 itself.
    const storage = SqliteLedgerStorage.open(path);
    const opts = { storage, origin: ORIGIN, signers: [signer] };
    assert.equal((await LedgerWriter.open(opts)).size, 30, 'an intact tail is accepted');
    await assert.rejects(LedgerWriter.open({ ...opts, expect: { size: 31, checkpoint: null } }), /holds 30 entries but 31 were acknowledged/);
    const db = new Database(path);
    db.prepare("UPDATE ledger_entries SET leaf = CAST(replace(CAST(leaf AS TEXT), '\"output_tokens\":1', '\"output_tokens\":7') AS BLOB) WHERE idx = 25").run();
    db.close();
    await assert.rejects(LedgerWriter.open(opts), (e: unknown) => e instanceof LedgerError && e.code === 'LEDGER_INCONSISTENT' && /entry 25/.test(e.message));
    await assert.rejects(Ledger.open({ storage: SqliteLedgerStorage.open(path), origin: ORIGIN, signers: [signer] }), /entry 25/);
    await storage.close();

    // The running ledger's writer dies; its replacement finds the altered entry and refuses to write.
    ledger.injectWriterFault('exit');
    const refused = await ledger.appendInteraction(sampleEvent(999)).catch((e: unknown) => e);
    assert.ok(refused instanceof LedgerError && refused.code === 'LEDGER_INCONSISTENT' && /entry 25/.test(refused.message), String(refused));
    await assert.rejects(ledger.appendInteraction(sampleEvent(1000)), /entry 25/);
    assert.equal(ledger.size, 30, 'what was acknowledged stays acknowledged');
    await ledger.close();
  });
});

test('group commit: an idle writer commits at once; a busy one gathers entries arriving within the window into one transaction', async () => {
  const writer = await LedgerWriter.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [generateSigner(ORIGIN)] });
  const batches: number[] = [];
  const loop = new WriterLoop(writer, { batchMax: 50, checkpointIntervalMs: 60_000, groupCommitMs: 200 }, { committed: (r) => batches.push(r.length), checkpoint() {}, error() {} });
  const item = (i: number): WriteItem => ({ kind: 'interaction', event: sampleEvent(i) });
  const until = async (cond: () => boolean) => { while (!cond()) await new Promise((r) => setTimeout(r, 2)); };
  loop.push([item(0)]);
  await until(() => batches.length === 1);
  for (let i = 1; i <= 5; i++) {
    loop.push([item(i)]);
    await new Promise((r) => setTimeout(r, 3));
  }
  await until(() => batches.reduce((a, b) => a + b, 0) === 6);
  assert.deepEqual(batches, [1, 5], 'the five entries that arrived during the window share one commit');
  // A full batch does not wait for the window.
  const t0 = performance.now();
  loop.push(Array.from({ length: 50 }, (_, i) => item(100 + i)));
  await until(() => batches.length === 3);
  assert.equal(batches[2], 50);
  assert.ok(performance.now() - t0 < 150, 'committed without waiting out the 200 ms window');
  await loop.close();
  assert.equal(writer.size, 56);
});
