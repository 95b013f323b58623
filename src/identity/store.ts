/**
 * The identity store: organisations, accounts, API keys and the log of changes to them.
 *
 * `IdentityStore` is the interface the gateway, admin API and CLI use. The business rules live
 * once in `BaseIdentityStore`; the SQLite and PostgreSQL classes only supply a handful of storage
 * primitives (insert, read, page, read-modify-write in a transaction, key lookup).
 */
import { z } from 'zod';
import { WardenError } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import { mintSecret, parseSecret, secretMatches } from './keys.ts';
import { emailDomain, emailPattern, normaliseCountry, normaliseIp, paymentFingerprint } from './facts.ts';
export { eventAccountFacts } from './facts.ts';
import {
  CreateAccountInput, CreateKeyInput, CreateOrgInput, ListAccountsQuery, ListChangesQuery, ListKeysQuery,
  ListOrgsQuery, RotateKeyInput, UpdateAccountInput, UpdateOrgInput, ActorInput,
} from './schemas.ts';
import {
  VERIFICATION_TIERS, type Account, type AccountName, type AccountStatus, type Actor, type ApiKey, type AuthContext, type CreatedKey,
  type IdentityChange, type KeyScope, type KeyStatus, type Organisation, type Page, type Programme, type VerificationTier,
} from './types.ts';

/** Sent to `onChange` listeners after a change commits (and, with PostgreSQL, to other nodes). */
export type IdentityChangeNotice =
  | { type: 'org'; id: string }
  | { type: 'account'; id: string }
  | { type: 'key'; id: string; lookup_id: string }
  /** Anything may have changed (e.g. a missed-notification window after a reconnect). */
  | { type: 'all' };

/** A key with what authentication needs: its hash, account and organisation. */
export interface KeyRecord {
  key: ApiKey;
  /** SHA-256 of the full secret, hex. */
  hash: string;
  account: Account;
  org: Organisation | null;
}

export interface RotatedKey extends CreatedKey {
  /** The old key, now revoked (or revoking at the end of the grace period). */
  previous: ApiKey;
}

export interface IdentityStoreOptions {
  /** Prefix of new keys, e.g. `wk_live` (config `identity.key_prefix`). */
  keyPrefix?: string;
  /** HMAC secret for payment fingerprints (config `identity.fingerprint_secret`, resolved). */
  fingerprintSecret?: string | null;
  /** Clock, for tests. */
  now?: () => number;
}

export interface IdentityStore {
  createOrg(input: CreateOrgInput, actor?: Actor): Promise<Organisation>;
  getOrg(id: string): Promise<Organisation | null>;
  listOrgs(query?: ListOrgsQuery): Promise<Page<Organisation>>;
  updateOrg(id: string, patch: UpdateOrgInput, actor?: Actor): Promise<Organisation>;
  /** Change an organisation's verification tier; who and why are recorded. */
  setOrgTier(id: string, tier: VerificationTier, actor: Actor): Promise<Organisation>;

  /** Create an account with its signup facts (email domain derived, payment instrument HMACed). */
  createAccount(input: CreateAccountInput, actor?: Actor): Promise<Account>;
  getAccount(id: string): Promise<Account | null>;
  listAccounts(query?: ListAccountsQuery): Promise<Page<Account>>;
  /**
   * The name, email and organisation (id and name) of each of these accounts that exists, in one
   * read however many are asked (a listing of flagged accounts names a page of them at once);
   * unknown ids are left out.
   */
  accountNames(ids: readonly string[]): Promise<Map<string, AccountName>>;
  updateAccount(id: string, patch: UpdateAccountInput, actor?: Actor): Promise<Account>;
  setAccountTier(id: string, tier: VerificationTier, actor: Actor): Promise<Account>;
  /** Suspend or reactivate; suspended accounts' keys are refused with WARDEN_ACCOUNT_SUSPENDED. */
  setAccountStatus(id: string, status: AccountStatus, actor: Actor): Promise<Account>;
  /**
   * Erase an account's personal signup facts (ERASED_ACCOUNT_FIELDS) and the values of them its
   * change history recorded; id, org, tier, programme, status and times stay, so usage and the
   * ledger still add up. Idempotent: a second call changes nothing (counts 0).
   */
  eraseAccountFacts(id: string, actor: Actor): Promise<{ account: Account; fields: number; changes: number }>;

  /** Create a key. The secret is in the result and nowhere else, ever. */
  createKey(accountId: string, input?: CreateKeyInput, actor?: Actor): Promise<CreatedKey>;
  getKey(id: string): Promise<ApiKey | null>;
  listKeys(query?: ListKeysQuery): Promise<Page<ApiKey>>;
  /** Revoke at once (idempotent; ends a rotation grace period early). */
  revokeKey(id: string, actor?: Actor): Promise<ApiKey>;
  /** New secret with the same account, name, scopes and expiry; the old key stops after the grace period. */
  rotateKey(id: string, input?: RotateKeyInput, actor?: Actor): Promise<RotatedKey>;

