// `warden events export --cluster ID`: a campaign's events in one run, its accounts read from the
// ledger as `warden ledger query --cluster` reads them (those its verdicts name, and those whose
// interactions carry its id), in time order; without a ledger, a usage error that says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { openSqlite, SqliteEventStore } from '../../src/store/index.ts';
import { ledgerConfigSchema, openLedgerFromConfig, runLedgerCli } from '../../src/ledger/index.ts';
import { sampleEvent, sampleVerdict } from '../helpers/synthetic-events.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const warden = (args: string[], cwd: string) => runWarden(args, { cwd });

test('events export --cluster writes the events of the cluster\'s accounts, in time order; it needs the ledger', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-events-cluster-'));
  try {
    mkdirSync(join(dir, 'data'));
    // Accounts acct_0 .. acct_6 (sampleEvent(n): acct_{n % 7}), 3 events each.
    const events = Array.from({ length: 21 }, (_, i) => sampleEvent(i));
    const db = openSqlite(join(dir, 'data', 'warden.db'));
    const store = new SqliteEventStore(db);
    await store.appendBatch(events);
    await store.close();
    db.close();
    // The ledger: a verdict on clu_x names acct_1 and acct_2; acct_4 sent an interaction carrying clu_x's id.
    const config = { ledger: ledgerConfigSchema.parse({}), store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'data', 'warden.db') } };
    assert.equal(await runLedgerCli(['keygen'], { config, stdout: new PassThrough(), stderr: new PassThrough(), env: {} }), 0);
    const ledger = await openLedgerFromConfig(config, { env: {} });
    await ledger.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'clu_x' }, 'suspend'), { accounts: ['acct_1', 'acct_2'] });
    await ledger.appendInteraction(events[4]!, { clusterId: 'clu_x' });
    await ledger.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'clu_other' }, 'watch'), { accounts: ['acct_5'] });
    await ledger.close();

    const [all, limited, one, outside] = await Promise.all([
      warden(['events', 'export', '--cluster', 'clu_x'], dir),
      warden(['events', 'export', '--cluster', 'clu_x', '--limit', '4'], dir),
      warden(['events', 'export', '--cluster', 'clu_x', '--account', 'acct_2'], dir),
      warden(['events', 'export', '--cluster', 'clu_x', '--account', 'acct_5'], dir),
    ]);
    const read = (r: { stdout: string }) => r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; ts: string; account_id: string });
    assert.equal(all.code, 0, all.stderr);
    const got = read(all);
    const want = events.filter((e) => ['acct_1', 'acct_2', 'acct_4'].includes(e.account_id!));
    assert.deepEqual(got.map((e) => e.id), want.map((e) => e.id), `the cluster's 9 events, in time order: ${got.map((e) => `${e.account_id}@${e.ts}`).join(', ')}`);
    assert.match(all.stderr, /cluster clu_x: 3 accounts in the ledger/, 'it says how many accounts the cluster has');
    assert.equal(limited.code, 0, limited.stderr);
    assert.deepEqual(read(limited).map((e) => e.id), want.slice(0, 4).map((e) => e.id), '--limit bounds the merged export');
    assert.deepEqual(read(one).map((e) => e.account_id), ['acct_2', 'acct_2', 'acct_2'], '--account within the cluster: that account\'s events');
    assert.equal(outside.code, 0, outside.stderr);
    assert.deepEqual(read(outside), [], '--account outside the cluster: nothing');
    assert.match(outside.stderr, /--account acct_5 is not one of them/);

    // No ledger in this configuration: a usage error naming why, nothing exported.
    writeFileSync(join(dir, 'noledger.yaml'), `store:\n  sqlite_path: ${join(dir, 'data', 'warden.db')}\nledger:\n  enabled: false\n`);
    const off = await warden(['events', 'export', '--cluster', 'clu_x', '-c', 'noledger.yaml'], dir);
    assert.equal(off.code, 2, off.stderr);
    assert.match(off.stderr, /--cluster reads the cluster's accounts from the ledger/);
    assert.equal(off.stdout, '');
    const empty = await warden(['events', 'export', '--cluster', ''], dir);
    assert.equal(empty.code, 2, empty.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
