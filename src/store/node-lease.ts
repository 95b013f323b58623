/**
 * A node's lease on its name (`server.node_id`) in a shared PostgreSQL store. The name says whose
 * open interactions (streams under way, open-interactions.ts) are whose: a node started again
 * records as interrupted those its name left open. Two live nodes with one name would each take
 * the other's live streams for ones a killed run left; so a node holds its name while it runs.
 *
 * `warden_nodes` has one row per name: the holding process (`instance`, new at each start), when it
 * started and when it last renewed (`heartbeat_at`, the database's clock), and its lease. The holder
 * renews every third of its lease. A node starting with a name held by a row renewed less than a
 * lease ago watches that row: renewed while it watches, the name is a live node's and the start is
 * refused (NodeIdInUseError, naming the key); not renewed until its lease lapsed (its node was
 * killed), the row is taken over. So a node killed and started again waits at most one lease for
 * its own old row. A node that stops cleanly deletes its row: the name is free at once.
 */
import { randomBytes } from 'node:crypto';
import type { PgPool } from './postgres.ts';

export interface NodeHoldOptions {
  /** How long the name stays held after the node's last renewal, ms (`server.node_lease_ms`). */
  leaseMs: number;
  /** Told when a renewal finds the name taken over (this node was out of touch a whole lease) and when it holds it again. */
  onLost?(lost: boolean): void;
}

export interface NodeHold {
  readonly node: string;
  /** This process's mark on the row. */
  readonly instance: string;
  /** Renew now (also run on a timer); resolves to whether this node still holds its name. */
  renew(): Promise<boolean>;
  /** Stop renewing and free the name. */
  release(): Promise<void>;
}

/** A live node holds the name asked for. */
export class NodeIdInUseError extends Error {
  readonly code = 'EVENTS_NODE_ID_IN_USE';
  constructor(readonly node: string, readonly startedAt: string, readonly leaseMs: number) {
    super(`server.node_id "${node}" is held by another running node (started ${startedAt}, renewing its lease of ${leaseMs} ms): ` +
      'each node sharing the store needs a name of its own (set server.node_id, or leave it null for the host name and port)');
    this.name = 'NodeIdInUseError';
  }
}

const UPSERT = `INSERT INTO warden_nodes (node, instance, started_at, heartbeat_at, lease_ms) VALUES ($1, $2, now(), now(), $3)
  ON CONFLICT (node) DO UPDATE SET instance = EXCLUDED.instance, started_at = now(), heartbeat_at = now(), lease_ms = EXCLUDED.lease_ms
  WHERE warden_nodes.instance = EXCLUDED.instance OR warden_nodes.heartbeat_at < now() - make_interval(secs => warden_nodes.lease_ms / 1000.0)
  RETURNING node`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A wait that does not keep the process alive by itself. */
const idle = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** Longest a stopping node waits to free its name, ms. */
const RELEASE_WAIT_MS = 1000;

/** Take `node`'s name (waiting up to one lease for a row nobody renews), then renew it every third of the lease. */
export async function holdPostgresNode(pool: PgPool, node: string, opts: NodeHoldOptions): Promise<NodeHold> {
  const instance = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const take = async () => (await pool.query(UPSERT, [node, instance, opts.leaseMs])).rows.length > 0;
  let watched: { instance: string; heartbeat: number } | null = null;
  for (;;) {
    if (await take()) break;
    const { rows: [h] } = await pool.query(
      `SELECT instance, heartbeat_at, started_at, lease_ms, EXTRACT(EPOCH FROM (heartbeat_at + make_interval(secs => lease_ms / 1000.0) - now())) * 1000 AS left_ms
       FROM warden_nodes WHERE node = $1`, [node]);
    if (!h) continue; // freed meanwhile
    const heartbeat = (h.heartbeat_at as Date).getTime();
    // Renewed (or taken by yet another node) while this one watched: a live node holds the name.
    if (watched && (watched.instance !== h.instance || heartbeat > watched.heartbeat)) {
      throw new NodeIdInUseError(node, (h.started_at as Date).toISOString(), Number(h.lease_ms));
    }
    watched = { instance: h.instance as string, heartbeat };
    // The holder renews every third of its lease: watch a little longer than that, or until its lease lapses.
    const left = Math.max(0, Number(h.left_ms));
    await sleep(Math.min(left + 50, Number(h.lease_ms) / 3 + 250));
  }
  let lost = false;
  let released = false;
  const renew = async (): Promise<boolean> => {
    if (released) return false;
    const r = await pool.query('UPDATE warden_nodes SET heartbeat_at = now() WHERE node = $1 AND instance = $2', [node, instance]);
    let held = (r.rowCount ?? 0) > 0;
    // Taken over while this node was out of touch: taken back only once the other's lease lapses too.
    if (!held) held = await take();
    if (held === lost) { lost = !held; opts.onLost?.(lost); }
    return held;
  };
  // One renewal at a time: a database that does not answer holds one connection of the pool, not one per tick.
  let renewing = false;
  const timer = setInterval(() => {
    if (renewing) return;
    renewing = true;
    void renew().catch(() => { /* the store is away: renewed at the next tick if it is back */ }).finally(() => { renewing = false; });
  }, Math.max(100, Math.floor(opts.leaseMs / 3)));
  timer.unref();
  return {
    node, instance, renew,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      // A stop does not wait on a database that does not answer: the name is then freed when its lease lapses.
      const freed = pool.query('DELETE FROM warden_nodes WHERE node = $1 AND instance = $2', [node, instance]).then(() => {}, () => {});
      await Promise.race([freed, idle(RELEASE_WAIT_MS)]);
    },
  };
}
