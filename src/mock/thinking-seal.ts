/**
 * Signatures for Anthropic thinking blocks (`signature`) and redacted thinking (`data`).
 *
 * The real API signs each thinking block it returns and, when a client sends the block back in a
 * later turn (tool-use loops), rejects one whose text or signature was changed, or whose signature
 * is missing, with 400 invalid_request_error ("messages.N.content.M: Invalid `signature` in
 * `thinking` block"; "messages.N.content.M.thinking.signature: Field required"). The mock does the
 * same with a keyed hash: an opaque body (derived from the full reasoning, so answers stay
 * deterministic) followed by an HMAC-SHA256 over the body and the text the client was shown. The
 * key comes from the server seed, so another seed stands for another deployment whose
 * signatures do not verify here.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type SealKind = 'thinking' | 'redacted_thinking';

/** Bytes of opaque body before the MAC: with the MAC, a signature of about 320 base64 characters, as the API's are a few hundred. */
const BODY_BYTES = 208;
const MAC_BYTES = 32;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const keys = new Map<number, Buffer>();
function keyFor(seed: number): Buffer {
  let key = keys.get(seed);
  if (!key) {
    key = createHash('sha256').update(`warden-mock-thinking-key:${seed}`).digest();
    if (keys.size < 64) keys.set(seed, key);
  }
  return key;
}

function mac(seed: number, kind: SealKind, body: Buffer, shown: string): Buffer {
  return createHmac('sha256', keyFor(seed)).update(kind).update('\u0000').update(body).update(shown, 'utf8').digest();
}

/**
 * The signature of a block whose client-visible text is `shown` (the thinking text; '' when the
 * display is omitted or the block is redacted), for reasoning whose full text is `full`.
 */
export function sealThinking(seed: number, kind: SealKind, shown: string, full: string): string {
  const parts: Buffer[] = [];
  let block = createHash('sha256').update(`${kind}\u0000${seed}\u0000${full}`).digest();
  for (let size = 0; size < BODY_BYTES; size += block.length) {
    parts.push(block);
    block = createHash('sha256').update(block).digest();
  }
  const body = Buffer.concat(parts).subarray(0, BODY_BYTES);
  return Buffer.concat([body, mac(seed, kind, body, shown)]).toString('base64');
}

/** Whether `signature` is one this server issued for a block showing `shown`. */
export function verifyThinking(seed: number, kind: SealKind, shown: string, signature: string): boolean {
  if (!BASE64.test(signature)) return false;
  const raw = Buffer.from(signature, 'base64');
  if (raw.length !== BODY_BYTES + MAC_BYTES) return false;
  const body = raw.subarray(0, BODY_BYTES);
  return timingSafeEqual(raw.subarray(BODY_BYTES), mac(seed, kind, body, shown));
}
