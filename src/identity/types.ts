/**
 * Identity types: organisations, accounts, API keys, verification tiers and programmes, and the
 * signup facts that later catch fraud. Shared by the gateway, admin API, limits, detector and
 * traffic model; implementation lives beside this file.
 */
import type { VerificationTier, Programme } from '../events/index.ts';
export type { VerificationTier, Programme };

export const VERIFICATION_TIERS: readonly VerificationTier[] = ['unverified', 'email_verified', 'identity_verified', 'enterprise'];
export const PROGRAMMES: readonly Programme[] = ['none', 'education', 'research', 'startup'];

/** Scopes a key can carry. `inference` covers all model endpoints; `models:read` only GET /v1/models. */
export type KeyScope = 'inference' | 'models:read';
export const KEY_SCOPES: readonly KeyScope[] = ['inference', 'models:read'];

export type AccountStatus = 'active' | 'suspended';

export interface Organisation {
  id: string;
  name: string;
  tier: VerificationTier;
  programme: Programme;
  created_at: string;
}

/** Facts collected at signup. Payment is a keyed hash (HMAC) of the instrument, never card data. */
export interface SignupFacts {
  email: string | null;
  email_domain: string | null;
  signup_ip: string | null;
  claimed_country: string | null;
  payment_fp: string | null;
  user_agent?: string | null;
}

export interface Account extends SignupFacts {
  id: string;
  org_id: string | null;
  name: string | null;
  tier: VerificationTier;
  programme: Programme;
  status: AccountStatus;
  created_at: string;
}

export interface ApiKey {
  id: string;
  account_id: string;
  /** Public lookup prefix, e.g. `wk_live_3f9a2c1b`; shown in listings. */
  prefix: string;
  name: string | null;
  scopes: KeyScope[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** A key as created: the only time its secret is returned. */
export interface CreatedKey {
  key: ApiKey;
  secret: string;
}

/** What the gateway knows about the caller after authentication. */
export interface AuthContext {
  key: ApiKey;
  account: Account;
  org: Organisation | null;
  /** Effective tier: the higher of account and org tier. */
  tier: VerificationTier;
  programme: Programme;
}
