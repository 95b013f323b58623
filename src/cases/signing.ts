/**
 * Signatures on the STIX objects this provider shares (`cases.signing_key`), and their check on
 * what a partner's feed serves (`cases.feeds[].public_key`), what a partner posts to the inbox
 * (`cases.partners[].public_key`) and what an operator imports with a key given. The sharing key
 * only hides values (HMAC): anyone holding it can make indicators another would match. A signature says which
 * provider made an object and that nothing in it changed since.
 *
 * Each object carries `x_warden_signature`: `{ "alg": "ed25519", "key_id", "value" }`, `value` the
 * Ed25519 signature (base64url) of
 *
 *     "warden intel signature v1\n" + JCS(the object without x_warden_signature)
 *
 * (JCS: the JSON Canonicalization Scheme, RFC 8785), so a partner not running Warden can check it.
 * Objects are signed one by one, not the bundle: TAXII serves a collection in pages, by object and
 * version, and each must be checkable alone.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import canonicalize from 'canonicalize';

export const SIGNATURE_FIELD = 'x_warden_signature';
const CONTEXT = 'warden intel signature v1\n';
const PUBLIC_PREFIX = 'ed25519:';
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

type StixObject = Record<string, unknown>;

/** The public id of a public key: the first 16 hex of its SHA-256. */
function keyIdOf(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

function signedBytes(o: StixObject): Buffer {
  const { [SIGNATURE_FIELD]: _drop, ...rest } = o;
  return Buffer.from(CONTEXT + canonicalize(rest), 'utf8');
}

/** A partner's public key as pinned (`ed25519:` and 32 bytes in base64url). */
export class IntelPublicKey {
  readonly keyId: string;
  private readonly key: KeyObject;

  private constructor(readonly raw: Buffer) {
    this.keyId = keyIdOf(raw);
    this.key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  }

  /** Throws with the reason when `text` is not an `ed25519:` public key. */
  static parse(text: string): IntelPublicKey {
    const t = text.trim();
    if (!t.startsWith(PUBLIC_PREFIX)) throw new Error('a public key starts with "ed25519:" (as GET /admin/intel prints it under signing)');
    const raw = Buffer.from(t.slice(PUBLIC_PREFIX.length), 'base64url');
    if (raw.length !== 32 || raw.toString('base64url') !== t.slice(PUBLIC_PREFIX.length)) throw new Error('an ed25519 public key is 32 bytes in base64url after "ed25519:"');
    return new IntelPublicKey(raw);
  }

  toString(): string { return PUBLIC_PREFIX + this.raw.toString('base64url'); }

  /** Null when `o` carries a good signature by this key; else why not. */
  check(o: StixObject): string | null {
    return checkPinned(o, [this]);
  }

  /** Whether `value` is this key's signature of `o` (the signature field aside). */
  verifies(o: StixObject, value: Buffer): boolean {
    try { return value.length === 64 && cryptoVerify(null, signedBytes(o), this.key, value); } catch { return false; }
  }
}

/**
 * Null when `o` carries a good signature by one of the pinned keys (several during a partner's
 * rotation: the key before and the new one); else why not.
 */
export function checkPinned(o: StixObject, pinned: readonly IntelPublicKey[]): string | null {
  const sig = o[SIGNATURE_FIELD] as { alg?: unknown; key_id?: unknown; value?: unknown } | undefined;
  const ids = pinned.map((k) => k.keyId);
  if (sig === undefined) return `unsigned, and ${pinned.map((k) => PUBLIC_PREFIX + k.keyId).join(', ')} ${pinned.length === 1 ? 'is' : 'are'} pinned for this source`;
  if (!sig || typeof sig !== 'object' || sig.alg !== 'ed25519' || typeof sig.value !== 'string') return 'its signature is not an ed25519 signature as Warden writes them';
  const key = pinned.find((k) => k.keyId === sig.key_id);
  // The id as the object gives it (the sender's text): short, on one line, for logs.
  const given = JSON.stringify(String(sig.key_id).slice(0, 64)).slice(1, -1);
  if (!key) return pinned.length === 1 ? `signed with key ${given}, not the key pinned for this source (${ids[0]})` : `signed with key ${given}, not a key pinned for this source (${ids.join(', ')})`;
  return key.verifies(o, Buffer.from(sig.value, 'base64url')) ? null : `its signature by key ${key.keyId} does not match its content (altered after signing, or forged)`;
}

/** A pin as configured: one key or a list (a partner rotating its key), each `ed25519:...`. Throws with the reason. */
export function parsePin(pin: string | readonly string[] | undefined | null): IntelPublicKey[] {
  if (pin === undefined || pin === null) return [];
  return (typeof pin === 'string' ? [pin] : pin).map((t) => IntelPublicKey.parse(t));
}

/** This provider's signing key. */
export class IntelSigner {
  readonly publicKey: IntelPublicKey;
  private readonly key: KeyObject;

  private constructor(seed: Buffer) {
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(this.key).export({ format: 'der', type: 'spki' });
    this.publicKey = IntelPublicKey.parse(PUBLIC_PREFIX + spki.subarray(SPKI_ED25519_PREFIX.length).toString('base64url'));
  }

  /** From its text form (`ed25519-private:` and the 32-byte seed in base64url). */
  static parse(text: string): IntelSigner {
    const t = text.trim();
    const seed = t.startsWith('ed25519-private:') ? Buffer.from(t.slice('ed25519-private:'.length), 'base64url') : null;
    if (!seed || seed.length !== 32) throw new Error('a signing key is "ed25519-private:" and 32 bytes in base64url (warden writes one at first start)');
    return new IntelSigner(seed);
  }

  static generate(): IntelSigner {
    const der = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
    return new IntelSigner(der.subarray(PKCS8_ED25519_PREFIX.length));
  }

  exportPrivate(): string {
    const der = this.key.export({ format: 'der', type: 'pkcs8' });
    return 'ed25519-private:' + der.subarray(PKCS8_ED25519_PREFIX.length).toString('base64url');
  }

  get keyId(): string { return this.publicKey.keyId; }

  /** A copy of `o` with its signature (one it carried before is replaced). */
  sign<T extends StixObject>(o: T): T {
    const { [SIGNATURE_FIELD]: _old, ...rest } = o;
    const value = cryptoSign(null, signedBytes(rest), this.key).toString('base64url');
    return { ...rest, [SIGNATURE_FIELD]: { alg: 'ed25519', key_id: this.keyId, value } } as unknown as T;
  }
}

/**
 * Objects signed or checked between two turns of the event loop at most: a signature costs tens of
 * microseconds (hundreds on a loaded machine), and a page holds up to 1,000 objects, on the
 * process that also serves the model API.
 */
const PER_TURN = 64;

/**
 * Signatures of published versions, made once each: a version (collection, id, `modified`) never
 * changes once published. Bounded: emptied when full.
 */
export class SignatureCache {
  private readonly made = new Map<string, unknown>();

  constructor(private readonly signer: IntelSigner | null, private readonly max = 50_000) {}

  /** The rows' bodies, signed (as they are without a signer). Sightings (`collection` sightings) are signed afresh. */
  async sign(rows: ReadonlyArray<{ collection: string; id: string; version: string; body: StixObject }>): Promise<StixObject[]> {
    const signer = this.signer;
    if (!signer) return rows.map((r) => r.body);
    const out: StixObject[] = [];
    let work = 0;
    for (const r of rows) {
      const key = r.collection === 'sightings' ? null : `${signer.keyId}\n${r.collection}\n${r.id}\n${r.version}`;
      const sig = key === null ? undefined : this.made.get(key);
      if (sig !== undefined) { out.push({ ...r.body, [SIGNATURE_FIELD]: sig }); continue; }
      if (++work % PER_TURN === 0) await yieldTurn();
      const signed = signer.sign(r.body);
      if (key !== null) {
        if (this.made.size >= this.max) this.made.clear();
        this.made.set(key, signed[SIGNATURE_FIELD]);
      }
      out.push(signed);
    }
    return out;
  }
}

/**
 * The objects of a partner's page or bundle that a pinned key (or one of the pinned keys) lets
 * through, and why each other one is refused. Without a pinned key everything passes (and the caller warns).
 */
export async function checkSigned(objects: readonly unknown[], pin: IntelPublicKey | readonly IntelPublicKey[] | null): Promise<{ kept: unknown[]; refused: Array<{ id: string; reason: string }> }> {
  const pinned = pin === null ? [] : pin instanceof IntelPublicKey ? [pin] : pin;
  if (!pinned.length) return { kept: [...objects], refused: [] };
  const kept: unknown[] = [];
  const refused: Array<{ id: string; reason: string }> = [];
  let n = 0;
  for (const o of objects) {
    if (++n % PER_TURN === 0) await yieldTurn();
    const id = o && typeof o === 'object' && typeof (o as StixObject).id === 'string' ? String((o as StixObject).id) : '(no id)';
    const why = o && typeof o === 'object' && !Array.isArray(o) ? checkPinned(o as StixObject, pinned) : 'not a STIX object';
    if (why === null) kept.push(o); else refused.push({ id, reason: why });
  }
  return { kept, refused };
}
