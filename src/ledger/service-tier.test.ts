// The service tier in the ledger: an operator billing flex and priority apart proves from the signed
// leaves which tier the upstream served each answer on (`response.service_tier`, warden.ledger/5).
// Leaves written before the tier was recorded (warden.ledger/4) still parse, verify, query and
// reconcile, their tier unknown (null), never taken for "none named".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerConfigSchema } from './config.ts';
import { openLedgerFromConfig, type LedgerSetup } from './open.ts';
import { canonicalBytes, parseLeaf, prepareInteraction, type PreparedEntry } from './records.ts';
import type { ReconcileReport } from './reconcile.ts';
import { openSqlite, SqliteEventStore } from '../store/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { ledgerCliRunner } from '../../test/helpers/ledger-cli.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/service-tier';

/** The leaf the previous release wrote for an event: warden.ledger/4, no tier. */
function previousEntry(e: InteractionEvent): PreparedEntry {
  const p = prepareInteraction(e);
  const record = JSON.parse(JSON.stringify(p.record)) as Record<string, any>;
  record.schema = 'warden.ledger/4';
  delete record.response.service_tier;
  return { record: record as PreparedEntry['record'], leaf: canonicalBytes(record), openings: p.openings };
}

function onTier(n: number, tier: string | null): InteractionEvent {
  const e = sampleEvent(n * 7); // acct_0
  if (tier !== null) e.response.service_tier = tier;
  return e;
}

test('interaction leaves record the service tier; leaves of the previous format still parse, verify, query and reconcile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-service-tier-'));
  const db = openSqlite(join(dir, 'warden.db'));
  try {
    const events = new SqliteEventStore(db);
    const setup: LedgerSetup = { ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: '' }), store: { driver: 'sqlite', postgres_url: null, sqlite_path: join(dir, 'warden.db') } };
    const run = ledgerCliRunner(setup);
    assert.equal((await run('keygen')).code, 0);
    // One answer recorded by the previous release (served on flex: its event says so, its leaf not),
    // then three by this one: flex, priority, and one the upstream named no tier for.
    const old = onTier(0, 'flex');
    const fresh = [onTier(1, 'flex'), onTier(2, 'priority'), onTier(3, null)];
    await events.appendBatch([old, ...fresh]);
    const ledger = await openLedgerFromConfig(setup, { env: {} });
    try {
      await ledger.appendPrepared(previousEntry(old));
      for (const e of fresh) await ledger.appendInteraction(e);
      await ledger.checkpoint();
    } finally {
      await ledger.close();
    }

    const entries = JSON.parse((await run('entries', '0', '4')).out) as { entries?: { leaf: string }[] } | { leaf: string }[];
    const leaves = (Array.isArray(entries) ? entries : entries.entries ?? []).map((e) => JSON.parse(e.leaf));
    assert.equal(leaves.length, 4, `four leaves: ${JSON.stringify(entries).slice(0, 300)}`);
    assert.equal(leaves[0].schema, 'warden.ledger/4', 'the old leaf is as it was written');
    assert.ok(!('service_tier' in leaves[0].response), 'the old leaf has no tier');
    assert.deepEqual(leaves.slice(1).map((l) => [l.schema, l.response.service_tier]),
      [['warden.ledger/5', 'flex'], ['warden.ledger/5', 'priority'], ['warden.ledger/5', null]], 'new leaves name their schema and the tier, null when none was named');
    // A /5 leaf without its tier field is not a /5 record (an absent tier must not read as "none named").
    const stripped = { ...leaves[1], response: { ...leaves[1].response } };
    delete stripped.response.service_tier;
    assert.throws(() => parseLeaf(canonicalBytes(stripped)), /service_tier/, 'a /5 interaction must carry its tier, or null');

    const verify = await run('verify');
    assert.equal(verify.code, 0, `a log of old and new leaves verifies: ${verify.out}${verify.err}`);

    const q = JSON.parse((await run('query', '--account', 'acct_0')).out) as { interactions: { id: string; service_tier: string | null; service_tier_recorded: boolean }[] };
    const row = (id: string) => q.interactions.find((r) => r.id === id);
    assert.deepEqual([row(old.id)?.service_tier, row(old.id)?.service_tier_recorded], [null, false], 'an old leaf\'s tier is unknown');
    assert.deepEqual(fresh.map((e) => [row(e.id)?.service_tier, row(e.id)?.service_tier_recorded]), [['flex', true], ['priority', true], [null, true]]);
    const csv = (await run('query', '--account', 'acct_0', '--format', 'csv')).out.split('\n');
    assert.ok(csv[0].split(',').includes('service_tier'), `the CSV has the tier's column: ${csv[0]}`);

    const reconcile = async () => JSON.parse((await run('reconcile', '--json', '--lag', '0')).out) as ReconcileReport;
    const clean = await reconcile();
    assert.equal(clean.ok, true, `old and new leaves reconcile with their events: ${JSON.stringify(clean.altered)}`);
    assert.equal(clean.matched, 4);
    // The store's tier edited behind the ledger's back (flex billed as priority) is named, with both values.
    db.prepare("UPDATE events SET body = json_set(body, '$.response.service_tier', 'priority') WHERE id = ?").run(fresh[0].id);
    const edited = await reconcile();
    assert.equal(edited.ok, false);
    assert.deepEqual(edited.altered.examples.map((a) => [a.id, a.fields]), [[fresh[0].id, [{ field: 'response.service_tier', leaf: 'flex', store: 'priority' }]]]);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
