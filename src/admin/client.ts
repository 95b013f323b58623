/**
 * The operations behind the admin API and the `warden` admin commands, as one interface with two
 * implementations: `LocalAdminClient` works on a store in this process (the admin routes use it
 * too, so both paths share every rule), `HttpAdminClient` calls a running Warden's admin API.
 */
import { WardenError, ERROR_CODES, type ErrorCode } from '../errors/index.ts';
import { encodeActorHeader } from './actor.ts';
import {
  keyStatus, type IdentityStore, type Actor, type Account, type ApiKey, type IdentityChange, type KeyStatus,
  type Organisation, type Page, type VerificationTier,
} from '../identity/index.ts';
import type {
  CreateAccountInput, CreateKeyInput, CreateOrgInput, ListAccountsQuery, ListChangesQuery, ListKeysQuery, ListOrgsQuery,
  RotateKeyInput, UpdateAccountInput, UpdateOrgInput,
} from '../identity/schemas.ts';

/** A key as the admin API shows it: never the secret or its hash; with its current status. */
export interface KeyView extends Omit<ApiKey, 'replaced_by'> {
  replaced_by: string | null;
  status: KeyStatus;
}

export interface CreatedKeyView {
  key: KeyView;
  /** Shown once; Warden keeps only its hash. */
  secret: string;
}

export interface RotatedKeyView extends CreatedKeyView {
  previous: KeyView;
}

export interface AdminClient {
  createOrg(input: CreateOrgInput): Promise<Organisation>;
  listOrgs(query?: ListOrgsQuery): Promise<Page<Organisation>>;
  getOrg(id: string): Promise<Organisation>;
  updateOrg(id: string, patch: UpdateOrgInput): Promise<Organisation>;
  setOrgTier(id: string, tier: VerificationTier, reason: string): Promise<Organisation>;

  createAccount(input: CreateAccountInput): Promise<Account>;
  listAccounts(query?: ListAccountsQuery): Promise<Page<Account>>;
  getAccount(id: string): Promise<Account>;
  updateAccount(id: string, patch: UpdateAccountInput): Promise<Account>;
  setAccountTier(id: string, tier: VerificationTier, reason: string): Promise<Account>;
  suspendAccount(id: string, reason: string): Promise<Account>;
  reactivateAccount(id: string, reason: string): Promise<Account>;

  createKey(accountId: string, input?: CreateKeyInput): Promise<CreatedKeyView>;
  listKeys(query?: ListKeysQuery): Promise<Page<KeyView>>;
  getKey(id: string): Promise<KeyView>;
  revokeKey(id: string, reason?: string | null): Promise<KeyView>;
  rotateKey(id: string, input?: RotateKeyInput): Promise<RotatedKeyView>;

  listChanges(query?: ListChangesQuery): Promise<Page<IdentityChange>>;
  close?(): Promise<void>;
}

/** Attach the derived status to a key. */
export function keyView(key: ApiKey, now: number = Date.now()): KeyView {
  return { ...key, replaced_by: key.replaced_by ?? null, status: keyStatus(key, now) };
}

function found<T>(v: T | null, what: string, id: string): T {
  if (v === null) throw new WardenError('WARDEN_NOT_FOUND', `${what} ${id} not found`);
  return v;
}

/** Admin operations on a store in this process, recorded as made by `actor`. */
export class LocalAdminClient implements AdminClient {
  constructor(private readonly store: IdentityStore, private readonly actor: string) {}

  private who(reason?: string | null): Actor { return { by: this.actor, reason: reason ?? null }; }

  createOrg(input: CreateOrgInput) { return this.store.createOrg(input, this.who()); }
  listOrgs(query: ListOrgsQuery = {}) { return this.store.listOrgs(query); }
  async getOrg(id: string) { return found(await this.store.getOrg(id), 'organisation', id); }
  updateOrg(id: string, patch: UpdateOrgInput) { return this.store.updateOrg(id, patch, this.who()); }
  setOrgTier(id: string, tier: VerificationTier, reason: string) { return this.store.setOrgTier(id, tier, this.who(reason)); }

  createAccount(input: CreateAccountInput) { return this.store.createAccount(input, this.who()); }
  listAccounts(query: ListAccountsQuery = {}) { return this.store.listAccounts(query); }
  async getAccount(id: string) { return found(await this.store.getAccount(id), 'account', id); }
  updateAccount(id: string, patch: UpdateAccountInput) { return this.store.updateAccount(id, patch, this.who()); }
  setAccountTier(id: string, tier: VerificationTier, reason: string) { return this.store.setAccountTier(id, tier, this.who(reason)); }
  suspendAccount(id: string, reason: string) { return this.store.setAccountStatus(id, 'suspended', this.who(reason)); }
  reactivateAccount(id: string, reason: string) { return this.store.setAccountStatus(id, 'active', this.who(reason)); }

  async createKey(accountId: string, input: CreateKeyInput = {}) {
    const c = await this.store.createKey(accountId, input, this.who());
    return { key: keyView(c.key), secret: c.secret };
  }
  async listKeys(query: ListKeysQuery = {}) {
    const p = await this.store.listKeys(query);
    const now = Date.now();
    return { data: p.data.map((k) => keyView(k, now)), next_cursor: p.next_cursor };
  }
  async getKey(id: string) { return keyView(found(await this.store.getKey(id), 'key', id)); }
  async revokeKey(id: string, reason?: string | null) { return keyView(await this.store.revokeKey(id, this.who(reason))); }
  async rotateKey(id: string, input: RotateKeyInput = {}) {
    const r = await this.store.rotateKey(id, input, this.who());
    return { key: keyView(r.key), secret: r.secret, previous: keyView(r.previous) };
  }

