/**
 * The authenticator on the request path: an in-memory LRU of lookup id -> key, account and org,
 * so that a known key costs one SHA-256 and a map read (microseconds), not a database query.
 *
 * Freshness: entries live `ttlMs` (default 5 s), so a change made on another node applies within
 * that time at worst; changes made through the same store (admin API, CLI in-process), and with
 * PostgreSQL changes from any node via NOTIFY, drop the affected entries at once. Expiry and
 * rotation grace periods are checked against the clock on every request, not when cached.
 *
 * Stale-if-error: while the store cannot be reached, a key whose entry has expired is still served
 * for up to `staleIfErrorMs` past its ttl (a restart or failover of the database would otherwise be
 * a full outage after `ttlMs`). Nothing can be revoked or suspended while the store is down, and a
 * change notice still drops the entry, so this gives up no freshness that could be had. The store
 * is tried again for that key at most once per `ttlMs`.
 *
 * `last_used_at` is collected in memory and written in one batch every `flushMs`.
 */
import type { AuthContext, KeyScope } from './types.ts';
import { digestsEqual, hashSecret, parseSecret, rememberSecretHash } from './keys.ts';
import { assertUsable, authContextFor, invalidKeyError, malformedKeyError, requireScope, type IdentityChangeNotice, type IdentityStore } from './store.ts';
import { WardenError } from '../errors/index.ts';
import { isPostgresUnavailable } from '../store/index.ts';

export interface CachedAuthenticatorOptions {
  /** How long a positive entry is trusted, ms. 0 disables caching. */
  ttlMs?: number;
  /** How long an unknown lookup id is remembered as unknown, ms. */
  negativeTtlMs?: number;
  /** Most entries kept (positive and negative together). */
  maxEntries?: number;
  /** Interval of the batched last_used_at write, ms. */
  flushMs?: number;
  /** How long past its ttl a cached key is still served while the store is unreachable, ms. 0: never. */
  staleIfErrorMs?: number;
  /** Where the start and end of serving stale entries are said (once per outage each). */
  log?: AuthenticatorLog;
  now?: () => number;
}

export interface AuthenticatorLog {
  warn(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
}

interface Entry {
  /** null: the lookup id is unknown (negative entry). */
  auth: AuthContext | null;
  /** SHA-256 of the secret, hex. */
  hash: string | null;
  expiresAt: number;
  revokedAtMs: number;
  keyExpiresAtMs: number;
  /** Last moment it may be served while the store is unreachable (read time + ttl + stale bound). */
  staleUntil: number;
  /** Served from the cache past its ttl because the store could not be reached. */
  stale: boolean;
  /** When the entry last moved to the recent end of the cache. */
  touchedAt: number;
}

/**
 * A hit moves its entry to the recent end at most this often. Moving is a delete and a set, and
 * doing it on every request made the cache's table reallocate every few requests for a busy key
 * (garbage the young-generation collector copies); eviction order only needs to be this precise.
 */
const TOUCH_EVERY_MS = 1_000;

/**
 * While keys are served stale the store is read once this often (one key lookup), so the
 * recovery is noticed, and said, when the store answers again rather than at the next request
 * that happens to need it (which, on a quiet node, can be long after).
 */
const RECOVERY_PROBE_MS = 1_000;

export interface AuthenticatorStats {
  hits: number;
  misses: number;
  entries: number;
  invalidations: number;
  /** Requests authenticated from an entry past its ttl while the store was unreachable. */
  staleHits: number;
}

export class CachedAuthenticator {
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Map iteration order is insertion order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  /** Secondary indexes so an account or org change drops exactly its keys. */
  private readonly byAccount = new Map<string, Set<string>>();
  private readonly byOrg = new Map<string, Set<string>>();
  private readonly byKeyId = new Map<string, string>();
  /** Concurrent misses for one lookup id share one store read. */
  private readonly inflight = new Map<string, Promise<Entry>>();
  /** Bumped by every invalidation, so a read that raced with one is not cached. */
  private generation = 0;
  private readonly lastUsed = new Map<string, number>();
  /** Accounts first seen in use by this node whose first use the store has not recorded yet. */
  private readonly firstUse = new Map<string, string>();
  private readonly flushTimer: NodeJS.Timeout | null;
  /** The last-use write under way: resolves to whether it succeeded. */
  private flushing: Promise<boolean> | null = null;
  private readonly unsubscribe: () => void;
  private readonly counters = { hits: 0, misses: 0, invalidations: 0, staleHits: 0 };
  private readonly staleIfErrorMs: number;
  private readonly log: AuthenticatorLog | null;
  /** Serving stale entries since then (ms), with how many requests and the key whose read failed; null: the store answers. */
  private staleSince: { at: number; served: number; lookupId: string } | null = null;
  /** Reads the store while stale entries are served (RECOVERY_PROBE_MS); null otherwise. */
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;