  /** Recorded changes, newest first, optionally for one subject. */
  listChanges(query?: ListChangesQuery): Promise<Page<IdentityChange>>;

  /** The key with this lookup id, with its hash, account and org (no checks applied). */
  lookupKey(lookupId: string): Promise<KeyRecord | null>;
  /** Check a presented secret; throws WardenError (INVALID/REVOKED/EXPIRED key, ACCOUNT_SUSPENDED). Uncached: see CachedAuthenticator. */
  authenticate(secret: string): Promise<AuthContext>;
  /**
   * Record last use of keys (key id -> ms since epoch), in one write. Only moves forward. Also
   * records the accounts' first use where none is recorded yet: the times in `firstUse` (account
   * id -> ISO time) when given, else the key's time.
   */
  touchKeys(usage: ReadonlyMap<string, number>, firstUse?: ReadonlyMap<string, string>): Promise<void>;

  /** Listen for committed changes; returns an unsubscribe function. */
  onChange(listener: (notice: IdentityChangeNotice) => void): () => void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Rules shared by stores and the cache.

const TIER_RANK = new Map(VERIFICATION_TIERS.map((t, i) => [t, i]));

/** The higher of two verification tiers. */
export function higherTier(a: VerificationTier, b: VerificationTier | null | undefined): VerificationTier {
  if (!b) return a;
  return (TIER_RANK.get(b) ?? 0) > (TIER_RANK.get(a) ?? 0) ? b : a;
}

/** Where a key stands at `now` (ms). */
export function keyStatus(key: ApiKey, now: number = Date.now()): KeyStatus {
  if (key.revoked_at) return Date.parse(key.revoked_at) <= now ? 'revoked' : 'rotating';
  if (key.expires_at && Date.parse(key.expires_at) <= now) return 'expired';
  return 'active';
}

/** Does the key grant `scope`? `inference` covers every model endpoint, `models:read` included. */
export function hasScope(key: Pick<ApiKey, 'scopes'>, scope: KeyScope): boolean {
  if (key.scopes.includes(scope)) return true;
  return scope === 'models:read' && key.scopes.includes('inference');
}

/** Throw WARDEN_INSUFFICIENT_SCOPE unless the caller's key grants `scope`. */
export function requireScope(auth: AuthContext, scope: KeyScope): void {
  if (!hasScope(auth.key, scope)) {
    throw new WardenError('WARDEN_INSUFFICIENT_SCOPE', `this API key lacks the "${scope}" scope`);
  }
}

/** The programme a request is served under: the account's unless it is `none`, else its organisation's. */
export function effectiveProgramme(account: Pick<Account, 'programme'>, org: Pick<Organisation, 'programme'> | null | undefined): Programme {
  return account.programme !== 'none' ? account.programme : (org?.programme ?? 'none');
}

/** The AuthContext for a record: effective tier is the higher of account and org tier; the
 * account's programme wins unless it is `none`. Frozen, so it can be shared between requests. */
export function authContextFor(record: Pick<KeyRecord, 'key' | 'account' | 'org'>): AuthContext {
  const { key, account, org } = record;
  const programme = effectiveProgramme(account, org);
  return Object.freeze({
    key: Object.freeze({ ...key, scopes: Object.freeze([...key.scopes]) as KeyScope[] }),
    account: Object.freeze({ ...account }),
    org: org ? Object.freeze({ ...org }) : null,
    tier: higherTier(account.tier, org?.tier),
    programme,
  });
}

export const invalidKeyError = () => new WardenError('WARDEN_INVALID_API_KEY', 'invalid API key');

/**
 * A secret that cannot be a Warden key at all: most often the provider's own key left in the SDK
 * (it reads OPENAI_API_KEY / ANTHROPIC_API_KEY by default). Saying so tells nothing about any key
 * Warden holds: the form of its keys is public.
 */
export const malformedKeyError = () => new WardenError('WARDEN_INVALID_API_KEY',
  'invalid API key: it does not have the form of a key this gateway issues (<prefix>_<12-character id>_<secret>); a model provider key (sk-..., sk-ant-...) is not accepted here: use the key you were given for this gateway');

/** Refuse a key that is revoked, expired or whose account is suspended (hash already checked). */
export function assertUsable(key: ApiKey, account: Account, now: number): void {
  if (key.revoked_at && Date.parse(key.revoked_at) <= now) throw new WardenError('WARDEN_REVOKED_API_KEY', 'this API key has been revoked');
  if (key.expires_at && Date.parse(key.expires_at) <= now) throw new WardenError('WARDEN_EXPIRED_API_KEY', 'this API key has expired');
  if (account.status !== 'active') throw new WardenError('WARDEN_ACCOUNT_SUSPENDED', 'this account is suspended');
}

/** Validate with a zod schema, turning failures into a 400 WardenError naming the field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issuePath(issue);
  const err = new WardenError('WARDEN_INVALID_REQUEST', `invalid ${what}: ${path ? `${path}: ` : ''}${issue.message}`, path ? { param: path } : {});
  (err as WardenError & { issues?: unknown }).issues = r.error.issues.map((i) => ({ path: issuePath(i), message: i.message }));
  throw err;
}

/** The field an issue is about; an unknown field is named by itself (zod reports it on its parent). */
function issuePath(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys' && issue.keys.length) path.push(issue.keys[0]);
  return path.join('.');
}

// ---------------------------------------------------------------------------------------------
// Storage primitives and the shared implementation.

export type Table = 'orgs' | 'accounts' | 'api_keys' | 'identity_changes';
/** The prefix of each table's ids (then a ULID). */
const ID_PREFIX: Record<Table, string> = { orgs: 'org', accounts: 'acct', api_keys: 'key', identity_changes: 'chg' };
export type Row = Record<string, unknown>;

/**
 * One condition of a page query. `active_at` keeps keys not revoked as of the given time;
 * `eq_folded` compares both sides lowercased by the database (an expression index serves it).
 */
export type Condition = { col: string; eq: string } | { col: string; eq_folded: string } | { col: string; active_at: string };

/** What a read-modify-write applies, atomically: column updates plus rows to insert. */
export interface Mutation {
  set: Row;
  inserts: { table: Table; row: Row }[];
}

export const SYSTEM_ACTOR: Actor = { by: 'system' };

/** The account columns a deletion request erases (eraseAccountFacts): what identifies or locates a person. */
export const ERASED_ACCOUNT_FIELDS = ['name', 'email', 'email_domain', 'email_pattern', 'signup_ip', 'claimed_country', 'claimed_subdivision', 'payment_fp', 'user_agent'] as const;

/**
 * Migration step of both stores: accounts already in use when first use began to be recorded
 * count as in use since their oldest used key was created (not as first used at the upgrade,
 * which would make every existing customer look new for a week).
 */
const FIRST_USE_BACKFILL = `UPDATE accounts SET first_used_at =
     (SELECT MIN(k.created_at) FROM api_keys k WHERE k.account_id = accounts.id AND k.last_used_at IS NOT NULL);`;

/**
 * The schema versions of both stores, in order. They differ only in the column type of times
 * (ISO text on SQLite, TIMESTAMPTZ on PostgreSQL). Append a version; never edit one already out.
 */
export function identityMigrations(time: 'TEXT' | 'TIMESTAMPTZ'): string[] {
  return [
    `CREATE TABLE orgs (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     tier TEXT NOT NULL,
     programme TEXT NOT NULL,
     created_at ${time} NOT NULL
   );
   CREATE TABLE accounts (
     id TEXT PRIMARY KEY,
     org_id TEXT REFERENCES orgs(id),
     name TEXT,
     tier TEXT NOT NULL,
     programme TEXT NOT NULL,
     status TEXT NOT NULL,
     created_at ${time} NOT NULL,
     email TEXT,
     email_domain TEXT,
     signup_ip TEXT,
     claimed_country TEXT,
     payment_fp TEXT,
     user_agent TEXT
   );
   CREATE INDEX accounts_org ON accounts (org_id, id);
   CREATE INDEX accounts_email_domain ON accounts (email_domain, id);
   CREATE INDEX accounts_signup_ip ON accounts (signup_ip, id);
   CREATE INDEX accounts_payment_fp ON accounts (payment_fp, id);
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL REFERENCES accounts(id),
     lookup_id TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     name TEXT,
     scopes TEXT NOT NULL,
     created_at ${time} NOT NULL,
     expires_at ${time},
     revoked_at ${time},
     last_used_at ${time},
     replaced_by TEXT
   );
   CREATE INDEX api_keys_account ON api_keys (account_id, id);
   CREATE TABLE identity_changes (
     id TEXT PRIMARY KEY,
     at ${time} NOT NULL,
     subject_type TEXT NOT NULL,
     subject_id TEXT NOT NULL,
     action TEXT NOT NULL,
     field TEXT,
     old_value TEXT,
     new_value TEXT,
     actor TEXT NOT NULL,
     reason TEXT
   );
   CREATE INDEX identity_changes_subject ON identity_changes (subject_id, id);`,
    // Keyed hash of the email's pattern (see facts.ts emailPattern): sequentially numbered sign-ups share it.
    `ALTER TABLE accounts ADD COLUMN email_pattern TEXT;
   CREATE INDEX accounts_email_pattern ON accounts (email_pattern, id);`,
    // When any key of the account was first used (to the key-use flush interval): an account bought
    // old and put to work today has no more history than one created today.
    `ALTER TABLE accounts ADD COLUMN first_used_at ${time};
   ${FIRST_USE_BACKFILL}`,
    // The ISO 3166-2 subdivision the customer declared (policy rules `claimed_subdivision`, `claimed_region`).
    `ALTER TABLE accounts ADD COLUMN claimed_subdivision TEXT;`,
    // An account found by its whole email address, whatever its case (an abuse report names one):
    // both sides lowercased by the database, so the index and the query agree on what lower means.
    `CREATE INDEX accounts_email_lower ON accounts (lower(email), id);`,
  ];
}

/** Column and table names come from code, never from input; this guards against a slip. */
export function sqlIdent(name: string): string {
  if (!/^[a-z_]+$/.test(name)) throw new Error(`bad identifier ${name}`);
  return name;
}

/**
 * A page query (newest first, below `cursor`) and its arguments, the limit last; `param(n)`
 * spells the placeholder of the nth argument (`?` on SQLite, `$n` on PostgreSQL).
 */
export function pageQuery(table: Table, conditions: Condition[], cursor: string | undefined, limit: number, param: (n: number) => string): { sql: string; args: unknown[] } {
  const parts: string[] = [];
  const args: unknown[] = [];
  for (const c of conditions) {
    if ('eq' in c) { args.push(c.eq); parts.push(`${sqlIdent(c.col)} = ${param(args.length)}`); }
    else if ('eq_folded' in c) { args.push(c.eq_folded); parts.push(`lower(${sqlIdent(c.col)}) = lower(${param(args.length)})`); }
    else { args.push(c.active_at); parts.push(`(${sqlIdent(c.col)} IS NULL OR ${sqlIdent(c.col)} > ${param(args.length)})`); }
  }
  if (cursor) { args.push(cursor); parts.push(`id < ${param(args.length)}`); }
  const where = parts.length ? `WHERE ${parts.join(' AND ')}` : '';
  args.push(limit);
  return { sql: `SELECT * FROM ${sqlIdent(table)} ${where} ORDER BY id DESC LIMIT ${param(args.length)}`, args };
}

export abstract class BaseIdentityStore implements IdentityStore {
  protected readonly keyPrefix: string;
  protected readonly fingerprintSecret: string | null;
  protected readonly now: () => number;
  private readonly listeners = new Set<(n: IdentityChangeNotice) => void>();

