/**
 * Reconciliation: does the event store still say what the ledger signed? `verify` proves the log
 * intact; nothing in it compares the events table (which the dashboard, exports, usage and case
 * files read) with the leaves. Here every interaction leaf in a range is rebuilt from its stored
 * event, with the salts the ledger kept for its personal fields, and compared field by field; and
 * every stored event in the range is looked up in the log. Reads stream in pages on both sides,
 * so memory holds one page and the first examples, whatever the size of the stores.
 *
 * What it tells apart: an event altered (which fields: a clear field with both values, a
 * committed one only as differing), a leaf whose event is missing (deleted; or past
 * `events.retention_days`, counted apart), an event without a leaf (a row inserted; or an
 * interaction still on its way to one of the stores, within `lagMs` of now, counted apart; or
 * older than the ledger's first entry, which nothing can vouch for).
 */
import { ERASED_CLIENT_IP, type InteractionEvent } from '../events/index.ts';
import type { EventRowReader, IdPageCursor, StoredEventRow } from '../store/event-rows.ts';
import { encodeBase64 } from './note.ts';
import { canonicalText, commitment, interactionRecord, parseLeaf, type InteractionRecord, type PrivateField } from './records.ts';
import type { EntryRow, LedgerStorage, PrivateRow } from './storage.ts';

export const RECONCILE_SCHEMA = 'warden.ledger-reconcile/1' as const;
const DAY_MS = 24 * 60 * 60_000;
const PAGE = 1000;
/**
 * Between pages, the event loop gets a turn: SQLite reads are synchronous, and a reconciliation
 * run through the admin API shares its thread with the gateway's requests.
 */
const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface ReconcileOptions {
  /** Interactions that started at or after this ISO 8601 time (with `to`: a time range). */
  from?: string;
  /** ... and before this one. */
  to?: string;
  /** First ledger index (an index range, [start, end)). */
  start?: number;
  end?: number;
  /**
   * An interaction that ended less than this long before the run may be in one store and not yet
   * in the other (each has its own writer and queue): counted as pending, not as a mismatch.
   */
  lagMs?: number;
  /** `events.retention_days`: a leaf older than this has lost its event to retention, not to tampering. */
  retentionDays?: number | null;
  /** Examples kept per kind of mismatch. */
  examples?: number;
  now?: number;
  pageSize?: number;
}

/** A field whose stored value differs from the leaf's. A committed (personal) field shows no values. */
export interface FieldDifference { field: string; leaf?: unknown; store?: unknown; committed?: true }

export interface ReconcileReport {
  schema: typeof RECONCILE_SCHEMA;
  range: { from: string | null; to: string | null; start: number | null; end: number | null };
  /** Entries in the log when read, and its latest signed checkpoint then (`warden ledger verify` checks the log itself). */
  tree_size: number;
  checkpoint: { size: number; root_hash: string } | null;
  lag_ms: number;
  /** Interaction leaves compared, events read, and events that match their leaf. */
  leaves: number;
  events: number;
  matched: number;
  /** Events whose stored fields differ from their leaf. */
  altered: { count: number; examples: { index: number; id: string; ts: string; account_id: string | null; fields: FieldDifference[] }[] };
  /** Leaves without their event in the store (deleted rows). */
  missing: { count: number; examples: { index: number; id: string; ts: string; account_id: string | null; model: string }[] };
  /** Stored events without a leaf (inserted rows, or interactions the ledger never recorded). */
  unrecorded: { count: number; examples: { id: string; ts: string; account_id: string | null; model: string; status: number; input_tokens: number; output_tokens: number }[] };
  /** Within `lag_ms` of the run: in one store, maybe not yet in the other. */
  pending: { leaves: number; events: number };
  /** Leaves whose event `events.retention_days` deleted. */
  expired: number;
  /** Stored events older than the ledger's first entry (recorded before the ledger was on): nothing vouches for them. */
  before_ledger: number;
  /** Events compared without their personal fields: erased in the store, or their openings erased in the ledger. */
  unchecked: { store_erased: number; ledger_erased: number };
  ok: boolean;
}

/** The leaf's fields that are commitments, by the private field they commit to. */
const COMMITTED: Record<PrivateField, string> = {
  client_ip: 'client.ip', user_agent: 'client.user_agent', prompt: 'request.prompt',
  email_domain: 'account.email_domain', signup_ip: 'account.signup_ip', payment_fp: 'account.payment_fp',
  claimed_subdivision: 'account.claimed_subdivision', operator_note: '', operator: '',
};
const COMMITTED_PATHS = new Set(Object.values(COMMITTED).filter(Boolean));
/** What stands for "the store holds a value" where the leaf committed to none (no salt to commit it with). */
const VALUE_WITHOUT_COMMITMENT = 'a value the leaf has no commitment for';

