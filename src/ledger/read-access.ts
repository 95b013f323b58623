/**
 * Who may read the ledger's transparency routes on the gateway's port when `ledger.public_reads`
 * is off: the admin token, or an API key with the `ledger:read` scope (an auditor's, a
 * partner's). The leaves say which accounts were flagged, at what level and why: a campaign
 * polling them would learn what the detector saw.
 */
import type { FastifyRequest } from 'fastify';
import { apiKeyFromHeaders } from '../identity/headers.ts';
import { AdminTokens } from '../admin/tokens.ts';

export interface LedgerReadAccess {
  /** The admin token (or the tokens accepted during a rotation), or null when the admin API is off. */
  adminToken: string | AdminTokens | null;
  /** The gateway's authenticator: throws for a key that is unknown, revoked, expired or suspended. */
  authenticate: (secret: string) => Promise<{ key: { scopes: readonly string[] } }>;
}

export function ledgerReadGate(access: LedgerReadAccess): (req: FastifyRequest) => Promise<boolean> {
  const tokens = access.adminToken instanceof AdminTokens ? access.adminToken : new AdminTokens(access.adminToken || null);
  return async (req) => {
    let secret: string | null;
    try { secret = apiKeyFromHeaders(req.headers); } catch { return false; }
    if (!secret) return false;
    if (tokens.accepts(secret)) return true;
    try {
      return (await access.authenticate(secret)).key.scopes.includes('ledger:read');
    } catch {
      return false;
    }
  };
}