  constructor(opts: IdentityStoreOptions = {}) {
    this.keyPrefix = opts.keyPrefix ?? 'wk_live';
    this.fingerprintSecret = opts.fingerprintSecret || null;
    this.now = opts.now ?? Date.now;
  }

  // Storage primitives ---------------------------------------------------------------------
  /** Insert rows in one transaction. */
  protected abstract insertRows(rows: { table: Table; row: Row }[]): Promise<void>;
  protected abstract selectById(table: Table, id: string): Promise<Row | null>;
  /** Rows matching every condition with id < cursor, newest (highest id) first. */
  protected abstract selectPage(table: Table, conditions: Condition[], cursor: string | undefined, limit: number): Promise<Row[]>;
  /** In one transaction: read the row (locked), let `fn` decide, apply. Null when the row does not exist. */
  protected abstract mutate(table: Table, id: string, fn: (row: Row) => Mutation): Promise<Row | null>;
  /** id, name, email, org_id and org_name (the organisation's name) of the accounts with these ids, in one query. */
  protected abstract selectAccountNames(ids: string[]): Promise<Row[]>;
  protected abstract selectKeyForAuth(lookupId: string): Promise<{ key: Row; account: Row; org: Row | null } | null>;
  /** Last use of keys; accounts without a recorded first use get the key's time. */
  protected abstract updateLastUsed(entries: [id: string, at: string][]): Promise<void>;
  /** First use of accounts (account id, ISO time), where none is recorded yet. */
  protected abstract updateFirstUse(entries: [id: string, at: string][]): Promise<void>;
  abstract close(): Promise<void>;

