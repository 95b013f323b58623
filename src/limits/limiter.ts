/**
 * The limiter: plans the meters of a request (meter-plan.ts), decides them in one backend call, falls
 * back as configured when the shared backend is unreachable (circuit breaker), tracks
 * concurrency leases so they are renewed while the request runs, and settles reservations to real
 * usage when it ends. Knows nothing of HTTP (the hooks in hooks.ts do).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { LimitsConfig } from './config.ts';
import { CircuitBreaker, type BreakerState } from './breaker.ts';
import { MemoryBackend } from './memory.ts';
import { budgetWindow, PEEK_LEASE, RETRY_NEVER, RETRY_UNKNOWN, type LeaseRef, type LimitsBackend, type MeterOutcome, type RawDecision, type SettleOp } from './meters.ts';
import { NOOP_METRICS, type LimitsMetrics } from './metrics.ts';
import type { LimitOverridesStore } from './overrides.ts';
import { MeterPlanner, meterOp, type LimitSubjects, type PlannedMeter, type RequestCost } from './meter-plan.ts';
import { QUIT_WAIT_MS, RedisBackend, RedisCommandTimeout } from './redis.ts';
import { RefusalCounter } from './refusals.ts';
import { urlForLog } from '../config/index.ts';
import { OutageLog, redisFailure, shorterOutages } from '../gateway/outage-log.ts';

export interface LimiterOptions {
  config: LimitsConfig;
  /** Counters to use; default: from `config.backend` (memory, or Redis at `config.redis.url ?? redisUrl`). */
  backend?: LimitsBackend;
  /** The top-level `redis.url`, used when `limits.redis.url` is null. */
  redisUrl?: string | null;
  /** Runtime overrides (admin API); reloaded every `overrides_refresh_ms`. */
  overrides?: LimitOverridesStore;
  metrics?: LimitsMetrics;
  /** Clock for the memory backend and local fallback, µs (tests). */
  clockUs?: () => number;
  /** Where the shared backend's outages are reported: one line when it stops answering, one when it answers again. */
  /** Operator log; `meta` gives the line's level and a stable code for a structured logger. */
  log?: (line: string, meta?: LimitsLogMeta) => void;
  /** How long close() waits on Redis, ms (`server.shutdown_step_timeout_ms`): the Redis connection gets at most 1 s of it. */
  stopWaitMs?: number;
}

/** What the limiter does while the shared backend is unreachable, per `on_backend_failure`, for the log. */
export const BACKEND_FAILURE_MODE = {
  local: 'deciding on this node\'s own counters (limits hold per node)',
  open: 'admitting requests without limits',
  closed: 'refusing requests with 503 WARDEN_LIMITS_UNAVAILABLE',
} as const;

const FALLBACK_OUTCOME = {
  local: 'taken on this node\'s own counters',
  open: 'admitted without limits',
  closed: 'refused',
} as const;

/** One request as the limiter sees it: its subjects and what it may consume. */
export interface LimitRequest extends LimitSubjects {
  /** Estimated input tokens (reserved now, settled later). */
  inputTokens: number;
  /**
   * Of `inputTokens`, those guessed at a flat rate (images, PDF pages, audio), not counted: cut, where
   * they alone would make the request larger than a token limit or budget, to what that limit
   * holds. Default 0: all of `inputTokens` is reserved.
   */
  guessedInputTokens?: number;
  /** Output tokens reserved (max_tokens or the default). */
  outputTokens: number;
}

/** The shared backend did not connect within the time `Limiter.ready` waits. */
/** What a limits log line carries besides its text: its level, stable code and, for Redis's outages, which Redis, since when and the error. */
export interface LimitsLogMeta { level: 'info' | 'warn' | 'error'; code: string; fields?: Record<string, unknown> }

export class LimitsBackendUnreachable extends Error {
  constructor(readonly url: string, readonly setting: string, timeoutMs: number) {
    super(`Redis at ${urlForLog(url)} (${setting}) not reachable within ${timeoutMs} ms`);
    this.name = 'LimitsBackendUnreachable';
  }
}

export interface MeterVerdict { meter: PlannedMeter; outcome: MeterOutcome }

/** How a decision was reached. */
export type DecisionMode = 'backend' | 'local' | 'fail_open' | 'fail_closed';

export interface Reservation {
  leaseId: string;
  backend: LimitsBackend;
  meters: PlannedMeter[];
  cost: RequestCost;
  model: string;
  /** Decision time, µs (budget windows are settled against it). */
  atUs: number;
  settled: boolean;
}

