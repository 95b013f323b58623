/**
 * C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures, and C2SP checkpoints
 * (c2sp.org/tlog-checkpoint) as their text. Pure functions over strings and bytes; parsers reject
 * anything malformed with a NoteError and never accept what they cannot fully check.
 *
 * Key formats are those of golang.org/x/mod/sumdb/note, which the wider transparency-log
 * tooling reads:
 *   verifier key: <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
 *   signer key:   PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>
 * key id = first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public key).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { HASH_SIZE, sha256 } from './merkle.ts';

export class NoteError extends Error {
  constructor(message: string) { super(message); this.name = 'NoteError'; }
}

const ED25519 = 0x01;
/** Largest note accepted, bytes: far above any checkpoint, bounds hostile input. */
export const MAX_NOTE_BYTES = 64 * 1024;
/** Most signature lines accepted (the spec requires accepting at least 16). */
export const MAX_SIGNATURES = 64;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict standard base64 (RFC 4648 section 4, padded): decodes only canonical encodings. */
export function decodeBase64Strict(s: string, what: string): Uint8Array {
  if (s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new NoteError(`${what} is not base64`);
  const bytes = new Uint8Array(Buffer.from(s, 'base64'));
  if (Buffer.from(bytes).toString('base64') !== s) throw new NoteError(`${what} is not canonical base64`);
  return bytes;
}

export function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b).toString('base64');
}

/** True when the string has no lone surrogates (so it encodes to valid UTF-8). */
function wellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

function validName(name: string): boolean {
  // Non-empty, no Unicode spaces, no '+', no control characters.
  return name.length > 0 && !/[\s+\u0000-\u001f\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(name);
}

/** Key id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || pub)[:4] as a uint32. */
export function keyId(name: string, publicKey: Uint8Array): number {
  const h = sha256(utf8.encode(name), Uint8Array.of(0x0a, ED25519), publicKey);
  return ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** A public key that checks signatures of one name. */
export interface NoteVerifier {
  name: string;
  keyId: number;
  publicKey: Uint8Array;
  /** The `<name>+<hex id>+<base64>` string. */
  toString(): string;
}

/** A private key that signs notes. Keep it out of logs: `toString()` is redacted. */
export interface NoteSigner {
  name: string;
  keyId: number;
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
  verifier(): NoteVerifier;
  /** The PRIVATE+KEY+... string (secret). */
  exportPrivate(): string;
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function publicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, pub]), format: 'der', type: 'spki' });
}

function makeVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  const id = keyId(name, publicKey);
  const str = `${name}+${hex8(id)}+${encodeBase64(Uint8Array.of(ED25519, ...publicKey))}`;
  return { name, keyId: id, publicKey, toString: () => str };
}

