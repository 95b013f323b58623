/**
 * API key secrets: `<prefix>_<lookup id>_<secret>`, e.g. `wk_live_7Hq2mZ4kP9xa_<40 base62 chars>`.
 *
 * The lookup id is stored in clear (unique index) so authentication is one indexed read; the
 * whole secret is stored only as its SHA-256. A plain hash is enough because the secret carries
 * ~238 bits of crypto randomness: there is nothing to brute-force, so a slow KDF would only add
 * latency to every request.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const LOOKUP_ID_LENGTH = 12;
export const SECRET_LENGTH = 40;
const BASE62_RE = /^[0-9A-Za-z]+$/;

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

/** SHA-256 of a secret, hex. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
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
  const lookupId = secret.slice(prev + 1, last);
  const random = secret.slice(last + 1);
  if (lookupId.length !== LOOKUP_ID_LENGTH || random.length < 32 || !BASE62_RE.test(lookupId) || !BASE62_RE.test(random)) return null;
  return { lookupId };
}

/** Constant-time check of a presented secret against a stored SHA-256 hex hash. */
export function secretMatches(secret: string, storedHashHex: string): boolean {
  const presented = createHash('sha256').update(secret).digest();
  const stored = Buffer.from(storedHashHex, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

/** Constant-time comparison of two strings of any length (hashing first hides the length). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