export interface LimitDecision {
  allowed: boolean;
  mode: DecisionMode;
  /** Backend that decided (null for fail-open/closed). */
  backend: 'memory' | 'redis' | null;
  nowUs: number;
  meters: MeterVerdict[];
  /** When refused: the refused meter that waits longest (or can never pass). */
  binding: MeterVerdict | null;
  /** When allowed: the meter with the least room left (the one closest to refusing). */
  tightest: MeterVerdict | null;
  /** Seconds until a retry can pass; null when it never can (limit 0, request larger than the limit). */
  retryAfterS: number | null;
  /** The same in milliseconds, not rounded up to a second (`retry-after-ms`: a client can pace itself to the limit). */
  retryAfterMs: number | null;
  /** To settle when the request ends; null when nothing was reserved. */
  reservation: Reservation | null;
  /** Why the shared backend was not used, when it was not. */
  backendError: string | null;
  cost: RequestCost;
}

/** A reservation as an open stream's record keeps it (Limiter.reservationNote): plain JSON. */
export interface ReservationNote {
  lease: string;
  backend: 'memory' | 'redis';
  /** Made on the shared backend (not this node's local fallback). */
  shared: boolean;
  /** Admission time, µs (the budgets' window). */
  at: number;
  model: string;
  cost: { in: number; out: number; usd: number };
  meters: { kind: 'tokens_per_day' | 'daily_budget' | 'monthly_budget' | 'concurrency'; key: string; iv: number }[];
}

/** What Limiter.chargeInterrupted did: charged (tokens and micro-USD beyond the reservation), or why not. */
export interface InterruptedCharge {
  charged: boolean;
  why: null | 'no_reservation' | 'counters_gone' | 'settled_already' | 'backend_error';
  tokens: number;
  microUsd: number;
}

const NOTE_KINDS = new Set(['tokens_per_day', 'daily_budget', 'monthly_budget', 'concurrency']);

/** A stored note read back (a record is data from the store: anything else is no note). */
function reservationNoteOf(v: unknown): ReservationNote | null {
  const n = v as ReservationNote | null;
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (!n || typeof n !== 'object' || typeof n.lease !== 'string' || !n.lease || (n.backend !== 'memory' && n.backend !== 'redis') || typeof n.shared !== 'boolean'
    || !num(n.at) || typeof n.model !== 'string' || !n.cost || !num(n.cost.in) || !num(n.cost.out) || !num(n.cost.usd) || !Array.isArray(n.meters)) return null;
  if (!n.meters.every((m) => m && NOTE_KINDS.has(m.kind) && typeof m.key === 'string' && num(m.iv))) return null;
  return n;
}

/** Actual usage reported at the end of an interaction. */
export interface ActualUsage {
  inputTokens: number;
  outputTokens: number;
  /** Of the input, read from the provider's prompt cache / written to it (priced apart; reads kept out of input_tpm unless configured). */
  cachedInputTokens?: number;
  cacheWriteTokens?: number;
}

/** A Redis slow but answering is logged at most this often, ms. */
const SLOW_LOG_EVERY_MS = 10 * 60_000;

/** One meter as it stands now, asked with a probe request (`Limiter.inspect`): nothing is charged. */
export interface MeterState { meter: PlannedMeter; outcome: MeterOutcome; cost: number }

export class Limiter {
  readonly planner: MeterPlanner;
  readonly backend: LimitsBackend;
  /** Refusals counted by the limit that refused them, per account and organisation (refusals.ts). */
  readonly refusals: RefusalCounter;
  readonly config: LimitsConfig;
  private readonly local: MemoryBackend | null;
  private readonly breaker: CircuitBreaker | null;
  private readonly metrics: LimitsMetrics;
  private readonly overridesStore: LimitOverridesStore | null;
  private readonly leases = new Map<string, { backend: LimitsBackend; refs: LeaseRef[] }>();
  private readonly leaseTtlUs: number;
  private readonly nodeTag = `${hostname().slice(0, 24)}:${process.pid}:${randomBytes(3).toString('hex')}:`;
  private seq = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  /** The shared backend's outages (a flapping one damped): how many decisions each took without it. */
  private readonly outages = new OutageLog<{ decisions: number; redis: string | null }>();
  private readonly log: (line: string, meta?: LimitsLogMeta) => void;
  /** Decisions in a row that Redis did not answer within the command timeout (reset by any answer). */
  private slowInARow = 0;
  /** A PING is asking whether Redis answers at all (after `breaker.failure_threshold` slow decisions). */
  private pinging = false;
  /** When a slow Redis that still answered was last logged, ms. */
  private slowLoggedAt = -Infinity;
  /** The shared backend's URL and the setting that gave it (null: memory, or a backend passed in). */
  private readonly backendUrl: { url: string; setting: string } | null = null;

