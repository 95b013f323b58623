/**
 * Who may read the ledger's transparency routes on the gateway's port when `ledger.public_reads`
 * is off: the admin token, or an API key with the `ledger:read` scope (an auditor's, a
 * partner's). The leaves say which accounts were flagged, at what level and why: a campaign
 * polling them would learn what the detector saw.
 */
import type { FastifyRequest } from 'fastify';
import { constantTimeEqual } from '../identity/keys.ts';
import { apiKeyFromHeaders } from '../identity/headers.ts';

export interface LedgerReadAccess {
  /** The admin token, or null when the admin API is off. */
  adminToken: string | null;
  /** The gateway's authenticator: throws for a key that is unknown, revoked, expired or suspended. */
  authenticate: (secret: string) => Promise<{ key: { scopes: readonly string[] } }>;
}

export function ledgerReadGate(access: LedgerReadAccess): (req: FastifyRequest) => Promise<boolean> {
  return async (req) => {
    let secret: string | null;
    try { secret = apiKeyFromHeaders(req.headers); } catch { return false; }
    if (!secret) return false;
    if (access.adminToken && constantTimeEqual(secret, access.adminToken)) return true;
    try {
      return (await access.authenticate(secret)).key.scopes.includes('ledger:read');
    } catch {
      return false;
    }
  };
}
