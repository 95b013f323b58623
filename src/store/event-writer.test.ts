// The SQLite event writer thread: what the recorder relies on. An acknowledged batch is committed
// (readable at once from the gateway's own connection), order and idempotence hold, a failing
// batch rejects with SQLite's reason, and a dead thread is replaced by the next append.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from './sqlite.ts';
import { SqliteEventStore } from './events.ts';
import { EventWriterThread } from './event-writer.ts';
import { resolveWorkerEntry } from './worker-entry.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';

/** Event n: ids sort in n order, like the gateway's ULIDs. */
function sampleEvent(n: number): InteractionEvent {
  return {
    schema: EVENT_SCHEMA, id: `01EW${String(n).padStart(22, '0')}`, ts: new Date(Date.UTC(2026, 2, 2, 9) + n * 1000).toISOString(), duration_ms: 5,
    flavour: 'openai.chat', model: 'gpt-4o-mini', upstream: 'mock', account_id: `acct_${n % 7}`, org_id: 'org_1', key_id: `key_${n % 7}`,
    client: { ip: `203.0.113.${n % 250}`, user_agent: 'test', country: 'GB', asn: 64500 },
    request: { stream: false, system: null, messages: [{ role: 'user', text: `question ${n}`, chars: 10 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
    response: { status: 200, error_code: null, input_tokens: 5, output_tokens: 40, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 3, output_chars: 100, reasoning_chars: 0 },
    account: null, enforcement: emptyEnforcement(),
  };
}

function store() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-event-writer-'));
  const db = openSqlite(join(dir, 'w.db'));
  const events = new SqliteEventStore(db, { writer: 'thread' });
  return { dir, db, events, async close() { await events.close(); db.close(); rmSync(dir, { recursive: true, force: true }); } };
}

const batch = (n: number, from = 0): InteractionEvent[] => Array.from({ length: n }, (_, i) => sampleEvent(from + i));

/** Nice value of each thread of this process (Linux /proc). */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      out.set(Number(t), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch { /* the thread ended */ }
  }
  return out;
}

test('the writer thread runs at a lower priority than the threads serving requests', { skip: process.platform !== 'linux' && 'per-thread priority is Linux only' }, async () => {
  const before = threadNices();
  const s = store();
  try {
    await s.events.appendBatch(batch(3));
    const added = [...threadNices()].filter(([tid]) => !before.has(tid));
    assert.ok(added.some(([, nice]) => nice === 10), `a new thread at nice 10 (new threads: ${JSON.stringify(added)})`);
    assert.equal(threadNices().get(process.pid), before.get(process.pid), 'the main thread keeps its priority');
  } finally { await s.close(); }
});

test('acknowledged batches are committed and readable from the main connection, in order', async () => {
  const s = store();
  try {
    await s.events.appendBatch(batch(300));
    await s.events.appendBatch(batch(200, 300));
    assert.equal(await s.events.count(), 500);
    const ids: string[] = [];
    for await (const e of s.events.iterate()) ids.push(e.id);
    assert.deepEqual(ids, batch(500).map((e) => e.id).sort());
    const first = (await s.events.iterate({ limit: 1 }).next()).value as InteractionEvent;
    assert.deepEqual(first, batch(1)[0]);
    await s.events.appendBatch(batch(10)); // the same ids again: ignored, not duplicated
    assert.equal(await s.events.count(), 500);
  } finally { await s.close(); }
});

test('a thread that dies fails the batch in flight; the next append starts a new thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-event-writer-'));
  const db = openSqlite(join(dir, 'w.db'));
  new SqliteEventStore(db); // creates the table
  const writer = new EventWriterThread(db.name);
  try {
    await writer.append(batch(5));
    writer.fault();
    await assert.rejects(writer.append(batch(5, 5)), /event writer thread exited/);
    await writer.append(batch(5, 5));
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n, 10);
  } finally { await writer.close(); db.close(); rmSync(dir, { recursive: true, force: true }); }
});

test('a batch SQLite refuses rejects with its reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-event-writer-'));
  const db = openSqlite(join(dir, 'w.db'));
  const writer = new EventWriterThread(db.name); // no events table in this file
  try {
    await assert.rejects(writer.append(batch(1)), /event store: no such table: events/);
  } finally { await writer.close(); db.close(); rmSync(dir, { recursive: true, force: true }); }
});

test('a server started with V8 flags (--max-old-space-size, --trace-gc) still records events', async () => {
  // Worker threads refuse process-wide flags; passing the parent's on unfiltered stopped every write.
  const dir = mkdtempSync(join(tmpdir(), 'warden-event-writer-'));
  const db = openSqlite(join(dir, 'w.db'));
  const parentFlags = ['--max-old-space-size=512', '--stack-trace-limit=30', '--enable-source-maps'];
  const entry = resolveWorkerEntry(new URL('./event-writer.ts', import.meta.url).href, 'event-writer-worker', { execArgv: parentFlags });
  const writer = new EventWriterThread(join(dir, 'w.db'), entry);
  const events = new SqliteEventStore(db);
  try {
    await writer.append(batch(50));
    await writer.append(batch(50, 50));
    assert.equal(await events.count(), 100);
    assert.deepEqual(entry.execArgv, ['--enable-source-maps'], 'flags a worker accepts are kept');
  } finally {
    await writer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
