/**
 * Wrong admin tokens are throttled per client address: past `admin.failed_auth_limit` requests
 * that presented a token that is not accepted within `admin.failed_auth_window_s`, the address's
 * admin requests (the dashboard's included: its data comes from /admin) get 429 with
 * `retry-after` for `admin.failed_auth_block_s`, before their token is checked, so that guessing
 * goes no faster than that whatever is sent. A request with no token at all guesses nothing and is
 * not counted; an accepted token clears its address's count. Counted per node, in memory: with
 * several nodes behind one balancer a guesser gets the limit on each.
 *
 * The address is the caller's (`clientKey`): the same client address as the gateway's
 * (`server.trusted_proxies`), IPv6 grouped by /64, so that behind a proxy each operator is their
 * own address rather than all sharing the proxy's.
 */
export interface AuthThrottleSettings {
  /** Failures from one address within the window that block it; 0: no throttling. */
  limit: number;
  windowS: number;
  blockS: number;
}

/** Reported once when an address becomes blocked (never the token). */
export interface AuthBlock {
  address: string;
  failures: number;
  window_s: number;
  /** ISO 8601. */
  until: string;
}

/** Addresses remembered at once; past it the oldest are forgotten (a guesser with many addresses gains no more than an address each). */
const MAX_ADDRESSES = 100_000;

export class AdminAuthThrottle {
  private readonly entries = new Map<string, { start: number; n: number; blockedUntil: number }>();
  /** Presented tokens refused (counted), and requests refused with 429 without their token checked. */
  readonly stats = { failures: 0, refused: 0 };
  private readonly now: () => number;

  constructor(readonly settings: AuthThrottleSettings, private readonly opts: { onBlock?: (block: AuthBlock) => void; now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
  }

  get enabled(): boolean { return this.settings.limit > 0; }

  /** Seconds until `address` may try again (at least 1), or 0 when it is not blocked. */
  retryAfter(address: string): number {
    if (!this.enabled) return 0;
    const e = this.entries.get(address);
    if (!e || e.blockedUntil === 0) return 0;
    const left = e.blockedUntil - this.now();
    if (left <= 0) { this.entries.delete(address); return 0; }
    this.stats.refused++;
    return Math.max(1, Math.ceil(left / 1000));
  }

  /** A token presented from `address` was not accepted. */
  failed(address: string): void {
    this.stats.failures++;
    if (!this.enabled) return;
    const t = this.now();
    let e = this.entries.get(address);
    if (!e || (e.blockedUntil === 0 && t - e.start >= this.settings.windowS * 1000) || (e.blockedUntil !== 0 && t >= e.blockedUntil)) {
      this.entries.delete(address);
      if (this.entries.size >= MAX_ADDRESSES) this.entries.delete(this.entries.keys().next().value!);
      e = { start: t, n: 0, blockedUntil: 0 };
      this.entries.set(address, e);
    }
    e.n++;
    if (e.blockedUntil === 0 && e.n >= this.settings.limit) {
      e.blockedUntil = t + this.settings.blockS * 1000;
      try {
        this.opts.onBlock?.({ address, failures: e.n, window_s: this.settings.windowS, until: new Date(e.blockedUntil).toISOString() });
      } catch { /* a listener must not break the admin API */ }
    }
  }

  /** A token from `address` was accepted: its earlier failures (a mistyped token) are forgotten. */
  succeeded(address: string): void {
    const e = this.entries.get(address);
    if (e && e.blockedUntil === 0) this.entries.delete(address);
  }

  /** Addresses blocked now. */
  blockedCount(): number {
    const t = this.now();
    let n = 0;
    for (const e of this.entries.values()) if (e.blockedUntil > t) n++;
    return n;
  }
}
