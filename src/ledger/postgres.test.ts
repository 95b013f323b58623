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
import { sampleEvent, sampleVerdict } from './fixtures.ts';

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