  // Notifications ------------------------------------------------------------------------
  onChange(listener: (notice: IdentityChangeNotice) => void): () => void {
    this.listeners.add(listener);
    this.listenersChanged(this.listeners.size);
    return () => { this.listeners.delete(listener); this.listenersChanged(this.listeners.size); };
  }

  /** Hook for stores that relay changes between nodes. */
  protected listenersChanged(_count: number): void {}

  /** Tell local listeners (and, in subclasses, other nodes). */
  protected publish(notice: IdentityChangeNotice): void {
    this.emitLocal(notice);
  }

  protected emitLocal(notice: IdentityChangeNotice): void {
    for (const l of this.listeners) {
      try { l(notice); } catch { /* a listener's failure must not break the write path */ }
    }
  }

  // Helpers ------------------------------------------------------------------------------
  private iso(ms: number = this.now()): string { return new Date(ms).toISOString(); }

  private change(subjectType: IdentityChange['subject_type'], subjectId: string, action: string, actor: Actor, field: string | null = null, oldValue: unknown = null, newValue: unknown = null): { table: Table; row: Row } {
    return {
      table: 'identity_changes',
      row: {
        id: `chg_${ulid(this.now())}`, at: this.iso(), subject_type: subjectType, subject_id: subjectId, action, field,
        old_value: oldValue == null ? null : String(oldValue), new_value: newValue == null ? null : String(newValue),
        actor: actor.by, reason: actor.reason ?? null,
      },
    };
  }

