/**
 * Redis counters shared by every node: each decision is one EVALSHA of an atomic Lua script
 * (ioredis `defineCommand`, which falls back to EVAL after a Redis restart flushed the script
 * cache). Commands fail fast while disconnected (no offline queue) so the limiter's circuit
 * breaker can react; ioredis keeps reconnecting in the background, so recovery needs no restart.
 *
 * A decision that Redis does not answer within the command timeout is given up on (the limiter
 * decides it another way), but its script has been sent and Redis runs it when it resumes (a
 * stall, a fork, a failover): it would hold a concurrency lease nobody releases and charge meters
 * for a request Redis did not decide. So the timeout is kept here, not by ioredis, and the late
 * answer is undone: an admission is released and refunded. A decision whose connection was lost
 * may or may not have run: each admitted decision leaves a mark in Redis (deleted when its request
 * settles), so once Redis is back the lost one is undone only if its mark is there, exactly once:
 * its leases released and its meters refunded, as the limiter charged the request elsewhere. The
 * undo leaves a tombstone in place of the mark, so a lost decision that reaches Redis after its undo
 * (a proxy that delivers it late) is not run at all. An undo Redis does not answer is tried again,
 * with backoff while connected and at each reconnection, for as long as the mark is kept.
 */
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { BUDGETS_LUA, DECIDE_LUA, DECIDED_MARK_MS, RENEW_LUA, SETTLE_LUA } from './lua.ts';
import { budgetWindow, PEEK_LEASE, type BudgetRead, type BudgetSpend, type LeaseRef, type LimitsBackend, type MeterOp, type MeterOutcome, type RawDecision, type RefusalAdd, type SettleOp } from './meters.ts';

/** ioredis, loaded when a Redis is first connected: a node with none configured never pays for it. */
const requireCjs = createRequire(import.meta.url);
const ioredis = () => requireCjs('ioredis') as typeof import('ioredis');

/**
 * Undos of lost decisions kept for a Redis that is away; beyond this their leases expire on their
 * own (lease_ms) and their meters stay charged.
 */
const MAX_PENDING_UNDOS = 10_000;

/** How long after a connection closes its outage waits to be logged with the error of the first attempt to reconnect, ms. */
const CAUSE_WAIT_MS = 1500;

/** Retries of an undo Redis did not answer while connected: from UNDO_RETRY_MIN_MS, doubled up to UNDO_RETRY_MAX_MS. */
const UNDO_RETRY_MIN_MS = 200;
const UNDO_RETRY_MAX_MS = 30_000;

/** ioredis refused the command while disconnected (no offline queue): it never reached Redis. */
function neverSent(err: unknown): boolean {
  return err instanceof Error && /enableOfflineQueue/.test(err.message);
}

/** A connection error as the operator reads it: Node's message (`connect ECONNREFUSED 127.0.0.1:6379`), with its code when the message lacks it. */
function connectionError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

/** What undoes a decision Redis admitted: each meter refunded what it was charged, the leases released. */
function undoOps(ops: readonly MeterOp[], nowUs: number): SettleOp[] {
  return ops.map((op): SettleOp => {
    switch (op.type) {
      case 'gcra': return { type: 'gcra', key: op.key, intervalUs: op.intervalUs, delta: -op.cost };
      case 'concurrency': return { type: 'concurrency', key: op.key };
      case 'budget': return { type: 'budget', key: op.key, windowId: budgetWindow(nowUs, op.window).id, delta: -op.cost };
    }
  });
}

interface PendingUndo { ops: SettleOp[]; leaseId: string; since: number }

