import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openPostgres } from '../store/index.ts';
import { Ledger } from './ledger.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { generateSigner } from './note.ts';
import { verifyLedger } from './verify.ts';
import { verifyInclusionBundle } from './standalone.ts';
import { queryLedger } from './query.ts';
import { sampleEvent, sampleVerdict, whileAppending } from '../../test/helpers/synthetic-events.ts';

const URL = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ORIGIN = 'warden.test/pg-ledger';

test('PostgreSQL storage: append, checkpoint, proofs, query, erase, whole-log verification, tamper', async () => {
  const schema = `ledger_test_${randomBytes(6).toString('hex')}`;
  const pool = openPostgres(URL, { max: 4 });
  const signer = generateSigner(ORIGIN);
  try {
    const ledger = await Ledger.open({ storage: new PostgresLedgerStorage(pool, schema), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 50 });
    const receipts = await Promise.all(Array.from({ length: 60 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    await ledger.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'cl_pg' }), { accounts: ['acct_1'] });
    const dup = await ledger.appendInteraction({ ...sampleEvent(0), id: receipts[0].id });
    assert.equal(dup.index, receipts[0].index);
    const cp = await ledger.checkpoint();
    assert.equal(cp.size, 61);
    verifyInclusionBundle(await ledger.proveInclusion(receipts[17].id), [signer.verifier().toString()], ORIGIN);
    const c = await ledger.proveConsistency(10, 61);
    assert.ok(c.proof.length > 0);
    const q = await queryLedger(ledger.storage, { clusterId: 'cl_pg', network: '203.0.113.0/24' });
    assert.ok(q.interactions.length > 0 && q.interactions.every((r) => r.account_id === 'acct_1'));
    assert.ok((await ledger.erase({ accountId: 'acct_2' })).erased > 0);
    const ok = await verifyLedger(ledger.storage, { origin: ORIGIN, verifiers: ledger.verifiers });
    assert.deepEqual(ok.problems, []);
    await ledger.close();

    await pool.query(`UPDATE ${schema}.ledger_entries SET leaf = leaf || '\\x20'::bytea WHERE idx = 33`);
    const reopened = new PostgresLedgerStorage(pool, schema);
    const bad = await verifyLedger(reopened, { origin: ORIGIN, verifiers: [signer.verifier()] });
    assert.equal(bad.firstBadEntry, 33);
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
    await pool.end();
  }
});

test('verify beside nodes that append and sign meanwhile checks the log as it stood when it began: OK, not FAILED', { skip: !(await postgresUp()) && 'no PostgreSQL at ' + URL }, async () => {
  const schema = `ledger_test_${randomBytes(6).toString('hex')}`;
  const pool = openPostgres(URL, { max: 4 });
  const signer = generateSigner(ORIGIN);
  try {
    const server = await Ledger.open({ storage: new PostgresLedgerStorage(pool, schema), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 60_000 });
    try {
      for (let i = 0; i < 40; i++) await server.appendInteraction(sampleEvent(i));
      await server.checkpoint();
      // `warden ledger verify`: its own pool, the schema opened read-only.
      const readerPool = openPostgres(URL, { max: 2 });
      const reader = await PostgresLedgerStorage.openReadOnly(readerPool, schema, { ownsPool: true });
      try {
        const opts = { origin: ORIGIN, verifiers: [signer.verifier()] };
        const { result: report, signedMeanwhile } = await whileAppending(PostgresLedgerStorage, server, 25, () => verifyLedger(reader, opts));
        assert.equal(signedMeanwhile, 65, 'a node appended 25 entries and signed a checkpoint over them during the run');
        assert.ok(report.ok, `a healthy ledger verifies beside nodes under traffic (${report.problems.map((p) => p.message).join('; ')})`);
        assert.equal(report.size, 40, 'it is checked as it stood when verify began');
        assert.equal(report.latestCheckpoint?.size, 40, 'the checkpoint signed meanwhile is left for the next run');
        const next = await verifyLedger(reader, opts);
        assert.ok(next.ok && next.size === 65, `the next run sees what was appended meanwhile (${next.problems.map((p) => p.message).join('; ')})`);
      } finally {
        await reader.close();
      }
    } finally {
      await server.close();
    }
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
    await pool.end();
  }
});

