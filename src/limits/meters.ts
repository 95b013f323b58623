/**
 * The backend contract: what one decision asks of the counters and what they answer. Both
 * backends (memory, Redis Lua) implement exactly these semantics, in integer microseconds:
 *
 * - `gcra`: Generic Cell Rate Algorithm (virtual scheduling). State: the theoretical arrival time
 *   TAT. A request of `cost` units is admitted iff  max(TAT, now) + cost*interval - now <= tolerance,
 *   and then TAT := max(TAT, now) + cost*interval. `interval` is the emission interval (period /
 *   limit, rounded up to whole microseconds so that every node computes identical integers);
 *   `tolerance` is burst * interval. Settling adds (actual - reserved) * interval to TAT.
 *   The interval is stored with the TAT. When the limit in force has another interval (an override
 *   added, changed or removed, a verdict multiplier), the backlog TAT - now is first re-expressed in
 *   it, rounded up: TAT := now + ceil((TAT - now) * interval / stored interval). The units used are
 *   kept, not the time owed: a loosened limit admits at once what it allows, a tightened one counts
 *   what was already used against its own burst. Settling counts its delta in the stored interval.
 * - `concurrency`: a set of leases with expiry; admitted iff live leases < limit.
 * - `budget`: a counter per UTC calendar day or month; admitted iff used + cost <= limit.
 *
 * A decision is all-or-nothing: either every meter admits and all are charged, or nothing changes.
 */

export type MeterOp =
  /** intervalUs < 0 means a limit of zero: never admitted. */
  | { type: 'gcra'; key: string; intervalUs: number; toleranceUs: number; cost: number }
  | { type: 'concurrency'; key: string; limit: number }
  | { type: 'budget'; key: string; window: 'day' | 'month'; limit: number; cost: number };

/** Retry hint when a meter can never admit this request (limit 0, or cost above the burst). */
export const RETRY_NEVER = -1;
/** Retry hint when the meter cannot know (a concurrency slot frees when another request ends). */
export const RETRY_UNKNOWN = -2;

/**
 * A full concurrency meter: when the lease whose expiry frees a slot (the `count - limit + 1`-th
 * to expire) was last renewed more than half a lease ago, its request stopped renewing (renewal
 * runs every third of the lease: its node died), and the slot frees when it expires: µs until
 * then. Otherwise the slot is a live request's and when it ends is unknown. Every backend (and the
 * reference model) answers by this rule.
 */
export function concurrencyRetryUs(sortedExpiries: readonly number[], limit: number, leaseTtlUs: number, now: number): number {
  const freesSlot = sortedExpiries[sortedExpiries.length - limit];
  if (freesSlot === undefined) return RETRY_UNKNOWN;
  const left = freesSlot - now;
  return left > 0 && left < leaseTtlUs / 2 ? left : RETRY_UNKNOWN;
}

export interface MeterOutcome {
  ok: boolean;
  /** Units still available right after this decision (requests, tokens, slots, micro-USD). */
  remaining: number;
  /** Time until the meter is fully replenished (gcra) or its window ends (budget), µs. */
  resetUs: number;
  /** When refused: µs until the same request could pass on this meter, or RETRY_NEVER / RETRY_UNKNOWN; 0 when admitted. */
  retryUs: number;
}

export interface RawDecision {
  allowed: boolean;
  /** Time the backend decided at (Redis TIME for the Redis backend), µs since epoch. */
  nowUs: number;
  outcomes: MeterOutcome[];
  /** Concurrency slots whose leases had expired unrenewed (their node died), removed by this decision. */
  reclaimedSlots?: number;
}

export type SettleOp =
  | { type: 'gcra'; key: string; intervalUs: number; delta: number }
  | { type: 'concurrency'; key: string }
  | { type: 'budget'; key: string; windowId: number; delta: number };

export interface LeaseRef { key: string; leaseId: string }

/**
 * The lease id of a decision that only asks: every meter answers as it would, and nothing is
 * charged, leased or marked (`Limiter.peek`: a request refused before its body is read).
 */
export const PEEK_LEASE = '';