interface ScriptedRedis {
  wardenLimitsDecide(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  wardenLimitsSettle(numKeys: number, ...args: (string | number)[]): Promise<number>;
  wardenLimitsRenew(numKeys: number, ...args: (string | number)[]): Promise<number>;
  wardenLimitsBudgets(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
}

/** How long closing waits for Redis to answer QUIT before closing the connection, ms (at most; see RedisBackendOptions.quitWaitMs). */
export const QUIT_WAIT_MS = 1_000;

/** Redis did not answer one command within `limits.redis.command_timeout_ms` (it may still: see undoLate). */
export class RedisCommandTimeout extends Error {
  constructor(readonly timeoutMs: number) {
    super(`Command timed out (Redis did not answer within ${timeoutMs} ms)`);
    this.name = 'RedisCommandTimeout';
  }
}

export interface RedisBackendOptions {
  /** `redis://host:port/db`; ignored when `client` is given. */
  url?: string;
  /** Use this connection (it is given the scripts; not closed by `close()` unless `ownClient`). */
  client?: Redis;
  /** Every key starts with this (share one Redis between deployments or test runs). */
  keyPrefix?: string;
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Called with every connection error (already handled: the process never crashes on them). */
  onError?: (err: Error) => void;
  /** How long close() waits for Redis to answer QUIT, ms (default QUIT_WAIT_MS). */
  quitWaitMs?: number;
}

export class RedisBackend implements LimitsBackend {
  readonly name = 'redis' as const;
  readonly client: Redis;
  private readonly scripts: ScriptedRedis;
  private readonly ownClient: boolean;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly quitWaitMs: number;
  /** Decisions whose connection was lost, undone (if they ran) once Redis answers again. */
  private undos: PendingUndo[] = [];
  /** The next retry of the undos Redis did not answer while connected (null: none due). */
  private undoRetry: NodeJS.Timeout | null = null;
  private undoRetryMs = UNDO_RETRY_MIN_MS;
  private closed = false;
  /**
   * Decisions given up on (for tests and metrics): `undone`, answered late and undone; `refunded`,
   * whose answer was lost, found to have run and undone once Redis was back; `never_ran`, lost and
   * found not to have run (nothing to undo); `expired`, lost for longer than their mark is kept.
   */
  readonly late = { undone: 0, refunded: 0, never_ran: 0, expired: 0 };
  readonly settlesEmpty = true;

  constructor(opts: RedisBackendOptions) {
    this.prefix = opts.keyPrefix ?? '';
    this.timeoutMs = opts.commandTimeoutMs ?? 250;
    this.quitWaitMs = opts.quitWaitMs ?? QUIT_WAIT_MS;
    if (opts.client) {
      this.client = opts.client;
      this.ownClient = false;
    } else {
      if (!opts.url) throw new Error('RedisBackend needs a url or a client');
      this.client = new (ioredis().Redis)(opts.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        // No commandTimeout: the timeout is kept here, so that a late answer can be undone.
        connectTimeout: opts.connectTimeoutMs ?? 1000,
        // Keep trying forever, at most once a second: recovery without restart.
        retryStrategy: (times) => Math.min(50 * times, 1000),
        enableReadyCheck: true,
        lazyConnect: false,
      });
      this.ownClient = true;
    }
    const onError = opts.onError;
    this.client.on('error', (err: Error) => {
      // The connection's own errors (refused, reset, timed out, name not found), not a command's.
      if (this.client.status !== 'ready') this.link.error = connectionError(err);
      onError?.(err);
    });
    this.client.on('close', () => { if (this.link.lostAt === null) this.link.lostAt = Date.now(); });
    this.client.on('ready', () => { this.link = { lostAt: null, error: null, connectedOnce: true }; this.unansweredSince = null; this.flushUndos(true); });
    this.client.defineCommand('wardenLimitsDecide', { lua: DECIDE_LUA });
    this.client.defineCommand('wardenLimitsSettle', { lua: SETTLE_LUA });
    this.client.defineCommand('wardenLimitsRenew', { lua: RENEW_LUA });
    this.client.defineCommand('wardenLimitsBudgets', { lua: BUDGETS_LUA });
    this.scripts = this.client as unknown as ScriptedRedis;
  }

  /**
   * Whether Redis answers a PING within `timeoutMs`: asked when decisions time out, to tell a
   * Redis slow for a moment (or a busy node) from one that answers nothing.
   */
  async answersPing(timeoutMs: number): Promise<boolean> {
    if (this.client.status !== 'ready') return false;
    try {
      await this.timed(this.client.ping(), timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The connection's story: since when it is lost (the start, until first connected), and the
   * error its last attempt to connect met (null: none yet, the connection was only closed).
   */
  private link: { lostAt: number | null; error: string | null; connectedOnce: boolean } = { lostAt: Date.now(), error: null, connectedOnce: false };

  /** The Redis this backend uses, as `host:port` (or its socket path): never a password. */
  get target(): string {
    const o = this.client.options as { host?: string; port?: number; path?: string | null };
    return o.path ? o.path : `${o.host ?? 'localhost'}:${o.port ?? 6379}`;
  }

  /**
   * Why commands find no connection, for the operator, or null while connected and answered:
   * which Redis, since when, and what the client met (the error of its last attempt to connect,
   * e.g. `connect ECONNREFUSED 10.0.0.5:6379`, or the connection closed), not the client's "Stream
   * isn't writeable" that every command refused meanwhile gets; or, connected, that Redis has
   * answered nothing since a command sent at `since` (a partition: no close, commands time out).
   */
  connectionProblem(): { text: string; redis: string; since: string; error: string; causeKnown: boolean } | null {
    const stream = (this.client as unknown as { stream?: { writable?: boolean } }).stream;
    if (this.client.status === 'ready' && stream?.writable !== false) {
      if (this.unansweredSince === null) return null;
      // Connected, and nothing answered: the connection is open, the cause is between or in Redis.
      const since = new Date(this.unansweredSince).toISOString();
      const error = `no answer within limits.redis.command_timeout_ms (${this.timeoutMs} ms), nor to a PING, on an open connection (the network between dropping packets, or Redis hung)`;
      return { text: `no answer from Redis at ${this.target} since ${since}: ${error}; waiting for it`, redis: this.target, since, error, causeKnown: true };
    }
    const lostAt = this.link.lostAt ?? Date.now();
    const since = new Date(lostAt).toISOString();
    // A connection just closed: its first reconnection attempt (50 ms on) says why, for a moment.
    const causeKnown = this.link.error !== null || !this.link.connectedOnce || Date.now() - lostAt >= CAUSE_WAIT_MS;
    const error = this.link.error ?? (this.link.connectedOnce ? 'the connection was closed (Redis stopped, or the network between)' : 'not connected yet');
    const lost = this.link.connectedOnce ? 'no connection to Redis' : 'never connected to Redis';
    return { text: `${lost} at ${this.target} since ${since}: ${error}; reconnecting`, redis: this.target, since, error, causeKnown };
  }

  /** Connected now (the client reconnects by itself while it is not). */
  get connected(): boolean { return this.client.status === 'ready'; }

  /** Resolves once connected (or rejects after `timeoutMs`). */
  async ready(timeoutMs = 2000): Promise<void> {
    if (this.client.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error('redis not ready')); }, timeoutMs);
      const onReady = () => { cleanup(); resolve(); };
      const cleanup = () => { clearTimeout(timer); this.client.off('ready', onReady); };
      this.client.on('ready', onReady);
    });
  }