  constructor(opts: LimiterOptions) {
    this.config = opts.config;
    this.metrics = opts.metrics ?? NOOP_METRICS;
    this.log = opts.log ?? (() => {});
    this.planner = new MeterPlanner(opts.config);
    this.leaseTtlUs = opts.config.concurrency.lease_ms * 1000;
    this.overridesStore = opts.overrides ?? null;
    if (opts.backend) this.backend = opts.backend;
    else if (opts.config.backend === 'redis') {
      const url = opts.config.redis.url ?? opts.redisUrl;
      if (!url) throw new Error('limits.backend is redis but neither limits.redis.url nor redis.url is set');
      this.backendUrl = { url, setting: opts.config.redis.url ? 'limits.redis.url' : 'redis.url' };
      this.backend = new RedisBackend({
        url, keyPrefix: opts.config.redis.key_prefix,
        commandTimeoutMs: opts.config.redis.command_timeout_ms, connectTimeoutMs: opts.config.redis.connect_timeout_ms,
        quitWaitMs: Math.min(QUIT_WAIT_MS, opts.stopWaitMs ?? QUIT_WAIT_MS),
      });
    } else this.backend = new MemoryBackend({ clockUs: opts.clockUs });
    this.refusals = new RefusalCounter(this.backend);
    const shared = this.backend.name !== 'memory';
    this.local = shared && opts.config.on_backend_failure === 'local' ? new MemoryBackend({ clockUs: opts.clockUs }) : null;
    const backendName = this.backend.name;
    this.breaker = shared
      ? new CircuitBreaker(opts.config.breaker.failure_threshold, opts.config.breaker.open_ms, (s: BreakerState) => this.metrics.breaker(backendName, s))
      : null;
    if (shared) this.metrics.breaker(backendName, 'closed');
    const renew = setInterval(() => { void this.renewLeases(); }, Math.max(250, Math.floor(opts.config.concurrency.lease_ms / 3)));
    renew.unref();
    this.timers.push(renew);
    if (this.overridesStore) {
      const refresh = setInterval(() => { void this.refreshOverrides().catch(() => {}); }, opts.config.overrides_refresh_ms);
      refresh.unref();
      this.timers.push(refresh);
    }
  }

  /**
   * Load runtime overrides, then wait until the shared backend is connected. Rejects with
   * `LimitsBackendUnreachable` (naming the URL and the setting it came from) when it is not within
   * `timeoutMs`: the limiter works all the same, deciding by `on_backend_failure` until the
   * client, which keeps reconnecting, is connected.
   */
  async ready(timeoutMs = 2000): Promise<void> {
    await this.refreshOverrides();
    if (!(this.backend instanceof RedisBackend) || !this.backendUrl) return;
    try {
      await this.backend.ready(timeoutMs);
    } catch {
      throw new LimitsBackendUnreachable(this.backendUrl.url, this.backendUrl.setting, timeoutMs);
    }
    // Redis evicting keys under maxmemory would drop meters and decision marks (a lost decision
    // then stays charged): say so once at start. A Redis that refuses CONFIG (a managed one) is not checked.
    const policy = await this.backend.evictionPolicy();
    if (policy !== null && policy !== 'noeviction') {
      this.log(`limits: Redis evicts keys under maxmemory (maxmemory-policy ${policy}): it can drop rate meters and decision marks, ` +
        'so limits may admit more than they should and a lost decision may stay charged; run it with maxmemory-policy noeviction (docs/limits.md)');
    }
  }

  /** Reload runtime overrides from the store now (the admin API calls this after a change). */
  async refreshOverrides(): Promise<void> {
    if (!this.overridesStore) return;
    // The periodic refresh can be in flight when the admin API's begins: a list read before a
    // change must not land after the one read after it (a deleted override would come back).
    const ticket = ++this.overridesAsked;
    const list = await this.overridesStore.list();
    if (ticket < this.overridesApplied) return;
    this.overridesApplied = ticket;
    this.planner.setRuntimeOverrides(list);
  }

  /** Refreshes of the runtime overrides begun, and the latest whose list was applied. */
  private overridesAsked = 0;
  private overridesApplied = 0;

  /**
   * Every request is being refused: `on_backend_failure: closed` and the shared backend not
   * connected, or its circuit open. `/readyz` says not ready then, so that a load balancer takes
   * the node out of rotation instead of sending it requests it answers 503.
   */
  get refusingAll(): boolean {
    if (this.config.on_backend_failure !== 'closed' || !(this.backend instanceof RedisBackend)) return false;
    return !this.backend.connected || this.circuit === 'open';
  }

