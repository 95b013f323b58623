/**
 * API key secrets: `<prefix>_<lookup id>_<secret>`, e.g. `wk_live_7Hq2mZ4kP9xa_<40 base62 chars>`.
 *
 * The lookup id is stored in clear (unique index) so authentication is one indexed read; the
 * whole secret is stored only as its SHA-256. A plain hash is enough because the secret carries
 * ~238 bits of crypto randomness: there is nothing to brute-force, so a slow KDF would only add
 * latency to every request.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const LOOKUP_ID_LENGTH = 12;
export const SECRET_LENGTH = 40;

/** `length` base62 characters from the OS CSPRNG, without modulo bias (rejection sampling). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const bytes = randomBytes(Math.ceil((length - out.length) * 1.25) + 4);
    for (const b of bytes) {
      if (b >= 248) continue; // 248 = 62 * 4: keep only bytes that map uniformly
      out += BASE62[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export interface MintedSecret {
  /** The full secret, returned to the customer once. */
  secret: string;
  /** Public part shown in listings: `<prefix>_<lookup id>`. */
  prefix: string;
  lookupId: string;
  /** SHA-256 of the full secret, hex. */
  hash: string;
}

/** Mint a new key secret under the given prefix (e.g. `wk_live`). */
export function mintSecret(keyPrefix: string): MintedSecret {
  const lookupId = randomBase62(LOOKUP_ID_LENGTH);
  const secret = `${keyPrefix}_${lookupId}_${randomBase62(SECRET_LENGTH)}`;
  return { secret, prefix: `${keyPrefix}_${lookupId}`, lookupId, hash: hashSecret(secret) };
}

// One-shot crypto.hash (Node >= 20.12) is several times cheaper than createHash for short inputs.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: string) => string }).hash;

/** SHA-256 of a secret, hex. */
export function hashSecret(secret: string): string {
  return oneShot ? oneShot('sha256', secret, 'hex') : createHash('sha256').update(secret).digest('hex');
}

/** The SHA-256 hex of the secret each authentication context was accepted for (see `acceptedSecretHash`). */
const acceptedHashes = new WeakMap<object, string>();

/** Remember the stored hash a context's secret was checked against (once per context an authenticator keeps). */
export function rememberSecretHash(auth: object, hash: string): void {
  acceptedHashes.set(auth, hash);
}

/**
 * `hashSecret` of the secret an authenticator accepted for `auth`, when it checked the secret
 * against that stored hash: what it computed already, so another module need not hash it again.
 */
export function acceptedSecretHash(auth: object): string | undefined {
  return acceptedHashes.get(auth);
}

/** Compare two hex digests in time that depends only on their length. */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function isBase62(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return false;
  }
  return true;
}

/**
 * Split a presented secret into its lookup id; null when it cannot be a Warden key.
 * The prefix is not checked against the configured one, so keys minted under an older prefix
 * keep working; the hash covers the whole secret, prefix included.
 */
export function parseSecret(secret: string): { lookupId: string } | null {
  if (typeof secret !== 'string' || secret.length > 256) return null;
  const last = secret.lastIndexOf('_');
  if (last <= 0) return null;
  const prev = secret.lastIndexOf('_', last - 1);
  if (prev <= 0) return null;
  if (last - prev - 1 !== LOOKUP_ID_LENGTH || secret.length - last - 1 < 32) return null;
  if (!isBase62(secret, prev + 1, last) || !isBase62(secret, last + 1, secret.length)) return null;
  return { lookupId: secret.slice(prev + 1, last) };
}

/** Constant-time check of a presented secret against a stored SHA-256 hex hash. */
export function secretMatches(secret: string, storedHashHex: string): boolean {
  return digestsEqual(hashSecret(secret), storedHashHex);
}

/** Constant-time comparison of two strings of any length (hashing first hides the length). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
