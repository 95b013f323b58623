/** Admin routes for organisations, accounts, API keys and their change history. */
import { z } from 'zod';
import type { IdentityStore } from '../identity/index.ts';
import {
  AccountSchema, ApiKeySchema, ChangeReason, CreateAccountInput, CreateKeyInput, CreateOrgInput, IdentityChangeSchema, KeyStatus,
  ListAccountsQuery, ListChangesQuery, ListKeysQuery, ListOrgsQuery, OrganisationSchema, RotateKeyInput, UpdateAccountInput,
  UpdateOrgInput, VerificationTier,
} from '../identity/schemas.ts';
import { LocalAdminClient } from './client.ts';
import type { AdminRouteRegistrar } from './router.ts';

export const KeyViewSchema = ApiKeySchema.extend({ replaced_by: z.string().nullable(), status: KeyStatus });
export const CreatedKeySchema = z.object({
  key: KeyViewSchema,
  secret: z.string().describe('The API key. Shown only in this response; Warden keeps only its hash.'),
});
export const RotatedKeySchema = CreatedKeySchema.extend({ previous: KeyViewSchema });

const page = <T extends z.ZodType>(item: T) => z.object({
  data: z.array(item),
  next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
});

const IdParams = z.strictObject({ id: z.string().min(1).max(100) });
const Reason = ChangeReason;
const TierChange = z.strictObject({ tier: VerificationTier, reason: Reason.describe('Why the tier changes (recorded).') });
const StatusChange = z.strictObject({ reason: Reason.describe('Why (recorded).') });
const RevokeBody = z.strictObject({ reason: Reason.optional() });