/** Parse a verifier key string; checks the name, the algorithm byte, the key length and the key id. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  if (typeof vkey !== 'string' || vkey.length > 1024) throw new NoteError('verifier key is not a string of sane length');
  const p1 = vkey.indexOf('+');
  const p2 = p1 < 0 ? -1 : vkey.indexOf('+', p1 + 1);
  if (p1 < 0 || p2 < 0) throw new NoteError('verifier key must be <name>+<key id>+<key>');
  const name = vkey.slice(0, p1);
  const idHex = vkey.slice(p1 + 1, p2);
  if (!validName(name)) throw new NoteError('verifier key has an invalid name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError('verifier key id must be 8 lowercase hex digits');
  const raw = decodeBase64Strict(vkey.slice(p2 + 1), 'verifier key');
  if (raw.length !== 33 || raw[0] !== ED25519) throw new NoteError('verifier key is not an Ed25519 key (0x01 || 32 bytes)');
  const v = makeVerifier(name, raw.slice(1));
  if (hex8(v.keyId) !== idHex) throw new NoteError('verifier key id does not match the key');
  return v;
}

function makeSigner(name: string, seed: Uint8Array): NoteSigner {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const pubDer = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(pubDer.subarray(pubDer.length - 32));
  const verifier = makeVerifier(name, publicKey);
  const secret = `PRIVATE+KEY+${name}+${hex8(verifier.keyId)}+${encodeBase64(Uint8Array.of(ED25519, ...seed))}`;
  return {
    name,
    keyId: verifier.keyId,
    publicKey,
    sign: (message) => new Uint8Array(cryptoSign(null, message, priv)),
    verifier: () => verifier,
    exportPrivate: () => secret,
    toString: () => `${name}+${hex8(verifier.keyId)} (private key)`,
  } as NoteSigner;
}

/** Parse a PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)> signer key. */
export function parseSignerKey(skey: string): NoteSigner {
  if (typeof skey !== 'string' || !skey.startsWith('PRIVATE+KEY+')) throw new NoteError('signer key must start with PRIVATE+KEY+');
  const rest = skey.slice('PRIVATE+KEY+'.length).trim();
  const p1 = rest.indexOf('+');
  const p2 = p1 < 0 ? -1 : rest.indexOf('+', p1 + 1);
  if (p1 < 0 || p2 < 0) throw new NoteError('signer key must be PRIVATE+KEY+<name>+<key id>+<key>');
  const name = rest.slice(0, p1);
  const idHex = rest.slice(p1 + 1, p2);
  if (!validName(name)) throw new NoteError('signer key has an invalid name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError('signer key id must be 8 lowercase hex digits');
  const raw = decodeBase64Strict(rest.slice(p2 + 1), 'signer key');
  if (raw.length !== 33 || raw[0] !== ED25519) throw new NoteError('signer key is not an Ed25519 seed (0x01 || 32 bytes)');
  const signer = makeSigner(name, raw.slice(1));
  if (hex8(signer.keyId) !== idHex) throw new NoteError('signer key id does not match the key');
  return signer;
}

/** Generate a fresh Ed25519 key pair for `name` (e.g. the log origin). */
export function generateSigner(name: string): NoteSigner {
  if (!validName(name)) throw new NoteError('key name must be non-empty, without spaces or +');
  const { privateKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return makeSigner(name, new Uint8Array(der.subarray(der.length - 32)));
}

export interface NoteSignature { name: string; keyId: number; signature: Uint8Array }
export interface ParsedNote { text: string; signatures: NoteSignature[] }

/** Split a signed note into its text and signature lines (no cryptography). */
export function parseNote(input: string | Uint8Array): ParsedNote {
  let s: string;
  if (typeof input === 'string') {
    s = input;
    if (utf8.encode(s).length > MAX_NOTE_BYTES) throw new NoteError('note is too large');
    // A JS string may hold lone surrogates, which are not UTF-8.
    if (!wellFormed(s)) throw new NoteError('note is not valid UTF-8');
  } else {
    if (input.length > MAX_NOTE_BYTES) throw new NoteError('note is too large');
    try { s = strictUtf8.decode(input); } catch { throw new NoteError('note is not valid UTF-8'); }
  }
  if (/[\u0000-\u0009\u000b-\u001f]/.test(s)) throw new NoteError('note contains control characters');
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('note has no blank line before its signatures');
  const text = s.slice(0, split + 1);
  const sigBlock = s.slice(split + 2);
  if (!sigBlock.endsWith('\n')) throw new NoteError('note signatures must end with a newline');
  const lines = sigBlock.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError('note has too many signatures');
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith('\u2014 ')) throw new NoteError('malformed signature line');
    const body = line.slice(2);
    const sp = body.lastIndexOf(' ');
    if (sp <= 0) throw new NoteError('malformed signature line');
    const name = body.slice(0, sp);
    if (!validName(name)) throw new NoteError('signature has an invalid key name');
    const raw = decodeBase64Strict(body.slice(sp + 1), 'signature');
    if (raw.length < 5) throw new NoteError('signature is too short');
    const id = ((raw[0] << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3]) >>> 0;
    signatures.push({ name, keyId: id, signature: raw.slice(4) });
  }
  return { text, signatures };
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw new NoteError('note text must end with a newline');
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new NoteError('note text contains control characters');
  if (!wellFormed(text)) throw new NoteError('note text is not valid UTF-8');
}