  /** State of the circuit in front of the shared backend (always `closed` for memory). */
  get circuit(): BreakerState { return this.breaker?.state ?? 'closed'; }

  /**
   * Decide every scope of one request in one backend call. Synchronous for the memory backend
   * (no promise on the hot path), a promise for Redis.
   */
  decide(req: LimitRequest, nowUs?: number): LimitDecision | Promise<LimitDecision> {
    const d = this.decideNow(req, nowUs);
    if (d instanceof Promise) return d.then((x) => this.counted(req, x));
    return this.counted(req, d);
  }

  /** A refused decision is counted for its account and organisation by the limit that refused it. */
  private counted<D extends LimitDecision | null>(req: LimitSubjects, d: D): D {
    if (d === null || d.allowed) return d;
    // A planned meter names its scope, kind, subject and model group (the planner keeps them: counted by identity).
    this.refusals.note(req.accountId, req.orgId, d.binding?.meter ?? this.backendRefusal, d.nowUs);
    return d;
  }

  /** What a refusal without a meter (the backend away, `on_backend_failure: closed`) is counted under. */
  private readonly backendRefusal = { scope: 'backend', kind: 'unavailable', subject: 'limits backend', model: null };

  /**
   * Every meter of these subjects as it stands now, asked whether it would admit a probe request of
   * `cost` (one request, its tokens and price): what each has left, when it is full again, and which
   * would refuse. Charges nothing and counts no refusal (the admin API's explanation). Throws when
   * the backend does not answer.
   */
  async inspect(req: LimitSubjects, cost: RequestCost, nowUs?: number): Promise<{ nowUs: number; meters: MeterState[] }> {
    const meters = this.planner.plan(req);
    const ops = meters.map((m) => meterOp(m, cost));
    const raw = await this.backend.decide(ops, PEEK_LEASE, this.leaseTtlUs, nowUs);
    return {
      nowUs: raw.nowUs,
      meters: meters.map((meter, i) => {
        const op = ops[i];
        return { meter, outcome: raw.outcomes[i], cost: op.type === 'concurrency' ? 1 : op.cost };
      }),
    };
  }

  private decideNow(req: LimitRequest, nowUs?: number): LimitDecision | Promise<LimitDecision> {
    const meters = this.planner.plan(req);
    const inputTokens = this.inputToReserve(req, meters);
    const cost: RequestCost = {
      inputTokens,
      outputTokens: req.outputTokens,
      microUsd: this.planner.priceMicroUsd(req.model, inputTokens, req.outputTokens),
    };
    if (req.verdictLevel !== 'none' && meters.some((m) => m.multiplier !== 1)) this.metrics.throttled(req.verdictLevel);
    const ops = meters.map((m) => meterOp(m, cost));
    const leaseId = this.nodeTag + (++this.seq).toString(36);
    const started = performance.now();
    const backend = this.backend;
    if (backend.name === 'memory' || !this.breaker) {
      const raw = backend.decide(ops, leaseId, this.leaseTtlUs, nowUs);
      if (raw instanceof Promise) return raw.then((r) => this.finish(r, meters, cost, leaseId, req.model, backend, 'backend', null, started));
      return this.finish(raw, meters, cost, leaseId, req.model, backend, 'backend', null, started);
    }
    if (!this.breaker.allow()) return this.fallback(meters, cost, leaseId, req.model, 'circuit open', started, nowUs);
    const breaker = this.breaker;
    // While the PING says whether Redis answers at all, decisions are not made to wait for it.
    if (this.pinging && breaker.state === 'closed') return this.fallback(meters, cost, leaseId, req.model, 'Redis is slow: checking that it answers', started, nowUs, false);
    return Promise.resolve(backend.decide(ops, leaseId, this.leaseTtlUs, nowUs)).then(
      (raw) => { this.slowInARow = 0; breaker.success(); this.backendAnswered(); return this.finish(raw, meters, cost, leaseId, req.model, backend, 'backend', null, started); },
      (err: unknown) => {
        this.metrics.backendError(backend.name, 'decide');
        // One slow command (a loaded node, a Redis busy for a moment) is not an outage: this
        // decision is taken here, and Redis counts as down only if it then fails a PING.
        if (err instanceof RedisCommandTimeout && breaker.state === 'closed') {
          this.decisionTimedOut(breaker);
          return this.fallback(meters, cost, leaseId, req.model, redisFailure(err), started, nowUs, false);
        }
        breaker.failure();
        return this.fallback(meters, cost, leaseId, req.model, redisFailure(err), started, nowUs);
      },
    );
  }

