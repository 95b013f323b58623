/**
 * Witness cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`, Ed25519) and the body of the
 * witness protocol's add-checkpoint call (c2sp.org/tlog-witness). Pure functions over strings and
 * bytes.
 *
 * A cosignature is a signed-note signature line on a checkpoint:
 *   — <witness name> base64(key id (4 bytes) || timestamp (u64, big-endian) || Ed25519 signature (64))
 * over the message
 *   "cosignature/v1\n" || "time <timestamp>\n" || <checkpoint note text>
 * key id = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4] (0x04, not the 0x01 of a log's
 * own note signatures). Verifier key: <name>+<8 hex key id>+base64(0x04 || public key).
 * Witness private key file: PRIVATE+KEY+<name>+<8 hex key id>+base64(0x04 || 32-byte seed).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { HASH_SIZE, sha256 } from './merkle.ts';
import { NoteError, decodeBase64Strict, encodeBase64, parseCheckpoint, parseNote, type Checkpoint } from './note.ts';

export const COSIGNATURE_V1 = 0x04;
/** Largest add-checkpoint body accepted: a checkpoint note plus 63 proof lines, with room to spare. */
export const MAX_ADD_CHECKPOINT_BYTES = 72 * 1024;
/** The witness protocol allows at most 63 consistency proof lines. */
export const MAX_PROOF_LINES = 63;

