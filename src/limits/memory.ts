/**
 * In-process counters for one node: the same semantics as the Redis scripts (see meters.ts),
 * synchronous, with an injectable clock so tests can drive time.
 */
import { budgetWindowEnd, budgetWindowId, PEEK_LEASE, RETRY_NEVER, concurrencyRetryUs, type BudgetRead, type BudgetSpend, type LeaseRef, type RefusalAdd, type LimitsBackend, type MeterOp, type MeterOutcome, type RawDecision, type SettleOp } from './meters.ts';

/** Microseconds since epoch from the wall clock (ms precision is enough for one node, made monotonic). */
export function wallClockUs(): () => number {
  let last = 0;
  return () => {
    const now = Math.round((performance.timeOrigin + performance.now()) * 1000);
    last = now > last ? now : last;
    return last;
  };
}

interface BudgetState { windowId: number; used: number; endUs: number }

/**
 * A concurrency meter's leases: lease id -> expiry (µs), and a lower bound of those expiries.
 * Expired leases (neither settled nor renewed in time) are dropped when the meter is next decided; with
 * the bound, a decision scans the leases only when one may have expired, not every lease in flight
 * on every request (a subject with hundreds in flight paid for all of them each time).
 */
class Leases {
  readonly expiries = new Map<string, number>();
  /** No lease expires before this (Infinity: none held). Every expiry is set through `hold`, which lowers it; settlements only remove leases. */
  private earliest = Infinity;

  get size(): number { return this.expiries.size; }

  hold(leaseId: string, expiresUs: number): void {
    this.expiries.set(leaseId, expiresUs);
    if (expiresUs < this.earliest) this.earliest = expiresUs;
  }

  /** Drop the leases expired at `now` (none can be while `now` is before the bound). */
  dropExpired(now: number): void {
    if (now < this.earliest) return;
    let earliest = Infinity;
    // forEach: no [id, exp] pair per lease
    this.expiries.forEach((exp, id) => {
      if (exp <= now) this.expiries.delete(id);
      else if (exp < earliest) earliest = exp;
    });
    this.earliest = earliest;
  }
}
/** A rate meter: its TAT and the emission interval its backlog was counted in. */
interface GcraState { tat: number; intervalUs: number }

/**
 * The TAT to judge a request by, with the backlog (TAT - now) re-expressed in `intervalUs` when the
 * meter was last charged under another limit: the units used are kept, not the time owed (see
 * meters.ts). Rounded up, as emission intervals are.
 */
function tatInForce(state: GcraState | undefined, now: number, intervalUs: number): number {
  if (state === undefined || state.tat <= now) return now;
  if (state.intervalUs === intervalUs || intervalUs <= 0 || state.intervalUs <= 0) return state.tat;
  return now + Math.ceil((state.tat - now) * intervalUs / state.intervalUs);
}

export class MemoryBackend implements LimitsBackend {
  readonly name = 'memory' as const;
  private readonly tat = new Map<string, GcraState>();
  private readonly leases = new Map<string, Leases>();
  private readonly budgets = new Map<string, BudgetState>();
  private readonly clock: () => number;
  private opsSinceSweep = 0;
  private scratch: number[] = [];
  private scratchWindow: number[] = [];

  constructor(opts: { clockUs?: () => number } = {}) {
    this.clock = opts.clockUs ?? wallClockUs();
  }