  private checkActor(actor: Actor | undefined, requireReason: boolean): Actor {
    const a = parseInput(ActorInput, actor ?? SYSTEM_ACTOR, 'actor');
    if (requireReason && !a.reason) throw new WardenError('WARDEN_INVALID_REQUEST', 'a reason is required for this change', { param: 'reason' });
    return a;
  }

  private notFound(what: string, id: string): WardenError {
    return new WardenError('WARDEN_NOT_FOUND', `${what} ${id} not found`);
  }

  private async page<T>(table: Table, conditions: Condition[], cursor: string | undefined, limit: number, map: (r: Row) => T): Promise<Page<T>> {
    // A cursor is the id of the last row of the previous page: anything else would match nothing and look like the end.
    if (cursor !== undefined && !new RegExp(`^${ID_PREFIX[table]}_[0-9A-HJKMNP-TV-Z]{26}$`).test(cursor)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', `cursor: not a cursor of this listing (pass the next_cursor of the previous page): ${cursor.slice(0, 100)}`, { param: 'cursor' });
    }
    const rows = await this.selectPage(table, conditions, cursor, limit + 1);
    const more = rows.length > limit;
    const pageRows = more ? rows.slice(0, limit) : rows;
    return { data: pageRows.map(map), next_cursor: more ? String(pageRows[pageRows.length - 1].id) : null };
  }

  private static eqs(q: Record<string, unknown>, cols: string[]): Condition[] {
    return cols.filter((c) => q[c] !== undefined && q[c] !== null).map((c) => ({ col: c, eq: String(q[c]) }));
  }

  // Organisations ------------------------------------------------------------------------
  async createOrg(input: CreateOrgInput, actor?: Actor): Promise<Organisation> {
    const v = parseInput(CreateOrgInput, input, 'organisation');
    const by = this.checkActor(actor, false);
    const org: Organisation = { id: `org_${ulid(this.now())}`, name: v.name, tier: v.tier, programme: v.programme, created_at: this.iso() };
    await this.insertRows([{ table: 'orgs', row: { ...org } }, this.change('org', org.id, 'create', by)]);
    return org;
  }

  async getOrg(id: string): Promise<Organisation | null> {
    const r = await this.selectById('orgs', id);
    return r ? toOrg(r) : null;
  }

  async listOrgs(query: ListOrgsQuery = {}): Promise<Page<Organisation>> {
    const q = parseInput(ListOrgsQuery, query, 'query');
    return this.page('orgs', BaseIdentityStore.eqs(q, ['tier', 'programme']), q.cursor, q.limit, toOrg);
  }

  async updateOrg(id: string, patch: UpdateOrgInput, actor?: Actor): Promise<Organisation> {
    const v = parseInput(UpdateOrgInput, patch, 'organisation update');
    const by = this.checkActor(actor, false);
    return this.updateFields('orgs', 'org', id, v, by, toOrg);
  }

  async setOrgTier(id: string, tier: VerificationTier, actor: Actor): Promise<Organisation> {
    const v = parseInput(z.object({ tier: CreateOrgInput.shape.tier.unwrap() }), { tier }, 'tier');
    const by = this.checkActor(actor, true);
    return this.updateFields('orgs', 'org', id, v, by, toOrg);
  }

  /** Apply changed fields with one change record per field; unchanged fields are not recorded. */
  private async updateFields<T>(table: Table, subject: 'org' | 'account', id: string, given: Row, actor: Actor, map: (r: Row) => T, check?: (current: Row, fields: Row) => void): Promise<T> {
    let changed = false;
    const row = await this.mutate(table, id, (current) => {
      // Checked (and completed) against the record as it is inside the transaction; a throw changes nothing.
      const fields: Row = { ...given };
      check?.(current, fields);
      const set: Row = {};
      const inserts: Mutation['inserts'] = [];
      for (const [col, value] of Object.entries(fields)) {
        if (value === undefined || current[col] === value) continue;
        set[col] = value;
        const action = col === 'tier' || col === 'programme' || col === 'status' ? col : 'update';
        inserts.push(this.change(subject, id, action, actor, col, current[col], value));
      }
      changed = inserts.length > 0;
      return { set, inserts };
    });
    if (!row) throw this.notFound(subject === 'org' ? 'organisation' : 'account', id);
    if (changed) this.publish({ type: subject, id });
    return map(row);
  }