const utf8 = new TextEncoder();
const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function validName(name: string): boolean {
  return name.length > 0 && !/[\s+\u0000-\u001f\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(name);
}

/** Key id of a cosignature/v1 key: SHA-256(name || 0x0A || 0x04 || pub)[:4] as a uint32. */
export function cosignerKeyId(name: string, publicKey: Uint8Array): number {
  const h = sha256(utf8.encode(name), Uint8Array.of(0x0a, COSIGNATURE_V1), publicKey);
  return ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
}

/** A witness's public key: checks its cosignatures. */
export interface CosignerVerifier {
  name: string;
  keyId: number;
  publicKey: Uint8Array;
  toString(): string;
}

/** A witness's private key. `toString()` is redacted. */
export interface Cosigner extends CosignerVerifier {
  /** The signature line (with its trailing newline) cosigning a checkpoint's note text at `timestamp` (POSIX seconds). */
  cosign(checkpointText: string, timestamp: number): string;
  verifier(): CosignerVerifier;
  exportPrivate(): string;
}

function makeVerifier(name: string, publicKey: Uint8Array): CosignerVerifier {
  const id = cosignerKeyId(name, publicKey);
  const str = `${name}+${hex8(id)}+${encodeBase64(Uint8Array.of(COSIGNATURE_V1, ...publicKey))}`;
  return { name, keyId: id, publicKey, toString: () => str };
}

/** The message a cosignature/v1 signs. */
export function cosignedMessage(checkpointText: string, timestamp: number): Uint8Array {
  return utf8.encode(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`);
}

function makeCosigner(name: string, seed: Uint8Array): Cosigner {
  if (!validName(name)) throw new NoteError('witness key name must be non-empty, without spaces or +');
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const pubDer = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  const verifier = makeVerifier(name, new Uint8Array(pubDer.subarray(pubDer.length - 32)));
  const secret = `PRIVATE+KEY+${name}+${hex8(verifier.keyId)}+${encodeBase64(Uint8Array.of(COSIGNATURE_V1, ...seed))}`;
  return {
    ...verifier,
    cosign(checkpointText, timestamp) {
      if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new NoteError('cosignature timestamp must be a non-negative integer');
      const sig = cryptoSign(null, cosignedMessage(checkpointText, timestamp), priv);
      const blob = Buffer.alloc(4 + 8 + 64);
      blob.writeUInt32BE(verifier.keyId, 0);
      blob.writeBigUInt64BE(BigInt(timestamp), 4);
      sig.copy(blob, 12);
      return `\u2014 ${name} ${blob.toString('base64')}\n`;
    },
    verifier: () => verifier,
    exportPrivate: () => secret,
    toString: () => `${name}+${hex8(verifier.keyId)} (witness private key)`,
  };
}

/** A new witness key pair. */
export function generateCosigner(name: string): Cosigner {
  const { privateKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return makeCosigner(name, new Uint8Array(der.subarray(der.length - 32)));
}

function splitKey(s: string, what: string): { name: string; idHex: string; raw: Uint8Array } {
  const p1 = s.indexOf('+');
  const p2 = p1 < 0 ? -1 : s.indexOf('+', p1 + 1);
  if (p1 < 0 || p2 < 0) throw new NoteError(`${what} must be <name>+<key id>+<key>`);
  const name = s.slice(0, p1);
  const idHex = s.slice(p1 + 1, p2);
  if (!validName(name)) throw new NoteError(`${what} has an invalid name`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError(`${what} id must be 8 lowercase hex digits`);
  const raw = decodeBase64Strict(s.slice(p2 + 1), what);
  if (raw.length !== 33 || raw[0] !== COSIGNATURE_V1) throw new NoteError(`${what} is not a cosignature/v1 Ed25519 key (0x04 || 32 bytes)`);
  return { name, idHex, raw };
}

/** Parse a witness verifier key `<name>+<id>+base64(0x04 || key)`; checks the id against the key. */
export function parseCosignerKey(vkey: string): CosignerVerifier {
  if (typeof vkey !== 'string' || vkey.length > 1024) throw new NoteError('witness key is not a string of sane length');
  const { name, idHex, raw } = splitKey(vkey.trim(), 'witness key');
  const v = makeVerifier(name, raw.slice(1));
  if (hex8(v.keyId) !== idHex) throw new NoteError('witness key id does not match the key');
  return v;
}

/** Parse a witness private key file's content. */
export function parseCosignerPrivateKey(skey: string): Cosigner {
  if (typeof skey !== 'string' || !skey.startsWith('PRIVATE+KEY+')) throw new NoteError('witness private key must start with PRIVATE+KEY+');
  const { name, idHex, raw } = splitKey(skey.slice('PRIVATE+KEY+'.length).trim(), 'witness private key');
  const c = makeCosigner(name, raw.slice(1));
  if (hex8(c.keyId) !== idHex) throw new NoteError('witness private key id does not match the key');
  return c;
}

/** One valid cosignature on a checkpoint. */
export interface ValidCosignature { witness: CosignerVerifier; timestamp: number; line: string }

/**
 * The cosignatures on a signed checkpoint note by the given witnesses that verify. Lines of other
 * keys are ignored; a line of a given witness that does not verify is returned in `invalid`.
 */
export function checkCosignatures(note: string, witnesses: readonly CosignerVerifier[]): { valid: ValidCosignature[]; invalid: string[] } {
  const parsed = parseNote(note);
  const valid: ValidCosignature[] = [];
  const invalid: string[] = [];
  for (const sig of parsed.signatures) {
    const w = witnesses.find((k) => k.name === sig.name && k.keyId === sig.keyId);
    if (!w) continue;
    if (sig.signature.length !== 8 + 64) { invalid.push(`${w.name}: cosignature is not 72 bytes`); continue; }
    const ts = Buffer.from(sig.signature.subarray(0, 8)).readBigUInt64BE(0);
    if (ts > BigInt(Number.MAX_SAFE_INTEGER)) { invalid.push(`${w.name}: cosignature timestamp out of range`); continue; }
    const timestamp = Number(ts);
    let ok = false;
    try {
      const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, w.publicKey]), format: 'der', type: 'spki' });
      ok = cryptoVerify(null, cosignedMessage(parsed.text, timestamp), key, sig.signature.subarray(8));
    } catch { ok = false; }
    if (!ok) { invalid.push(`${w.name}: cosignature does not verify`); continue; }
    if (valid.some((v) => v.witness === w)) continue;
    const blob = Uint8Array.of(...[(sig.keyId >>> 24) & 255, (sig.keyId >>> 16) & 255, (sig.keyId >>> 8) & 255, sig.keyId & 255], ...sig.signature);
    valid.push({ witness: w, timestamp, line: `\u2014 ${sig.name} ${encodeBase64(blob)}\n` });
  }
  return { valid, invalid };
}

/**
 * A signed note with these signature lines added after its own (a line already present, or a
 * second line of the same key name and id, is not added twice).
 */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const parsed = parseNote(note);
  const seen = new Set(parsed.signatures.map((s) => `${s.name} ${s.keyId}`));
  let out = note;
  for (const line of lines) {
    const one = parseNote(`${parsed.text}\n${line}`).signatures[0];
    const k = `${one.name} ${one.keyId}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out += line.endsWith('\n') ? line : `${line}\n`;
  }
  return out;
}

/** The body of POST <witness>/add-checkpoint. */
export function formatAddCheckpoint(oldSize: number, proof: readonly Uint8Array[], note: string): string {
  if (proof.length > MAX_PROOF_LINES) throw new NoteError('consistency proof has more than 63 hashes');
  return `old ${oldSize}\n${proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${note}`;
}

/** Parse an add-checkpoint body; throws NoteError on anything malformed (the witness answers 400). */
export function parseAddCheckpoint(body: string): { oldSize: number; proof: Uint8Array[]; note: string; checkpoint: Checkpoint } {
  const blank = body.indexOf('\n\n');
  if (blank < 0) throw new NoteError('no empty line before the checkpoint');
  const lines = body.slice(0, blank).split('\n');
  const m = /^old (0|[1-9][0-9]*)$/.exec(lines[0]);
  if (!m) throw new NoteError('the first line must be "old <size>"');
  const oldSize = Number(m[1]);
  if (!Number.isSafeInteger(oldSize)) throw new NoteError('old size is too large');
  const proofLines = lines.slice(1);
  if (proofLines.length > MAX_PROOF_LINES) throw new NoteError('more than 63 consistency proof lines');
  const proof = proofLines.map((l) => {
    const h = decodeBase64Strict(l, 'consistency proof line');
    if (h.length !== HASH_SIZE) throw new NoteError('consistency proof line is not a 32-byte hash');
    return h;
  });
  const note = body.slice(blank + 2);
  const checkpoint = parseCheckpoint(parseNote(note).text);
  return { oldSize, proof, note, checkpoint };
}
