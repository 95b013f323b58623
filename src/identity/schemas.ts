/**
 * Zod schemas for identity objects and the inputs that create or change them. The stores validate
 * their inputs with these, and the admin API uses the same schemas for request validation and
 * for its OpenAPI document, so the three can never disagree.
 */
import { z } from 'zod';
import { isCountryCode } from './countries.ts';
import { isIP } from 'node:net';
import { VerificationTier, Programme } from '../events/index.ts';
import { KEY_SCOPES, type KeyScope as KeyScopeName } from './types.ts';

export { VerificationTier, Programme };
/** The scopes of types.ts (`KEY_SCOPES`): one list, which the admin API, the CLI and the dashboard's key form all read. */
export const KeyScope = z.enum(KEY_SCOPES as readonly KeyScopeName[] as [KeyScopeName, ...KeyScopeName[]]);
export const AccountStatus = z.enum(['active', 'suspended']);
export const KeyStatus = z.enum(['active', 'rotating', 'revoked', 'expired']);

const isoDateTime = z.iso.datetime({ offset: true });
/** Clocks disagree a little: a signup time this far ahead of ours is still taken as now. */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Characters refused in a name (an organisation's, an account's, a key's), on top of those the
 * change history refuses (see UNRECORDABLE below): the invisible ones that make two names look the
 * same in a listing or the dashboard, a zero-width space (U+200B), a word joiner and the invisible
 * operators (U+2060-U+2064), a byte order mark (U+FEFF), a soft hyphen (U+00AD) and the Mongolian
 * vowel separator (U+180E). The zero-width non-joiner and joiner (U+200C, U+200D) stay: Persian and
 * Indic names are spelt with them, and emoji sequences are joined by them.
 */
const INVISIBLE_IN_NAME = /[\u00ad\u180e\u200b\u2060-\u2064\ufeff]/u;

/** A name as the identity objects record it: trimmed, 1 to `max` characters, nothing a terminal or a reader would take for something else. */
const nameText = (max: number) => z.string().trim().min(1).max(max).superRefine((s, ctx) => {
  const m = UNRECORDABLE.exec(s) ?? INVISIBLE_IN_NAME.exec(s);
  if (m) ctx.addIssue({ code: 'custom', message: `${codePointName(m[0])} is not allowed in a name (control, bidirectional-control and invisible characters are refused)` });
});
const optionalName = (max: number) => nameText(max).nullable().optional();

/**
 * An ISO 3166-2 subdivision code as a customer declares it (any case): an assigned country's
 * alpha-2 code, a hyphen, 1-3 letters or digits (`UA-43`, `ua-30`, `GB-SCT`). Upper-cased.
 */
export const ClaimedSubdivision = z.string().trim()
  .regex(/^[A-Za-z]{2}-[A-Za-z0-9]{1,3}$/, 'ISO 3166-2 subdivision code, such as UA-30')
  .refine((s) => isCountryCode(s.slice(0, 2)), { error: (iss) => `${String(iss.input).trim().slice(0, 2).toUpperCase()} is not an assigned ISO 3166-1 alpha-2 country code` })
  .transform((s) => s.toUpperCase());

export const CreateOrgInput = z.strictObject({
  name: nameText(200),
  tier: VerificationTier.default('unverified'),
  programme: Programme.default('none'),
});
export type CreateOrgInput = z.input<typeof CreateOrgInput>;

export const UpdateOrgInput = z.strictObject({
  name: nameText(200).optional(),
  programme: Programme.optional(),
});
export type UpdateOrgInput = z.input<typeof UpdateOrgInput>;

export const CreateAccountInput = z.strictObject({
  org_id: z.string().min(1).nullable().optional(),
  name: optionalName(200),
  tier: VerificationTier.default('unverified'),
  programme: Programme.default('none'),
  email: z.email().max(320).nullable().optional(),
  signup_ip: z.string().refine((s) => isIP(s.replace(/^\[|\]$/g, '')) !== 0, 'not an IP address').nullable().optional(),
  claimed_country: z.string().regex(/^[A-Za-z]{2}$/, 'ISO 3166-1 alpha-2 country code')
    .refine(isCountryCode, { error: (iss) => `${String(iss.input).toUpperCase()} is not an assigned ISO 3166-1 alpha-2 country code` }).nullable().optional(),
  /** ISO 3166-2 subdivision the customer declared; its country is the claimed country (given or not). */
  claimed_subdivision: ClaimedSubdivision.nullable().optional(),
  /** Payment instrument (ideally the processor's instrument fingerprint). Only its HMAC is stored. */
  payment_instrument: z.string().min(1).max(512).nullable().optional(),
  /** An already keyed fingerprint (64 hex chars), e.g. when importing accounts. */
  payment_fp: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex characters (HMAC-SHA256)').nullable().optional(),
  user_agent: z.string().max(1024).nullable().optional(),
  /** Signup time when importing existing accounts; defaults to now. */
  created_at: isoDateTime.refine((t) => Date.parse(t) <= Date.now() + CLOCK_SKEW_MS, 'is in the future: an imported account\'s signup time must be in the past').optional(),
}).refine((v) => !(v.payment_instrument && v.payment_fp), { message: 'give payment_instrument or payment_fp, not both', path: ['payment_fp'] })
  .refine((v) => !(v.claimed_subdivision && v.claimed_country && v.claimed_country.toUpperCase() !== v.claimed_subdivision.slice(0, 2)), {
    error: (iss) => {
      const v = iss.input as { claimed_country: string; claimed_subdivision: string };
      return `claimed_subdivision ${v.claimed_subdivision} is not in claimed_country ${v.claimed_country.toUpperCase()}`;
    },
    path: ['claimed_subdivision'],
  });
export type CreateAccountInput = z.input<typeof CreateAccountInput>;

export const UpdateAccountInput = z.strictObject({
  name: optionalName(200),
  org_id: z.string().min(1).nullable().optional(),
  programme: Programme.optional(),
  /**
   * ISO 3166-2 subdivision the customer declared (null: none). It must be in the account's claimed
   * country; an account that declared no country takes the subdivision's.
   */
  claimed_subdivision: ClaimedSubdivision.nullable().optional(),
});
export type UpdateAccountInput = z.input<typeof UpdateAccountInput>;

export const CreateKeyInput = z.strictObject({
  name: optionalName(200),
  scopes: z.array(KeyScope).min(1).default(['inference']).transform((s) => [...new Set(s)].sort()),
  expires_at: isoDateTime.nullable().optional(),
  /** Alternative to expires_at: lifetime in seconds from now. */
  expires_in_s: z.number().int().positive().max(10 * 365 * 86400).optional(),
}).refine((v) => !(v.expires_at && v.expires_in_s), { message: 'give expires_at or expires_in_s, not both', path: ['expires_in_s'] });
export type CreateKeyInput = z.input<typeof CreateKeyInput>;

export const RotateKeyInput = z.strictObject({
  /** How long the old key keeps working after rotation, seconds (0: revoked at once). */
  grace_seconds: z.number().int().min(0).max(30 * 86400).default(0),
});
export type RotateKeyInput = z.input<typeof RotateKeyInput>;

/**
 * Characters refused in what the change history records (who made a change, and why): controls
 * (a newline forges a row of `warden admin changes`, ESC drives the terminal that prints it, NUL
 * fails PostgreSQL's insert) and the bidirectional controls that make text read otherwise than it
 * is stored (U+202E right-to-left override and its kin, U+2028/9 line and paragraph separators).
 */
const UNRECORDABLE = /[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** The first character of `text` the change history refuses, as `U+XXXX`; null if none. */
export function unrecordableCharacter(text: string): string | null {
  const m = UNRECORDABLE.exec(text);
  return m ? codePointName(m[0]) : null;
}

/** A character as `U+XXXX`. */
function codePointName(ch: string): string {
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

const recordable = (s: string) => unrecordableCharacter(s) === null;
const UNRECORDABLE_MESSAGE = 'control and bidirectional-control characters are not allowed';

/** An operator's name as recorded with a change (see src/admin/actor.ts for the header it comes in). */
export const ActorName = z.string().trim().min(1).max(200).refine(recordable, UNRECORDABLE_MESSAGE);

/**
 * Free text recorded with a change (why it was made, an operator's note), at most `max`
 * characters (at least `min`): line breaks and tabs become spaces (each change is one row of the
 * history), other controls and bidirectional controls are refused.
 */
export const recordedText = (max: number, min = 0) => z.string().overwrite((s) => s.replace(/[\t\r\n]+/g, ' ')).trim().min(min).max(max).refine(recordable, UNRECORDABLE_MESSAGE);

/** Why a change was made, as recorded (see recordedText). */
export const ChangeReason = recordedText(2000, 1);

export const ActorInput = z.strictObject({
  by: ActorName,
  reason: ChangeReason.nullable().optional(),
});

const listBase = {
  cursor: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
};
export const ListOrgsQuery = z.strictObject({ ...listBase, tier: VerificationTier.optional(), programme: Programme.optional() });
export type ListOrgsQuery = z.input<typeof ListOrgsQuery>;
export const ListAccountsQuery = z.strictObject({
  ...listBase,
  org_id: z.string().min(1).optional(),
  status: AccountStatus.optional(),
  tier: VerificationTier.optional(),
  programme: Programme.optional(),
  /** The whole email address, compared without regard to case. */
  email: z.string().trim().min(1).max(320).optional(),
  email_domain: z.string().min(1).optional(),
  signup_ip: z.string().min(1).optional(),
  payment_fp: z.string().min(1).optional(),
  email_pattern: z.string().min(1).optional(),
});
export type ListAccountsQuery = z.input<typeof ListAccountsQuery>;
export const ListKeysQuery = z.strictObject({
  ...listBase,
  account_id: z.string().min(1).optional(),
  /** Include revoked keys (and rotated keys whose grace period is over). */
  include_revoked: z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]).default(false),
});
export type ListKeysQuery = z.input<typeof ListKeysQuery>;
export const ListChangesQuery = z.strictObject({ ...listBase, subject_id: z.string().min(1).optional() });
export type ListChangesQuery = z.input<typeof ListChangesQuery>;

// Output objects (also the OpenAPI components).
export const OrganisationSchema = z.object({
  id: z.string(), name: z.string(), tier: VerificationTier, programme: Programme, created_at: z.string(),
});
export const AccountSchema = z.object({
  id: z.string(),
  org_id: z.string().nullable(),
  name: z.string().nullable(),
  tier: VerificationTier,
  programme: Programme,
  status: AccountStatus,
  created_at: z.string(),
  email: z.string().nullable(),
  email_domain: z.string().nullable(),
  signup_ip: z.string().nullable(),
  claimed_country: z.string().nullable(),
  /** ISO 3166-2 subdivision the customer declared (null: none declared). */
  claimed_subdivision: z.string().nullable().optional(),
  payment_fp: z.string().nullable(),
  user_agent: z.string().nullable().optional(),
  email_pattern: z.string().nullable().optional(),
  first_used_at: z.string().nullable().optional(),
});
export const ApiKeySchema = z.object({
  id: z.string(),
  account_id: z.string(),
  prefix: z.string(),
  name: z.string().nullable(),
  scopes: z.array(KeyScope),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  replaced_by: z.string().nullable().optional(),
});
export const IdentityChangeSchema = z.object({
  id: z.string(),
  at: z.string(),
  subject_type: z.enum(['org', 'account', 'key']),
  subject_id: z.string(),
  action: z.string(),
  field: z.string().nullable(),
  old_value: z.string().nullable(),
  new_value: z.string().nullable(),
  actor: z.string(),
  reason: z.string().nullable(),
});