  // Accounts -----------------------------------------------------------------------------
  async createAccount(input: CreateAccountInput, actor?: Actor): Promise<Account> {
    const v = parseInput(CreateAccountInput, input, 'account');
    const by = this.checkActor(actor, false);
    if (v.org_id && !(await this.selectById('orgs', v.org_id))) {
      throw new WardenError('WARDEN_INVALID_REQUEST', `organisation ${v.org_id} does not exist`, { param: 'org_id' });
    }
    let paymentFp = v.payment_fp ?? null;
    if (v.payment_instrument) {
      if (!this.fingerprintSecret) {
        throw new WardenError('WARDEN_INVALID_REQUEST', 'payment_instrument given but identity.fingerprint_secret is not configured; refusing to store an unkeyed fingerprint', { param: 'payment_instrument' });
      }
      paymentFp = paymentFingerprint(v.payment_instrument, this.fingerprintSecret);
    }
    const createdAt = v.created_at ? new Date(v.created_at).toISOString() : this.iso();
    const account: Account = {
      id: `acct_${ulid(this.now())}`,
      org_id: v.org_id ?? null,
      name: v.name ?? null,
      tier: v.tier,
      programme: v.programme,
      status: 'active',
      created_at: createdAt,
      email: v.email ? v.email.trim() : null,
      email_domain: emailDomain(v.email),
      signup_ip: normaliseIp(v.signup_ip),
      // A declared subdivision says its country.
      claimed_country: normaliseCountry(v.claimed_country) ?? v.claimed_subdivision?.slice(0, 2) ?? null,
      claimed_subdivision: v.claimed_subdivision ?? null,
      payment_fp: paymentFp,
      user_agent: v.user_agent ?? null,
      email_pattern: this.fingerprintSecret ? emailPattern(v.email, this.fingerprintSecret) : null,
      first_used_at: null,
    };
    await this.insertRows([{ table: 'accounts', row: { ...account } }, this.change('account', account.id, 'create', by)]);
    return account;
  }

  async getAccount(id: string): Promise<Account | null> {
    const r = await this.selectById('accounts', id);
    return r ? toAccount(r) : null;
  }

  async listAccounts(query: ListAccountsQuery = {}): Promise<Page<Account>> {
    const q = parseInput(ListAccountsQuery, query, 'query');
    const filters = { ...q, signup_ip: q.signup_ip ? (normaliseIp(q.signup_ip) ?? q.signup_ip) : undefined, email_domain: q.email_domain?.toLowerCase() };
    const conds = BaseIdentityStore.eqs(filters, ['org_id', 'status', 'tier', 'programme', 'email_domain', 'signup_ip', 'payment_fp', 'email_pattern']);
    if (q.email !== undefined) conds.push({ col: 'email', eq_folded: q.email.trim() });
    return this.page('accounts', conds, q.cursor, q.limit, toAccount);
  }

  async accountNames(ids: readonly string[]): Promise<Map<string, AccountName>> {
    const out = new Map<string, AccountName>();
    const unique = [...new Set(ids)].filter((id) => typeof id === 'string' && id !== '');
    if (!unique.length) return out;
    const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
    for (const r of await this.selectAccountNames(unique)) {
      const id = String(r.id);
      out.set(id, { id, name: str(r.name), email: str(r.email), org_id: str(r.org_id), org_name: str(r.org_name) });
    }
    return out;
  }

  async updateAccount(id: string, patch: UpdateAccountInput, actor?: Actor): Promise<Account> {
    const v = parseInput(UpdateAccountInput, patch, 'account update');
    const by = this.checkActor(actor, false);
    if (v.org_id && !(await this.selectById('orgs', v.org_id))) {
      throw new WardenError('WARDEN_INVALID_REQUEST', `organisation ${v.org_id} does not exist`, { param: 'org_id' });
    }
    return this.updateFields('accounts', 'account', id, v, by, toAccount, (current, fields) => {
      const sub = fields.claimed_subdivision;
      if (typeof sub !== 'string') return;
      // The subdivision must be in the country the customer declared; one that declared none takes its country.
      const country = current.claimed_country as string | null;
      if (country === null || country === undefined) fields.claimed_country = sub.slice(0, 2);
      else if (country !== sub.slice(0, 2)) {
        throw new WardenError('WARDEN_INVALID_REQUEST', `invalid account update: claimed_subdivision: ${sub} is not in the account's claimed country ${country}`, { param: 'claimed_subdivision' });
      }
    });
  }

  async setAccountTier(id: string, tier: VerificationTier, actor: Actor): Promise<Account> {
    const v = parseInput(z.object({ tier: CreateOrgInput.shape.tier.unwrap() }), { tier }, 'tier');
    const by = this.checkActor(actor, true);
    return this.updateFields('accounts', 'account', id, v, by, toAccount);
  }

  async setAccountStatus(id: string, status: AccountStatus, actor: Actor): Promise<Account> {
    const v = parseInput(z.object({ status: z.enum(['active', 'suspended']) }), { status }, 'status');
    const by = this.checkActor(actor, true);
    return this.updateFields('accounts', 'account', id, v, by, toAccount);
  }

