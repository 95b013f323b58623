// `warden events export --case ID`: a case file's member accounts' events, in time order, as
// `--cluster` exports a cluster's; and both for thousands of accounts (every event once, in order),
// on SQLite and on PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { openSqlite, SqliteEventStore, PostgresEventStore, type EventStore } from '../../src/store/index.ts';
import { SqliteCaseStore, PostgresCaseStore, type CaseFile, type CaseStore } from '../../src/cases/index.ts';
import { ledgerConfigSchema, openLedgerFromConfig, runLedgerCli } from '../../src/ledger/index.ts';
import type { InteractionEvent } from '../../src/events/index.ts';
import { sampleEvent, sampleVerdict } from '../helpers/synthetic-events.ts';
import { withPgSchema, TEST_POSTGRES_URL } from '../helpers/postgres.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const warden = (args: string[], cwd: string) => runWarden(args, { cwd, maxBuffer: 64 * 1024 * 1024 });

const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const account = (a: number) => `acct_m${String(a).padStart(5, '0')}`;

/** `accounts` accounts with 0 to 3 events each (times interleaved across them), and 500 events of accounts outside. */
function fixture(accounts: number): InteractionEvent[] {
  const events: InteractionEvent[] = [];
  for (let a = 0; a < accounts; a++) {
    for (let k = 0; k < a % 4; k++) events.push(sampleEvent(a * 4 + k, { account_id: account(a), ts: new Date(T0 + ((a * 7919 + k * 104729) % 40_000) * 25).toISOString() }));
  }
  for (let i = 0; i < 500; i++) events.push(sampleEvent(800_000 + i, { account_id: `acct_outside_${i % 20}`, ts: new Date(T0 + i * 1999).toISOString() }));
  return events;
}

/** A case file whose members are these accounts (what the export reads of it). */
function caseFile(id: string, members: string[]): CaseFile {
  const at = new Date(T0).toISOString();
  return {
    schema: 'warden.case/1', id, title: id, status: 'open', campaign_id: `camp_${id}`, cluster_id: `clu_${id}`, opened_at: at, updated_at: at,
    campaign: { members } as unknown as CaseFile['campaign'],
    members: members.map((account_id) => ({ account_id }) as CaseFile['members'][number]),
    observables: [], usage: { requests: 0, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, models: {}, countries: {} },
    events_read: 0, events_truncated: false, window_events_scanned: 0, window_truncated: false, ledger: null, notes: [],
  };
}

async function fill(store: EventStore, events: InteractionEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) await store.appendBatch(events.slice(i, i + 1000));
}

const inOrder = (a: InteractionEvent, b: InteractionEvent) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.id < b.id ? -1 : 1);
const idsOf = (events: InteractionEvent[], members: string[]) => { const set = new Set(members); return events.filter((e) => set.has(e.account_id!)).sort(inOrder).map((e) => e.id); };
const readFile = (path: string) => readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as InteractionEvent).id);