/** Routes over an identity store; actions are recorded as made by the request's actor. */
export function identityAdminRoutes(store: IdentityStore): AdminRouteRegistrar {
  const as = (actor: string) => new LocalAdminClient(store, actor);
  return (r) => {
    r.component('Organisation', OrganisationSchema);
    r.component('Account', AccountSchema);
    r.component('ApiKey', KeyViewSchema);
    r.component('CreatedKey', CreatedKeySchema);
    r.component('RotatedKey', RotatedKeySchema);
    r.component('IdentityChange', IdentityChangeSchema);

    // Organisations
    r.route({ method: 'POST', path: '/orgs', operationId: 'createOrg', tag: 'organisations', summary: 'Create an organisation', status: 201,
      body: CreateOrgInput, response: OrganisationSchema, handler: ({ body, actor }) => as(actor).createOrg(body) });
    r.route({ method: 'GET', path: '/orgs', operationId: 'listOrgs', tag: 'organisations', summary: 'List organisations, newest first',
      query: ListOrgsQuery, response: page(OrganisationSchema), handler: ({ query, actor }) => as(actor).listOrgs(query) });
    r.route({ method: 'GET', path: '/orgs/:id', operationId: 'getOrg', tag: 'organisations', summary: 'Get an organisation',
      params: IdParams, response: OrganisationSchema, handler: ({ params, actor }) => as(actor).getOrg(params.id) });
    r.route({ method: 'PATCH', path: '/orgs/:id', operationId: 'updateOrg', tag: 'organisations', summary: 'Rename an organisation or change its programme',
      params: IdParams, body: UpdateOrgInput, response: OrganisationSchema, handler: ({ params, body, actor }) => as(actor).updateOrg(params.id, body) });
    r.route({ method: 'POST', path: '/orgs/:id/tier', operationId: 'setOrgTier', tag: 'organisations', summary: 'Set an organisation\'s verification tier',
      params: IdParams, body: TierChange, response: OrganisationSchema, handler: ({ params, body, actor }) => as(actor).setOrgTier(params.id, body.tier, body.reason) });

    // Accounts
    r.route({ method: 'POST', path: '/accounts', operationId: 'createAccount', tag: 'accounts', status: 201,
      summary: 'Create an account with its signup facts',
      description: 'The email domain is derived from the email; a payment instrument is stored only as a keyed HMAC (payment_fp). A claimed_subdivision (ISO 3166-2) must be in claimed_country, which it sets when not given; the policy\'s claimed_subdivision and claimed_region rules read it at the gateway.',
      body: CreateAccountInput, response: AccountSchema, handler: ({ body, actor }) => as(actor).createAccount(body) });
    r.route({ method: 'GET', path: '/accounts', operationId: 'listAccounts', tag: 'accounts', summary: 'List accounts, newest first, filtered by org, status, tier, programme or signup facts',
      query: ListAccountsQuery, response: page(AccountSchema), handler: ({ query, actor }) => as(actor).listAccounts(query) });
    r.route({ method: 'GET', path: '/accounts/:id', operationId: 'getAccount', tag: 'accounts', summary: 'Get an account',
      params: IdParams, response: AccountSchema, handler: ({ params, actor }) => as(actor).getAccount(params.id) });
    r.route({ method: 'PATCH', path: '/accounts/:id', operationId: 'updateAccount', tag: 'accounts', summary: 'Change an account\'s name, organisation, programme or claimed subdivision',
      description: 'claimed_subdivision (ISO 3166-2, null clears it) must be in the account\'s claimed country; an account that claimed none takes the subdivision\'s. The next request is decided with it (every node: the change is announced to their key caches).',
      params: IdParams, body: UpdateAccountInput, response: AccountSchema, handler: ({ params, body, actor }) => as(actor).updateAccount(params.id, body) });
    r.route({ method: 'POST', path: '/accounts/:id/tier', operationId: 'setAccountTier', tag: 'accounts', summary: 'Set an account\'s verification tier',
      params: IdParams, body: TierChange, response: AccountSchema, handler: ({ params, body, actor }) => as(actor).setAccountTier(params.id, body.tier, body.reason) });
    r.route({ method: 'POST', path: '/accounts/:id/suspend', operationId: 'suspendAccount', tag: 'accounts', summary: 'Suspend an account (its keys are refused at once)',
      params: IdParams, body: StatusChange, response: AccountSchema, handler: ({ params, body, actor }) => as(actor).suspendAccount(params.id, body.reason) });
    r.route({ method: 'POST', path: '/accounts/:id/reactivate', operationId: 'reactivateAccount', tag: 'accounts', summary: 'Reactivate a suspended account',
      params: IdParams, body: StatusChange, response: AccountSchema, handler: ({ params, body, actor }) => as(actor).reactivateAccount(params.id, body.reason) });

    // Keys
    r.route({ method: 'POST', path: '/accounts/:id/keys', operationId: 'createKey', tag: 'keys', status: 201,
      summary: 'Create an API key for an account (the secret is returned once)',
      params: IdParams, body: CreateKeyInput, response: CreatedKeySchema, handler: ({ params, body, actor }) => as(actor).createKey(params.id, body) });
    r.route({ method: 'GET', path: '/keys', operationId: 'listKeys', tag: 'keys', summary: 'List API keys (never their secrets), newest first',
      query: ListKeysQuery, response: page(KeyViewSchema), handler: ({ query, actor }) => as(actor).listKeys(query) });
    r.route({ method: 'GET', path: '/keys/:id', operationId: 'getKey', tag: 'keys', summary: 'Get an API key (never its secret)',
      params: IdParams, response: KeyViewSchema, handler: ({ params, actor }) => as(actor).getKey(params.id) });
    r.route({ method: 'POST', path: '/keys/:id/revoke', operationId: 'revokeKey', tag: 'keys', summary: 'Revoke an API key now',
      params: IdParams, body: RevokeBody, response: KeyViewSchema, handler: ({ params, body, actor }) => as(actor).revokeKey(params.id, body.reason ?? null) });
    r.route({ method: 'POST', path: '/keys/:id/rotate', operationId: 'rotateKey', tag: 'keys', status: 201,
      summary: 'Rotate an API key: new secret, old key revoked now or after a grace period',
      errors: { 409: 'the key was already rotated, or is revoked or expired' },
      params: IdParams, body: RotateKeyInput, response: RotatedKeySchema, handler: ({ params, body, actor }) => as(actor).rotateKey(params.id, body) });

    // History
    r.route({ method: 'GET', path: '/changes', operationId: 'listChanges', tag: 'history', summary: 'Recorded changes (who, what, why), newest first; filter by subject id',
      query: ListChangesQuery, response: page(IdentityChangeSchema), handler: ({ query, actor }) => as(actor).listChanges(query) });
  };
}