  decide(ops: readonly MeterOp[], leaseId: string, leaseTtlUs: number, nowUs?: number): RawDecision {
    const now = nowUs ?? this.clock();
    if (++this.opsSinceSweep >= 50_000) this.sweep(now);
    const outcomes: MeterOutcome[] = new Array(ops.length);
    // What each admitting meter would store (gcra: the new TAT; budget: the new total), applied in
    // a second pass only when every meter admits. No closure per meter: this runs on every request.
    if (this.scratch.length < ops.length) { this.scratch = new Array<number>(ops.length); this.scratchWindow = new Array<number>(ops.length); }
    const next = this.scratch;
    const windowOf = this.scratchWindow;
    let allowed = true;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.type === 'gcra') {
        if (op.intervalUs < 0) {
          outcomes[i] = { ok: false, remaining: 0, resetUs: 0, retryUs: RETRY_NEVER };
          allowed = false;
          continue;
        }
        const tat = tatInForce(this.tat.get(op.key), now, op.intervalUs);
        const newTat = tat + op.cost * op.intervalUs;
        const allowAt = newTat - op.toleranceUs;
        if (allowAt <= now) {
          outcomes[i] = { ok: true, remaining: Math.floor((op.toleranceUs - (newTat - now)) / op.intervalUs), resetUs: newTat - now, retryUs: 0 };
          next[i] = newTat;
        } else {
          const retry = op.cost * op.intervalUs > op.toleranceUs ? RETRY_NEVER : allowAt - now;
          outcomes[i] = { ok: false, remaining: Math.max(0, Math.floor((op.toleranceUs - (tat - now)) / op.intervalUs)), resetUs: tat - now, retryUs: retry };
          allowed = false;
        }
      } else if (op.type === 'concurrency') {
        const set = this.leases.get(op.key);
        if (set) set.dropExpired(now);
        const count = set ? set.size : 0;
        if (count < op.limit) {
          outcomes[i] = { ok: true, remaining: op.limit - count - 1, resetUs: 0, retryUs: 0 };
        } else {
          outcomes[i] = { ok: false, remaining: 0, resetUs: 0, retryUs: op.limit <= 0 ? RETRY_NEVER : concurrencyRetryUs([...set!.expiries.values()].sort((a, b) => a - b), op.limit, leaseTtlUs, now) };
          allowed = false;
        }
      } else {
        const windowId = budgetWindowId(now, op.window);
        const endUs = budgetWindowEnd(windowId, op.window);
        const state = this.budgets.get(op.key);
        const used = state && state.windowId === windowId ? state.used : 0;
        if (used + op.cost <= op.limit) {
          outcomes[i] = { ok: true, remaining: op.limit - used - op.cost, resetUs: endUs - now, retryUs: 0 };
          next[i] = used + op.cost;
          windowOf[i] = windowId;
        } else {
          outcomes[i] = { ok: false, remaining: Math.max(0, op.limit - used), resetUs: endUs - now, retryUs: op.cost > op.limit ? RETRY_NEVER : endUs - now };
          allowed = false;
        }
      }
    }
    if (allowed && leaseId !== PEEK_LEASE) {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        if (op.type === 'gcra') {
          const state = this.tat.get(op.key);
          if (state) { state.tat = next[i]; state.intervalUs = op.intervalUs; }
          else this.tat.set(op.key, { tat: next[i], intervalUs: op.intervalUs });
        }
        else if (op.type === 'concurrency') {
          let set = this.leases.get(op.key);
          if (!set) { set = new Leases(); this.leases.set(op.key, set); }
          set.hold(leaseId, now + leaseTtlUs);
        } else {
          const windowId = windowOf[i];
          const state = this.budgets.get(op.key);
          if (state) { state.windowId = windowId; state.used = next[i]; state.endUs = budgetWindowEnd(windowId, op.window); }
          else this.budgets.set(op.key, { windowId, used: next[i], endUs: budgetWindowEnd(windowId, op.window) });
        }
      }
    }
    return { allowed, nowUs: now, outcomes };
  }

  settle(ops: readonly SettleOp[], leaseId: string, nowUs?: number): void {
    const now = nowUs ?? this.clock();
    for (const op of ops) {
      if (op.type === 'gcra') {
        if (op.delta === 0 || op.intervalUs <= 0) continue;
        // The delta is in units: counted in the interval the backlog is held in (the limit may
        // have changed since the reservation was made).
        const state = this.tat.get(op.key);
        const live = state !== undefined && state.tat > now;
        const intervalUs = live ? state.intervalUs : op.intervalUs;
        const next = (live ? state.tat : now) + op.delta * intervalUs;
        if (next <= now) this.tat.delete(op.key);
        else if (state) { state.tat = next; state.intervalUs = intervalUs; }
        else this.tat.set(op.key, { tat: next, intervalUs });
      } else if (op.type === 'concurrency') {
        const set = this.leases.get(op.key);
        if (set) { set.expiries.delete(leaseId); if (set.size === 0) this.leases.delete(op.key); }
      } else {
        const state = this.budgets.get(op.key);
        if (op.delta !== 0 && state && state.windowId === op.windowId) state.used = Math.max(0, state.used + op.delta);
      }
    }
  }

  renew(leases: readonly LeaseRef[], leaseTtlUs: number, nowUs?: number): void {
    const now = nowUs ?? this.clock();
    for (const { key, leaseId } of leases) {
      const set = this.leases.get(key);
      const expires = set?.expiries.get(leaseId);
      // Through `hold`: a shorter lease time (lease_ms lowered by a reload) can move an expiry earlier.
      if (set && expires !== undefined && expires > now) set.hold(leaseId, now + leaseTtlUs);
    }
  }

  /** Drop state that no longer affects any decision (bounded memory under many subjects). */
  sweep(nowUs: number = this.clock()): void {
    this.opsSinceSweep = 0;
    for (const [k, t] of this.tat) if (t.tat <= nowUs) this.tat.delete(k);
    for (const [k, set] of this.leases) {
      set.dropExpired(nowUs);
      if (set.size === 0) this.leases.delete(k);
    }
    for (const [k, b] of this.budgets) if (b.endUs <= nowUs) this.budgets.delete(k);
  }

  /** Number of keys held (for tests and the sweep). */
  size(): number { return this.tat.size + this.leases.size + this.budgets.size; }

  readBudgets(reads: readonly BudgetRead[], nowUs?: number): BudgetSpend {
    const now = nowUs ?? this.clock();
    return {
      nowUs: now,
      used: reads.map((r) => {
        const state = this.budgets.get(r.key);
        return state && state.windowId === budgetWindowId(now, r.window) ? state.used : 0;
      }),
    };
  }

  /** Refusal counters: field -> count, and when the counter expires (ms, the backend's clock). */
  private readonly refusals = new Map<string, { counts: Map<string, number>; expiresMs: number }>();
  private refusalsSweptMs = 0;

  addRefusals(adds: readonly RefusalAdd[], ttlS: number): void {
    const nowMs = this.clock() / 1000;
    if (nowMs - this.refusalsSweptMs > 60_000) {
      this.refusalsSweptMs = nowMs;
      for (const [k, r] of this.refusals) if (r.expiresMs <= nowMs) this.refusals.delete(k);
    }
    for (const add of adds) {
      let r = this.refusals.get(add.key);
      if (!r || r.expiresMs <= nowMs) { r = { counts: new Map(), expiresMs: 0 }; this.refusals.set(add.key, r); }
      r.expiresMs = nowMs + ttlS * 1000;
      for (const [field, n] of add.counts) r.counts.set(field, (r.counts.get(field) ?? 0) + n);
    }
  }

  readRefusals(keys: readonly string[]): Record<string, number>[] {
    const nowMs = this.clock() / 1000;
    return keys.map((k) => {
      const r = this.refusals.get(k);
      return r && r.expiresMs > nowMs ? Object.fromEntries(r.counts) : {};
    });
  }

  close(): void {}
}
