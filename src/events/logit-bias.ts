/**
 * The event's summary of an OpenAI `logit_bias` map (`{"token id": bias}`), computed the same way
 * by the gateway (from the request) and by the traffic model (from the maps it sends).
 *
 * Why a summary: the detector needs to know how many tokens were pushed up and whether two
 * requests used the same map (a classifier biases the same label tokens every time; a logit
 * extraction sweeps the vocabulary, a new map on every request), not the token ids themselves.
 */
import type { EventParams } from './schema.ts';

export type LogitBiasSummary = NonNullable<EventParams['logit_bias']>;

/** Above this many entries the fingerprint covers the first ones in the order sent (unsorted). */
const MAX_SORTED_ENTRIES = 2048;

/** Summary of a `logit_bias` value; null when it is absent, not an object, or empty. */
export function summariseLogitBias(value: unknown): LogitBiasSummary | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const entries: [number, number][] = [];
  let positive = 0;
  let tokens = 0;
  for (const key in value as Record<string, unknown>) {
    const bias = (value as Record<string, unknown>)[key];
    if (typeof bias !== 'number' || !Number.isFinite(bias)) continue;
    tokens++;
    if (bias > 0) positive++;
    if (entries.length < MAX_SORTED_ENTRIES) entries.push([Number(key), Math.round(bias * 100)]);
  }
  if (tokens === 0) return null;
  if (tokens <= MAX_SORTED_ENTRIES) entries.sort((a, b) => a[0] - b[0]);
  // FNV-1a over the (id, bias) pairs as 32-bit words.
  let h = 0x811c9dc5;
  for (const [id, bias] of entries) {
    h = Math.imul(h ^ (id | 0), 0x01000193);
    h = Math.imul(h ^ (bias | 0), 0x01000193);
  }
  return { tokens, positive, set: (h >>> 0).toString(16).padStart(8, '0') };
}

/**
 * Fingerprint of a prompt as (role, full text) pairs in order (8 hex digits): what
 * `logit_bias.prompt` holds. The gateway passes the request's messages, the traffic model its own.
 */
export function promptFingerprint(messages: Iterable<readonly [role: string, text: string]>): string {
  let h = 0x811c9dc5;
  for (const [role, text] of messages) {
    for (let k = 0; k < role.length; k++) h = Math.imul(h ^ role.charCodeAt(k), 0x01000193);
    h = Math.imul(h ^ 0x1f, 0x01000193);
    for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
    h = Math.imul(h ^ 0x1e, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