  /**
   * The refusal the limits would make of a request of these subjects whatever it holds, or null:
   * its requests per window, its concurrent requests, a token quota or budget already past its
   * limit (what settled usage can leave). Asked before a large body is read (an upload), so an
   * account over its limits is refused before it sends it. Charges nothing (PEEK_LEASE). `model`:
   * the model when the route alone names it, whose per-model meters are then asked too; '' when
   * the model is in the body (only the meters of every model are asked): `decide` decides the
   * request once it is read. Null too when the shared backend does not answer: `decide` applies
   * `on_backend_failure` then.
   */
  peek(req: LimitSubjects, nowUs?: number): LimitDecision | null | Promise<LimitDecision | null> {
    const d = this.peekNow(req, nowUs);
    if (d instanceof Promise) return d.then((x) => this.counted(req, x));
    return this.counted(req, d);
  }

  private peekNow(req: LimitSubjects, nowUs?: number): LimitDecision | null | Promise<LimitDecision | null> {
    const meters = this.planner.plan(req);
    const cost: RequestCost = { inputTokens: 0, outputTokens: 0, microUsd: 0 };
    const ops = meters.map((m) => meterOp(m, cost));
    const started = performance.now();
    const backend = this.backend;
    const refusal = (raw: RawDecision) => (raw.allowed ? null : this.finish(raw, meters, cost, PEEK_LEASE, req.model, backend, 'backend', null, started));
    if (backend.name === 'memory' || !this.breaker) {
      const raw = backend.decide(ops, PEEK_LEASE, this.leaseTtlUs, nowUs);
      return raw instanceof Promise ? raw.then(refusal) : refusal(raw);
    }
    if (!this.breaker.allow()) return null;
    const breaker = this.breaker;
    return Promise.resolve(backend.decide(ops, PEEK_LEASE, this.leaseTtlUs, nowUs)).then(
      (raw) => { breaker.success(); return refusal(raw); },
      () => { breaker.failure(); this.metrics.backendError(backend.name, 'decide'); return null; },
    );
  }

  /**
   * The input tokens to reserve: all that are known (text, token ids), and of the guessed ones
   * (images, PDF pages, audio) as many as every token meter and budget can hold with the known input and
   * the output. A guess alone never makes a request "never admissible" (a flat 1,600 tokens an
   * image would refuse ten small images for ever under a limit of 20,000 a minute); the reservation
   * is then the whole limit, and settlement charges what the request really used.
   */
  private inputToReserve(req: LimitRequest, meters: readonly PlannedMeter[]): number {
    const guessed = Math.min(Math.max(0, req.guessedInputTokens ?? 0), req.inputTokens);
    if (guessed === 0) return req.inputTokens;
    const known = req.inputTokens - guessed;
    let room = guessed;
    for (const m of meters) {
      switch (m.kind) {
        case 'tokens_per_minute':
        case 'tokens_per_day': room = Math.min(room, Math.floor(m.limit) - known - req.outputTokens); break;
        case 'input_tokens_per_minute': room = Math.min(room, Math.floor(m.limit) - known); break;
        case 'daily_budget':
        case 'monthly_budget': room = Math.min(room, this.planner.inputTokensWithin(req.model, Math.round(m.limit * 1e6), known, req.outputTokens)); break;
        default: break;
      }
    }
    return known + Math.max(0, room);
  }

  /**
   * A decision Redis did not answer in time. After `breaker.failure_threshold` in a row, a PING
   * (given `limits.redis.connect_timeout_ms`) decides: unanswered, the circuit opens and the outage
   * is logged as for a connection lost; answered, Redis is slow, not down (logged at most every
   * 10 minutes), and decisions go to it again.
   */
  private decisionTimedOut(breaker: CircuitBreaker): void {
    if (++this.slowInARow < this.config.breaker.failure_threshold || this.pinging || !(this.backend instanceof RedisBackend)) return;
    this.pinging = true;
    const slow = this.slowInARow;
    void this.backend.answersPing(this.config.redis.connect_timeout_ms).then((answers) => {
      this.pinging = false;
      this.slowInARow = 0;
      if (!answers) { breaker.trip(); return; }
      const now = Date.now();
      if (now - this.slowLoggedAt < SLOW_LOG_EVERY_MS) return;
      this.slowLoggedAt = now;
      this.log(`limits: ${slow} decisions in a row waited longer than limits.redis.command_timeout_ms (${this.config.redis.command_timeout_ms} ms) and were taken on this node's own counters; ` +
        'Redis answers a PING, so it is not counted down. If this repeats, the node is overloaded or Redis is slow: raise command_timeout_ms or look at both', { level: 'warn', code: 'LIMITS_BACKEND_SLOW' });
    });
  }

