// Erasing an account's personal data from the events store, and events retention, on SQLite and
// PostgreSQL: the account's IP, user agent, prompt text and account facts are gone (from the
// SQLite file's bytes too), its usage numbers and every other account's events stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore, PostgresEventStore, type EventStore } from './index.ts';
import { startEventRetention } from './event-retention.ts';
import { parseEvent, type InteractionEvent } from '../events/index.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';

const GONE = 'acct_gone';
const T0 = Date.UTC(2026, 5, 1, 12);

/** 1,200 events (more than one erase chunk for the account), half of them the erased account's, with its own IP, agent, prompt and facts. */
function events(): InteractionEvent[] {
  return Array.from({ length: 2400 }, (_, n) => {
    const e = sampleEvent(n, { ts: new Date(T0 + n * 1000).toISOString() });
    if (n % 2) return e;
    return {
      ...e, account_id: GONE,
      client: { ip: '192.0.2.177', user_agent: 'EraseMeAgent/1.0', country: 'NL', asn: 64500 },
      request: { ...e.request, system: 'secret system prompt of the erased one', messages: [{ role: 'user', text: `erase-me prompt ${n}`, chars: 20 }] },
      account: { ...e.account!, email_domain: 'erase-me.example', signup_ip: '198.51.100.201', payment_fp: 'pf_eraseme', email_pattern: 'ep_eraseme' },
    };
  });
}

async function all(store: EventStore, accountId?: string): Promise<InteractionEvent[]> {
  const out: InteractionEvent[] = [];
  for await (const e of store.iterate(accountId ? { accountId } : {})) out.push(e);
  return out;
}

async function checkErase(store: EventStore, raw?: () => Buffer) {
  const input = events();
  await store.appendBatch(input);
  const erased = await store.eraseAccount(GONE, '2026-07-01T00:00:00.000Z');
  assert.equal(erased, 1200, 'every event of the account was erased');
  assert.equal(await store.eraseAccount(GONE), 0, 'a second erase changes nothing');

  const gone = await all(store, GONE);
  assert.equal(gone.length, 1200, 'the events stay (usage still counts)');
  for (const e of gone) {
    assert.doesNotThrow(() => parseEvent(e), 'an erased event is a valid event');
    assert.equal(e.erased_at, '2026-07-01T00:00:00.000Z', 'erased_at is set');
    assert.equal(e.client.ip, '', 'the client IP is blank');
    assert.equal(e.client.user_agent, null, 'the user agent is gone');
    assert.equal(e.request.system, null, 'the system prompt is gone');
    assert.ok(e.request.messages.every((m) => m.text === null && m.chars === 20), 'message text is gone, its length stays');
    assert.deepEqual([e.account?.email_domain, e.account?.signup_ip, e.account?.payment_fp, e.account?.email_pattern], [null, null, null, null], 'account facts are gone');
    assert.ok(e.response.output_tokens > 0 && e.model, 'usage numbers stay');
  }
  assert.equal(await store.count({ clientIp: '192.0.2.177' }), 0, 'no event is found by the erased IP');
  const others = (await all(store)).filter((e) => e.account_id !== GONE);
  assert.equal(others.length, 1200);
  assert.ok(others.every((e) => !e.erased_at && e.client.ip.startsWith('203.0.113.') && e.request.messages[0].text), 'other accounts keep their data');
  if (raw) {
    const bytes = raw();
    for (const needle of ['EraseMeAgent', 'erase-me prompt', 'secret system prompt', 'erase-me.example', '198.51.100.201', 'pf_eraseme', '192.0.2.177']) {
      assert.ok(!bytes.includes(needle), `${needle} is not left in the database file or its WAL`);
    }
  }

  // Retention: events before the cutoff are deleted, the rest kept.
  const cutoff = new Date(T0 + 1000 * 1000).toISOString();
  assert.equal(await store.deleteBefore(cutoff), 1000);
  assert.equal(await store.count(), 1400);
  const lines: string[] = [];
  const retention = startEventRetention(store, 1, { log: (l, meta) => lines.push(`${meta.code} ${l}`), now: () => T0 + 24 * 3600_000 + 2000 * 1000 });
  await retention.stop();
  assert.equal(await store.count(), 400, 'the retention sweep deleted events older than retention_days');
  assert.match(lines.join('\n'), /EVENT_RETENTION_DELETED events: deleted 1000 events recorded before 2026-06-01T12:33:20\.000Z \(events\.retention_days: 1\)/);
}

test('SQLite: events erase blanks one account\'s personal data, also on disk; retention deletes old events', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-events-erase-'));
  const path = join(dir, 'warden.db');
  const db = openSqlite(path);
  const store = new SqliteEventStore(db, { writer: 'thread' });
  try {
    await checkErase(store, () => Buffer.concat([path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p))));
  } finally {
    await store.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL: events erase blanks one account\'s personal data; retention deletes old events', async () => {
  await withPgSchema('events_erase', async (pool) => {
    await checkErase(new PostgresEventStore(pool));
  });
});

