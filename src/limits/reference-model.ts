/**
 * Reference model for tests: the limits semantics stated in their plainest form, independent of
 * the backends' code. Rates are a leaky bucket (a water level that drains one µs per µs, each
 * unit adds `interval` µs of water, admitted while the level stays within the tolerance), which
 * is the textbook equivalent of GCRA's virtual scheduling that the backends implement. Budgets
 * use JavaScript's Date for calendar windows (the Redis script computes them with integer
 * calendar arithmetic). When a meter's interval changes (a new limit), the water is re-expressed in
 * the new interval, rounded up: the units in the bucket are kept. Not used in production.
 */
import { PEEK_LEASE, concurrencyRetryUs, type LeaseRef, type MeterOp, type MeterOutcome, type RawDecision, type SettleOp } from './meters.ts';

interface Bucket { level: number; last: number; interval: number }

function calendarWindow(nowUs: number, kind: 'day' | 'month'): { id: number; end: number } {
  const d = new Date(Math.floor(nowUs / 1000));
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (kind === 'day') {
    const start = Date.UTC(y, m, d.getUTCDate());
    return { id: start / 86_400_000, end: (start + 86_400_000) * 1000 };
  }
  return { id: y * 12 + m, end: Date.UTC(y, m + 1, 1) * 1000 };
}

export class ReferenceModel {
  private readonly buckets = new Map<string, Bucket>();
  private readonly leases = new Map<string, { id: string; expires: number }[]>();
  private readonly budgets = new Map<string, { id: number; used: number }>();

  /** The water left at `now`, in µs of `interval` (the bucket's own interval when null). */
  private drained(key: string, now: number, interval: number | null): number {
    const b = this.buckets.get(key);
    if (!b) return 0;
    const level = Math.max(0, b.level - (now - b.last));
    if (level === 0 || interval === null || interval === b.interval) return level;
    return Math.ceil(level * interval / b.interval);
  }

  decide(ops: readonly MeterOp[], leaseId: string, leaseTtlUs: number, now: number): RawDecision {
    const outcomes: MeterOutcome[] = [];
    for (const op of ops) {
      if (op.type === 'gcra') {
        if (op.intervalUs < 0) { outcomes.push({ ok: false, remaining: 0, resetUs: 0, retryUs: -1 }); continue; }
        const level = this.drained(op.key, now, op.intervalUs);
        const water = op.cost * op.intervalUs;
        if (level + water <= op.toleranceUs) {
          outcomes.push({ ok: true, remaining: Math.floor((op.toleranceUs - level - water) / op.intervalUs), resetUs: level + water, retryUs: 0 });
        } else {
          outcomes.push({
            ok: false,
            remaining: Math.max(0, Math.floor((op.toleranceUs - level) / op.intervalUs)),
            resetUs: level,
            retryUs: water > op.toleranceUs ? -1 : level + water - op.toleranceUs,
          });
        }
      } else if (op.type === 'concurrency') {
        const live = (this.leases.get(op.key) ?? []).filter((l) => l.expires > now);
        this.leases.set(op.key, live);
        const ok = live.length < op.limit;
        outcomes.push({ ok, remaining: ok ? op.limit - live.length - 1 : 0, resetUs: 0, retryUs: ok ? 0 : op.limit <= 0 ? -1 : concurrencyRetryUs(live.map((l) => l.expires).sort((a, b) => a - b), op.limit, leaseTtlUs, now) });
      } else {
        const w = calendarWindow(now, op.window);
        const st = this.budgets.get(op.key);
        const used = st && st.id === w.id ? st.used : 0;
        const ok = used + op.cost <= op.limit;
        outcomes.push({
          ok,
          remaining: ok ? op.limit - used - op.cost : Math.max(0, op.limit - used),
          resetUs: w.end - now,
          retryUs: ok ? 0 : op.cost > op.limit ? -1 : w.end - now,
        });
      }
    }
    const allowed = outcomes.every((o) => o.ok);
    // A peek (PEEK_LEASE) only answers.
    if (allowed && leaseId !== PEEK_LEASE) {
      for (const op of ops) {
        if (op.type === 'gcra') {
          this.buckets.set(op.key, { level: this.drained(op.key, now, op.intervalUs) + op.cost * op.intervalUs, last: now, interval: op.intervalUs });
        } else if (op.type === 'concurrency') {
          this.leases.get(op.key)!.push({ id: leaseId, expires: now + leaseTtlUs });
        } else {
          const w = calendarWindow(now, op.window);
          const st = this.budgets.get(op.key);
          const used = st && st.id === w.id ? st.used : 0;
          this.budgets.set(op.key, { id: w.id, used: used + op.cost });
        }
      }
    }
    return { allowed, nowUs: now, outcomes };
  }

  settle(ops: readonly SettleOp[], leaseId: string, now: number): void {
    for (const op of ops) {
      if (op.type === 'gcra') {
        if (op.delta === 0 || op.intervalUs <= 0) continue;
        // The delta is in units of the interval the water is held in.
        const level = this.drained(op.key, now, null);
        const interval = level > 0 ? this.buckets.get(op.key)!.interval : op.intervalUs;
        this.buckets.set(op.key, { level: Math.max(0, level + op.delta * interval), last: now, interval });
      } else if (op.type === 'concurrency') {
        this.leases.set(op.key, (this.leases.get(op.key) ?? []).filter((l) => l.id !== leaseId));
      } else {
        const st = this.budgets.get(op.key);
        if (st && st.id === op.windowId) st.used = Math.max(0, st.used + op.delta);
      }
    }
  }

  renew(leases: readonly LeaseRef[], leaseTtlUs: number, now: number): void {
    for (const { key, leaseId } of leases) {
      for (const l of this.leases.get(key) ?? []) if (l.id === leaseId && l.expires > now) l.expires = now + leaseTtlUs;
    }
  }
}
