/**
 * Open interactions: streamed answers under way, noted in the event store when they begin (after
 * the upstream accepted) and checkpointed while they go on, so that one cut by a killed node
 * (SIGKILL, out of memory, power loss) is recorded at the next start instead of lost. Written with
 * the event batches (the recorder's writes, in the event writer thread on SQLite): an open record
 * and its checkpoints go in before the batch's events, and an event removes the open record of its
 * interaction in the same transaction (SQLite) or statement (PostgreSQL). See docs/operations.md.
 */
import type { InteractionEvent } from '../events/index.ts';

/** A stream that began: its event as known then (request, account, client; response not yet). */
export interface OpenedInteraction {
  id: string;
  /** The node serving it (`server.node_id`): a node restarted recovers its own. */
  node: string;
  /** When the request arrived (the event's `ts`). */
  ts: string;
  /** Input tokens when the upstream already said (Anthropic's message_start), else null. */
  input_tokens: number | null;
  event: InteractionEvent;
  /**
   * What the gateway's hooks keep with the record, by hook name (JSON; the limits' reservation),
   * handed back to them when a later start records the interaction. Absent or null: none.
   */
  notes?: Record<string, unknown> | null;
}

/** What a stream had sent by `at`: counts only ever rise (a later checkpoint never lowers one). */
export interface InteractionProgress {
  id: string;
  at: string;
  input_tokens: number | null;
  output_tokens: number;
  reasoning_tokens: number;
  output_chars: number;
  reasoning_chars: number;
}

/** Open records and checkpoints to write with a batch of events, before them. */
export interface OpenWrites {
  opened: readonly OpenedInteraction[];
  progress: readonly InteractionProgress[];
}

/** An open interaction as stored: what was known at its last checkpoint (null: none yet). */
export interface StoredOpenInteraction extends Omit<InteractionProgress, 'at'> {
  node: string;
  ts: string;
  checkpoint_at: string | null;
  event: InteractionEvent;
  /** What the hooks kept with the record (OpenedInteraction.notes); null or absent: none, or a record written by an older release. */
  notes?: Record<string, unknown> | null;
}

/** One open record as a row: id, node, ts, input_tokens, body, notes. */
export type OpenRow = [string, string, string, number | null, string, string | null];
/** One checkpoint as a row: at, input_tokens, output_tokens, reasoning_tokens, output_chars, reasoning_chars, id. */
export type ProgressRow = [string, number | null, number, number, number, number, string];

export function openRow(o: OpenedInteraction): OpenRow {
  return [o.id, o.node, o.ts, o.input_tokens, JSON.stringify(o.event), o.notes ? JSON.stringify(o.notes) : null];
}

export function progressRow(p: InteractionProgress): ProgressRow {
  return [p.at, p.input_tokens, p.output_tokens, p.reasoning_tokens, p.output_chars, p.reasoning_chars, p.id];
}

/**
 * With a batch of events, as rows: the open records and checkpoints of streams under way (written
 * first), and the ids of the batch's streamed events, whose open records go with them.
 */
export interface OpenBatch { opened: readonly OpenRow[]; progress: readonly ProgressRow[]; closed: readonly string[] }

/** `open` and the streamed events' ids as rows (undefined when there is nothing to write or remove). */
export function openBatch(events: readonly InteractionEvent[], open?: OpenWrites): OpenBatch | undefined {
  const closed: string[] = [];
  for (const e of events) if (e.request?.stream) closed.push(e.id);
  if (!closed.length && !open?.opened.length && !open?.progress.length) return undefined;
  return { opened: open ? open.opened.map(openRow) : [], progress: open ? open.progress.map(progressRow) : [], closed };
}

/** A claim on another node's abandoned record lapses after this long (the claiming node died too), ms. */
export const OPEN_CLAIM_LAPSE_MS = 10 * 60_000;

/**
 * The open_interactions table of both stores: they differ in the column type of times and of the
 * body, and PostgreSQL (where nodes take each other's abandoned records by age) indexes `ts`.
 */
function openInteractionsMigration(time: 'TEXT' | 'TIMESTAMPTZ', body: 'TEXT' | 'JSONB', byAge: boolean) {
  return {
    sql: `CREATE TABLE IF NOT EXISTS open_interactions (
     id TEXT PRIMARY KEY,
     node TEXT NOT NULL,
     ts ${time} NOT NULL,
     checkpoint_at ${time},
     claimed_at ${time},
     input_tokens INTEGER,
     output_tokens INTEGER NOT NULL DEFAULT 0,
     reasoning_tokens INTEGER NOT NULL DEFAULT 0,
     output_chars INTEGER NOT NULL DEFAULT 0,
     reasoning_chars INTEGER NOT NULL DEFAULT 0,
     body ${body} NOT NULL
   );
   CREATE INDEX IF NOT EXISTS open_interactions_node ON open_interactions (node, ts);${byAge ? `
   CREATE INDEX IF NOT EXISTS open_interactions_ts ON open_interactions (ts);` : ''}`,
    // An older build ignores the table (it records its streams as before, at their end).
    compatible: true as const,
  };
}