/** Whether the test PostgreSQL answers (the tests that need nothing else skip without it). */
async function postgresUp(): Promise<boolean> {
  const pool = openPostgres(URL, { max: 1 });
  try { await pool.query('SELECT 1'); return true; } catch { return false; } finally { await pool.end().catch(() => {}); }
}

test('read-only ledger commands on PostgreSQL never create a ledger: a schema without one is a usage error', { skip: !(await postgresUp()) && 'no PostgreSQL at ' + URL }, async () => {
  const { PassThrough } = await import('node:stream');
  const { ledgerConfigSchema } = await import('./config.ts');
  const { runLedgerCli } = await import('./cli.ts');
  const { openLedgerFromConfig } = await import('./open.ts');
  const schema = `ledger_ro_${randomBytes(6).toString('hex')}`;
  const signer = generateSigner(ORIGIN);
  const config = (s: string) => ({
    ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: signer.exportPrivate(), driver: 'postgres', postgres_schema: s }),
    store: { driver: 'postgres' as const, postgres_url: URL },
  });
  const run = async (s: string, ...argv: string[]) => {
    const out = new PassThrough(); const err = new PassThrough();
    let o = ''; let e = '';
    out.on('data', (c) => (o += c)); err.on('data', (c) => (e += c));
    const code = await runLedgerCli(argv, { config: config(s), stdout: out, stderr: err, env: {} });
    return { code, out: o, err: e };
  };
  const pool = openPostgres(URL, { max: 2 });
  const exists = async (s: string) => (await pool.query('SELECT to_regnamespace($1) IS NOT NULL AS e', [s])).rows[0].e as boolean;
  const registered = async (s: string) => (await pool.query("SELECT count(*)::int AS n FROM schema_migrations WHERE component = $1", [`ledger.${s}`])).rows[0].n as number;
  try {
    // A mistyped schema: every read-only command says there is no ledger there, and creates none.
    const typo = `${schema}_typo`;
    for (const argv of [['verify', '--key', signer.verifier().toString()], ['query'], ['entries', '0', '1']]) {
      const r = await run(typo, ...argv);
      assert.equal(r.code, 2, `${argv[0]}: ${r.err}`);
      assert.match(r.err, new RegExp(`no ledger at PostgreSQL schema ${typo}`));
    }
    assert.equal(await exists(typo), false, 'no schema was created');
    assert.equal(await registered(typo), 0, 'no migration was recorded');

    // The real one: read as usual.
    const ledger = await openLedgerFromConfig(config(schema), { env: {} });
    await Promise.all(Array.from({ length: 5 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    await ledger.checkpoint();
    await ledger.close();
    const v = await run(schema, 'verify', '--json');
    assert.equal(v.code, 0, v.err);
    assert.equal(JSON.parse(v.out).size, 5);
    assert.equal(JSON.parse((await run(schema, 'entries', '0', '5')).out).length, 5);
    assert.equal((await run(schema, 'query')).code, 0);

    // A schema whose tables are there but no migration says so (or the other way round) holds no ledger.
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]);
    assert.equal((await run(schema, 'verify', '--json')).code, 2);
    // A ledger newer than this Warden: said, not read.
    await pool.query('INSERT INTO schema_migrations (component, version) VALUES ($1, 1), ($1, 2), ($1, 3)', [`ledger.${schema}`]);
    const newer = await run(schema, 'verify', '--json');
    assert.equal(newer.code, 1);
    assert.match(newer.err, /version 3, newer than this Warden knows \(2\)/);
  } finally {
    for (const s of [schema, `${schema}_typo`]) {
      await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => {});
      await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${s}`]).catch(() => {});
    }
    await pool.end();
  }
});

test('closing on a PostgreSQL that stopped answering returns soon after closeTimeoutMs and reports what it did not write', { timeout: 90_000, skip: !(await postgresUp()) && 'no PostgreSQL at ' + URL }, async () => {
  const { startTcpProxy } = await import('../../test/helpers/tcp-proxy.ts');
  for (const writer of ['worker', 'inline'] as const) {
    const schema = `ledger_stall_${randomBytes(6).toString('hex')}`;
    const proxy = await startTcpProxy(Number(new globalThis.URL(URL).port || 5432));
    const through = new globalThis.URL(URL);
    through.port = String(proxy.port);
    const signer = generateSigner(ORIGIN);
    const errors: string[] = [];
    const storage = new PostgresLedgerStorage(openPostgres(through.href, { max: 4 }), schema, { ownsPool: true, url: through.href });
    const ledger = await Ledger.open({ storage, origin: ORIGIN, signers: [signer], writer, checkpointIntervalMs: 50, closeTimeoutMs: 1000, onError: (e) => errors.push((e as Error).message) });
    const pool = openPostgres(URL, { max: 1 });
    try {
      await Promise.all(Array.from({ length: 5 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
      await ledger.checkpoint();
      // Connections open and new ones accepted, nothing answered: these three are with the writer when the ledger closes.
      await proxy.stall();
      const late = Array.from({ length: 3 }, (_, i) => ledger.appendInteraction(sampleEvent(100 + i)).then(() => 'recorded', (e) => e.code as string));
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      const report = await ledger.close();
      const took = Date.now() - t0;
      // closeTimeoutMs, then at most the pool's 2 s to cut connections the database does not close
      assert.ok(took < 1000 + 2000 + 1500, `${writer}: closed in ${took} ms`);
      assert.deepEqual(report, { lost: 0, unsettled: 3 }, writer);
      assert.deepEqual(await Promise.all(late), ['LEDGER_CLOSED', 'LEDGER_CLOSED', 'LEDGER_CLOSED'], `${writer}: the appends are refused, not left waiting`);
      assert.ok(errors.some((m) => m === "the ledger's storage did not answer within 1000 ms while closing: 0 entries not recorded; 3 were being written, whether they are recorded is not known"), `${writer}: reported: ${errors.join(' | ')}`);

      // The database back: the log opens again with what was acknowledged, and verifies.
      const reopened = await Ledger.open({ storage: new PostgresLedgerStorage(openPostgres(URL, { max: 2 }), schema, { ownsPool: true }), origin: ORIGIN, signers: [signer] });
      assert.equal(reopened.size, 5, writer);
      assert.deepEqual((await verifyLedger(reopened.storage, { origin: ORIGIN, verifiers: reopened.verifiers })).problems, [], writer);
      await reopened.close();
    } finally {
      await proxy.stop();
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
      await pool.end();
    }
  }
});

test('closing while a dead writer is being restarted against a PostgreSQL that stopped answering stops that writer too', { timeout: 60_000, skip: !(await postgresUp()) && 'no PostgreSQL at ' + URL }, async () => {
  const { startTcpProxy } = await import('../../test/helpers/tcp-proxy.ts');
  const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
  const schema = `ledger_stall_${randomBytes(6).toString('hex')}`;
  const proxy = await startTcpProxy(Number(new globalThis.URL(URL).port || 5432));
  const through = new globalThis.URL(URL);
  through.port = String(proxy.port);
  const errors: string[] = [];
  const storage = new PostgresLedgerStorage(openPostgres(through.href, { max: 4 }), schema, { ownsPool: true, url: through.href });
  const ledger = await Ledger.open({ storage, origin: ORIGIN, signers: [generateSigner(ORIGIN)], writer: 'worker', checkpointIntervalMs: 50, closeTimeoutMs: 1000, onError: (e) => errors.push(`${(e as { code?: string }).code}: ${(e as Error).message}`) });
  // Every worker thread started from here on (the restarted writers), and whether it has exited.
  const started: { exited: boolean }[] = [];
  const onWorker = (message: unknown) => {
    const seen = { exited: false };
    started.push(seen);
    (message as { worker: import('node:worker_threads').Worker }).worker.once('exit', () => { seen.exited = true; });
  };
  subscribe('worker_threads', onWorker);
  const pool = openPostgres(URL, { max: 1 });
  try {
    await ledger.appendInteraction(sampleEvent(1));
    await proxy.stall();
    // The writer dies; its replacement opens the log through the stalled proxy and waits on its connect timeout (5 s).
    ledger.injectWriterFault('exit');
    await new Promise((r) => setTimeout(r, 50));
    const late = ledger.appendInteraction(sampleEvent(2)).then(() => 'recorded', (e) => e.code as string);
    const report = await ledger.close();
    const reportedAtClose = errors.length;
    assert.deepEqual(report, { lost: 1, unsettled: 0 });
    assert.equal(await late, 'LEDGER_CLOSED');
    assert.ok(started.length >= 1, 'a replacement writer was being started when the ledger closed');
    assert.ok(started.every((w) => w.exited), `every writer thread has stopped when close() returns (${started.filter((w) => !w.exited).length} still running)`);
    // Nothing is reported after close() (the stopped start does not say it failed).
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(errors.slice(reportedAtClose), [], 'nothing reported after close() returned');
  } finally {
    unsubscribe('worker_threads', onWorker);
    await proxy.stop();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
    await pool.end();
  }
});

test('a PostgreSQL outage of a few seconds delays ledger entries, it does not drop them: all are recorded once it is back', { timeout: 60_000, skip: !(await postgresUp()) && 'no PostgreSQL at ' + URL }, async () => {
  const { startTcpProxy } = await import('../../test/helpers/tcp-proxy.ts');
  for (const writer of ['worker', 'inline'] as const) {
    const schema = `ledger_outage_${randomBytes(6).toString('hex')}`;
    const proxy = await startTcpProxy(Number(new globalThis.URL(URL).port || 5432));
    const through = new globalThis.URL(URL);
    through.port = String(proxy.port);
    const errors: string[] = [];
    const storage = new PostgresLedgerStorage(openPostgres(through.href, { max: 4 }), schema, { ownsPool: true, url: through.href });
    const ledger = await Ledger.open({ storage, origin: ORIGIN, signers: [generateSigner(ORIGIN)], writer, checkpointIntervalMs: 50, onError: (e) => errors.push((e as Error).message) });
    const pool = openPostgres(URL, { max: 1 });
    try {
      await Promise.all(Array.from({ length: 5 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
      // The database restarts: connections cut, new ones refused.
      await proxy.stop();
      for (let i = 0; i < 20; i++) ledger.submitInteraction(sampleEvent(100 + i));
      const awaited = ledger.appendInteraction(sampleEvent(200)).then(() => 'recorded', (e) => `${e.code}: ${e.message}`);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(ledger.stats.dropped, 0, `${writer}: nothing is dropped while the database is away (${errors.join(' | ')})`);
      assert.equal(ledger.pending, 21, `${writer}: the entries wait in the ledger's queue`);
      assert.ok(errors.some((m) => /unreachable/.test(m)), `${writer}: the outage is reported (${errors.join(' | ')})`);
      await proxy.start();
      assert.equal(await awaited, 'recorded', `${writer}: an append made during the outage resolves once the database is back`);
      await ledger.flush();
      assert.equal(ledger.stats.dropped, 0, `${writer}: every fire-and-forget entry of the outage is recorded (${errors.join(' | ')})`);
      assert.equal(Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.ledger_entries`)).rows[0].n), 26, `${writer}: every entry is in the log`);
      await ledger.close();
      assert.deepEqual((await verifyLedger(new PostgresLedgerStorage(pool, schema, { readOnly: true }), { origin: ORIGIN, verifiers: ledger.verifiers })).problems, [], writer);
    } finally {
      await ledger.close();
      await proxy.stop();
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
      await pool.end();
    }
  }
});

test('verify on PostgreSQL reads its snapshot one query at a time (a pg client runs one query at a time)', { skip: !(await postgresUp()) && 'no PostgreSQL at ' + URL }, async () => {
  const schema = `ledger_test_${randomBytes(6).toString('hex')}`;
  const pool = openPostgres(URL, { max: 4 });
  const signer = generateSigner(ORIGIN);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  try {
    const ledger = await Ledger.open({ storage: new PostgresLedgerStorage(pool, schema), origin: ORIGIN, signers: [signer], writer: 'inline' });
    for (let i = 0; i < 10; i++) await ledger.appendInteraction(sampleEvent(i));
    await ledger.checkpoint();
    const report = await verifyLedger(ledger.storage, { origin: ORIGIN, verifiers: ledger.verifiers, pageSize: 4 });
    await ledger.close();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(report.problems, [], 'the log verifies');
    assert.deepEqual(warnings.filter((w) => /already executing a query/.test(w)), [], 'no query is sent on the snapshot connection while another is running');
  } finally {
    process.off('warning', onWarning);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
    await pool.end();
  }
});
