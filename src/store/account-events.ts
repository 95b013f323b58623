/**
 * The events of many accounts (a detector cluster's, a case's: thousands of them) merged in time
 * order (ts, then id), read with bounded memory and a bounded number of reads at once, whatever the
 * number of accounts or of their events.
 *
 * A merge needs every account's next event at hand; reading each account's events as a stream of
 * its own (a page of up to 1,000 events each, all opened at once) held the whole cluster's events
 * in memory when its accounts have fewer than a page each, and sent the database one query per
 * account at once. Here each account holds only the keys of its next events (id and time, a few
 * dozen bytes each, `keyBudget` keys in all, at least one per account), read one page at a time
 * from the (account_id, ts) index; the events themselves are read by id, `bodyBatch` at a time,
 * in the merged order, and written out before the next batch is read.
 */
import type { InteractionEvent } from '../events/index.ts';
import type { EventQuery } from './events.ts';

/** A stored event's place in time order: `ts` as the database gives it (the next page's cursor), `order` as ISO text (compared), and its id. */
export interface EventKey { id: string; ts: unknown; order: string }

/** What a store reads for the merge. */
export interface AccountEventReads {
  /** Up to `n` keys of the account's events that match `query`, in (ts, id) order, after `after` (null: from the first). */
  keys(accountId: string, query: EventQuery, after: EventKey | null, n: number): Promise<EventKey[]>;
  /** These events by id; one deleted since its key was read (retention, erasure by deletion) is absent. */
  bodies(ids: readonly string[]): Promise<Map<string, InteractionEvent>>;
}

export interface AccountMergeBounds {
  /** Keys held at most across the accounts (each account holds at least one while it has events left). */
  keyBudget: number;
  /** Keys read per account page at most. */
  maxKeyPage: number;
  /** Events read (and held) per batch. */
  bodyBatch: number;
  /** Reads at once while the first page of every account is read (afterwards, one at a time). */
  concurrency: number;
}

export const ACCOUNT_MERGE_BOUNDS: AccountMergeBounds = { keyBudget: 50_000, maxKeyPage: 1000, bodyBatch: 500, concurrency: 4 };

interface Cursor { accountId: string; keys: EventKey[]; pos: number; done: boolean }

const before = (a: EventKey, b: EventKey) => a.order < b.order || (a.order === b.order && a.id < b.id);

/**
 * The events of `accountIds` that match `query` (its other filters: from, to, org, key, model,
 * IP; `limit` bounds the merged total), in time order (ts, then id). An account named twice is read once.
 */
export async function* mergeAccountEvents(reads: AccountEventReads, accountIds: readonly string[], query: EventQuery = {}, bounds: AccountMergeBounds = ACCOUNT_MERGE_BOUNDS): AsyncGenerator<InteractionEvent> {
  if (query.afterId !== undefined) throw new RangeError('mergeAccountEvents reads in time order: afterId (id order) does not apply');
  const { accountId: _one, limit, afterId: _after, ...filters } = query;
  let remaining = limit ?? Infinity;
  if (remaining <= 0) return;
  const accounts = [...new Set(accountIds)];
  if (accounts.length === 0) return;
  const page = Math.max(1, Math.min(bounds.maxKeyPage, Math.floor(bounds.keyBudget / accounts.length)));
  const fill = async (c: Cursor, after: EventKey | null) => {
    c.keys = await reads.keys(c.accountId, filters, after, page);
    c.pos = 0;
    c.done = c.keys.length < page;
  };

  // Every account's first page, a few reads at once.
  const cursors: Cursor[] = accounts.map((accountId) => ({ accountId, keys: [], pos: 0, done: false }));
  let next = 0;
  const worker = async () => { while (next < cursors.length) await fill(cursors[next++]!, null); };
  await Promise.all(Array.from({ length: Math.min(bounds.concurrency, cursors.length) }, worker));

  // A binary min-heap of the accounts with keys left, by their next key.
  const heap = cursors.filter((c) => c.keys.length > 0);
  const head = (c: Cursor) => c.keys[c.pos]!;
  const less = (i: number, j: number) => before(head(heap[i]!), head(heap[j]!));
  const swap = (i: number, j: number) => { const t = heap[i]!; heap[i] = heap[j]!; heap[j] = t; };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && less(l, m)) m = l;
      if (r < heap.length && less(r, m)) m = r;
      if (m === i) return;
      swap(i, m); i = m;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);

  while (heap.length > 0 && remaining > 0) {
    // The next batch's ids, in merged order.
    const ids: string[] = [];
    while (heap.length > 0 && ids.length < bounds.bodyBatch && ids.length < remaining) {
      const c = heap[0]!;
      const key = head(c);
      ids.push(key.id);
      c.pos++;
      if (c.pos === c.keys.length) {
        if (c.done) c.keys = [];
        else await fill(c, key);
      }
      if (c.pos < c.keys.length) down(0);
      else { heap[0] = heap[heap.length - 1]!; heap.pop(); if (heap.length > 0) down(0); }
    }
    const events = await reads.bodies(ids);
    for (const id of ids) {
      const e = events.get(id);
      if (!e) continue;
      yield e;
      remaining--;
    }
  }
}
