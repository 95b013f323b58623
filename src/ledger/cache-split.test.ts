// The prompt cache's split in the ledger: a finance analyst proving a month's bill from the signed
// leaves tells cached input (billed at a fraction) from full-price input. Leaves written before the
// split was recorded (warden.ledger/1) still parse, verify and reconcile, and the query says how
// many requests of a period have no split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerConfigSchema } from './config.ts';
import { openLedgerFromConfig, type LedgerSetup } from './open.ts';
import { canonicalBytes, prepareInteraction, type PreparedEntry } from './records.ts';
import type { ReconcileReport } from './reconcile.ts';
import { openSqlite, SqliteEventStore } from '../store/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { ledgerCliRunner } from '../../test/helpers/ledger-cli.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/cache-split';

/** The leaf an earlier release wrote for an event: schema warden.ledger/1, no cache fields. */
function legacyEntry(e: InteractionEvent): PreparedEntry {
  const p = prepareInteraction(e);
  const record = JSON.parse(JSON.stringify(p.record)) as Record<string, any>;
  record.schema = 'warden.ledger/1';
  delete record.response.cached_input_tokens;
  delete record.response.cache_write_tokens;
  return { record: record as PreparedEntry['record'], leaf: canonicalBytes(record), openings: p.openings };
}

function withCache(n: number, read: number, write: number): InteractionEvent {
  const e = sampleEvent(n * 7); // acct_0
  e.response.input_tokens = 1000 + n;
  if (read) e.response.cached_input_tokens = read;
  if (write) e.response.cache_write_tokens = write;
  return e;
}

test('interaction leaves record the prompt cache\'s reads and writes; old leaves still parse, verify, query and reconcile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cache-split-'));
  const db = openSqlite(join(dir, 'warden.db'));
  try {
    const events = new SqliteEventStore(db);
    const setup: LedgerSetup = { ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: '' }), store: { driver: 'sqlite', postgres_url: null, sqlite_path: join(dir, 'warden.db') } };
    const run = ledgerCliRunner(setup);
    assert.equal((await run('keygen')).code, 0);
    // One interaction recorded by an earlier release (its event has the split, its leaf has not),
    // then three by this one: a cache read, a cache write, and none.
    const old = withCache(0, 300, 50);
    const fresh = [withCache(1, 600, 0), withCache(2, 0, 40), withCache(3, 0, 0)];
    await events.appendBatch([old, ...fresh]);
    const ledger = await openLedgerFromConfig(setup, { env: {} });
    try {
      await ledger.appendPrepared(legacyEntry(old));
      for (const e of fresh) await ledger.appendInteraction(e);
      await ledger.checkpoint();
    } finally {
      await ledger.close();
    }

    const entries = JSON.parse((await run('entries', '0', '4')).out) as { entries?: { leaf: string }[] } | { leaf: string }[];
    const leaves = (Array.isArray(entries) ? entries : entries.entries ?? []).map((e) => JSON.parse(e.leaf));
    assert.equal(leaves.length, 4, `four leaves: ${JSON.stringify(entries).slice(0, 300)}`);
    assert.equal(leaves[0].schema, 'warden.ledger/1', 'the old leaf is as it was written');
    assert.ok(!('cached_input_tokens' in leaves[0].response), 'the old leaf has no cache field');
    assert.deepEqual(leaves.slice(1).map((l) => [l.schema, l.response.cached_input_tokens, l.response.cache_write_tokens]),
      [['warden.ledger/5', 600, 0], ['warden.ledger/5', 0, 40], ['warden.ledger/5', 0, 0]], 'new leaves name their schema and carry the split, 0 when none');

    const verify = await run('verify');
    assert.equal(verify.code, 0, `a log of old and new leaves verifies: ${verify.out}${verify.err}`);

    const q = JSON.parse((await run('query', '--account', 'acct_0')).out) as {
      interactions: { id: string; cached_input_tokens: number | null; cache_write_tokens: number | null }[];
      usage: { account_id: string; requests: number; input_tokens: number; cached_input_tokens: number; cache_write_tokens: number; cache_unrecorded: number }[];
    };
    const row = (id: string) => q.interactions.find((r) => r.id === id);
    assert.deepEqual([row(old.id)?.cached_input_tokens, row(old.id)?.cache_write_tokens], [null, null], 'an old leaf\'s split is unknown, not 0');
    assert.deepEqual([row(fresh[0].id)?.cached_input_tokens, row(fresh[1].id)?.cache_write_tokens], [600, 40]);
    const u = q.usage.find((x) => x.account_id === 'acct_0');
    assert.ok(u, `a usage row for acct_0: ${JSON.stringify(q.usage)}`);
    assert.deepEqual({ requests: u.requests, cached: u.cached_input_tokens, write: u.cache_write_tokens, unrecorded: u.cache_unrecorded },
      { requests: 4, cached: 600, write: 40, unrecorded: 1 }, 'the usage row sums the split of the leaves that record it and counts those that do not');
    const csv = (await run('query', '--account', 'acct_0', '--format', 'csv')).out.split('\n');
    assert.ok(csv[0].split(',').includes('cached_input_tokens') && csv[0].split(',').includes('cache_write_tokens'), `the CSV has the split's columns: ${csv[0]}`);

    const reconcile = async () => JSON.parse((await run('reconcile', '--json', '--lag', '0')).out) as ReconcileReport;
    const clean = await reconcile();
    assert.equal(clean.ok, true, `old and new leaves reconcile with their events: ${JSON.stringify(clean.altered)}`);
    assert.equal(clean.matched, 4);
    // The store's split edited behind the ledger's back is named, with both values.
    db.prepare("UPDATE events SET body = json_set(body, '$.response.cached_input_tokens', 900) WHERE id = ?").run(fresh[0].id);
    const edited = await reconcile();
    assert.equal(edited.ok, false);
    assert.deepEqual(edited.altered.examples.map((a) => [a.id, a.fields]), [[fresh[0].id, [{ field: 'response.cached_input_tokens', leaf: 600, store: 900 }]]]);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