  /** The shared backend answered: an outage under way is over, said once with what was decided without it. */
  private backendAnswered(): void {
    this.outages.answered((o, seconds) => this.log(`limits: the shared backend (${this.backend.name}) answers again after ${seconds.toFixed(1)} s; ` +
      `${o.decisions} decisions were ${FALLBACK_OUTCOME[this.config.on_backend_failure]} meanwhile; limits are shared by every node again${o.redis ? ` (Redis at ${o.redis})` : ''}`,
    { level: 'info', code: 'LIMITS_BACKEND_RECOVERED', fields: { seconds: Math.round(seconds * 10) / 10, decisions: o.decisions, ...(o.redis ? { redis: o.redis } : {}) } }));
  }


  /** Decide without the shared backend; `outage`: it is down (else only this decision was too slow, see decisionTimedOut). */
  private fallback(meters: PlannedMeter[], cost: RequestCost, leaseId: string, model: string, why: string, started: number, nowUs?: number, outage = true): LimitDecision {
    const mode = this.config.on_backend_failure;
    if (outage) {
      // A Redis with no connection: what the client met connecting (and since when), rather than
      // the refusal of the command itself ("Stream isn't writeable ...", "circuit open").
      const lost = this.backend instanceof RedisBackend ? this.backend.connectionProblem() : null;
      const redis = this.backend instanceof RedisBackend ? this.backend.target : null;
      this.outages.failed(() => ({ decisions: 0, redis }), (_, flaps) => this.log(`limits: the shared backend (${this.backend.name}) is unreachable (${lost?.text ?? (redis ? `${why}; Redis at ${redis}` : why)}); ${BACKEND_FAILURE_MODE[mode]} until it answers again (limits.on_backend_failure: ${mode})${shorterOutages(flaps)}`,
        { level: mode === 'closed' ? 'error' : 'warn', code: 'LIMITS_BACKEND_UNREACHABLE', fields: lost ? { redis: lost.redis, since: lost.since, error: lost.error } : { error: why } }), lost ? !lost.causeKnown : false).decisions++;
    } else {
      const current = this.outages.current;
      if (current) current.decisions++;
    }
    if (mode === 'local' && this.local) {
      const raw = this.local.decide(meters.map((m) => meterOp(m, cost)), leaseId, this.leaseTtlUs, nowUs);
      return this.finish(raw, meters, cost, leaseId, model, this.local, 'local', why, started);
    }
    const allowed = mode === 'open';
    this.metrics.decision(allowed ? 'fail_open' : 'fail_closed', this.backend.name, (performance.now() - started) / 1000);
    return {
      allowed, mode: allowed ? 'fail_open' : 'fail_closed', backend: null, nowUs: nowUs ?? Date.now() * 1000, meters: [],
      binding: null, tightest: null, retryAfterS: allowed ? null : 1, retryAfterMs: allowed ? null : 1000, reservation: null, backendError: why, cost,
    };
  }