  constructor(private readonly store: IdentityStore, opts: CachedAuthenticatorOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5_000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 2_000;
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.staleIfErrorMs = opts.staleIfErrorMs ?? 300_000;
    this.log = opts.log ?? null;
    this.unsubscribe = store.onChange((n) => this.onChange(n));
    const flushMs = opts.flushMs ?? 15_000;
    this.flushTimer = setInterval(() => { void this.flush(); }, flushMs);
    this.flushTimer.unref();
  }

  /**
   * Authenticate a presented secret, optionally requiring a scope. Throws WardenError with
   * WARDEN_INVALID_API_KEY, WARDEN_REVOKED_API_KEY, WARDEN_EXPIRED_API_KEY,
   * WARDEN_ACCOUNT_SUSPENDED or WARDEN_INSUFFICIENT_SCOPE; WARDEN_STORE_UNAVAILABLE (503) when the
   * key is not cached and PostgreSQL cannot be reached.
   */
  async authenticate(secret: string, scope?: KeyScope): Promise<AuthContext> {
    const parsed = parseSecret(secret);
    if (!parsed) throw malformedKeyError();
    const now = this.now();
    let entry = this.entries.get(parsed.lookupId);
    if (entry && entry.expiresAt > now) {
      this.counters.hits++;
      if (entry.stale) this.servedStale(now, parsed.lookupId);
      if (now - entry.touchedAt >= TOUCH_EVERY_MS) {
        // Refresh recency: delete + set moves it to the end of the Map.
        entry.touchedAt = now;
        this.entries.delete(parsed.lookupId);
        this.entries.set(parsed.lookupId, entry);
      }
    } else {
      this.counters.misses++;
      entry = await this.load(parsed.lookupId, entry);
    }
    if (!entry.auth || !entry.hash || !digestsEqual(hashSecret(secret), entry.hash)) throw invalidKeyError();
    if (entry.revokedAtMs <= now || entry.keyExpiresAtMs <= now || entry.auth.account.status !== 'active') {
      assertUsable(entry.auth.key, entry.auth.account, now);
    }
    if (scope) requireScope(entry.auth, scope);
    this.lastUsed.set(entry.auth.key.id, now);
    if (!entry.auth.account.first_used_at) {
      entry.auth = this.withFirstUse(entry.auth, now);
      rememberSecretHash(entry.auth, entry.hash);
    }
    return entry.auth;
  }

  /**
   * First use: the store records it with the batched key use. Until that lands, the time this node
   * first saw the account authenticate stands in, so its first events carry it too (once per cache
   * entry; reloads before the flush keep the same time).
   */
  private withFirstUse(auth: AuthContext, now: number): AuthContext {
    let at = this.firstUse.get(auth.account.id);
    if (!at) { at = new Date(now).toISOString(); this.firstUse.set(auth.account.id, at); }
    return authContextFor({ key: auth.key, account: { ...auth.account, first_used_at: at }, org: auth.org });
  }

