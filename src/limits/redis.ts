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
 * (it may or may not have run) has its leases released once Redis is back.
 */
import { Redis } from 'ioredis';
import { DECIDE_LUA, RENEW_LUA, SETTLE_LUA } from './lua.ts';
import { budgetWindow, type LeaseRef, type LimitsBackend, type MeterOp, type MeterOutcome, type RawDecision, type SettleOp } from './meters.ts';

/** Releases kept for a Redis that is away; beyond this the leases expire on their own (lease_ms). */
const MAX_PENDING_RELEASES = 10_000;

/** ioredis refused the command while disconnected (no offline queue): it never reached Redis. */
function neverSent(err: unknown): boolean {
  return err instanceof Error && /enableOfflineQueue/.test(err.message);
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

interface ScriptedRedis {
  wardenLimitsDecide(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  wardenLimitsSettle(numKeys: number, ...args: (string | number)[]): Promise<number>;
  wardenLimitsRenew(numKeys: number, ...args: (string | number)[]): Promise<number>;
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
}

export class RedisBackend implements LimitsBackend {
  readonly name = 'redis' as const;
  readonly client: Redis;
  private readonly scripts: ScriptedRedis;
  private readonly ownClient: boolean;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  /** Leases of decisions whose connection was lost, released once Redis answers again. */
  private releases: { ops: SettleOp[]; leaseId: string }[] = [];
  /** Decisions answered after they were given up on, and undone (for tests and metrics). */
  readonly late = { undone: 0, released: 0 };

  constructor(opts: RedisBackendOptions) {
    this.prefix = opts.keyPrefix ?? '';
    this.timeoutMs = opts.commandTimeoutMs ?? 100;
    if (opts.client) {
      this.client = opts.client;
      this.ownClient = false;
    } else {
      if (!opts.url) throw new Error('RedisBackend needs a url or a client');
      this.client = new Redis(opts.url, {
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
    this.client.on('error', (err: Error) => { onError?.(err); });
    this.client.on('ready', () => this.flushReleases());
    this.client.defineCommand('wardenLimitsDecide', { lua: DECIDE_LUA });
    this.client.defineCommand('wardenLimitsSettle', { lua: SETTLE_LUA });
    this.client.defineCommand('wardenLimitsRenew', { lua: RENEW_LUA });
    this.scripts = this.client as unknown as ScriptedRedis;
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
    const args: (string | number)[] = new Array(n + 3 + n * 4);
    for (let i = 0; i < n; i++) args[i] = this.prefix + ops[i].key;
    args[n] = nowUs === undefined ? '' : nowUs;
    args[n + 1] = leaseId;
    args[n + 2] = leaseTtlUs;
    let j = n + 3;
    for (const op of ops) {
      if (op.type === 'gcra') { args[j++] = 'g'; args[j++] = op.intervalUs; args[j++] = op.toleranceUs; args[j++] = op.cost; }
      else if (op.type === 'concurrency') { args[j++] = 'c'; args[j++] = op.limit; args[j++] = 0; args[j++] = 0; }
      else { args[j++] = 'b'; args[j++] = op.window === 'day' ? 'd' : 'm'; args[j++] = op.limit; args[j++] = op.cost; }
    }
    const sent = this.scripts.wardenLimitsDecide(n, ...args);
    let reply: number[];
    try {
      reply = await this.timed(sent);
    } catch (err) {
      this.undoLate(sent, ops, leaseId);
      throw err;
    }
    const outcomes: MeterOutcome[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const b = 2 + i * 4;
      outcomes[i] = { ok: reply[b] === 1, remaining: reply[b + 1], resetUs: reply[b + 2], retryUs: reply[b + 3] };
    }
    return { allowed: reply[0] === 1, nowUs: reply[1], outcomes };
  }

  async settle(ops: readonly SettleOp[], leaseId: string, nowUs?: number): Promise<void> {
    if (ops.length === 0) return;
    const n = ops.length;
    const args: (string | number)[] = [];
    for (const op of ops) args.push(this.prefix + op.key);
    args.push(nowUs === undefined ? '' : nowUs, leaseId);
    for (const op of ops) {
      if (op.type === 'gcra') args.push('g', op.intervalUs, op.delta);
      else if (op.type === 'concurrency') args.push('c', 0, 0);
      else args.push('b', op.windowId, op.delta);
    }
    await this.timed(this.scripts.wardenLimitsSettle(n, ...args));
  }

  /** Reject after the command timeout (the command itself goes on: see undoLate). */
  private timed<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Command timed out (Redis did not answer within ${this.timeoutMs} ms)`)), this.timeoutMs);
      p.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
    });
  }

  /**
   * A decision given up on: when Redis answers it after all, undo an admission (leases released,
   * meters refunded: the limiter charged the request elsewhere); when its connection is lost, it
   * may have run, so its leases are released once Redis is back (releasing a lease never taken does
   * nothing). Its meters are not refunded then: nothing tells whether they were charged.
   */
  private undoLate(sent: Promise<number[]>, ops: readonly MeterOp[], leaseId: string): void {
    sent.then(
      (reply) => {
        if (reply[0] !== 1) return;
        this.late.undone++;
        this.settle(undoOps(ops, reply[1]), leaseId).catch(() => this.queueRelease(ops, leaseId));
      },
      (err: unknown) => { if (!neverSent(err)) this.queueRelease(ops, leaseId); },
    );
  }

  /** Keep a release for Redis; sent now when it is connected (`now`), else at its next reconnection. */
  private queueRelease(ops: readonly (MeterOp | SettleOp)[], leaseId: string, now = true): void {
    const release: SettleOp[] = [];
    for (const op of ops) if (op.type === 'concurrency') release.push({ type: 'concurrency', key: op.key });
    if (release.length === 0 || this.releases.length >= MAX_PENDING_RELEASES) return;
    this.releases.push({ ops: release, leaseId });
    if (now && this.client.status === 'ready') this.flushReleases();
  }

  private flushReleases(): void {
    const batch = this.releases;
    this.releases = [];
    for (const { ops, leaseId } of batch) {
      this.settle(ops, leaseId).then(() => { this.late.released++; }, () => this.queueRelease(ops, leaseId, false));
    }
  }

  async renew(leases: readonly LeaseRef[], leaseTtlUs: number, nowUs?: number): Promise<void> {
    if (leases.length === 0) return;
    const args: (string | number)[] = leases.map((l) => this.prefix + l.key);
    args.push(nowUs === undefined ? '' : nowUs, leaseTtlUs, ...leases.map((l) => l.leaseId));
    await this.timed(this.scripts.wardenLimitsRenew(leases.length, ...args));
  }

  async close(): Promise<void> {
    if (!this.ownClient) return;
    try { await this.client.quit(); } catch { this.client.disconnect(); }
  }
}
