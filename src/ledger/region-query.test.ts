// "Did you serve region X?" in one query: the interactions whose leaf records the region (a
// warden.ledger/4 client.subdivision, or a country), a summary of what happened to them, and the
// interactions written before regions were recorded counted as unknown, never left out silently.
// Each returned row proves against the checkpoint the result names. SQLite and PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { generateSigner, parseVerifierKey } from './note.ts';
import { queryLedger, QueryError } from './query.ts';
import { runLedgerCli } from './cli.ts';
import { verifyInclusionBundle } from './standalone.ts';
import type { LedgerStorage } from './storage.ts';
import { openPostgres } from '../store/index.ts';
import { TEST_POSTGRES_URL } from '../../test/helpers/postgres.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const DATA = 'b'.repeat(64);

async function exercise(storage: LedgerStorage, where: string): Promise<void> {
  // The committed log of an earlier release: three /2 interactions of acct_0 from NL, then verdicts.
  const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/ledger-v2.json', import.meta.url), 'utf8'));
  const b = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
  await storage.appendBatch(fixture.entries.map((e: { leaf: string }) => ({ ...e, leaf: b(e.leaf) })), fixture.privates, fixture.nodes.map((n: { hash: string }) => ({ ...n, hash: b(n.hash) })));
  for (const c of fixture.checkpoints) await storage.putCheckpoint({ ...c, root: b(c.root) });
  await storage.recordKeys(fixture.keys);
  const signer = generateSigner(fixture.origin);
  const keys = [fixture.verifier_key as string, signer.verifier().toString()];
  const ledger = await Ledger.open({ storage, origin: fixture.origin, signers: [signer], trustedKeys: [parseVerifierKey(fixture.verifier_key)], checkpointIntervalMs: 60_000, writer: 'inline' });
  try {
    const base = sampleEvent(0);
    const at = (n: number, account: string, country: string, subdivision: string | null, data: string | null, status = 200) => sampleEvent(n, {
      account_id: account,
      client: { ip: `192.0.2.${n}`, user_agent: 'ua', country, asn: 64500, subdivision, subdivision_data: data },
      response: { ...base.response, status, error_code: status === 403 ? 'WARDEN_REGION_BLOCKED' : null },
    });
    const events = [
      at(30, 'acct_a', 'UA', 'UA-43', DATA, 403), // refused in the region asked for
      at(31, 'acct_b', 'UA', 'UA-43', DATA), // served in it
      at(32, 'acct_a', 'UA', 'UA-30', DATA), // another region
      at(33, 'acct_c', 'UA', null, DATA), // the data places it nowhere: known not UA-43
      at(34, 'acct_c', 'UA', null, null), // no data read: unknown
      at(35, 'acct_d', 'US', 'US-CA', DATA),
      at(36, 'acct_b', 'UA', 'UA-43', DATA, 500), // failed upstream
    ];
    for (const e of events) await ledger.appendInteraction(e);
    await ledger.checkpoint();
    const ids = (...ns: number[]) => ns.map((n) => events[n].id).sort();

    const r = await queryLedger(storage, { subdivisions: ['ua-43'] });
    assert.deepEqual(r.interactions.map((i) => i.id).sort(), ids(0, 1, 6), `${where}: exactly the /4 interactions recorded in UA-43: ${JSON.stringify(r.interactions.map((i) => [i.id, i.subdivision]))}`);
    assert.ok(r.interactions.every((i) => i.subdivision === 'UA-43' && i.region_recorded), `${where}: rows say their region`);
    assert.deepEqual(r.regions && [r.regions.interactions, r.regions.served, r.regions.refused, r.regions.errors, r.regions.accounts, r.regions.first_ts, r.regions.last_ts],
      [3, 1, 1, 1, 2, events[0].ts, events[6].ts], `${where}: the summary counts served and refused, accounts and the time range: ${JSON.stringify(r.regions)}`);
    assert.deepEqual(r.regions && [r.regions.region_unrecorded, r.regions.region_unrecorded_in_country, r.regions.no_region_data], [3, 0, 1],
      `${where}: the three /2 interactions (from NL) and the /4 one without data are counted as unknown: ${JSON.stringify(r.regions)}`);
    assert.equal(r.query.subdivision, 'UA-43', `${where}: the result says which filter it answers`);

    // Each row proves against the signed checkpoint the result names.
    assert.ok(r.checkpoint && r.checkpoint.size === r.tree_size, `${where}: a checkpoint covers the log: ${JSON.stringify(r.checkpoint)}`);
    for (const row of r.interactions) {
      const bundle = await ledger.proveInclusion(row.index, { treeSize: r.checkpoint!.size });
      const cp = verifyInclusionBundle(bundle, keys, fixture.origin);
      assert.equal(Buffer.from(cp.rootHash).toString('base64'), r.checkpoint!.root_hash, `${where}: row ${row.index} proves against the result checkpoint`);
      assert.equal(JSON.parse(bundle.leaf).client.subdivision, 'UA-43', `${where}: the proven leaf records the region`);
    }

    // A list, and countries: /2 leaves record the country, so they match by it.
    const two = await queryLedger(storage, { subdivisions: ['UA-43,UA-30'] });
    assert.deepEqual(two.interactions.map((i) => i.id).sort(), ids(0, 1, 2, 6), `${where}: a comma list`);
    const nl = await queryLedger(storage, { countries: ['NL'] });
    assert.equal(nl.interactions.length, 3, `${where}: the /2 interactions from NL match by country`);
    assert.ok(nl.interactions.every((i) => !i.region_recorded) && nl.regions?.region_unrecorded === 0, `${where}: a country query has nothing unknown: ${JSON.stringify(nl.regions)}`);
    // With the limit cutting rows short, the summary still counts them all.
    const cut = await queryLedger(storage, { subdivisions: ['UA-43'], limit: 1 });
    assert.deepEqual([cut.interactions.length, cut.truncated, cut.regions?.interactions, cut.regions?.region_unrecorded], [1, true, 3, 3], `${where}: ${JSON.stringify(cut.regions)}`);
    // Small pages (the admin route reads 250 at a time): the same rows and counts across page ends.
    const paged = await queryLedger(storage, { subdivisions: ['UA-43'], pageSize: 2, limit: 2 });
    assert.deepEqual([paged.interactions.map((i) => i.id), paged.regions], [r.interactions.slice(0, 2).map((i) => i.id), r.regions], `${where}: paged reads agree`);
    await assert.rejects(queryLedger(storage, { subdivisions: ['Crimea'] }), (e: unknown) => e instanceof QueryError && e.param === 'subdivision');

    // The command line: repeatable option, summary on stderr, JSON on stdout.
    const out = new PassThrough(); const err = new PassThrough();
    let o = ''; let e = '';
    out.on('data', (c) => (o += c)); err.on('data', (c) => (e += c));
    const code = await runLedgerCli(['query', '--subdivision', 'UA-43', '--subdivision', 'us-ca'], { config: { ledger: { origin: fixture.origin } } as never, ledger, stdout: out, stderr: err, env: {} });
    assert.equal(code, 0, `${where}: ${e}`);
    assert.deepEqual(JSON.parse(o).interactions.map((i: { id: string }) => i.id).sort(), ids(0, 1, 5, 6), `${where}: the CLI returns the matching rows`);
    assert.match(e, /UA-43, US-CA: 4 interactions \(2 served, 1 refused, 1 failed, 0 unauthenticated\) from 3 accounts/, `${where}: the summary line: ${e}`);
    assert.match(e, /3 interactions written before regions were recorded/, `${where}: the unknown ones are named: ${e}`);
  } finally {
    await ledger.close();
  }
}

test('ledger query by region (SQLite): the matching /4 interactions, a summary, old leaves counted as unknown, rows that prove', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-region-query-'));
  try {
    await exercise(SqliteLedgerStorage.open(join(dir, 'ledger.db')), 'sqlite');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ledger query by region (PostgreSQL)', async () => {
  const schema = `ledger_region_${randomBytes(6).toString('hex')}`;
  const pool = openPostgres(TEST_POSTGRES_URL, { max: 4 });
  try {
    await exercise(new PostgresLedgerStorage(pool, schema), 'postgres');
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  }
});