  private load(lookupId: string, expired?: Entry): Promise<Entry> {
    const pending = this.inflight.get(lookupId);
    if (pending) return pending;
    const generation = this.generation;
    const p = this.store.lookupKey(lookupId).then((record) => {
      const now = this.now();
      if (this.staleSince) this.storeBack(now);
      const entry: Entry = record
        ? {
            auth: authContextFor(record),
            hash: record.hash,
            expiresAt: now + this.ttlMs,
            revokedAtMs: record.key.revoked_at ? Date.parse(record.key.revoked_at) : Infinity,
            keyExpiresAtMs: record.key.expires_at ? Date.parse(record.key.expires_at) : Infinity,
            staleUntil: now + this.ttlMs + this.staleIfErrorMs,
            stale: false,
            touchedAt: now,
          }
        : { auth: null, hash: null, expiresAt: now + this.negativeTtlMs, revokedAtMs: Infinity, keyExpiresAtMs: Infinity, staleUntil: 0, stale: false, touchedAt: now };
      if (entry.auth && entry.hash) rememberSecretHash(entry.auth, entry.hash);
      const ttl = record ? this.ttlMs : this.negativeTtlMs;
      // An invalidation during the read may mean the row we got is already stale: use it once, do not keep it.
      if (ttl > 0 && generation === this.generation) this.put(lookupId, entry);
      return entry;
    }, (err: unknown) => {
      if (isPostgresUnavailable(err) && expired?.auth) {
        const now = this.now();
        // Still the cached entry (no change notice dropped it meanwhile) and within the stale bound.
        if (this.entries.get(lookupId) === expired && expired.staleUntil > now) {
          expired.stale = true;
          // Try the store again for this key after another ttl, not on every request.
          expired.expiresAt = Math.min(now + Math.max(this.ttlMs, 1_000), expired.staleUntil);
          this.servedStale(now, lookupId);
          return expired;
        }
      }
      // The database is down, not the request wrong: say so, as a 503 the client retries, not a 500.
      if (isPostgresUnavailable(err)) throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'API keys cannot be checked right now (the key store is unreachable); retry shortly.', { headers: { 'retry-after': '1' }, cause: err });
      throw err;
    }).finally(() => { this.inflight.delete(lookupId); });
    this.inflight.set(lookupId, p);
    return p;
  }

  private servedStale(now: number, lookupId: string): void {
    this.counters.staleHits++;
    if (this.staleSince) { this.staleSince.served++; return; }
    this.staleSince = { at: now, served: 1, lookupId };
    this.probeTimer = setInterval(() => this.probe(), RECOVERY_PROBE_MS);
    this.probeTimer.unref();
    this.log?.warn(
      { component: 'identity', code: 'IDENTITY_STALE_AUTH', stale_if_error_ms: this.staleIfErrorMs },
      `identity: the key store is unreachable; serving keys cached on this node for up to ${Math.round(this.staleIfErrorMs / 1000)} s past their ttl (identity.auth_cache.stale_if_error_ms), keys not cached get 503 WARDEN_STORE_UNAVAILABLE`,
    );
  }

  /** One read of the store while stale entries are served: if it answers, the outage is over. */
  private probe(): void {
    const since = this.staleSince;
    if (!since || this.probing) return;
    this.probing = true;
    this.store.lookupKey(since.lookupId).then(
      () => { if (this.staleSince === since) this.storeBack(this.now()); },
      () => { /* still unreachable: the next probe tries again */ },
    ).finally(() => { this.probing = false; });
  }

  /**
   * The store answered a read again. The figure runs from the first key served stale (the first
   * read that failed for a cached key) to this read: a probe's or a request's, whichever came first.
   */
  private storeBack(now: number): void {
    const since = this.staleSince!;
    this.staleSince = null;
    if (this.probeTimer) { clearInterval(this.probeTimer); this.probeTimer = null; }
    // Entries still marked stale are read afresh at their next use, not served as stale again
    // (which would say the store is unreachable while it answers).
    for (const e of this.entries.values()) if (e.stale) { e.stale = false; e.expiresAt = Math.min(e.expiresAt, now); }
    this.log?.info(
      { component: 'identity', code: 'IDENTITY_STORE_RECOVERED', seconds: Math.round((now - since.at) / 100) / 10, served_stale: since.served },
      `identity: the key store answers again, ${((now - since.at) / 1000).toFixed(1)} s after the first key served from the cache past its ttl; ${since.served} requests were authenticated that way`,
    );
  }