/** Sign `text` (ending in a newline) with one or more signers; returns the signed note. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkText(text);
  if (signers.length === 0) throw new NoteError('at least one signer is needed');
  const msg = utf8.encode(text);
  let out = `${text}\n`;
  for (const s of signers) {
    const sig = s.sign(msg);
    const blob = new Uint8Array(4 + sig.length);
    new DataView(blob.buffer).setUint32(0, s.keyId);
    blob.set(sig, 4);
    out += `\u2014 ${s.name} ${encodeBase64(blob)}\n`;
  }
  return out;
}

/**
 * Open a signed note with trusted verifier keys, as the spec requires: signatures from unknown
 * keys are ignored; a known key's signature that fails rejects the note; at least one known
 * signature must verify. Returns the text and the verifiers that signed it.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): { text: string; signedBy: NoteVerifier[] } {
  const parsed = parseNote(note);
  checkText(parsed.text);
  const msg = utf8.encode(parsed.text);
  const signedBy: NoteVerifier[] = [];
  for (const sig of parsed.signatures) {
    const v = verifiers.find((k) => k.name === sig.name && k.keyId === sig.keyId);
    if (!v) continue;
    let ok = false;
    try { ok = sig.signature.length === 64 && cryptoVerify(null, msg, publicKeyObject(v.publicKey), sig.signature); } catch { ok = false; }
    if (!ok) throw new NoteError(`signature by ${v.name}+${hex8(v.keyId)} does not verify`);
    if (!signedBy.includes(v)) signedBy.push(v);
  }
  if (signedBy.length === 0) throw new NoteError('note is not signed by any trusted key');
  return { text: parsed.text, signedBy };
}

/** The tree head a checkpoint states. */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** Optional extension lines (opaque, non-empty). */
  extensions: string[];
}

/** Checkpoint note text: origin, size, base64 root, extension lines, each ending in a newline. */
export function formatCheckpoint(c: Checkpoint): string {
  if (!c.origin || /[\n]/.test(c.origin)) throw new NoteError('checkpoint origin must be one non-empty line');
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new NoteError('checkpoint size must be a non-negative integer');
  if (c.rootHash.length !== HASH_SIZE) throw new NoteError('checkpoint root must be 32 bytes');
  for (const e of c.extensions) if (!e || e.includes('\n')) throw new NoteError('extension lines must be non-empty single lines');
  return [c.origin, String(c.size), encodeBase64(c.rootHash), ...c.extensions].join('\n') + '\n';
}

/** Parse checkpoint text (the note text, not the signed note). */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw new NoteError('checkpoint must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new NoteError('checkpoint needs origin, size and root hash lines');
  if (lines.some((l) => l.length === 0)) throw new NoteError('checkpoint lines must be non-empty');
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw new NoteError('checkpoint size must be decimal without leading zeroes');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new NoteError('checkpoint size is too large');
  const rootHash = decodeBase64Strict(rootLine, 'checkpoint root hash');
  if (rootHash.length !== HASH_SIZE) throw new NoteError('checkpoint root hash must be 32 bytes');
  return { origin, size, rootHash, extensions };
}

/** Sign a checkpoint: the signed note the log publishes. */
export function signCheckpoint(c: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(c), signers);
}

/**
 * Open a signed checkpoint: signature by a trusted key, well-formed text, and the expected
 * origin (when given). Use this, not parseCheckpoint, on anything received.
 */
export function openCheckpoint(note: string | Uint8Array, verifiers: readonly NoteVerifier[], expectOrigin?: string): Checkpoint & { signedBy: NoteVerifier[] } {
  const { text, signedBy } = openNote(note, verifiers);
  const c = parseCheckpoint(text);
  if (expectOrigin !== undefined && c.origin !== expectOrigin) throw new NoteError(`checkpoint origin ${JSON.stringify(c.origin)} is not ${JSON.stringify(expectOrigin)}`);
  return { ...c, signedBy };
}
