// `warden ledger reconcile`: the event store checked against the signed leaves. A row edited,
// deleted or inserted in the events table (SQLite or PostgreSQL) is named; a store that says what
// the ledger signed passes, erased events and interactions still on their way included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerConfigSchema } from './config.ts';
import { openLedgerFromConfig, type LedgerSetup } from './open.ts';
import type { ReconcileReport } from './reconcile.ts';
import { openSqlite, PostgresEventStore, SqliteEventStore, type EventStore } from '../store/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { ledgerCliRunner, type LedgerCliRun } from '../../test/helpers/ledger-cli.ts';
import { TEST_POSTGRES_URL, withPgSchema } from '../../test/helpers/postgres.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORIGIN = 'warden.test/reconcile';
const EVENTS = 40;

/** How a test changes the events table behind Warden's back, per backend. */
interface Tamper {
  setOutputTokens(id: string, n: number): Promise<void>;
  setModelColumn(id: string, model: string): Promise<void>;
  setClientIp(id: string, ip: string): Promise<void>;
  remove(id: string): Promise<void>;
  insert(e: InteractionEvent): Promise<void>;
}

interface Stores { setup: LedgerSetup; events: EventStore; tamper: Tamper }

/** Record the same interactions in the event store and the ledger, as `warden serve` does; returns the events. */
async function recordBoth(s: Stores, events: InteractionEvent[]): Promise<void> {
  const ledger = await openLedgerFromConfig(s.setup, { env: {} });
  try {
    await s.events.appendBatch(events);
    await Promise.all(events.map((e) => ledger.appendInteraction(e)));
    await ledger.checkpoint();
  } finally {
    await ledger.close();
  }
}

async function reconcile(run: LedgerCliRun, ...argv: string[]): Promise<{ code: number; report: ReconcileReport; err: string }> {
  const r = await run('reconcile', '--json', ...argv);
  let report: ReconcileReport;
  try { report = JSON.parse(r.out); } catch { assert.fail(`reconcile --json printed no JSON (exit ${r.code}): ${r.out}${r.err}`); }
  return { code: r.code, report, err: r.err };
}

/** The scenario the auditor ran: edit a row's tokens (and its model column, and its client IP), delete one, insert a forged one. */
async function tamperScenario(s: Stores, run: LedgerCliRun): Promise<void> {
  const events = Array.from({ length: EVENTS }, (_, i) => sampleEvent(i));
  await recordBoth(s, events);

  const clean = await reconcile(run);
  assert.equal(clean.code, 0, `an untouched store reconciles: ${JSON.stringify(clean.report)}`);
  assert.equal(clean.report.leaves, EVENTS, 'every interaction leaf was compared');
  assert.equal(clean.report.matched, EVENTS, 'every stored event matches its leaf');
  assert.equal(clean.report.events, EVENTS);

  const [edited, columnEdited, ipEdited, deleted] = [events[3], events[5], events[8], events[11]];
  await s.tamper.setOutputTokens(edited.id, 9);
  await s.tamper.setModelColumn(columnEdited.id, 'gpt-free');
  await s.tamper.setClientIp(ipEdited.id, '192.0.2.99');
  await s.tamper.remove(deleted.id);
  // A forged interaction in the middle of the recorded ones (15.5 s after the first).
  const forged = sampleEvent(15, { ts: new Date(Date.parse(events[15].ts) + 500).toISOString() });
  await s.tamper.insert(forged);

  const r = await reconcile(run);
  assert.equal(r.code, 1, 'a mismatch exits non-zero');
  assert.equal(r.report.ok, false);
  const altered = new Map(r.report.altered.examples.map((a) => [a.id, a.fields]));
  assert.equal(r.report.altered.count, 3, `three rows altered: ${JSON.stringify(r.report.altered)}`);
  assert.deepEqual(altered.get(edited.id), [{ field: 'response.output_tokens', leaf: edited.response.output_tokens, store: 9 }], 'the edited token count is named with both values');
  assert.deepEqual(altered.get(columnEdited.id), [{ field: 'column:model', leaf: columnEdited.model, store: 'gpt-free' }], 'a column edited alone is named too');
  const ipFields = altered.get(ipEdited.id)?.map((f) => f.field);
  assert.deepEqual(ipFields?.sort(), ['client.ip', 'column:client_ip'].sort(), 'the edited client IP is named (a commitment: no values shown)');
  assert.ok(altered.get(ipEdited.id)?.every((f) => f.committed === true && !('store' in f)), 'a personal field is not printed');
  assert.deepEqual(r.report.missing.examples.map((m) => m.id), [deleted.id], 'the deleted row is missing');
  assert.equal(r.report.missing.count, 1);
  assert.deepEqual(r.report.unrecorded.examples.map((m) => m.id), [forged.id], 'the inserted row has no leaf');
  assert.equal(r.report.unrecorded.count, 1);
  assert.equal(r.report.matched, EVENTS - 4);

  // The text output says the same, for a person.
  const text = await run('reconcile');
  assert.equal(text.code, 1);
  assert.match(text.out, new RegExp(`altered ${edited.id}.*response\\.output_tokens: leaf ${edited.response.output_tokens}, store 9`));
  assert.match(text.out, new RegExp(`missing ${deleted.id}`));
  assert.match(text.out, new RegExp(`without a leaf ${forged.id}`));
  assert.match(text.out, /FAILED: 3 altered, 1 missing from the store, 1 without a leaf/);

  // A time range sees only what is in it: the first ten seconds hold the three edited rows, not the deleted or the forged one.
  const early = await reconcile(run, '--from', events[0].ts, '--to', events[10].ts);
  assert.deepEqual([early.report.leaves, early.report.altered.count, early.report.missing.count, early.report.unrecorded.count], [10, 3, 0, 0]);
  // An index range: entries 10..19 hold the deleted one and, by time, the forged row.
  const middle = await reconcile(run, '--start', '10', '--end', '20');
  assert.deepEqual([middle.report.leaves, middle.report.altered.count, middle.report.missing.count, middle.report.unrecorded.count], [10, 0, 1, 1]);
}