test('events export --case and --cluster write the events of thousands of accounts, once each and in time order (SQLite)', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-events-case-'));
  try {
    mkdirSync(join(dir, 'data'));
    const events = fixture(3000);
    const db = openSqlite(join(dir, 'data', 'warden.db'));
    const store = new SqliteEventStore(db);
    await fill(store, events);
    // A case on 2,500 of them (and one account with no events), another on 3.
    const cases: CaseStore = new SqliteCaseStore(db);
    const caseMembers = [...Array.from({ length: 2500 }, (_, a) => account(a + 400)), 'acct_never_seen'];
    await cases.putCase(caseFile('case_big', caseMembers));
    await cases.putCase(caseFile('case_small', [account(1), account(2), account(3)]));
    await store.close();
    db.close();
    // The ledger: a verdict on clu_big names all 3,000.
    const config = { ledger: ledgerConfigSchema.parse({}), store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'data', 'warden.db') } };
    assert.equal(await runLedgerCli(['keygen'], { config, stdout: new PassThrough(), stderr: new PassThrough(), env: {} }), 0);
    const ledger = await openLedgerFromConfig(config, { env: {} });
    const clusterMembers = Array.from({ length: 3000 }, (_, a) => account(a));
    await ledger.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'clu_big' }, 'suspend'), { accounts: clusterMembers });
    await ledger.close();

    const big = await warden(['events', 'export', '--case', 'case_big', '--out', 'case.jsonl'], dir);
    assert.equal(big.code, 0, big.stderr);
    assert.match(big.stderr, /case case_big: 2501 accounts in its case file/, `it says how many accounts the case has: ${big.stderr}`);
    const want = idsOf(events, caseMembers);
    const got = readFile(join(dir, 'case.jsonl'));
    assert.equal(got.length, want.length, `every event of the case's accounts, once: ${got.length} of ${want.length}`);
    assert.deepEqual(got, want, 'in time order, then id');

    const cluster = await warden(['events', 'export', '--cluster', 'clu_big', '--out', 'cluster.jsonl.gz'], dir);
    assert.equal(cluster.code, 0, cluster.stderr);
    assert.match(cluster.stderr, /cluster clu_big: 3000 accounts in the ledger/);
    const gotCluster = gunzipSync(readFileSync(join(dir, 'cluster.jsonl.gz'))).toString('utf8').trim().split('\n').map((l) => (JSON.parse(l) as InteractionEvent).id);
    const wantCluster = idsOf(events, clusterMembers);
    assert.equal(gotCluster.length, wantCluster.length, `every event of the cluster's accounts, once: ${gotCluster.length} of ${wantCluster.length}`);
    assert.deepEqual(gotCluster, wantCluster, 'in time order, then id');

    const [small, one, outside, missing, both, empty] = await Promise.all([
      warden(['events', 'export', '--case', 'case_small', '--limit', '5'], dir),
      warden(['events', 'export', '--case', 'case_small', '--account', account(3)], dir),
      warden(['events', 'export', '--case', 'case_small', '--account', account(7)], dir),
      warden(['events', 'export', '--case', 'case_nope'], dir),
      warden(['events', 'export', '--case', 'case_small', '--cluster', 'clu_big'], dir),
      warden(['events', 'export', '--case', ''], dir),
    ]);
    const read = (r: { stdout: string }) => r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as InteractionEvent);
    assert.equal(small.code, 0, small.stderr);
    assert.deepEqual(read(small).map((e) => e.id), idsOf(events, [account(1), account(2), account(3)]).slice(0, 5), 'a small case: the first 5 (--limit) of its accounts\' 6 events, in time order');
    assert.deepEqual(read(one).map((e) => e.account_id), [account(3), account(3), account(3)], '--account within the case: that account\'s events');
    assert.equal(outside.code, 0, outside.stderr);
    assert.deepEqual(read(outside), [], '--account outside the case: nothing');
    assert.match(outside.stderr, /is not one of them/);
    assert.equal(missing.code, 1, `a case not in the store: exit 1 (${missing.stderr})`);
    assert.match(missing.stderr, /no case case_nope in the case store/);
    assert.equal(missing.stdout, '', 'nothing exported');
    assert.equal(both.code, 2, `--case with --cluster is a usage error: ${both.stderr}`);
    assert.equal(empty.code, 2, `an empty --case is a usage error: ${empty.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('events export --case on PostgreSQL: the case store and the events on the shared database', { timeout: 300_000 }, async () => {
  await withPgSchema('events_case', async (pool) => {
    const schema = (await pool.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
    const events = fixture(2000);
    await fill(new PostgresEventStore(pool), events);
    const cases = new PostgresCaseStore(pool);
    await cases.migrate();
    const members = Array.from({ length: 1500 }, (_, a) => account(a * 4 % 2000));
    await cases.putCase(caseFile('case_pg', members));
    const dir = mkdtempSync(join(tmpdir(), 'warden-events-case-pg-'));
    try {
      const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      writeFileSync(join(dir, 'warden.yaml'), JSON.stringify({ store: { driver: 'postgres', postgres_url: url }, ledger: { enabled: false } }));
      const r = await warden(['events', 'export', '--case', 'case_pg', '-c', 'warden.yaml', '--out', 'case.jsonl'], dir);
      assert.equal(r.code, 0, r.stderr);
      const want = idsOf(events, members);
      const got = readFile(join(dir, 'case.jsonl'));
      assert.equal(got.length, want.length, `every event of the case's accounts, once: ${got.length} of ${want.length}`);
      assert.deepEqual(got, want, 'in time order, then id');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