  async decide(ops: readonly MeterOp[], leaseId: string, leaseTtlUs: number, nowUs?: number): Promise<RawDecision> {
    const n = ops.length;
    const args: (string | number)[] = new Array(n + 4 + n * 4);
    for (let i = 0; i < n; i++) args[i] = this.prefix + ops[i].key;
    args[n] = this.markKey(leaseId);
    args[n + 1] = nowUs === undefined ? '' : nowUs;
    args[n + 2] = leaseId;
    args[n + 3] = leaseTtlUs;
    let j = n + 4;
    for (const op of ops) {
      if (op.type === 'gcra') { args[j++] = 'g'; args[j++] = op.intervalUs; args[j++] = op.toleranceUs; args[j++] = op.cost; }
      else if (op.type === 'concurrency') { args[j++] = 'c'; args[j++] = op.limit; args[j++] = 0; args[j++] = 0; }
      else { args[j++] = 'b'; args[j++] = op.window === 'day' ? 'd' : 'm'; args[j++] = op.limit; args[j++] = op.cost; }
    }
    const sent = this.scripts.wardenLimitsDecide(n + 1, ...args);
    let reply: number[];
    try {
      reply = await this.timed(sent);
    } catch (err) {
      // A peek charged nothing: nothing to undo.
      if (leaseId !== PEEK_LEASE) this.undoLate(sent, ops, leaseId);
      throw err;
    }
    if (reply[0] === -1) throw new Error(`decision ${leaseId} was undone before it reached Redis; nothing was charged`);
    const outcomes: MeterOutcome[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const b = 2 + i * 4;
      outcomes[i] = { ok: reply[b] === 1, remaining: reply[b + 1], resetUs: reply[b + 2], retryUs: reply[b + 3] };
    }
    const decision: RawDecision = { allowed: reply[0] === 1, nowUs: reply[1], outcomes };
    // Only when some were: a decision otherwise reads the same from every backend.
    const reclaimed = reply[2 + n * 4];
    if (reclaimed) decision.reclaimedSlots = reclaimed;
    return decision;
  }

  /** Each budget's spend in its window as of Redis's clock (BUDGETS_LUA); reads only. */
  async readBudgets(reads: readonly BudgetRead[], nowUs?: number): Promise<BudgetSpend> {
    const args: (string | number)[] = [...reads.map((r) => this.prefix + r.key), nowUs === undefined ? '' : nowUs, ...reads.map((r) => (r.window === 'day' ? 'd' : 'm'))];
    const reply = await this.timed(this.scripts.wardenLimitsBudgets(reads.length, ...args));
    return { nowUs: reply[0], used: reply.slice(1) };
  }

