/**
 * Requests with no valid key (missing, malformed, unknown, revoked or expired: a 401) are limited
 * per client address (an IPv6 /64): past `limits.keyless_failures_per_minute` of them in a minute,
 * the address's API requests get 429 with `retry-after` until the minute is over, before their key
 * is checked, so that guessing keys from one address goes no faster than that. A request whose key
 * was accepted lately (on this node, from any address) is never held back: a customer sharing an
 * address with a client sending bad keys keeps working.
 */
import { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardenError } from '../errors/index.ts';
import { apiKeyFromHeaders } from '../identity/headers.ts';
import { acceptedSecretHash, hashSecret } from '../identity/keys.ts';
import { subnetOf } from '../events/index.ts';
import type { Authenticator } from './interaction-state.ts';

const WINDOW_MS = 60_000;
/** Addresses counted at once; past it the oldest are forgotten (a client with many addresses gains nothing it would not have with one each). */
const MAX_ADDRESSES = 100_000;
/** Keys accepted lately, remembered (as hashes) for this long, at most `MAX_KEYS` of them. */
const ACCEPTED_MS = 3_600_000;
const MAX_KEYS = 100_000;

/** A request made by Warden itself (a batch's requests, through Fastify's inject) has no socket of its own: never counted. */
export const fromNetwork = (req: FastifyRequest): boolean => req.raw.socket instanceof Socket;


export class KeylessFailures {
  private readonly failures = new Map<string, { start: number; n: number }>();
  /** When the latest of those minutes began (ms): once it is over, so are the others. */
  private newestStart = -Infinity;
  private readonly accepted = new Map<string, number>();

  /** `perMinute` 0: no limit. */
  constructor(readonly perMinute: number, private readonly log: { warn(obj: object, msg: string): void } | null = null) {}

  get enabled(): boolean { return this.perMinute > 0; }

  /** The authenticator, remembering the keys it accepts. */
  authenticator(inner: Authenticator): Authenticator {
    if (!this.enabled) return inner;
    const remember = <T extends object>(secret: string, auth: T): T => { this.accept(secret, Date.now(), auth); return auth; };
    return {
      authenticate: (secret: string) => {
        const auth = inner.authenticate(secret);
        return auth instanceof Promise ? auth.then((a) => remember(secret, a)) : remember(secret, auth);
      },
    };
  }

  /**
   * Remember an accepted key by its SHA-256: the one the authenticator checked it against when it
   * has it (`auth`, the cached authenticator's contexts), so each accepted request is not hashed
   * twice; hashed here otherwise.
   */
  accept(secret: string, now = Date.now(), auth?: object): void {
    const h = (auth && acceptedSecretHash(auth)) ?? hashSecret(secret);
    this.accepted.delete(h);
    if (this.accepted.size >= MAX_KEYS) this.accepted.delete(this.accepted.keys().next().value!);
    this.accepted.set(h, now + ACCEPTED_MS);
  }

  /** A request from `ip` was refused for its key. */
  failed(ip: string, now = Date.now()): void {
    if (!this.enabled) return;
    const subject = subnetOf(ip, 32, 64);
    let w = this.failures.get(subject);
    if (!w || now - w.start >= WINDOW_MS) {
      this.failures.delete(subject);
      if (this.failures.size >= MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
      w = { start: now, n: 0 };
      this.failures.set(subject, w);
      if (now > this.newestStart) this.newestStart = now;
    }
    w.n++;
    if (w.n === this.perMinute) this.log?.warn({ address: subject, per_minute: this.perMinute }, `requests without a valid key from ${subject}: ${this.perMinute} this minute; its requests without a key accepted lately get 429 until the minute is over`);
  }

  /**
   * Throws the 429 of a request from an address past its failures of the minute, unless its key
   * was accepted lately; its key is not checked then.
   */
  check(ip: string, headers: FastifyRequest['headers'], now = Date.now()): void {
    if (!this.enabled) return;
    // No address's minute of failures is still running (the usual case): nothing to look up, and
    // no subnet spelled out for every request. The minutes over are forgotten at once.
    if (now - this.newestStart >= WINDOW_MS) {
      if (this.failures.size > 0) this.failures.clear();
      return;
    }
    const subject = subnetOf(ip, 32, 64);
    const w = this.failures.get(subject);
    if (!w || w.n < this.perMinute) return;
    const left = w.start + WINDOW_MS - now;
    if (left <= 0) return;
    let secret: string | null = null;
    try { secret = apiKeyFromHeaders(headers); } catch { /* two different keys: not one accepted */ }
    if (secret !== null) {
      const h = hashSecret(secret);
      const until = this.accepted.get(h);
      if (until !== undefined && until > now) return;
      if (until !== undefined) this.accepted.delete(h);
    }
    const retryS = Math.max(1, Math.ceil(left / 1000));
    throw new WardenError('WARDEN_RATE_LIMITED', `Too many requests without a valid API key from this address: ${this.perMinute} a minute. Retry after ${retryS}s with a valid key.`, { headers: { 'retry-after': String(retryS) } });
  }
}

const ofServer = new WeakMap<FastifyInstance, KeylessFailures>();
export function attachKeyless(app: FastifyInstance, keyless: KeylessFailures): void { ofServer.set(app, keyless); }

/**
 * An authenticator of the routes registered on the gateway's server (batches and files, TAXII,
 * ledger reads) that remembers the keys it accepts, as the model routes' does: a customer using
 * only those routes is not held back with the clients sending bad keys from its address.
 */
export function acceptingAuthenticator(app: FastifyInstance, inner: Authenticator): Authenticator {
  return ofServer.get(app)?.authenticator(inner) ?? inner;
}
