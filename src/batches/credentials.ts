/**
 * How a request of a batch is authenticated when it runs, without the key's secret (stored only
 * hashed): the runner issues a one-use credential naming the batch's key, and the gateway's
 * authenticator resolves it to that key as it is now. A key revoked, expired or suspended since the
 * batch was sent refuses the rest of its requests.
 */
import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { extractApiKey, type Authenticator } from '../gateway/index.ts';
import { assertUsable, authContextFor, type AuthContext, type IdentityChangeNotice, type IdentityStore } from '../identity/index.ts';

const PREFIX = 'wbi_';
/** An issued credential not used within this long is void (it is used at once). */
const VALID_MS = 60_000;
/**
 * A key's context is re-read at most this often while its batch runs. Changes made through this
 * node's store (and, with PostgreSQL, any node's) drop it at once, as they do the gateway's
 * authenticator cache: a suspended account's or revoked key's batch stops with its next request.
 */
const CACHE_MS = 5_000;
/** Whose a credential was is forgotten once its request is recorded, or (a request never recorded) this long after. */
const OWNER_MS = 3_600_000;

/** Who a request Warden runs for a batch is for: the batch, and the key and account that sent it. */
export interface BatchOwner { batchId: string; keyId: string; accountId: string; orgId: string | null }

export class BatchCredentials {
  private readonly issued = new Map<string, { keyId: string; batchId: string; until: number }>();
  /** Each credential's batch and owner, until its request's event is recorded (refused ones too). */
  private readonly owners = new Map<string, { owner: BatchOwner; at: number }>();
  private readonly contexts = new Map<string, { auth: AuthContext; at: number }>();
  /** The batch of each context handed out for a credential (one object per credential, so a client's own requests never match). */
  private readonly batchOfContext = new WeakMap<AuthContext, string>();
  /** Bumped by every identity change, so a read that raced with one is not cached. */
  private generation = 0;
  private readonly unsubscribe: () => void;

  constructor(private readonly identity: Pick<IdentityStore, 'getKey' | 'getAccount' | 'getOrg'> & Partial<Pick<IdentityStore, 'onChange'>>) {
    this.unsubscribe = identity.onChange?.((n) => this.onChange(n)) ?? (() => {});
  }

  /** Stop listening for identity changes. */
  close(): void { this.unsubscribe(); }

  private onChange(n: IdentityChangeNotice): void {
    this.generation++;
    if (n.type === 'all') { this.contexts.clear(); return; }
    for (const [keyId, { auth }] of this.contexts) {
      const hit = n.type === 'key' ? keyId === n.id : n.type === 'account' ? auth.account.id === n.id : auth.org?.id === n.id;
      if (hit) this.contexts.delete(keyId);
    }
  }

  issue(owner: BatchOwner): string {
    const now = Date.now();
    if (this.issued.size > 10_000) for (const [c, e] of this.issued) if (e.until < now) this.issued.delete(c);
    if (this.owners.size > 10_000) for (const [c, e] of this.owners) if (e.at < now - OWNER_MS) this.owners.delete(c);
    const credential = PREFIX + randomBytes(24).toString('base64url');
    this.issued.set(credential, { keyId: owner.keyId, batchId: owner.batchId, until: now + VALID_MS });
    this.owners.set(credential, { owner, at: now });
    return credential;
  }

  /**
   * The event of a request sent with an issued credential names its batch and whose it is, also
   * when the request was refused before anyone was authenticated (the key revoked or expired, the
   * account suspended, a body too large): an operator then sees whose batch it was. Other
   * requests' events are left as they are. Once per credential: its event is recorded once.
   */
  markEvent(headers: Readonly<Record<string, string | string[] | undefined>>, event: InteractionEvent): void {
    let secret: string | null;
    try { secret = extractApiKey(headers); } catch { return; } // two keys: refused, not one of ours
    if (!secret || !secret.startsWith(PREFIX)) return;
    const entry = this.owners.get(secret);
    if (!entry) return;
    this.owners.delete(secret);
    const { owner } = entry;
    event.client.batch_id = owner.batchId;
    if (event.account_id === null) {
      event.account_id = owner.accountId;
      event.org_id = owner.orgId;
      event.key_id = owner.keyId;
    }
  }

  /** The gateway's authenticator, also accepting the credentials issued here. */
  authenticator(inner: Authenticator): Authenticator {
    return {
      authenticate: (secret: string) => {
        if (!secret.startsWith(PREFIX)) return inner.authenticate(secret);
        const entry = this.issued.get(secret);
        this.issued.delete(secret);
        if (!entry || entry.until < Date.now()) throw new WardenError('WARDEN_INVALID_API_KEY', 'Incorrect API key provided.');
        return this.contextOf(entry.keyId).then((auth) => {
          const own = Object.freeze(Object.assign({}, auth));
          this.batchOfContext.set(own, entry.batchId);
          return own;
        });
      },
    };
  }

  /** The batch a request authenticated with an issued credential runs for; null for any other request. */
  batchOf(auth: AuthContext | null): string | null {
    return auth ? this.batchOfContext.get(auth) ?? null : null;
  }

  private async contextOf(keyId: string): Promise<AuthContext> {
    const now = Date.now();
    const generation = this.generation;
    const hit = this.contexts.get(keyId);
    if (hit && now - hit.at < CACHE_MS) { assertUsable(hit.auth.key, hit.auth.account, now); return hit.auth; }
    const key = await this.identity.getKey(keyId);
    const account = key ? await this.identity.getAccount(key.account_id) : null;
    if (!key || !account) throw new WardenError('WARDEN_INVALID_API_KEY', 'The API key that sent this batch no longer exists.');
    const org = account.org_id ? await this.identity.getOrg(account.org_id) : null;
    assertUsable(key, account, now);
    const auth = authContextFor({ key, account, org });
    if (this.contexts.size > 1_000) this.contexts.clear();
    if (generation === this.generation) this.contexts.set(keyId, { auth, at: now });
    return auth;
  }
}