  /** Settle a request (with nothing to adjust too: it deletes the decision's mark). */
  async settle(ops: readonly SettleOp[], leaseId: string, nowUs?: number): Promise<void> {
    await this.runSettle(ops, leaseId, false, nowUs);
  }

  async settleOnce(ops: readonly SettleOp[], leaseId: string, nowUs?: number): Promise<boolean> {
    // The conditional settle of an undo: it runs only where the decision's mark is there, and
    // leaves a tombstone (-1: no mark, -2: settled so already; else Redis's time).
    return (await this.runSettleRaw(ops, leaseId, true, nowUs)) >= 0;
  }

  /** Where an admitted decision's mark is kept (see DECIDE_LUA). */
  private markKey(leaseId: string): string {
    return `${this.prefix}decided:${leaseId}`;
  }

  /**
   * Run SETTLE_LUA; `ifDecided`: only when the decision's mark is there. Resolves to whether the
   * decision is refunded (by this settle, or by an earlier undo that timed out on its way).
   */
  private async runSettle(ops: readonly SettleOp[], leaseId: string, ifDecided: boolean, nowUs?: number): Promise<boolean> {
    return (await this.runSettleRaw(ops, leaseId, ifDecided, nowUs)) !== -1;
  }

  private async runSettleRaw(ops: readonly SettleOp[], leaseId: string, ifDecided: boolean, nowUs?: number): Promise<number> {
    const n = ops.length;
    const args: (string | number)[] = [];
    for (const op of ops) args.push(this.prefix + op.key);
    args.push(this.markKey(leaseId), nowUs === undefined ? '' : nowUs, leaseId, ifDecided ? '1' : '');
    for (const op of ops) {
      if (op.type === 'gcra') args.push('g', op.intervalUs, op.delta);
      else if (op.type === 'concurrency') args.push('c', 0, 0);
      else args.push('b', op.windowId, op.delta);
    }
    return Number(await this.timed(this.scripts.wardenLimitsSettle(n + 1, ...args)));
  }

