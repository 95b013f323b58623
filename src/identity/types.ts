/**
 * Identity types: organisations, accounts, API keys, verification tiers and programmes, and the
 * signup facts that later catch fraud. Shared by the gateway, admin API, limits, detector and
 * traffic model; implementation lives beside this file.
 */
import type { VerificationTier, Programme } from '../events/index.ts';
export type { VerificationTier, Programme };

export const VERIFICATION_TIERS: readonly VerificationTier[] = ['unverified', 'email_verified', 'identity_verified', 'enterprise'];
export const PROGRAMMES: readonly Programme[] = ['none', 'education', 'research', 'startup'];

/**
 * Scopes a key can carry. `inference` covers all model endpoints; `models:read` only GET /v1/models.
 * `intel:read` and `intel:write` are for partner providers on the TAXII 2.1 server (read this
 * provider's published indicators; add theirs to its inbox) and grant no model endpoint.
 * `ledger:read` reads the ledger's transparency routes (checkpoint, key, proofs, entries) for an
 * auditor or partner when `ledger.public_reads` is off, and grants no model endpoint either.
 * `usage:read` reads the account's own usage and limits (`GET /v1/warden/usage`, which `inference`
 * reads too) and grants no model endpoint; `usage:read:org` adds its organisation's usage and meters.
 */
export type KeyScope = 'inference' | 'models:read' | 'intel:read' | 'intel:write' | 'ledger:read' | 'usage:read' | 'usage:read:org';
export const KEY_SCOPES: readonly KeyScope[] = ['inference', 'models:read', 'intel:read', 'intel:write', 'ledger:read', 'usage:read', 'usage:read:org'];
/**
 * What each scope grants, in a line: the dashboard's key form offers every scope here with it (a
 * new scope without a line does not compile), so the form cannot fall behind the scopes a key takes.
 */
export const KEY_SCOPE_GRANTS: Readonly<Record<KeyScope, string>> = {
  inference: 'every model endpoint (the model list and the key\'s own usage included)',
  'models:read': 'the model list only (GET /v1/models)',
  'intel:read': 'partner providers: read this provider\'s published indicators (TAXII)',
  'intel:write': 'partner providers: add their indicators to the inbox (TAXII)',
  'ledger:read': 'auditors: the ledger\'s transparency routes when they are not public',
  'usage:read': 'the account\'s own usage and limits (GET /v1/warden/usage), no model endpoint',
  'usage:read:org': 'the account\'s and its organisation\'s usage and meters, no model endpoint',
};
/** The scopes the dashboard's key form starts with checked (a key for model calls). */
export const DEFAULT_KEY_SCOPES: readonly KeyScope[] = ['inference', 'models:read'];

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
  /**
   * The ISO 3166-2 subdivision the customer declared (`UA-30`, `UA-43`), upper-cased, in
   * `claimed_country`; null when none was declared. Policy rules `claimed_subdivision` and
   * `claimed_region` read it at the gateway. Optional: records made before it was kept have none.
   */
  claimed_subdivision?: string | null;
  payment_fp: string | null;
  user_agent?: string | null;
  /**
   * Keyed hash of the email's pattern (local part without separators and its trailing number, plus
   * the domain) when the local part ends in a number; accounts numbered in sequence share it.
   */
  email_pattern?: string | null;
}

export interface Account extends SignupFacts {
  id: string;
  org_id: string | null;
  name: string | null;
  tier: VerificationTier;
  programme: Programme;
  status: AccountStatus;
  created_at: string;
  /**
   * When one of the account's keys was first used (recorded with the keys' last use, so to that
   * flush interval); null until then. An account created long ago and first used today has no
   * more history than a new one.
   */
  first_used_at?: string | null;
}

/** What a listing of accounts shows beside an id: its name, email and organisation (`IdentityStore.accountNames`). */
export interface AccountName {
  id: string;
  name: string | null;
  email: string | null;
  org_id: string | null;
  /** The organisation's name; null without an organisation. */
  org_name: string | null;
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
  /** When the key stops working. In the future while a rotated key is in its grace period. */
  revoked_at: string | null;
  /** Written in batches, so it lags real use by up to `identity.last_used_flush_ms`. */
  last_used_at: string | null;
  /** Id of the key that replaced this one when it was rotated. */
  replaced_by?: string | null;
}

/** Where a key stands at a given moment (derived, not stored). */
export type KeyStatus = 'active' | 'rotating' | 'revoked' | 'expired';

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

/** Who made a change and why; recorded with every tier, programme and status change. */
export interface Actor {
  /** Operator or system that made the change, e.g. `admin-api`, `cli:alice`, `detector`. */
  by: string;
  reason?: string | null;
}

/** One recorded change to an organisation, account or key. */
export interface IdentityChange {
  id: string;
  at: string;
  subject_type: 'org' | 'account' | 'key';
  subject_id: string;
  /** create, update, tier, programme, status, revoke, rotate. */
  action: string;
  field: string | null;
  old_value: string | null;
  new_value: string | null;
  actor: string;
  reason: string | null;
}

/** One page of a listing, newest first; pass `next_cursor` back as `cursor` for the next page. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}
