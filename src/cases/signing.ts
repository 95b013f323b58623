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
  const given = JSON.stringify((typeof sig.key_id === 'string' ? sig.key_id : JSON.stringify(sig.key_id) ?? String(sig.key_id)).slice(0, 64)).slice(1, -1);
  if (!key) return pinned.length === 1 ? `signed with key ${given}, not the key pinned for this source (${ids[0]})` : `signed with key ${given}, not a key pinned for this source (${ids.join(', ')})`;
  return key.verifies(o, Buffer.from(sig.value, 'base64url')) ? null : `its signature by key ${key.keyId} does not match its content (altered after signing, or forged)`;
}

/** A pin as configured: one key or a list (a partner rotating its key), each `ed25519:...`. Throws with the reason. */
export function parsePin(pin: string | readonly string[] | undefined | null): IntelPublicKey[] {
  if (pin === undefined || pin === null) return [];
  return (typeof pin === 'string' ? [pin] : pin).map((t) => IntelPublicKey.parse(t));
}

/** A key staged by a rotation: signs from `from` on (ms since the epoch). */
interface NextKey { signer: IntelSigner; from: number }

/**
 * This provider's signing key, and the key a rotation staged (`warden intel rotate-key`): the key
 * in force signs until the staged key's time, so that partners pin the new public key beside the
 * old one before anything comes signed with it; from then on the new key signs.
 */
export class IntelSigner {
  // Not readonly: a rotation through the running server swaps them in place (adopt), so every
  // holder of this signer (the TAXII server, the admin routes) signs with the new keys at once.
  private own: IntelPublicKey;
  private key: KeyObject;
  private next: NextKey | null = null;

  private constructor(seed: Buffer) {
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(this.key).export({ format: 'der', type: 'spki' });
    this.own = IntelPublicKey.parse(PUBLIC_PREFIX + spki.subarray(SPKI_ED25519_PREFIX.length).toString('base64url'));
  }

  /**
   * From its text form: `ed25519-private:` and the 32-byte seed in base64url; a rotation adds a
   * line `next ed25519-private:... from <ISO time>` (the key that signs from then on).
   */
  static parse(text: string): IntelSigner {
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const current = IntelSigner.parseOne(lines[0] ?? '');
    const staged = lines.slice(1);
    if (staged.length > 1) throw new Error('a signing key holds the key in force and at most one line "next ed25519-private:... from <time>"');
    if (staged.length) {
      const m = /^next\s+(\S+)\s+from\s+(\S+)$/.exec(staged[0]);
      const from = m ? Date.parse(m[2]) : Number.NaN;
      if (!m || Number.isNaN(from)) throw new Error('the line after the key is "next ed25519-private:... from <ISO time>" (written by warden intel rotate-key)');
      current.next = { signer: IntelSigner.parseOne(m[1]), from };
    }
    return current;
  }

  private static parseOne(text: string): IntelSigner {
    const t = text.trim();
    const seed = t.startsWith('ed25519-private:') ? Buffer.from(t.slice('ed25519-private:'.length), 'base64url') : null;
    if (!seed || seed.length !== 32) throw new Error('a signing key is "ed25519-private:" and 32 bytes in base64url (warden writes one at first start)');
    return new IntelSigner(seed);
  }

  static generate(): IntelSigner {
    const der = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
    return new IntelSigner(der.subarray(PKCS8_ED25519_PREFIX.length));
  }

  /** The key that signs at `now`: the staged one once its time has come. */
  private active(now = Date.now()): IntelSigner {
    return this.next && now >= this.next.from ? this.next.signer : this;
  }

  /** The private key in force (`ed25519-private:...`), without a staged one. */
  exportPrivate(): string {
    const der = this.active().key.export({ format: 'der', type: 'pkcs8' });
    return 'ed25519-private:' + der.subarray(PKCS8_ED25519_PREFIX.length).toString('base64url');
  }

  /** The text form parse() reads: the key in force, and the staged one with its time while it waits. */
  exportText(now = Date.now()): string {
    const next = this.staged(now);
    return this.exportPrivate() + '\n' + (next ? `next ${next.signer.exportPrivate()} from ${new Date(next.from).toISOString()}\n` : '');
  }

  /** The public key that signs now. */
  get publicKey(): IntelPublicKey { return this.active().own; }
  get keyId(): string { return this.publicKey.keyId; }

  /** The staged key still waiting for its time (null: none, or it signs already). */
  staged(now = Date.now()): NextKey | null {
    return this.next && now < this.next.from ? this.next : null;
  }

  /**
   * Stage a new key: the key in force keeps signing until `from`, then the new one signs.
   * Returns a signer holding both (this one is left as it was).
   */
  rotated(next: IntelSigner, from: number, now = Date.now()): IntelSigner {
    if (this.staged(now)) throw new Error(`a new key (${this.next!.signer.keyId}) is already staged, signing from ${new Date(this.next!.from).toISOString()}: rotate again after that`);
    const out = IntelSigner.parse(this.exportPrivate());
    out.next = { signer: next, from };
    return out;
  }

  /** Take the keys of `other` (a rotation): what signs from now on is decided by its keys. */
  adopt(other: IntelSigner): void {
    this.key = other.key;
    this.own = other.own;
    this.next = other.next;
  }

  /** A copy of `o` with its signature (one it carried before is replaced). */
  sign<T extends StixObject>(o: T): T {
    const signer = this.active();
    const { [SIGNATURE_FIELD]: _old, ...rest } = o;
    const value = cryptoSign(null, signedBytes(rest), signer.key).toString('base64url');
    return { ...rest, [SIGNATURE_FIELD]: { alg: 'ed25519', key_id: signer.own.keyId, value } } as unknown as T;
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
