/**
 * Redis counters shared by every node: each decision is one EVALSHA of an atomic Lua script
 * (ioredis `defineCommand`, which falls back to EVAL after a Redis restart flushed the script
 * cache). Commands fail fast while disconnected (no offline queue) so the limiter's circuit
 * breaker can react; ioredis keeps reconnecting in the background, so recovery needs no restart.
 */
import { Redis } from 'ioredis';
import { DECIDE_LUA, RENEW_LUA, SETTLE_LUA } from './lua.ts';
import type { LeaseRef, LimitsBackend, MeterOp, MeterOutcome, RawDecision, SettleOp } from './meters.ts';

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

  constructor(opts: RedisBackendOptions) {
    this.prefix = opts.keyPrefix ?? '';
    if (opts.client) {
      this.client = opts.client;
      this.ownClient = false;
    } else {
      if (!opts.url) throw new Error('RedisBackend needs a url or a client');
      this.client = new Redis(opts.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: opts.commandTimeoutMs ?? 100,
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
    this.client.defineCommand('wardenLimitsDecide', { lua: DECIDE_LUA });
    this.client.defineCommand('wardenLimitsSettle', { lua: SETTLE_LUA });
    this.client.defineCommand('wardenLimitsRenew', { lua: RENEW_LUA });
    this.scripts = this.client as unknown as ScriptedRedis;
  }

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
    const reply = await this.scripts.wardenLimitsDecide(n, ...args);
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
    await this.scripts.wardenLimitsSettle(n, ...args);
  }

  async renew(leases: readonly LeaseRef[], leaseTtlUs: number, nowUs?: number): Promise<void> {
    if (leases.length === 0) return;
    const args: (string | number)[] = leases.map((l) => this.prefix + l.key);
    args.push(nowUs === undefined ? '' : nowUs, leaseTtlUs, ...leases.map((l) => l.leaseId));
    await this.scripts.wardenLimitsRenew(leases.length, ...args);
  }

  async close(): Promise<void> {
    if (!this.ownClient) return;
    try { await this.client.quit(); } catch { this.client.disconnect(); }
  }
}