  private finish(raw: RawDecision, meters: PlannedMeter[], cost: RequestCost, leaseId: string, model: string, backend: LimitsBackend, mode: 'backend' | 'local', why: string | null, started: number): LimitDecision {
    if (raw.reclaimedSlots) this.metrics.deadSlotsReclaimed(backend.name, raw.reclaimedSlots);
    const verdicts: MeterVerdict[] = new Array(meters.length);
    for (let i = 0; i < meters.length; i++) verdicts[i] = { meter: meters[i], outcome: raw.outcomes[i] };
    let binding: MeterVerdict | null = null;
    let tightest: MeterVerdict | null = null;
    let retryAfterS: number | null = null;
    let retryAfterMs: number | null = null;
    let reservation: Reservation | null = null;
    if (raw.allowed) {
      let room = Infinity;
      for (const v of verdicts) {
        const capacity = v.meter.kind === 'requests' ? (v.meter.burst ?? 1) : v.meter.kind.endsWith('budget') ? v.meter.limit * 1e6 : v.meter.limit;
        const r = capacity > 0 ? v.outcome.remaining / capacity : 0;
        if (r < room) { room = r; tightest = v; }
      }
      reservation = { leaseId, backend, meters, cost, model, atUs: raw.nowUs, settled: false };
      const refs: LeaseRef[] = [];
      for (const m of meters) if (m.kind === 'concurrency') refs.push({ key: m.key, leaseId });
      if (refs.length) this.leases.set(leaseId, { backend, refs });
    } else {
      let never = false;
      let worst = -1;
      for (const v of verdicts) {
        if (v.outcome.ok) continue;
        this.metrics.refusal(v.meter.scope, v.meter.kind);
        const retry = v.outcome.retryUs === RETRY_UNKNOWN ? this.config.concurrency.retry_after_s * 1e6 : v.outcome.retryUs;
        if (retry === RETRY_NEVER) {
          if (!never) { never = true; binding = v; }
        } else if (!never && retry > worst) { worst = retry; binding = v; }
      }
      retryAfterS = never ? null : Math.max(1, Math.ceil(worst / 1e6));
      retryAfterMs = never ? null : Math.max(1, Math.ceil(worst / 1e3));
    }
    // Per-scope outcomes: a scope is refused when any of its meters refused.
    let lastScope = '';
    let scopeOk = true;
    for (let i = 0; i <= verdicts.length; i++) {
      const v = verdicts[i];
      const key = v ? `${v.meter.scope}` : '';
      if (i > 0 && key !== lastScope) { this.metrics.scope(lastScope, scopeOk); scopeOk = true; }
      if (!v) break;
      lastScope = key;
      if (!v.outcome.ok) scopeOk = false;
    }
    const outcome = mode === 'local' ? (raw.allowed ? 'local_allowed' : 'local_refused') : raw.allowed ? 'allowed' : 'refused';
    this.metrics.decision(outcome, backend.name, (performance.now() - started) / 1000);
    return { allowed: raw.allowed, mode, backend: backend.name, nowUs: raw.nowUs, meters: verdicts, binding, tightest, retryAfterS, retryAfterMs, reservation, backendError: why, cost };
  }

  /**
   * Settle a reservation to real usage and release its concurrency slots. Idempotent; never
   * throws (a failed settle is counted; the leases then expire on their own).
   */
  async settle(reservation: Reservation, usage: ActualUsage | null, nowUs?: number): Promise<void> {
    if (reservation.settled) return;
    reservation.settled = true;
    this.leases.delete(reservation.leaseId);
    const actualIn = usage?.inputTokens ?? 0;
    const actualOut = usage?.outputTokens ?? 0;
    const cachedIn = Math.min(actualIn, usage?.cachedInputTokens ?? 0);
    const cacheWrite = Math.min(actualIn - cachedIn, usage?.cacheWriteTokens ?? 0);
    const { cost } = reservation;
    const ops: SettleOp[] = [];
    let priceDelta: number | null = null;
    for (const m of reservation.meters) {
      switch (m.kind) {
        case 'requests': break;
        case 'tokens_per_minute':
        case 'tokens_per_day': ops.push({ type: 'gcra', key: m.key, intervalUs: m.intervalUs, delta: actualIn + actualOut - cost.inputTokens - cost.outputTokens }); break;
        case 'input_tokens_per_minute': ops.push({ type: 'gcra', key: m.key, intervalUs: m.intervalUs, delta: actualIn - (this.config.cache.reads_in_input_tpm ? 0 : cachedIn) - cost.inputTokens }); break;
        case 'output_tokens_per_minute': ops.push({ type: 'gcra', key: m.key, intervalUs: m.intervalUs, delta: actualOut - cost.outputTokens }); break;
        case 'concurrency': ops.push({ type: 'concurrency', key: m.key }); break;
        case 'daily_budget':
        case 'monthly_budget':
          priceDelta ??= this.planner.priceMicroUsd(reservation.model, actualIn, actualOut, { read: cachedIn, write: cacheWrite }) - cost.microUsd;
          ops.push({ type: 'budget', key: m.key, windowId: budgetWindow(reservation.atUs, m.kind === 'daily_budget' ? 'day' : 'month').id, delta: priceDelta });
          break;
      }
    }
    const effective = ops.filter((o) => o.type === 'concurrency' || o.delta !== 0);
    if (effective.length === 0 && !reservation.backend.settlesEmpty) { this.metrics.settlement(true); return; }
    try {
      await reservation.backend.settle(effective, reservation.leaseId, nowUs);
      this.metrics.settlement(true);
    } catch {
      this.metrics.settlement(false);
      this.metrics.backendError(reservation.backend.name, 'settle');
    }
  }