  // Keys ---------------------------------------------------------------------------------
  async eraseAccountFacts(id: string, actor: Actor): Promise<{ account: Account; fields: number; changes: number }> {
    const by = this.checkActor(actor, false);
    let fields = 0;
    const row = await this.mutate('accounts', id, (current) => {
      const set: Row = {};
      for (const col of ERASED_ACCOUNT_FIELDS) if (current[col] !== null && current[col] !== undefined) set[col] = null;
      fields = Object.keys(set).length;
      // The record says which fields went, never their values.
      return { set, inserts: fields ? [this.change('account', id, 'erase', by, Object.keys(set).join(','))] : [] };
    });
    if (!row) throw this.notFound('account', id);
    // Earlier changes of those fields (a renamed account) kept the old and new values.
    const erasable = new Set<string>(ERASED_ACCOUNT_FIELDS);
    let changes = 0;
    let cursor: string | undefined;
    for (;;) {
      const rows = await this.selectPage('identity_changes', [{ col: 'subject_id', eq: id }], cursor, 500);
      for (const r of rows) {
        if (!erasable.has(String(r.field)) || (r.old_value === null && r.new_value === null)) continue;
        await this.mutate('identity_changes', String(r.id), (c) => (c.old_value === null && c.new_value === null ? { set: {}, inserts: [] } : { set: { old_value: null, new_value: null }, inserts: [] }));
        changes++;
      }
      if (rows.length < 500) break;
      cursor = String(rows[rows.length - 1].id);
    }
    if (fields) this.publish({ type: 'account', id });
    return { account: toAccount(row), fields, changes };
  }

  async createKey(accountId: string, input: CreateKeyInput = {}, actor?: Actor): Promise<CreatedKey> {
    const v = parseInput(CreateKeyInput, input, 'key');
    const by = this.checkActor(actor, false);
    const account = await this.selectById('accounts', accountId);
    if (!account) throw this.notFound('account', accountId);
    const now = this.now();
    let expiresAt: string | null = null;
    if (v.expires_in_s) expiresAt = this.iso(now + v.expires_in_s * 1000);
    else if (v.expires_at) {
      const t = Date.parse(v.expires_at);
      if (t <= now) throw new WardenError('WARDEN_INVALID_REQUEST', 'expires_at must be in the future', { param: 'expires_at' });
      expiresAt = new Date(t).toISOString();
    }
    return this.insertKey(accountId, v.name ?? null, v.scopes as KeyScope[], expiresAt, by);
  }

  /** Mint and insert a key, retrying the (astronomically rare) lookup-id collision. */
  private async insertKey(accountId: string, name: string | null, scopes: KeyScope[], expiresAt: string | null, actor: Actor): Promise<CreatedKey> {
    for (let attempt = 0; ; attempt++) {
      const minted = mintSecret(this.keyPrefix);
      const key: ApiKey = {
        id: `key_${ulid(this.now())}`, account_id: accountId, prefix: minted.prefix, name, scopes,
        created_at: this.iso(), expires_at: expiresAt, revoked_at: null, last_used_at: null, replaced_by: null,
      };
      const row = { ...keyToRow(key), lookup_id: minted.lookupId, secret_hash: minted.hash };
      try {
        await this.insertRows([{ table: 'api_keys', row }, this.change('key', key.id, 'create', actor, 'prefix', null, key.prefix)]);
        return { key, secret: minted.secret };
      } catch (err) {
        if (attempt < 3 && isUniqueViolation(err)) continue;
        throw err;
      }
    }
  }

  async getKey(id: string): Promise<ApiKey | null> {
    const r = await this.selectById('api_keys', id);
    return r ? toKey(r) : null;
  }

  async listKeys(query: ListKeysQuery = {}): Promise<Page<ApiKey>> {
    const q = parseInput(ListKeysQuery, query, 'query');
    const conds = BaseIdentityStore.eqs(q, ['account_id']);
    if (!q.include_revoked) conds.push({ col: 'revoked_at', active_at: this.iso() });
    return this.page('api_keys', conds, q.cursor, q.limit, toKey);
  }

  async revokeKey(id: string, actor?: Actor): Promise<ApiKey> {
    const by = this.checkActor(actor, false);
    const nowIso = this.iso();
    let lookupId = '';
    let changed = false;
    const row = await this.mutate('api_keys', id, (current) => {
      lookupId = String(current.lookup_id);
      const revokedAt = current.revoked_at as string | null;
      if (revokedAt && Date.parse(revokedAt) <= this.now()) return { set: {}, inserts: [] };
      changed = true;
      return { set: { revoked_at: nowIso }, inserts: [this.change('key', id, 'revoke', by, 'revoked_at', revokedAt, nowIso)] };
    });
    if (!row) throw this.notFound('key', id);
    if (changed) this.publish({ type: 'key', id, lookup_id: lookupId });
    return toKey(row);
  }