export const SQLITE_OPEN_INTERACTIONS_MIGRATION = openInteractionsMigration('TEXT', 'TEXT', false);
export const PG_OPEN_INTERACTIONS_MIGRATION = openInteractionsMigration('TIMESTAMPTZ', 'JSONB', true);

/**
 * The hooks' notes on an open record (the limits' reservation, charged when a later start records
 * the interaction). An older build writes its records without them (null: nothing is charged).
 */
export const SQLITE_OPEN_NOTES_MIGRATION = { sql: 'ALTER TABLE open_interactions ADD COLUMN notes TEXT;', compatible: true as const };
/**
 * PostgreSQL: the notes, and the nodes' leases on their names (`server.node_id`): a node holds its
 * name while it runs, renewing `heartbeat_at`; a second node started with the same name while the
 * first renews it refuses to start (NodeIdInUseError), and a name whose node stopped renewing (killed)
 * is taken over once its lease has lapsed. An older build neither reads nor writes the table.
 */
export const PG_OPEN_NOTES_MIGRATION = {
  sql: `ALTER TABLE open_interactions ADD COLUMN IF NOT EXISTS notes JSONB;
   CREATE TABLE IF NOT EXISTS warden_nodes (
     node TEXT PRIMARY KEY,
     instance TEXT NOT NULL,
     started_at TIMESTAMPTZ NOT NULL,
     heartbeat_at TIMESTAMPTZ NOT NULL,
     lease_ms INTEGER NOT NULL
   );`,
  compatible: true as const,
};

export const SQLITE_OPEN_INSERT = 'INSERT OR IGNORE INTO open_interactions (id, node, ts, input_tokens, body, notes) VALUES (?, ?, ?, ?, ?, ?)';
/** A checkpoint: the counts rise, never fall; an interaction already ended (its record removed) is not recreated. */
export const SQLITE_OPEN_PROGRESS = `UPDATE open_interactions SET checkpoint_at = ?, input_tokens = COALESCE(?, input_tokens),
  output_tokens = MAX(output_tokens, ?), reasoning_tokens = MAX(reasoning_tokens, ?), output_chars = MAX(output_chars, ?), reasoning_chars = MAX(reasoning_chars, ?)
  WHERE id = ?`;
export const SQLITE_OPEN_CLOSE = 'DELETE FROM open_interactions WHERE id = ?';

/** Write a batch's open records and checkpoints (before its events, in the caller's transaction). */
export function sqliteOpenWriter(db: { prepare(sql: string): { run(...args: unknown[]): unknown } }): (opened: readonly OpenRow[], progress: readonly ProgressRow[]) => void {
  const insert = db.prepare(SQLITE_OPEN_INSERT);
  const update = db.prepare(SQLITE_OPEN_PROGRESS);
  return (opened, progress) => {
    for (const r of opened) insert.run(...r);
    for (const r of progress) update.run(...r);
  };
}

export interface StoredOpenRow {
  id: string; node: string; ts: string | Date; checkpoint_at: string | Date | null; input_tokens: number | null;
  output_tokens: number; reasoning_tokens: number; output_chars: number; reasoning_chars: number; body: string | InteractionEvent;
  notes: string | Record<string, unknown> | null;
}

const isoOf = (v: string | Date): string => (typeof v === 'string' ? v : v.toISOString());

export function storedOpen(r: StoredOpenRow): StoredOpenInteraction {
  return {
    id: r.id, node: r.node, ts: isoOf(r.ts), checkpoint_at: r.checkpoint_at === null ? null : isoOf(r.checkpoint_at),
    input_tokens: r.input_tokens, output_tokens: Number(r.output_tokens), reasoning_tokens: Number(r.reasoning_tokens),
    output_chars: Number(r.output_chars), reasoning_chars: Number(r.reasoning_chars),
    event: typeof r.body === 'string' ? JSON.parse(r.body) as InteractionEvent : r.body,
    notes: typeof r.notes === 'string' ? JSON.parse(r.notes) as Record<string, unknown> : r.notes ?? null,
  };
}

export const OPEN_COLUMNS = 'id, node, ts, checkpoint_at, input_tokens, output_tokens, reasoning_tokens, output_chars, reasoning_chars, body, notes';