function sqliteStores(dir: string): Stores & { close(): void } {
  const db = openSqlite(join(dir, 'warden.db'));
  const events = new SqliteEventStore(db);
  const setup: LedgerSetup = { ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: '' }), store: { driver: 'sqlite', postgres_url: null, sqlite_path: join(dir, 'warden.db') } };
  const tamper: Tamper = {
    async setOutputTokens(id, n) { db.prepare("UPDATE events SET body = json_set(body, '$.response.output_tokens', ?) WHERE id = ?").run(n, id); },
    async setModelColumn(id, model) { db.prepare('UPDATE events SET model = ? WHERE id = ?').run(model, id); },
    async setClientIp(id, ip) { db.prepare("UPDATE events SET client_ip = ?, body = json_set(body, '$.client.ip', ?) WHERE id = ?").run(ip, ip, id); },
    async remove(id) { db.prepare('DELETE FROM events WHERE id = ?').run(id); },
    async insert(e) { await events.appendBatch([e]); },
  };
  return { setup, events, tamper, close: () => db.close() };
}

async function withCliOnSqlite(fn: (s: Stores, run: LedgerCliRun, dir: string) => Promise<void>, extra: Partial<LedgerSetup> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-reconcile-'));
  const s = sqliteStores(dir);
  try {
    const setup = { ...s.setup, ...extra };
    const run = ledgerCliRunner(setup);
    assert.equal((await run('keygen')).code, 0);
    await fn({ ...s, setup }, run, dir);
  } finally {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('SQLite: reconcile names an edited row (which fields), a deleted one and an inserted one; an untouched store passes', async () => {
  await withCliOnSqlite(tamperScenario);
});

async function postgresUp(): Promise<boolean> {
  const { openPostgres } = await import('../store/index.ts');
  const pool = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  try { await pool.query('SELECT 1'); return true; } catch { return false; } finally { await pool.end().catch(() => {}); }
}

test('PostgreSQL: reconcile names an edited row, a deleted one and an inserted one', { skip: !(await postgresUp()) && `no PostgreSQL at ${TEST_POSTGRES_URL}` }, async () => {
  await withPgSchema('reconcile_test', async (pool) => {
    const schema = (await pool.query('SELECT current_schema() AS s')).rows[0].s as string;
    const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const dir = mkdtempSync(join(tmpdir(), 'warden-reconcile-pg-'));
    try {
      const events = new PostgresEventStore(pool);
      await events.migrate();
      const setup: LedgerSetup = {
        ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: '', key_file: join(dir, 'ledger.key'), driver: 'postgres', postgres_schema: schema }),
        store: { driver: 'postgres', postgres_url: url, sqlite_path: join(dir, 'warden.db') },
      };
      const tamper: Tamper = {
        async setOutputTokens(id, n) { await pool.query("UPDATE events SET body = jsonb_set(body, '{response,output_tokens}', to_jsonb($1::int)) WHERE id = $2", [n, id]); },
        async setModelColumn(id, model) { await pool.query('UPDATE events SET model = $1 WHERE id = $2', [model, id]); },
        async setClientIp(id, ip) { await pool.query("UPDATE events SET client_ip = $1, body = jsonb_set(body, '{client,ip}', to_jsonb($1::text)) WHERE id = $2", [ip, id]); },
        async remove(id) { await pool.query('DELETE FROM events WHERE id = $1', [id]); },
        async insert(e) { await events.appendBatch([e]); },
      };
      const run = ledgerCliRunner(setup);
      assert.equal((await run('keygen')).code, 0);
      await tamperScenario({ setup, events, tamper }, run);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('no false alarm: erased events and erased openings, interactions still on their way, events past retention, events from before the ledger', async () => {
  await withCliOnSqlite(async (s, run) => {
    // Recorded before the ledger was turned on: in the store only, older than its first entry.
    const before = sampleEvent(0, { ts: '2026-05-01T00:00:00.000Z' });
    await s.events.appendBatch([before]);
    const events = Array.from({ length: 20 }, (_, i) => sampleEvent(i));
    await recordBoth(s, events);
    // A deletion request on both sides (acct_1), and on the ledger only (acct_2), and the store only (acct_3).
    await s.events.eraseAccount('acct_1');
    await s.events.eraseAccount('acct_3');
    const ledger = await openLedgerFromConfig(s.setup, { env: {} });
    await ledger.erase({ accountId: 'acct_1' });
    await ledger.erase({ accountId: 'acct_2' });
    await ledger.close();
    // In the store a moment ago, not yet in the ledger (its queue): pending, not inserted.
    const recent = sampleEvent(50, { ts: new Date(Date.now() - 1000).toISOString() });
    await s.events.appendBatch([recent]);

    const r = await reconcile(run);
    assert.equal(r.code, 0, JSON.stringify(r.report));
    assert.equal(r.report.matched, 20);
    const byAccount = (a: string) => events.filter((e) => e.account_id === a).length;
    assert.equal(r.report.unchecked.store_erased, byAccount('acct_1') + byAccount('acct_3'), 'erased events compared without their personal fields');
    assert.equal(r.report.unchecked.ledger_erased, byAccount('acct_2'));
    assert.equal(r.report.pending.events, 1, 'the recent event is pending');
    assert.equal(r.report.before_ledger, 1, 'the event from before the ledger is counted apart');

    // The same recent event, with the lag set to nothing, is reported: the lag is what tells them apart.
    const strict = await reconcile(run, '--lag', '0');
    assert.equal(strict.code, 1);
    assert.deepEqual(strict.report.unrecorded.examples.map((e) => e.id), [recent.id]);
  });
});

test('leaves whose events retention deleted are counted apart, not as missing', async () => {
  await withCliOnSqlite(async (s, run) => {
    const events = Array.from({ length: 10 }, (_, i) => sampleEvent(i));
    await recordBoth(s, events);
    await s.events.deleteBefore('2026-06-01T12:00:05.000Z');
    const withoutRetention = await reconcile(run);
    assert.equal(withoutRetention.report.missing.count, 5, 'without events.retention_days, deleted rows are missing');
  });
  await withCliOnSqlite(async (s, run) => {
    const events = Array.from({ length: 10 }, (_, i) => sampleEvent(i));
    await recordBoth(s, events);
    await s.events.deleteBefore('2026-06-01T12:00:05.000Z');
    const r = await reconcile(run);
    assert.equal(r.code, 0, JSON.stringify(r.report));
    assert.equal(r.report.expired, 5);
  }, { events: { retention_days: 30 } });
});

test('reconcile refuses bad ranges and options, and a missing event store, as usage errors', async () => {
  await withCliOnSqlite(async (s, run) => {
    await recordBoth(s, [sampleEvent(0)]);
    for (const argv of [['--from', 'yesterday'], ['--start', '-1'], ['--start', '5', '--end', '2'], ['--lag', 'soon'], ['--examples', '0'], ['--from', '2026-06-01', '--start', '1'], ['extra']]) {
      const r = await run('reconcile', ...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.out}${r.err}`);
    }
  });
  await withCliOnSqlite(async (s, run, dir) => {
    await recordBoth(s, [sampleEvent(0)]);
    const elsewhere = ledgerCliRunner({ ...s.setup, ledger: { ...s.setup.ledger, sqlite_path: join(dir, 'ledger.db'), key_file: join(dir, 'ledger.key') }, store: { driver: 'sqlite', postgres_url: null, sqlite_path: join(dir, 'nope', 'warden.db') } });
    const r = await elsewhere('reconcile');
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, /no event store at .*nope/);
  });
});

test('the text output shows a client\'s model name inert: no escape sequence or line break reaches the terminal', async () => {
  await withCliOnSqlite(async (s, run) => {
    const model = 'gpt\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202eevil\nFAILED: forged';
    const events = [sampleEvent(0, { model }), sampleEvent(1, { model })];
    await recordBoth(s, events);
    await s.tamper.remove(events[0].id);
    await s.tamper.insert(sampleEvent(2, { model }));
    const text = await run('reconcile');
    assert.equal(text.code, 1, text.err);
    assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/.test(text.out), `no raw control printed: ${JSON.stringify(text.out)}`);
    assert.ok(text.out.split('\n').every((l) => !l.startsWith('FAILED: forged')), `no forged line: ${text.out}`);
    assert.ok(text.out.includes(`missing ${events[0].id} (#0, ${events[0].ts}, account acct_0, gpt\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202eevil\\nFAILED: forged)`), `the model shown with escapes: ${text.out}`);
  });
});
