/**
 * The admin tokens a node accepts: the current one, and while a rotation is under way the previous
 * one until its expiry (`admin.previous_token`, `admin.previous_token_expires_at`). Both compared in
 * constant time. Used by the admin API and by the ledger's read gate.
 */
import { constantTimeEqual } from '../identity/index.ts';

/** What a presented bearer secret is: the current token, the previous one (in time, or expired), or neither. */
export type AdminTokenMatch = 'current' | 'previous' | 'previous_expired' | null;

export interface PreviousAdminToken {
  token: string;
  /** When it stops being accepted, ms since the epoch. */
  expiresAt: number;
}

export class AdminTokens {
  readonly current: string | null;
  readonly previous: PreviousAdminToken | null;
  private readonly now: () => number;

  constructor(current: string | null, previous: PreviousAdminToken | null = null, opts: { now?: () => number } = {}) {
    this.current = current || null;
    // A previous token without a current one would be the only way in: a rotation away from a working token is never that.
    this.previous = this.current && previous?.token ? previous : null;
    this.now = opts.now ?? Date.now;
  }

  /** Whether the admin API is on (a current token is configured). */
  get enabled(): boolean { return this.current !== null; }

  match(presented: string): AdminTokenMatch {
    if (!presented || this.current === null) return null;
    // Both compared, whichever matches: the time taken says nothing about which one it was.
    const isCurrent = constantTimeEqual(presented, this.current);
    const isPrevious = this.previous !== null && constantTimeEqual(presented, this.previous.token);
    if (isCurrent) return 'current';
    if (!isPrevious) return null;
    return this.now() < this.previous!.expiresAt ? 'previous' : 'previous_expired';
  }

  /** Whether `presented` is accepted now: the current token, or the previous one before its expiry. */
  accepts(presented: string): boolean {
    const m = this.match(presented);
    return m === 'current' || m === 'previous';
  }
}

/** Who presented the previous token, as logged so the operator can find the script or node (never the token). */
export interface PreviousTokenUse {
  /** `previous` (accepted) or `previous_expired` (refused). */
  match: 'previous' | 'previous_expired';
  ip: string;
  user_agent: string | null;
  /** The `x-warden-actor` header as sent (the CLI sends `cli:<user>`), or null. */
  actor: string | null;
  method: string;
  path: string;
  /** ISO 8601. */
  expires_at: string;
}

/** Each (client, actor, user agent, accepted or not) is logged at most once per this long, ms: a script polling every second is one line, not thousands. */
const LOG_EVERY_MS = 10 * 60_000;
/** Distinct callers remembered for that; past it the memory is cleared (a burst of new callers is logged again). */
const MAX_CALLERS = 1000;

/**
 * Report uses of the previous admin token: `count` for every use (a metric), `log` once per caller
 * per LOG_EVERY_MS with `repeats` (uses since its last line).
 */
export function previousTokenReporter(report: { count: (use: PreviousTokenUse) => void; log: (use: PreviousTokenUse, repeats: number) => void }, now: () => number = Date.now): (use: PreviousTokenUse) => void {
  const callers = new Map<string, { at: number; repeats: number }>();
  return (use) => {
    report.count(use);
    const key = `${use.match}\u0000${use.ip}\u0000${use.actor ?? ''}\u0000${use.user_agent ?? ''}`;
    const seen = callers.get(key);
    const t = now();
    if (seen && t - seen.at < LOG_EVERY_MS) { seen.repeats++; return; }
    if (!seen && callers.size >= MAX_CALLERS) callers.clear();
    callers.set(key, { at: t, repeats: 0 });
    report.log(use, seen?.repeats ?? 0);
  };
}