  /**
   * What an open stream's record keeps of its reservation (src/gateway/open-streams.ts), so that
   * the node that records the stream after this one was killed can charge it (chargeInterrupted).
   * Only the meters that can still be charged then: tokens per day, the budgets, and the
   * concurrency slot to free; per-minute meters are left out (see chargeInterrupted).
   */
  reservationNote(r: Reservation): ReservationNote {
    const meters: ReservationNote['meters'] = [];
    for (const m of r.meters) {
      if (m.kind === 'tokens_per_day' || m.kind === 'daily_budget' || m.kind === 'monthly_budget' || m.kind === 'concurrency') meters.push({ kind: m.kind, key: m.key, iv: m.intervalUs });
    }
    return {
      lease: r.leaseId, backend: r.backend.name, shared: r.backend === this.backend, at: r.atUs, model: r.model,
      cost: { in: r.cost.inputTokens, out: r.cost.outputTokens, usd: r.cost.microUsd }, meters,
    };
  }

  /**
   * Charge an interaction a killed node left open, recorded at a later start, with the usage its
   * last checkpoint knew (a lower bound). Its reservation was charged when it was admitted and never
   * settled: on the shared backend (Redis) it is still counted, so what the recovered usage holds
   * beyond it is added (tokens per day; the daily and monthly budgets, priced, in the window of the
   * admission, while that window is still the counter's) and its concurrency slot is freed. Nothing
   * is refunded: the tokens sent after the last checkpoint are not known, the reservation stands
   * for them. Per-minute meters are not charged: their minute is past, and counting the tokens now
   * would refuse the client's next minute for tokens spent before. On Redis the charge is made at
   * most once per reservation, and only while the admission's mark is kept (15 minutes from the
   * admission, DECIDED_MARK_MS): a recovery run again after a crash, or a settle the killed node
   * made after all, leaves it alone. A reservation on this node's own counters (the memory backend,
   * or the local fallback during a Redis outage) died with the node, as all its counts did: nothing
   * is charged. Resolves to what was charged; never throws.
   */
  async chargeInterrupted(note: unknown, usage: ActualUsage): Promise<InterruptedCharge> {
    const n = reservationNoteOf(note);
    if (!n) return { charged: false, why: 'no_reservation', tokens: 0, microUsd: 0 };
    const backend = this.backend;
    if (!n.shared || n.backend !== backend.name || !backend.settleOnce) return { charged: false, why: 'counters_gone', tokens: 0, microUsd: 0 };
    const actualIn = usage.inputTokens;
    const actualOut = usage.outputTokens;
    const cachedIn = Math.min(actualIn, usage.cachedInputTokens ?? 0);
    const cacheWrite = Math.min(actualIn - cachedIn, usage.cacheWriteTokens ?? 0);
    const tokens = Math.max(0, actualIn + actualOut - n.cost.in - n.cost.out);
    let microUsd = 0;
    const ops: SettleOp[] = [];
    for (const m of n.meters) {
      if (m.kind === 'tokens_per_day') {
        if (tokens > 0) ops.push({ type: 'gcra', key: m.key, intervalUs: m.iv, delta: tokens });
      } else if (m.kind === 'concurrency') {
        ops.push({ type: 'concurrency', key: m.key });
      } else if (m.kind === 'daily_budget' || m.kind === 'monthly_budget') {
        microUsd = Math.max(0, this.planner.priceMicroUsd(n.model, actualIn, actualOut, { read: cachedIn, write: cacheWrite }) - n.cost.usd);
        if (microUsd > 0) ops.push({ type: 'budget', key: m.key, windowId: budgetWindow(n.at, m.kind === 'daily_budget' ? 'day' : 'month').id, delta: microUsd });
      }
    }
    try {
      const charged = await backend.settleOnce(ops, n.lease);
      return charged ? { charged: true, why: null, tokens, microUsd } : { charged: false, why: 'settled_already', tokens: 0, microUsd: 0 };
    } catch {
      this.metrics.backendError(backend.name, 'settle');
      return { charged: false, why: 'backend_error', tokens: 0, microUsd: 0 };
    }
  }

  /** Extend the leases of requests still running on this node (runs on a timer). */
  async renewLeases(nowUs?: number): Promise<void> {
    const byBackend = new Map<LimitsBackend, LeaseRef[]>();
    for (const { backend, refs } of this.leases.values()) {
      const list = byBackend.get(backend) ?? [];
      list.push(...refs);
      byBackend.set(backend, list);
    }
    for (const [backend, refs] of byBackend) {
      try {
        const reclaimed = await backend.renew(refs, this.leaseTtlUs, nowUs);
        if (reclaimed) this.metrics.deadSlotsReclaimed(backend.name, reclaimed);
      } catch { this.metrics.backendError(backend.name, 'renew'); }
    }
  }

  /** Requests holding concurrency leases on this node. */
  get inFlight(): number { return this.leases.size; }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.refusals.close();
    await this.backend.close();
    await this.local?.close();
  }
}