  listChanges(query: ListChangesQuery = {}) { return this.store.listChanges(query); }
}

/**
 * Why a call to the admin API got no answer, and what to do. fetch says only "fetch failed"; the
 * cause (refused, unknown host, timed out) is on the error's `cause`.
 */
function unreachable(err: unknown, timeoutMs: number): string {
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
  const code = cause?.code ?? (err as NodeJS.ErrnoException).code;
  const where = 'is warden serve running? If it listens elsewhere, give its address with --url http://HOST:PORT (or WARDEN_ADMIN_URL)';
  if (code === 'ECONNREFUSED') return `nothing listens there (connection refused): ${where}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `the host name does not resolve: ${where}`;
  if ((err as Error).name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s: ${where}`;
  return `${(err as Error).message}${cause?.message ? ` (${cause.message})` : ''}: ${where}`;
}

/** Admin operations against a running Warden over HTTP (base URL like `http://127.0.0.1:8080`). */
export class HttpAdminClient implements AdminClient {
  private readonly base: string;

  constructor(baseUrl: string, private readonly token: string, private readonly opts: { actor?: string; prefix?: string; timeoutMs?: number } = {}) {
    const prefix = opts.prefix ?? '/admin';
    if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', `--url: ${baseUrl} is not an http(s) URL (e.g. http://127.0.0.1:8080)`);
    }
    // The server's base URL, or its admin API's address as `warden serve` prints it (…/admin).
    let base = baseUrl.replace(/\/+$/, '');
    if (prefix && base.endsWith(prefix)) base = base.slice(0, -prefix.length);
    this.base = base + prefix;
  }

  /** One admin API call; errors come back as WardenError with the server's code. */
  async call<T>(method: string, path: string, opts: { query?: object; body?: unknown } = {}): Promise<T> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (this.opts.actor) headers['x-warden-actor'] = encodeActorHeader(this.opts.actor);
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new WardenError('WARDEN_UPSTREAM_UNAVAILABLE', `cannot reach the admin API at ${this.base}: ${unreachable(err, this.opts.timeoutMs ?? 30_000)}`, { cause: err });
    }
    const text = await res.text();
    let json: unknown = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string; param?: string | null } } | null)?.error;
      const code = (e?.code && e.code in ERROR_CODES ? e.code : 'WARDEN_UPSTREAM_ERROR') as ErrorCode;
      throw new WardenError(code, e?.message ?? `admin API answered ${res.status}`, { status: res.status, ...(e?.param ? { param: e.param } : {}) });
    }
    return json as T;
  }

  private static id(id: string): string { return encodeURIComponent(id); }

  createOrg(input: CreateOrgInput) { return this.call<Organisation>('POST', '/orgs', { body: input }); }
  listOrgs(query: ListOrgsQuery = {}) { return this.call<Page<Organisation>>('GET', '/orgs', { query }); }
  getOrg(id: string) { return this.call<Organisation>('GET', `/orgs/${HttpAdminClient.id(id)}`); }
  updateOrg(id: string, patch: UpdateOrgInput) { return this.call<Organisation>('PATCH', `/orgs/${HttpAdminClient.id(id)}`, { body: patch }); }
  setOrgTier(id: string, tier: VerificationTier, reason: string) { return this.call<Organisation>('POST', `/orgs/${HttpAdminClient.id(id)}/tier`, { body: { tier, reason } }); }

  createAccount(input: CreateAccountInput) { return this.call<Account>('POST', '/accounts', { body: input }); }
  listAccounts(query: ListAccountsQuery = {}) { return this.call<Page<Account>>('GET', '/accounts', { query }); }
  getAccount(id: string) { return this.call<Account>('GET', `/accounts/${HttpAdminClient.id(id)}`); }
  updateAccount(id: string, patch: UpdateAccountInput) { return this.call<Account>('PATCH', `/accounts/${HttpAdminClient.id(id)}`, { body: patch }); }
  setAccountTier(id: string, tier: VerificationTier, reason: string) { return this.call<Account>('POST', `/accounts/${HttpAdminClient.id(id)}/tier`, { body: { tier, reason } }); }
  suspendAccount(id: string, reason: string) { return this.call<Account>('POST', `/accounts/${HttpAdminClient.id(id)}/suspend`, { body: { reason } }); }
  reactivateAccount(id: string, reason: string) { return this.call<Account>('POST', `/accounts/${HttpAdminClient.id(id)}/reactivate`, { body: { reason } }); }

  createKey(accountId: string, input: CreateKeyInput = {}) { return this.call<CreatedKeyView>('POST', `/accounts/${HttpAdminClient.id(accountId)}/keys`, { body: input }); }
  listKeys(query: ListKeysQuery = {}) { return this.call<Page<KeyView>>('GET', '/keys', { query }); }
  getKey(id: string) { return this.call<KeyView>('GET', `/keys/${HttpAdminClient.id(id)}`); }
  revokeKey(id: string, reason?: string | null) { return this.call<KeyView>('POST', `/keys/${HttpAdminClient.id(id)}/revoke`, { body: reason ? { reason } : {} }); }
  rotateKey(id: string, input: RotateKeyInput = {}) { return this.call<RotatedKeyView>('POST', `/keys/${HttpAdminClient.id(id)}/rotate`, { body: input }); }

  listChanges(query: ListChangesQuery = {}) { return this.call<Page<IdentityChange>>('GET', '/changes', { query }); }
}
