/**
 * Whom a request explained by `warden policy explain` or `POST /admin/policy/explain` comes from,
 * read as the gateway reads its caller: a named account is looked up with its organisation (its
 * own tier, the effective tier its organisation raises, its programme, claimed country and
 * subdivision), so
 * that organisation and claimed-country rules and a verify verdict decide as they do on the
 * gateway. Without an account, the facts given stand for it, and a named organisation is looked
 * up the same way.
 */
import { WardenError } from '../errors/index.ts';
import { effectiveProgramme, higherTier, type IdentityStore } from '../identity/store.ts';
import type { Account, Organisation, Programme, VerificationTier } from '../identity/types.ts';

/** What the caller of explain says about the subject; `tier` is the account's own tier. */
export interface SubjectInput {
  accountId?: string;
  orgId?: string;
  tier?: VerificationTier;
  programme?: Programme;
  claimedCountry?: string;
  claimedSubdivision?: string;
}

/** The subject's facts as the policy reads them. */
export interface SubjectFacts {
  /** Effective tier: the higher of the account's own and its organisation's. */
  tier: VerificationTier;
  /** The account's own tier (whether a verify verdict's verification is done). */
  accountTier: VerificationTier;
  programme: Programme;
  accountId: string | null;
  orgId: string | null;
  claimedCountry: string | null;
  /** The ISO 3166-2 subdivision claimed (the account's, or the one given). */
  claimedSubdivision: string | null;
}

/**
 * The subject's facts. With `accountId`, the account and its organisation are read from the
 * identity store; `tier`, `programme`, `claimedCountry` and `claimedSubdivision`, when given too, replace the account's
 * own to ask "what if" (the organisation still raises the tier). Without one, `tier` is required
 * and `orgId` names an organisation that is read the same way. Throws a WardenError
 * (WARDEN_NOT_FOUND for an id with no record, WARDEN_INVALID_REQUEST for a missing tier or both ids).
 */
export async function subjectFacts(identity: Pick<IdentityStore, 'getAccount' | 'getOrg'>, input: SubjectInput): Promise<SubjectFacts> {
  let account: Account | null = null;
  let org: Organisation | null = null;
  if (input.accountId !== undefined) {
    if (input.orgId !== undefined) throw new WardenError('WARDEN_INVALID_REQUEST', 'Give an account or an organisation, not both: an account\'s organisation is read from its record.', { param: 'org_id' });
    account = await identity.getAccount(input.accountId);
    if (!account) throw new WardenError('WARDEN_NOT_FOUND', `No account with id '${input.accountId.slice(0, 100)}'.`, { param: 'account_id' });
    if (account.org_id) org = await identity.getOrg(account.org_id);
  } else {
    if (input.tier === undefined) throw new WardenError('WARDEN_INVALID_REQUEST', 'Give the tier, or an account to read it from.', { param: 'tier' });
    if (input.orgId !== undefined) {
      org = await identity.getOrg(input.orgId);
      if (!org) throw new WardenError('WARDEN_NOT_FOUND', `No organisation with id '${input.orgId.slice(0, 100)}'.`, { param: 'org_id' });
    }
  }
  if (input.claimedSubdivision !== undefined && input.claimedCountry !== undefined && input.claimedSubdivision.slice(0, 2) !== input.claimedCountry) {
    throw new WardenError('WARDEN_INVALID_REQUEST', `claimed_subdivision ${input.claimedSubdivision.slice(0, 10)} is not in claimed_country ${input.claimedCountry.slice(0, 10)}.`, { param: 'claimed_subdivision' });
  }
  const accountTier = input.tier ?? account!.tier;
  const programme = input.programme ?? account?.programme ?? 'none';
  return {
    tier: higherTier(accountTier, org?.tier), accountTier,
    programme: effectiveProgramme({ programme }, org),
    accountId: account?.id ?? null,
    orgId: org?.id ?? account?.org_id ?? null,
    claimedCountry: input.claimedCountry ?? input.claimedSubdivision?.slice(0, 2) ?? account?.claimed_country ?? null,
    // A claimed country given to ask "what if" drops the account's subdivision unless it is in that country.
    claimedSubdivision: input.claimedSubdivision
      ?? (account?.claimed_subdivision && (input.claimedCountry === undefined || input.claimedCountry === account.claimed_subdivision.slice(0, 2)) ? account.claimed_subdivision : null),
  };
}