/** Counters for one node (memory) or all nodes (Redis). */
export interface LimitsBackend {
  readonly name: 'memory' | 'redis';
  /** Decide every meter of one request atomically (under PEEK_LEASE: answer only). `nowUs` overrides the clock (tests, replays). */
  decide(ops: readonly MeterOp[], leaseId: string, leaseTtlUs: number, nowUs?: number): RawDecision | Promise<RawDecision>;
  /** Adjust reservations to real usage and release concurrency leases, in one call. */
  settle(ops: readonly SettleOp[], leaseId: string, nowUs?: number): void | Promise<void>;
  /**
   * Settle a decision only if it was admitted here and not settled since (the mark its decision
   * left, DECIDE_LUA), at most once: a later call does nothing. Resolves to whether it settled.
   * Absent where the counters do not outlive their process (memory).
   */
  settleOnce?(ops: readonly SettleOp[], leaseId: string, nowUs?: number): Promise<boolean>;
  /** Whether a settle with nothing to adjust must still be sent (it forgets what the backend keeps per decision). */
  readonly settlesEmpty?: boolean;
  /** Extend live concurrency leases held by this node. */
  /** Returns (when the backend counts them) the expired leases of other requests removed meanwhile. */
  renew(leases: readonly LeaseRef[], leaseTtlUs: number, nowUs?: number): void | number | Promise<void | number>;
  close(): void | Promise<void>;
  /**
   * What each budget has spent in its window as of now (micro-USD; 0 in a window nothing was spent
   * in yet), without charging: the admin API's answer to "why was this customer refused". `nowUs`
   * is the backend's clock (Redis TIME for the Redis backend), the one the windows were cut by.
   */
  readBudgets?(reads: readonly BudgetRead[], nowUs?: number): BudgetSpend | Promise<BudgetSpend>;
  /**
   * Add to refusal counters (refusals.ts): each a hash of counts kept until `ttlS` seconds after its
   * last addition. Only refusals are counted: an admission costs nothing here.
   */
  addRefusals?(adds: readonly RefusalAdd[], ttlS: number): void | Promise<void>;
  /** The refusal counters at these keys (an empty record for a key with none). */
  readRefusals?(keys: readonly string[]): Record<string, number>[] | Promise<Record<string, number>[]>;
}

/** Counts to add to one refusal counter: its key (without the backend's prefix) and field -> count. */
export interface RefusalAdd { key: string; counts: ReadonlyMap<string, number> }

/** A budget counter to read: its key (without the backend's prefix) and its window. */
export interface BudgetRead { key: string; window: 'day' | 'month' }
/** Budgets read: the time they were read at (µs) and each one's spend in its current window (micro-USD). */
export interface BudgetSpend { nowUs: number; used: number[] }

const US_PER_DAY = 86_400_000_000;

/** The budget window containing `nowUs`: id (days since epoch, or months since year 0) and end time. */
export function budgetWindow(nowUs: number, window: 'day' | 'month'): { id: number; endUs: number } {
  const id = budgetWindowId(nowUs, window);
  return { id, endUs: budgetWindowEnd(id, window) };
}

/** Id of the budget window containing `nowUs` (no allocation: used per request by the memory backend). */
export function budgetWindowId(nowUs: number, window: 'day' | 'month'): number {
  const day = Math.floor(nowUs / US_PER_DAY);
  if (window === 'day') return day;
  const d = new Date(day * 86_400_000);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** End of budget window `id`, µs since epoch. */
export function budgetWindowEnd(id: number, window: 'day' | 'month'): number {
  if (window === 'day') return (id + 1) * US_PER_DAY;
  return Date.UTC(Math.floor(id / 12), (id % 12) + 1, 1) * 1000;
}

/** Emission interval for `limit` units per `periodUs`, in whole µs (rounded up: never more permissive). */
export function emissionInterval(limit: number, periodUs: number): number {
  if (limit <= 0) return -1;
  return Math.max(1, Math.ceil(periodUs / limit));
}

export const MINUTE_US = 60_000_000;
export const DAY_US = US_PER_DAY;

/** Go-style duration as OpenAI sends in x-ratelimit-reset-*: `20ms`, `1.5s`, `6m0s`, `1h2m3s`. */
export function goDuration(us: number): string {
  const ms = Math.max(0, Math.ceil(us / 1000));
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const sec = `${Number.isInteger(s) ? s : s.toFixed(3).replace(/0+$/, '')}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}
