/**
 * Refusals counted by the limit that refused them, per account and per organisation: what an
 * operator answering "we get 429s" needs to see without exporting events. Kept in the limits
 * backend (Redis: shared by every node; memory: this node's), in counters of five minutes kept for
 * a day, one hash per subject and five minutes: `refusals:account:<id>:<bucket>`, one field per
 * refusing meter (scope, meter, subject, model). Only refusals are counted, so an admitted request
 * costs nothing; a refusal costs an increment in this node's memory, added to the backend once a
 * second (on Redis in one pipeline: a refused flood is a few commands a second, not one per
 * request), and before every read.
 */
import type { LimitsBackend, RefusalAdd } from './meters.ts';

/** Width of a counter, seconds. */
export const REFUSAL_BUCKET_S = 300;
/** How long a counter is kept after its last addition, seconds: a day and its first counter's width. */
export const REFUSAL_KEEP_S = 86_400 + REFUSAL_BUCKET_S;
/** How often a node adds its counts to a shared backend, ms. */
const FLUSH_MS = 1000;
/** Counters waiting for a shared backend that does not answer; beyond, new refusals are not counted (said in `dropped`). */
const MAX_PENDING_FIELDS = 20_000;

/** The limit that refused: its scope, meter, subject and model group (null: every model). */
export interface RefusedBy { scope: string; kind: string; subject: string; model: string | null }

export interface RefusalCount extends RefusedBy { count: number }

/** Refusals in one window: since when they are counted (the start of its first counter), how many, by limit (most first). */
export interface RefusalWindow { since: string; total: number; by: RefusalCount[] }
export interface RefusalSummary { last_hour: RefusalWindow; last_day: RefusalWindow }

const field = (r: RefusedBy): string => JSON.stringify([r.scope, r.kind, r.subject, r.model]);
const bucketOf = (nowUs: number): number => Math.floor(nowUs / 1e6 / REFUSAL_BUCKET_S);
const keyOf = (kind: 'account' | 'org', id: string, bucket: number): string => `refusals:${kind}:${id}:${bucket}`;

export class RefusalCounter {
  /** Counts not yet added to a shared backend: key -> field -> count. */
  private pending = new Map<string, Map<string, number>>();
  private pendingFields = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /** Each refusing meter's field (the planner's meters are kept, so this is written once a meter). */
  private readonly fields = new WeakMap<RefusedBy, string>();
  /** Refusals not counted: the shared backend did not take them and too many waited. */
  dropped = 0;

  constructor(private readonly backend: LimitsBackend) {}

  /** Count one refusal of an account's request (and its organisation's) by `by`, at the backend's time `nowUs`. */
  note(accountId: string, orgId: string | null, by: RefusedBy, nowUs: number): void {
    if (!this.backend.addRefusals) return;
    const bucket = bucketOf(nowUs);
    // The planner keeps its meters: each refusing meter's field is written once.
    let f = this.fields.get(by);
    if (f === undefined) { f = field(by); this.fields.set(by, f); }
    this.add(keyOf('account', accountId, bucket), f);
    if (orgId !== null) this.add(keyOf('org', orgId, bucket), f);
    if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = null; void this.flush().catch(() => {}); }, FLUSH_MS);
      this.timer.unref();
    }
  }

  private add(key: string, f: string): void {
    let counts = this.pending.get(key);
    if (!counts) {
      if (this.pendingFields >= MAX_PENDING_FIELDS) { this.dropped++; return; }
      counts = new Map();
      this.pending.set(key, counts);
    }
    const n = counts.get(f);
    if (n === undefined) {
      if (this.pendingFields >= MAX_PENDING_FIELDS) { this.dropped++; return; }
      this.pendingFields++;
    }
    counts.set(f, (n ?? 0) + 1);
  }

  /** Add what this node counted to the shared backend now (kept for the next try when it does not answer). */
  async flush(): Promise<void> {
    if (this.flushing) await this.flushing.catch(() => {});
    if (this.pending.size === 0 || !this.backend.addRefusals) return;
    const batch = this.pending;
    this.pending = new Map();
    this.pendingFields = 0;
    const adds: RefusalAdd[] = [...batch].map(([key, counts]) => ({ key, counts }));
    this.flushing = Promise.resolve(this.backend.addRefusals(adds, REFUSAL_KEEP_S));
    try {
      await this.flushing;
    } catch (err) {
      // Back into what waits, for the next refusal's flush to try again.
      for (const [key, counts] of batch) {
        for (const [f, n] of counts) {
          let into = this.pending.get(key);
          if (!into) { into = new Map(); this.pending.set(key, into); }
          if (!into.has(f)) {
            if (this.pendingFields >= MAX_PENDING_FIELDS) { this.dropped += n; continue; }
            this.pendingFields++;
          }
          into.set(f, (into.get(f) ?? 0) + n);
        }
      }
      throw err;
    } finally {
      this.flushing = null;
    }
  }

  /** The refusals of an account's or an organisation's requests in the last hour and the last day, by limit, as of `nowUs`. */
  async read(kind: 'account' | 'org', id: string, nowUs: number): Promise<RefusalSummary> {
    const empty = (since: number): RefusalWindow => ({ since: new Date(since * REFUSAL_BUCKET_S * 1000).toISOString(), total: 0, by: [] });
    const current = bucketOf(nowUs);
    const hourFrom = current - 3600 / REFUSAL_BUCKET_S;
    const dayFrom = current - 86_400 / REFUSAL_BUCKET_S;
    if (!this.backend.readRefusals) return { last_hour: empty(hourFrom), last_day: empty(dayFrom) };
    await this.flush().catch(() => {});
    const buckets: number[] = [];
    for (let b = dayFrom; b <= current; b++) buckets.push(b);
    const read = await this.backend.readRefusals(buckets.map((b) => keyOf(kind, id, b)));
    const sum = (from: number): RefusalWindow => {
      const by = new Map<string, number>();
      buckets.forEach((b, i) => {
        if (b < from) return;
        for (const [f, n] of Object.entries(read[i] ?? {})) by.set(f, (by.get(f) ?? 0) + n);
      });
      const rows: RefusalCount[] = [];
      let total = 0;
      for (const [f, count] of by) {
        try {
          const [scope, kindOf, subject, model] = JSON.parse(f) as [string, string, string, string | null];
          rows.push({ scope, kind: kindOf, subject, model, count });
          total += count;
        } catch { /* a field this version does not write */ }
      }
      rows.sort((a, b) => b.count - a.count || a.scope.localeCompare(b.scope) || a.kind.localeCompare(b.kind));
      return { ...empty(from), total, by: rows };
    };
    return { last_hour: sum(hourFrom), last_day: sum(dayFrom) };
  }

  async close(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    await this.flush().catch(() => {});
  }
}