  /** Reject after the command timeout (the command itself goes on: see undoLate). */
  private timed<T>(p: Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    const sentAt = Date.now();
    return new Promise<T>((resolve, reject) => {
      // Judged after the next read of the sockets (setImmediate runs after the poll phase): on a
      // node whose event loop was busy past the timeout, Redis's answer may be waiting unread, and
      // timers run before I/O.
      const timer = setTimeout(() => setImmediate(() => {
        // Unanswered on an open connection: since when Redis has answered nothing (a partition, a hung Redis).
        if (this.link.lostAt === null && this.unansweredSince === null) this.unansweredSince = sentAt;
        reject(new RedisCommandTimeout(timeoutMs));
      }), timeoutMs);
      // Any answer, late ones included, says Redis is reachable.
      p.then((v) => { clearTimeout(timer); this.unansweredSince = null; resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
    });
  }

  /**
   * When the first command Redis has not answered since its last answer was sent, ms; null while it
   * answers (or while the connection is closed: `link` tells that story). A partition, or a Redis
   * hung, closes nothing: the connection stays open and commands time out.
   */
  private unansweredSince: number | null = null;

  /**
   * A decision given up on (the limiter decided the request elsewhere and charged it there): when
   * Redis answers it after all, an admission is undone (leases released, meters refunded). When its
   * connection is lost it may or may not have run: it is undone once Redis is back if its mark says
   * it ran (and was not undone already), so the request is charged once whatever happened to the
   * answer. A command ioredis refused while disconnected never reached Redis: nothing to undo.
   */
  private undoLate(sent: Promise<number[]>, ops: readonly MeterOp[], leaseId: string): void {
    // The budget windows as of now: Redis's clock, had it answered, would say the same but at a midnight.
    const sentAtUs = Date.now() * 1000;
    sent.then(
      (reply) => {
        if (reply[0] !== 1) return;
        this.late.undone++;
        const undo = undoOps(ops, reply[1]);
        this.runSettle(undo, leaseId, true).catch(() => this.queueUndo(undo, leaseId));
      },
      (err: unknown) => { if (!neverSent(err)) this.queueUndo(undoOps(ops, sentAtUs), leaseId); },
    );
  }

  /**
   * Keep an undo for Redis; sent now when it is connected (`now`), else at the next retry (while
   * connected) or reconnection. An undo older than the mark can do nothing any more: dropped.
   */
  private queueUndo(ops: SettleOp[], leaseId: string, now = true, since = Date.now()): void {
    if (this.closed) return;
    if (Date.now() - since >= DECIDED_MARK_MS) { this.late.expired++; return; }
    if (this.undos.length >= MAX_PENDING_UNDOS) return;
    this.undos.push({ ops, leaseId, since });
    if (now && this.client.status === 'ready') this.flushUndos();
    else this.scheduleUndoRetry();
  }

  /**
   * Retry the undos Redis did not answer (a command timeout while it replays a backlog, not a
   * disconnection: no reconnection would send them again), with backoff; a reconnection sends
   * them at once and starts the backoff over.
   */
  private scheduleUndoRetry(): void {
    if (this.undoRetry || this.closed) return;
    const delay = this.undoRetryMs;
    this.undoRetryMs = Math.min(UNDO_RETRY_MAX_MS, delay * 2);
    this.undoRetry = setTimeout(() => {
      this.undoRetry = null;
      if (this.client.status === 'ready') this.flushUndos(false);
      else if (this.undos.length > 0) this.scheduleUndoRetry();
    }, delay);
    this.undoRetry.unref();
  }

  /** Send the pending undos (`fresh`: on a reconnection, which starts the retry backoff over). */
  private flushUndos(fresh = true): void {
    if (fresh) this.undoRetryMs = UNDO_RETRY_MIN_MS;
    const batch = this.undos;
    this.undos = [];
    for (const { ops, leaseId, since } of batch) {
      this.runSettle(ops, leaseId, true).then(
        (ran) => {
          if (ran) this.late.refunded++;
          else if (Date.now() - since >= DECIDED_MARK_MS) this.late.expired++;
          else this.late.never_ran++;
        },
        () => this.queueUndo(ops, leaseId, false, since),
      );
    }
  }

  /** Redis's maxmemory-policy, or null when it does not tell (CONFIG refused or renamed, no answer). */
  async evictionPolicy(): Promise<string | null> {
    try {
      const reply = await this.timed(this.client.config('GET', 'maxmemory-policy') as Promise<unknown>);
      return Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : null;
    } catch {
      return null;
    }
  }

  /** Add to refusal counters: one HINCRBY per field and an EXPIRE per counter, in one pipeline. */
  async addRefusals(adds: readonly RefusalAdd[], ttlS: number): Promise<void> {
    if (adds.length === 0) return;
    const p = this.client.pipeline();
    for (const add of adds) {
      const key = this.prefix + add.key;
      for (const [field, n] of add.counts) p.hincrby(key, field, n);
      p.expire(key, ttlS);
    }
    const replies = await this.timed(p.exec());
    const failed = replies?.find(([err]) => err);
    if (failed) throw failed[0]!;
  }

  /** Read refusal counters (HGETALL each, in one pipeline). */
  async readRefusals(keys: readonly string[]): Promise<Record<string, number>[]> {
    if (keys.length === 0) return [];
    const p = this.client.pipeline();
    for (const k of keys) p.hgetall(this.prefix + k);
    const replies = (await this.timed(p.exec())) ?? [];
    return keys.map((_, i) => {
      const [err, value] = replies[i] ?? [null, {}];
      if (err) throw err;
      const out: Record<string, number> = {};
      for (const [field, n] of Object.entries((value ?? {}) as Record<string, string>)) out[field] = Number(n);
      return out;
    });
  }

  /** Extend the leases; returns the expired ones removed from their sets meanwhile (see RENEW_LUA). */
  async renew(leases: readonly LeaseRef[], leaseTtlUs: number, nowUs?: number): Promise<number> {
    if (leases.length === 0) return 0;
    const args: (string | number)[] = leases.map((l) => this.prefix + l.key);
    args.push(nowUs === undefined ? '' : nowUs, leaseTtlUs, ...leases.map((l) => l.leaseId));
    return await this.timed(this.scripts.wardenLimitsRenew(leases.length, ...args));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.undoRetry) { clearTimeout(this.undoRetry); this.undoRetry = null; }
    if (!this.ownClient) return;
    // QUIT waits for Redis's answer: one that accepts connections and answers nothing (a
    // black-holed path) would hold the node's stop for good, so it gets a moment, then the socket closes.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), this.quitWaitMs); });
    const answered = await Promise.race([this.client.quit().then(() => true, () => false), late]);
    clearTimeout(timer);
    if (!answered) this.client.disconnect();
  }
}