function leafCommitment(rec: InteractionRecord, field: PrivateField): string | null {
  switch (field) {
    case 'client_ip': return rec.client.ip;
    case 'user_agent': return rec.client.user_agent;
    case 'prompt': return rec.request.prompt;
    case 'email_domain': return rec.account?.email_domain ?? null;
    case 'signup_ip': return rec.account?.signup_ip ?? null;
    case 'payment_fp': return rec.account?.payment_fp ?? null;
    case 'claimed_subdivision': return rec.account?.claimed_subdivision ?? null;
    default: return null;
  }
}

/** Where two plain JSON values differ, by leaf path (objects followed field by field, arrays compared whole). */
function differences(expected: unknown, actual: unknown, path: string, out: FieldDifference[]): void {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(expected) && isObject(actual)) {
    for (const k of new Set([...Object.keys(actual), ...Object.keys(expected)])) differences(expected[k], actual[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (canonicalText(expected ?? null) === canonicalText(actual ?? null)) return;
  out.push(COMMITTED_PATHS.has(path) ? { field: path, committed: true } : { field: path, leaf: actual ?? null, store: expected ?? null });
}

/**
 * The columns the store indexes (queries filter on them) against the leaf; the client IP column
 * against the leaf's commitment while a salt opens it (else against the stored body).
 */
function columnDifferences(row: StoredEventRow, rec: InteractionRecord, priv: PrivateRow | null, out: FieldDifference[]): void {
  const clear: [string, unknown, unknown][] = [
    ['ts', rec.ts, row.ts], ['account_id', rec.account_id, row.account_id], ['org_id', rec.org_id, row.org_id],
    ['key_id', rec.key_id, row.key_id], ['model', rec.model, row.model], ['status', rec.response.status, row.status],
  ];
  for (const [name, leaf, store] of clear) if (leaf !== store) out.push({ field: `column:${name}`, leaf, store });
  const salt = priv?.openings?.client_ip?.salt;
  const ipMatches = row.event?.erased_at ? row.client_ip === ERASED_CLIENT_IP
    : salt ? rec.client.ip !== null && commitment(row.client_ip, salt) === rec.client.ip
      : rec.client.ip === null ? row.client_ip === ERASED_CLIENT_IP || row.client_ip === null
        : row.client_ip === row.event?.client?.ip;
  if (!ipMatches) out.push({ field: 'column:client_ip', committed: true });
}

/** The stored event rebuilt as the leaf it should be, with the salts the ledger kept; and what could not be checked. */
function expectedRecord(e: InteractionEvent, rec: InteractionRecord, priv: PrivateRow | null): { record: InteractionRecord; storeErased: boolean; ledgerErased: boolean } {
  const storeErased = !!e.erased_at;
  const ledgerErased = !priv || priv.erased_at !== null || priv.openings === null;
  const record = interactionRecord(e, rec.cluster_id, (value, field) => {
    const inLeaf = leafCommitment(rec, field);
    // An erased event keeps none of its personal fields: the leaf's commitments cannot be checked.
    if (storeErased) return inLeaf;
    if (value === null) return null;
    const salt = priv?.openings?.[field]?.salt;
    if (salt) return commitment(value, salt);
    // No salt: the leaf committed to nothing here (the store's value was added), or its opening was erased.
    return inLeaf === null ? VALUE_WITHOUT_COMMITMENT : inLeaf;
  }, rec.schema);
  // Erasure drops the system prompt, and its length with it: an erased event's character count
  // cannot be rebuilt.
  if (storeErased) record.request.chars = rec.request.chars;
  return { record, storeErased, ledgerErased };
}

async function* leafPages(view: LedgerStorage, opts: ReconcileOptions, size: number): AsyncGenerator<{ entry: EntryRow; priv: PrivateRow | null }[]> {
  let after = (opts.start ?? 0) - 1;
  const before = Math.min(opts.end ?? size, size);
  const limit = opts.pageSize ?? PAGE;
  for (;;) {
    const page = await view.query({ kind: 'interaction', from: opts.from, to: opts.to, afterIndex: after, beforeIndex: before, limit });
    if (page.length) yield page;
    if (page.length < limit) return;
    after = page[page.length - 1].entry.index;
  }
}

/** The ledger's first entry time (every kind; the log is append-only, so it is when recording began). */
async function firstEntryTs(view: LedgerStorage): Promise<string | null> {
  const head = await view.entries(0, 256, 256);
  return head.length ? head.reduce((m, e) => (e.ts < m ? e.ts : m), head[0].ts) : null;
}

export async function reconcileLedger(ledger: LedgerStorage, events: EventRowReader, opts: ReconcileOptions = {}): Promise<ReconcileReport> {
  const read = (view: LedgerStorage) => reconcileView(view, events, opts);
  return ledger.consistentRead ? ledger.consistentRead(read) : read(ledger);
}

async function reconcileView(view: LedgerStorage, events: EventRowReader, opts: ReconcileOptions): Promise<ReconcileReport> {
  const now = opts.now ?? Date.now();
  const lagMs = opts.lagMs ?? 60_000;
  const settled = now - lagMs;
  const maxExamples = opts.examples ?? 20;
  const retentionCutoff = opts.retentionDays ? new Date(now - opts.retentionDays * DAY_MS).toISOString() : null;
  const size = await view.size();
  const cp = await view.latestCheckpoint();
  const report: ReconcileReport = {
    schema: RECONCILE_SCHEMA,
    range: { from: opts.from ?? null, to: opts.to ?? null, start: opts.start ?? null, end: opts.end ?? null },
    tree_size: size, checkpoint: cp && { size: cp.size, root_hash: encodeBase64(cp.root) }, lag_ms: lagMs,
    leaves: 0, events: 0, matched: 0,
    altered: { count: 0, examples: [] }, missing: { count: 0, examples: [] }, unrecorded: { count: 0, examples: [] },
    pending: { leaves: 0, events: 0 }, expired: 0, before_ledger: 0, unchecked: { store_erased: 0, ledger_erased: 0 }, ok: true,
  };
  const indexRange = opts.start !== undefined || opts.end !== undefined;
  let minTs: string | null = null;
  let maxTs: string | null = null;

  // Leaves to events: each leaf rebuilt from its stored event.
  for await (const page of leafPages(view, opts, size)) {
    await yieldTurn();
    const rows = await events.rows(page.map((p) => p.entry.id));
    for (const { entry, priv } of page) {
      let rec: InteractionRecord;
      try {
        rec = parseLeaf(entry.leaf) as InteractionRecord;
      } catch {
        continue; // a leaf that is not a record: `verify` names it
      }
      report.leaves++;
      if (minTs === null || rec.ts < minTs) minTs = rec.ts;
      if (maxTs === null || rec.ts > maxTs) maxTs = rec.ts;
      const row = rows.get(entry.id);
      if (!row) {
        if (Date.parse(rec.ts) + (rec.duration_ms ?? 0) >= settled) report.pending.leaves++;
        else if (retentionCutoff !== null && rec.ts < retentionCutoff) report.expired++;
        else {
          report.missing.count++;
          if (report.missing.examples.length < maxExamples) report.missing.examples.push({ index: entry.index, id: entry.id, ts: rec.ts, account_id: rec.account_id, model: rec.model });
        }
        continue;
      }
      const fields: FieldDifference[] = [];
      try {
        if (typeof row.event !== 'object' || row.event === null) throw new Error('not JSON');
        const { record, storeErased, ledgerErased } = expectedRecord(row.event, rec, priv);
        if (storeErased) report.unchecked.store_erased++;
        else if (ledgerErased) report.unchecked.ledger_erased++;
        if (canonicalText(record) !== new TextDecoder().decode(entry.leaf)) differences(record, rec, '', fields);
      } catch (err) {
        // A body edited into something that is not an event any more.
        fields.push({ field: 'body', leaf: 'an interaction', store: `not an interaction event (${(err as Error).message})` });
      }
      columnDifferences(row, rec, priv, fields);
      if (!fields.length) { report.matched++; continue; }
      report.altered.count++;
      if (report.altered.examples.length < maxExamples) report.altered.examples.push({ index: entry.index, id: entry.id, ts: rec.ts, account_id: rec.account_id, fields });
    }
  }

  // Events to leaves: every stored event of the range looked up in the log.
  const range = indexRange
    ? (minTs === null ? null : { from: minTs, to: new Date(Date.parse(maxTs!) + 1).toISOString() })
    : { from: opts.from, to: opts.to };
  if (range) {
    const ledgerBegan = await firstEntryTs(view);
    const limit = opts.pageSize ?? PAGE;
    for (let after: IdPageCursor | null = null; ;) {
      await yieldTurn();
      const page = await events.idPage(range, after, limit);
      report.events += page.length;
      const known = await view.existingIds(page.map((p) => p.id));
      const without = page.filter((p) => !known.has(p.id)).map((p) => p.id);
      if (without.length) {
        const rows = await events.rows(without);
        for (const id of without) {
          const row = rows.get(id);
          if (!row) continue; // deleted since the page was read (retention)
          const e = row.event;
          const ended = Date.parse(row.ts) + (Number(e?.duration_ms) || 0);
          if (ended >= settled) report.pending.events++;
          else if (ledgerBegan === null || row.ts < ledgerBegan) report.before_ledger++;
          else {
            report.unrecorded.count++;
            if (report.unrecorded.examples.length < maxExamples) {
              report.unrecorded.examples.push({
                id, ts: row.ts, account_id: row.account_id, model: row.model, status: row.status,
                input_tokens: e?.response?.input_tokens ?? 0, output_tokens: e?.response?.output_tokens ?? 0,
              });
            }
          }
        }
      }
      if (page.length < limit) break;
      after = page[page.length - 1];
    }
  }
  report.ok = report.altered.count === 0 && report.missing.count === 0 && report.unrecorded.count === 0;
  return report;
}
