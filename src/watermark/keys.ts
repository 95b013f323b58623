/**
 * Watermark keys: one per account or per cluster, derived from a master secret with HKDF-SHA256,
 * so only the master needs storing and a mark found in the wild names the subject it was made for.
 */
import { hkdfSync } from 'node:crypto';
import { LEXICON_VERSION } from './lexicon.ts';

export interface WatermarkSubject {
  kind: 'account' | 'cluster';
  id: string;
}

export interface WatermarkKey {
  /** `wm<lexicon version>:<kind>:<id>`: recorded in events; safe to show (it is not the key). */
  id: string;
  subject: WatermarkSubject;
  key: Uint8Array;
}

/** Derive the key for a subject. Same master + subject: same key, on every node. */
export function deriveWatermarkKey(master: string | Uint8Array, subject: WatermarkSubject): WatermarkKey {
  if (typeof master === 'string' ? master.length < 16 : master.length < 16) {
    throw new Error('watermark master secret must be at least 16 characters');
  }
  const ikm = typeof master === 'string' ? Buffer.from(master, 'utf8') : master;
  const key = new Uint8Array(hkdfSync('sha256', ikm, `warden/watermark/v${LEXICON_VERSION}`, `${subject.kind}:${subject.id}`, 32));
  return { id: `wm${LEXICON_VERSION}:${subject.kind}:${subject.id}`, subject, key };
}

/** Parse `account:acc_1` / `cluster:c_9` (or a key id `wm1:account:acc_1`) into a subject. */
export function parseSubject(text: string): WatermarkSubject {
  const s = text.replace(/^wm[0-9]+:/, '');
  const colon = s.indexOf(':');
  const kind = s.slice(0, colon);
  const id = s.slice(colon + 1);
  if (colon < 0 || (kind !== 'account' && kind !== 'cluster') || id.length === 0) {
    throw new Error(`bad subject "${text}": expected account:<id> or cluster:<id>`);
  }
  return { kind, id };
}
