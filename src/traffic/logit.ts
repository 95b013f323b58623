/**
 * `logit_bias` maps as the traffic model's clients send them, and their event summaries (the
 * gateway's own `summariseLogitBias` and `promptFingerprint`, so simulated events carry what the
 * gateway would record):
 *
 * - classifiers and multiple-choice evaluations push the same label tokens up on every request;
 * - client-side constrained decoding pushes up the options' next tokens at each step of a growing prompt;
 * - a logit extraction pushes up the next few tokens of the vocabulary on every request.
 */
import { promptFingerprint, summariseLogitBias, type EventMessage, type LogitBiasSummary } from '../events/index.ts';
import { hashUniform } from './rng.ts';

/** Vocabulary size the maps draw token ids from (cl100k-like). */
export const VOCABULARY = 100_000;

/** `count` tokens pushed up from `start` (wrapping around the vocabulary). */
export function sweepMap(start: number, count: number, bias = 100): Record<string, number> {
  const m: Record<string, number> = {};
  for (let k = 0; k < count; k++) m[String((start + k) % VOCABULARY)] = bias;
  return m;
}

/** `count` token ids fixed by `seed` (a client's label tokens, a step's options), pushed up. */
export function chosenTokens(seed: number, salt: number, count: number, bias = 100): Record<string, number> {
  const m: Record<string, number> = {};
  for (let k = 0; k < count; k++) m[String(Math.floor(hashUniform(seed, salt, k) * VOCABULARY))] = bias;
  return m;
}

/** The event's summary of `map` applied to this prompt, as the gateway records it from the wire body. */
export function biasSummary(map: Record<string, number>, system: string | null, messages: readonly EventMessage[]): LogitBiasSummary {
  const s = summariseLogitBias(map)!;
  const pairs: [string, string][] = system ? [['system', system]] : [];
  for (const m of messages) pairs.push([m.role, m.text ?? '']);
  s.prompt = promptFingerprint(pairs);
  return s;
}

/**
 * A map with the summary's counts for sending a simulated event over the wire (red team): its
 * entries derive from the summary's fingerprint, so distinct maps stay distinct (the fingerprint
 * of the map sent differs from the simulated one).
 */
export function wireBiasMap(s: LogitBiasSummary): Record<string, number> {
  const seed = parseInt(s.set, 16) | 0;
  const m: Record<string, number> = {};
  for (let k = 0, added = 0; added < s.tokens && k < s.tokens * 4; k++) {
    const id = String(Math.floor(hashUniform(seed, 97, k) * VOCABULARY));
    if (id in m) continue;
    m[id] = added < s.positive ? 100 : -100;
    added++;
  }
  return m;
}