test('events erase also blanks the account\'s client IPs in the dashboard\'s usage rows', async () => {
  const { eraseUsageClientIps } = await import('../ui/usage.ts');
  const dir = mkdtempSync(join(tmpdir(), 'warden-usage-erase-'));
  try {
    const path = join(dir, 'warden.db');
    assert.equal(await eraseUsageClientIps({ sqlitePath: path }, GONE), 0, 'no side file: nothing to do');
    const side = openSqlite(`${path}-usage`);
    side.exec("CREATE TABLE usage_rows (id TEXT PRIMARY KEY, account_id TEXT, client_ip TEXT NOT NULL); INSERT INTO usage_rows VALUES ('a', 'acct_gone', '192.0.2.177'), ('b', 'acct_kept', '203.0.113.1')");
    side.close();
    assert.equal(await eraseUsageClientIps({ sqlitePath: path }, GONE), 1);
    const check = openSqlite(`${path}-usage`);
    assert.deepEqual(check.prepare('SELECT id, client_ip FROM usage_rows ORDER BY id').all(), [{ id: 'a', client_ip: '' }, { id: 'b', client_ip: '203.0.113.1' }]);
    check.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Another process holding the database: a reader mid-SELECT, or a writer inside a write transaction, for `holdMs`. */
async function otherProcess(path: string, hold: 'read' | 'write', holdMs: number): Promise<{ done: Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const script = `const D = require('better-sqlite3'); const d = new D(${JSON.stringify(path)});
    ${hold === 'read' ? "const it = d.prepare('SELECT id FROM events').iterate(); it.next();" : "d.exec('BEGIN IMMEDIATE');"}
    console.log('holding');
    setTimeout(() => { ${hold === 'read' ? 'it.return();' : "d.exec('COMMIT');"} d.close(); }, ${holdMs});`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => child.stdout.once('data', r));
  return { done: new Promise((r) => child.once('exit', () => r())) };
}

/** Run `work` and return its result with the longest gap between 10 ms timer ticks meanwhile. */
async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let stallMs = 0;
  let last = Date.now();
  const tick = setInterval(() => { const now = Date.now(); stallMs = Math.max(stallMs, now - last); last = now; }, 10);
  try {
    const result = await work();
    await new Promise((r) => setTimeout(r, 30));
    return { result, stallMs };
  } finally {
    clearInterval(tick);
  }
}

test('SQLite retention does not stall the event loop while another process reads or writes the database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-events-retention-'));
  const path = join(dir, 'warden.db');
  const db = openSqlite(path);
  const store = new SqliteEventStore(db);
  try {
    await store.appendBatch(Array.from({ length: 3000 }, (_, n) => sampleEvent(n, { ts: new Date(T0 + n * 1000).toISOString() })));

    // A reader (an export, `warden scan`, a backup) keeps an old snapshot: a TRUNCATE checkpoint
    // would wait busy_timeout (5 s) for it, on the server's main thread.
    const reader = await otherProcess(path, 'read', 4000);
    await store.appendBatch([sampleEvent(9000, { ts: new Date(T0 + 9000 * 1000).toISOString() })]);
    const read = await longestStall(() => store.deleteBefore(new Date(T0 + 1000 * 1000).toISOString()));
    assert.equal(read.result, 1000, 'the old events were deleted');
    assert.ok(read.stallMs < 1000, `the event loop kept running beside a reader (longest stall ${read.stallMs} ms)`);
    await reader.done;

    // A writer in another process (an erase from the CLI) holds the write lock for 1.5 s: the
    // sweep waits for it on a timer, not in SQLite's busy handler.
    const writer = await otherProcess(path, 'write', 1500);
    const write = await longestStall(() => store.deleteBefore(new Date(T0 + 2000 * 1000).toISOString()));
    assert.equal(write.result, 1000, 'the sweep went on once the writer was done');
    assert.ok(write.stallMs < 1000, `the event loop kept running while another process held the write lock (longest stall ${write.stallMs} ms)`);
    await writer.done;
  } finally {
    await store.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the dashboard usage-row erase leaves no erased client IP on disk, its IP index included', async () => {
  const { eraseUsageClientIps } = await import('../ui/usage.ts');
  const dir = mkdtempSync(join(tmpdir(), 'warden-usage-erase-disk-'));
  try {
    const path = join(dir, 'warden.db');
    const sidePath = `${path}-usage`;
    const side = openSqlite(sidePath);
    side.exec('CREATE TABLE usage_rows (id TEXT PRIMARY KEY, account_id TEXT, client_ip TEXT NOT NULL, ts TEXT NOT NULL); CREATE INDEX usage_rows_ip ON usage_rows (client_ip, ts)');
    const insert = side.prepare('INSERT INTO usage_rows VALUES (?, ?, ?, ?)');
    side.transaction(() => {
      for (let n = 0; n < 6000; n++) {
        const gone = n % 3 === 0;
        insert.run(`u${n}`, gone ? GONE : 'acct_kept', gone ? `192.0.2.${n % 250}-erase-me` : `203.0.113.${n % 250}`, new Date(T0 + n * 1000).toISOString());
      }
    })();
    side.close();
    assert.equal(await eraseUsageClientIps({ sqlitePath: path }, GONE), 2000);
    const bytes = Buffer.concat([sidePath, `${sidePath}-wal`].filter(existsSync).map((p) => readFileSync(p)));
    assert.ok(!bytes.includes('-erase-me'), 'no erased client IP is left in the usage file or its WAL');
    // The IP index was rebuilt, as the events' and ledger's erases rebuild theirs: rebuilding it
    // again leaves it as it is (an index only updated in place keeps half-empty pages from the moves).
    const check = openSqlite(sidePath);
    try {
      const indexPages = () => check.prepare("SELECT count(*) FROM dbstat WHERE name = 'usage_rows_ip'").pluck().get() as number;
      const after = indexPages();
      check.exec('REINDEX usage_rows_ip');
      assert.equal(indexPages(), after, `the IP index was already rebuilt (${after} pages)`);
    } finally {
      check.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