  /**
   * Whether this node can serve some keys while the store is unreachable (an entry within its
   * stale bound): it then stays ready, so a load balancer keeps sending it the keys it knows.
   */
  servesStale(): boolean {
    if (this.staleIfErrorMs <= 0) return false;
    const now = this.now();
    for (const e of this.entries.values()) if (e.auth && e.staleUntil > now) return true;
    return false;
  }

  private put(lookupId: string, entry: Entry): void {
    this.remove(lookupId);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.remove(oldest);
    }
    this.entries.set(lookupId, entry);
    if (entry.auth) {
      const { key, account, org } = entry.auth;
      this.byKeyId.set(key.id, lookupId);
      index(this.byAccount, account.id, lookupId);
      if (org) index(this.byOrg, org.id, lookupId);
    }
  }

  private remove(lookupId: string): void {
    const e = this.entries.get(lookupId);
    if (!e) return;
    this.entries.delete(lookupId);
    if (e.auth) {
      const { key, account, org } = e.auth;
      this.byKeyId.delete(key.id);
      unindex(this.byAccount, account.id, lookupId);
      if (org) unindex(this.byOrg, org.id, lookupId);
    }
  }

  private onChange(n: IdentityChangeNotice): void {
    this.generation++;
    this.counters.invalidations++;
    switch (n.type) {
      case 'key': {
        this.remove(n.lookup_id);
        const l = this.byKeyId.get(n.id);
        if (l) this.remove(l);
        break;
      }
      case 'account':
        for (const l of [...(this.byAccount.get(n.id) ?? [])]) this.remove(l);
        break;
      case 'org':
        for (const l of [...(this.byOrg.get(n.id) ?? [])]) this.remove(l);
        break;
      case 'all':
        this.clear();
        break;
    }
  }

  /** Drop every cached entry. */
  clear(): void {
    this.generation++;
    this.entries.clear();
    this.byAccount.clear();
    this.byOrg.clear();
    this.byKeyId.clear();
  }

  /** Write collected last-use times now (also runs on a timer and on close). */
  async flush(): Promise<void> {
    await this.writeLastUsed();
  }

  /** One write of the collected last-use times (or the one under way); resolves to whether it succeeded. */
  private writeLastUsed(): Promise<boolean> {
    if (this.flushing) return this.flushing;
    if (this.lastUsed.size === 0) return Promise.resolve(true);
    const batch = new Map(this.lastUsed);
    this.lastUsed.clear();
    const firsts = new Map(this.firstUse);
    this.flushing = this.store.touchKeys(batch, firsts).then(() => {
      for (const id of firsts.keys()) this.firstUse.delete(id);
      return true;
    }, () => {
      // Keep the newest time for the next attempt; last use is advisory, never worth failing requests.
      for (const [id, t] of batch) if ((this.lastUsed.get(id) ?? 0) < t) this.lastUsed.set(id, t);
      return false;
    }).finally(() => { this.flushing = null; });
    return this.flushing;
  }

  stats(): AuthenticatorStats {
    return { ...this.counters, entries: this.entries.size };
  }

  /** Stop the timer, flush last-use times and stop listening for changes. */
  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.probeTimer) { clearInterval(this.probeTimer); this.probeTimer = null; }
    this.unsubscribe();
    // Then the uses recorded while an earlier write was under way; not a second wait on a store that failed (or timed out) just now.
    if (await this.writeLastUsed()) await this.writeLastUsed();
  }
}

function index(m: Map<string, Set<string>>, id: string, lookupId: string): void {
  let s = m.get(id);
  if (!s) { s = new Set(); m.set(id, s); }
  s.add(lookupId);
}

function unindex(m: Map<string, Set<string>>, id: string, lookupId: string): void {
  const s = m.get(id);
  if (!s) return;
  s.delete(lookupId);
  if (s.size === 0) m.delete(id);
}
