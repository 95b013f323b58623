/**
 * Who may read the ledger's transparency routes on the gateway's port when `ledger.public_reads`
 * is off: the admin token, or an API key with the `ledger:read` scope (an auditor's, a
 * partner's). The leaves say which accounts were flagged, at what level and why: a campaign
 * polling them would learn what the detector saw.
 */
import type { FastifyRequest } from 'fastify';
import { apiKeyFromHeaders } from '../identity/headers.ts';
import { AdminTokens } from '../admin/tokens.ts';
import type { AdminAuthThrottle } from '../admin/auth-throttle.ts';

export interface LedgerReadAccess {
  /** The admin token (or the tokens accepted during a rotation), or null when the admin API is off. */
  adminToken: string | AdminTokens | null;
  /** The gateway's authenticator: throws for a key that is unknown, revoked, expired or suspended. */
  authenticate: (secret: string) => Promise<{ key: { scopes: readonly string[] } }>;
  /**
   * The admin API's wrong-token throttle: these reads take the admin token too, so a guess here
   * counts as one there, and a blocked address is refused (429) before its secret is checked.
   */
  throttle?: AdminAuthThrottle;
  /** The caller's address the throttle counts under; `request.ip` by default. */
  clientKey?: (req: FastifyRequest) => string;
}

/** The read gate's answer: allowed, or refused (401), or refused for `retryAfter` seconds without a check (429). */
export type ReadDecision = boolean | { retryAfter: number };

export function ledgerReadGate(access: LedgerReadAccess): (req: FastifyRequest) => Promise<ReadDecision> {
  const tokens = access.adminToken instanceof AdminTokens ? access.adminToken : new AdminTokens(access.adminToken || null);
  const throttle = access.throttle ?? null;
  const keyOf = access.clientKey ?? ((req: FastifyRequest) => req.ip);
  return async (req) => {
    let secret: string | null;
    try { secret = apiKeyFromHeaders(req.headers); } catch { return false; }
    if (!secret) return false;
    const address = throttle ? keyOf(req) : '';
    const wait = throttle ? throttle.retryAfter(address) : 0;
    if (wait > 0) return { retryAfter: wait };
    if (tokens.accepts(secret)) { throttle?.succeeded(address); return true; }
    let auth: { key: { scopes: readonly string[] } };
    try {
      auth = await access.authenticate(secret);
    } catch (err) {
      // Neither the admin token nor a key: a guess (the store being away is not).
      if ((err as { code?: string })?.code !== 'WARDEN_STORE_UNAVAILABLE') throttle?.failed(address);
      return false;
    }
    return auth.key.scopes.includes('ledger:read');
  };
}
