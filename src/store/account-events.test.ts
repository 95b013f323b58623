// The events of many accounts (a cluster's, a case's) merged in time order: every event once, in
// (ts, id) order, filters and limit applied; and, whatever the number of accounts, a bounded number
// of reads at once and of events held (the keys of each account's next events, a batch of events).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqlite } from './sqlite.ts';
import { SqliteEventStore, PostgresEventStore, type EventStore, type EventQuery } from './events.ts';
import { mergeAccountEvents, ACCOUNT_MERGE_BOUNDS, type AccountEventReads, type EventKey } from './account-events.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';
import type { InteractionEvent } from '../events/index.ts';

const ACCOUNTS = 3000;
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

/**
 * Events of ACCOUNTS cluster accounts (0 to 4 each, some at the same millisecond as another
 * account's) and of accounts outside the cluster.
 */
function fixture(): { events: InteractionEvent[]; members: string[] } {
  const events: InteractionEvent[] = [];
  const members: string[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const account = `acct_c${String(a).padStart(5, '0')}`;
    members.push(account);
    for (let k = 0; k < a % 5; k++) {
      // Times interleave accounts; every 7th shares its millisecond with another event (order by id then).
      const ms = ((a * 7919 + k * 104729) % 50_000) * 10 + (a % 7 === 0 ? 0 : k);
      events.push(sampleEvent(a * 5 + k, { account_id: account, ts: new Date(T0 + ms).toISOString(), model: k % 2 === 0 ? 'gpt-small' : 'gpt-large' }));
    }
  }
  for (let i = 0; i < 2000; i++) events.push(sampleEvent(900_000 + i, { account_id: `acct_other_${i % 40}`, ts: new Date(T0 + i * 97).toISOString() }));
  return { events, members };
}

const inOrder = (a: InteractionEvent, b: InteractionEvent) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

async function collect(it: AsyncGenerator<InteractionEvent>): Promise<InteractionEvent[]> {
  const out: InteractionEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

async function checkStore(name: string, store: EventStore): Promise<void> {
  const { events, members } = fixture();
  for (let i = 0; i < events.length; i += 1000) await store.appendBatch(events.slice(i, i + 1000));
  const set = new Set(members);
  const want = (q: (e: InteractionEvent) => boolean = () => true) => events.filter((e) => set.has(e.account_id!) && q(e)).sort(inOrder).map((e) => e.id);
  const all = await collect(store.iterateAccounts(members));
  assert.equal(all.length, want().length, `${name}: every event of the ${ACCOUNTS} accounts, once (${all.length})`);
  assert.deepEqual(all.map((e) => e.id), want(), `${name}: in time order, then id`);
  // Filters and the limit, as a single account's read takes them.
  const from = new Date(T0 + 100_000).toISOString();
  const to = new Date(T0 + 300_000).toISOString();
  const q: EventQuery = { from, to, model: 'gpt-large' };
  assert.deepEqual((await collect(store.iterateAccounts(members, q))).map((e) => e.id), want((e) => e.ts >= from && e.ts < to && e.model === 'gpt-large'), `${name}: --from, --to and --model apply`);
  assert.deepEqual((await collect(store.iterateAccounts(members, { limit: 777 }))).map((e) => e.id), want().slice(0, 777), `${name}: the limit bounds the merged total`);
  assert.deepEqual((await collect(store.iterateAccounts([members[3]!, members[3]!, 'acct_nobody']))).map((e) => e.id), want((e) => e.account_id === members[3]), `${name}: an account named twice is read once; one without events adds nothing`);
}

test('a few thousand accounts\' events merged in time order on SQLite', async () => {
  const db = openSqlite(':memory:');
  const store = new SqliteEventStore(db);
  try {
    await checkStore('sqlite', store);
  } finally {
    await store.close();
    db.close();
  }
});

test('a few thousand accounts\' events merged in time order on PostgreSQL', { timeout: 120_000 }, async () => {
  await withPgSchema('account_events', async (pool) => {
    const store = new PostgresEventStore(pool);
    await checkStore('postgres', store);
  });
});

test('reads at once and events held are bounded, whatever the number of accounts and of their events', async () => {
  // 3000 accounts of 40 events each, read through an instrumented reader.
  const accounts = Array.from({ length: ACCOUNTS }, (_, a) => `acct_${a}`);
  const per = 40;
  const keyOf = (a: number, k: number): EventKey => {
    const order = new Date(T0 + (k * ACCOUNTS + ((a * 7919) % ACCOUNTS)) * 10).toISOString();
    return { id: `ev_${String(a).padStart(5, '0')}_${String(k).padStart(3, '0')}`, ts: order, order };
  };
  let inFlight = 0;
  let maxInFlight = 0;
  let maxKeyPage = 0;
  let maxBodies = 0;
  let bodiesRead = 0;
  const track = async <T>(work: () => T): Promise<T> => {
    inFlight++; maxInFlight = Math.max(maxInFlight, inFlight);
    try { await new Promise((r) => setImmediate(r)); return work(); } finally { inFlight--; }
  };
  const reads: AccountEventReads = {
    keys: (accountId, _q, after, n) => track(() => {
      maxKeyPage = Math.max(maxKeyPage, n);
      const a = Number(accountId.slice('acct_'.length));
      const keys = Array.from({ length: per }, (_, k) => keyOf(a, k)).filter((k) => !after || k.order > after.order || (k.order === after.order && k.id > after.id));
      return keys.slice(0, n);
    }),
    bodies: (ids) => track(() => {
      maxBodies = Math.max(maxBodies, ids.length);
      bodiesRead += ids.length;
      return new Map(ids.map((id) => {
        const [, a, k] = /^ev_(\d+)_(\d+)$/.exec(id)!;
        const key = keyOf(Number(a), Number(k));
        return [id, sampleEvent(0, { id, ts: key.order, account_id: `acct_${Number(a)}` })];
      }));
    }),
  };
  const it = mergeAccountEvents(reads, accounts);
  const first = await it.next();
  assert.ok(!first.done, 'the first event comes');
  assert.ok(bodiesRead <= ACCOUNT_MERGE_BOUNDS.bodyBatch, `the first event is written before the rest are read: ${bodiesRead} of ${ACCOUNTS * per} events read`);
  let n = 1;
  let last = first.value as InteractionEvent;
  for await (const e of it) {
    assert.ok(inOrder(last, e) < 0, `time order: ${last.ts} ${last.id} then ${e.ts} ${e.id}`);
    last = e; n++;
  }
  assert.equal(n, ACCOUNTS * per, 'every event once');
  assert.ok(maxInFlight <= ACCOUNT_MERGE_BOUNDS.concurrency, `at most ${ACCOUNT_MERGE_BOUNDS.concurrency} reads at once, not one per account: ${maxInFlight}`);
  assert.ok(maxKeyPage * ACCOUNTS <= ACCOUNT_MERGE_BOUNDS.keyBudget, `keys held across the accounts stay within the budget: pages of ${maxKeyPage} keys for ${ACCOUNTS} accounts`);
  assert.ok(maxBodies <= ACCOUNT_MERGE_BOUNDS.bodyBatch, `events are read and held a batch at a time: ${maxBodies}`);
});