  async rotateKey(id: string, input: RotateKeyInput = {}, actor?: Actor): Promise<RotatedKey> {
    const v = parseInput(RotateKeyInput, input, 'rotation');
    const by = this.checkActor(actor, false);
    const now = this.now();
    for (let attempt = 0; ; attempt++) {
      const minted = mintSecret(this.keyPrefix);
      let created: ApiKey | null = null;
      let lookupId = '';
      try {
        const row = await this.mutate('api_keys', id, (current) => {
          const old = toKey(current);
          lookupId = String(current.lookup_id);
          const status = keyStatus(old, now);
          if (old.replaced_by) throw new WardenError('WARDEN_CONFLICT', `key ${id} was already rotated (replaced by ${old.replaced_by})`);
          if (status === 'revoked' || status === 'expired') throw new WardenError('WARDEN_CONFLICT', `key ${id} is ${status} and cannot be rotated`);
          created = {
            id: `key_${ulid(now)}`, account_id: old.account_id, prefix: minted.prefix, name: old.name, scopes: old.scopes,
            created_at: this.iso(now), expires_at: old.expires_at, revoked_at: null, last_used_at: null, replaced_by: null,
          };
          const revokeAt = this.iso(now + v.grace_seconds * 1000);
          return {
            set: { revoked_at: revokeAt, replaced_by: created.id },
            inserts: [
              { table: 'api_keys', row: { ...keyToRow(created), lookup_id: minted.lookupId, secret_hash: minted.hash } },
              this.change('key', id, 'rotate', by, 'replaced_by', null, created.id),
              this.change('key', created.id, 'create', by, 'prefix', null, created.prefix),
            ],
          };
        });
        if (!row) throw this.notFound('key', id);
        this.publish({ type: 'key', id, lookup_id: lookupId });
        return { key: created!, secret: minted.secret, previous: toKey(row) };
      } catch (err) {
        if (attempt < 3 && isUniqueViolation(err)) continue;
        throw err;
      }
    }
  }

  async listChanges(query: ListChangesQuery = {}): Promise<Page<IdentityChange>> {
    const q = parseInput(ListChangesQuery, query, 'query');
    return this.page('identity_changes', BaseIdentityStore.eqs(q, ['subject_id']), q.cursor, q.limit, (r) => r as unknown as IdentityChange);
  }

  // Authentication -----------------------------------------------------------------------
  async lookupKey(lookupId: string): Promise<KeyRecord | null> {
    const r = await this.selectKeyForAuth(lookupId);
    if (!r) return null;
    return { key: toKey(r.key), hash: String(r.key.secret_hash), account: toAccount(r.account), org: r.org ? toOrg(r.org) : null };
  }

  async authenticate(secret: string): Promise<AuthContext> {
    const parsed = parseSecret(secret);
    if (!parsed) throw malformedKeyError();
    const record = await this.lookupKey(parsed.lookupId);
    // Status is only revealed to someone who holds the whole secret.
    if (!record || !secretMatches(secret, record.hash)) throw invalidKeyError();
    assertUsable(record.key, record.account, this.now());
    return authContextFor(record);
  }

  async touchKeys(usage: ReadonlyMap<string, number>, firstUse?: ReadonlyMap<string, string>): Promise<void> {
    if (firstUse?.size) await this.updateFirstUse([...firstUse]);
    if (usage.size === 0) return;
    await this.updateLastUsed([...usage].map(([id, ms]) => [id, new Date(ms).toISOString()]));
  }
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

// Row mapping ----------------------------------------------------------------------------------
const str = (v: unknown): string | null => (v == null ? null : String(v));

function toOrg(r: Row): Organisation {
  return { id: String(r.id), name: String(r.name), tier: r.tier as VerificationTier, programme: r.programme as Programme, created_at: String(r.created_at) };
}

function toAccount(r: Row): Account {
  return {
    id: String(r.id), org_id: str(r.org_id), name: str(r.name), tier: r.tier as VerificationTier, programme: r.programme as Programme,
    status: r.status as AccountStatus, created_at: String(r.created_at), email: str(r.email), email_domain: str(r.email_domain),
    signup_ip: str(r.signup_ip), claimed_country: str(r.claimed_country), claimed_subdivision: str(r.claimed_subdivision), payment_fp: str(r.payment_fp), user_agent: str(r.user_agent),
    email_pattern: str(r.email_pattern), first_used_at: str(r.first_used_at),
  };
}

function toKey(r: Row): ApiKey {
  return {
    id: String(r.id), account_id: String(r.account_id), prefix: String(r.prefix), name: str(r.name),
    scopes: String(r.scopes).split(' ').filter(Boolean) as KeyScope[], created_at: String(r.created_at),
    expires_at: str(r.expires_at), revoked_at: str(r.revoked_at), last_used_at: str(r.last_used_at), replaced_by: str(r.replaced_by),
  };
}

function keyToRow(k: ApiKey): Row {
  return {
    id: k.id, account_id: k.account_id, prefix: k.prefix, name: k.name, scopes: k.scopes.join(' '), created_at: k.created_at,
    expires_at: k.expires_at, revoked_at: k.revoked_at, last_used_at: k.last_used_at, replaced_by: k.replaced_by ?? null,
  };
}
