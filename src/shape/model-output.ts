/**
 * The most output tokens a model writes when the request names no budget, for the models whose
 * limit is known: shaping writes the tier's ceiling into such a request only when the model could
 * exceed it (a budget above the model's own limit is refused by the provider with 400).
 */

/** One entry: `model` is exact or ends in `*` (a prefix); the first match wins. */
export interface ModelOutputLimit { model: string; max_output_tokens: number }

/**
 * OpenAI models whose default output (the model's maximum) is known. Dated snapshots come before
 * their family's prefix. `gpt-4` has an 8,192-token context: any budget of 8,192 overflows it.
 */
export const KNOWN_OUTPUT_LIMITS: readonly ModelOutputLimit[] = [
  { model: 'gpt-3.5-turbo*', max_output_tokens: 4096 },
  { model: 'gpt-4o-2024-05-13', max_output_tokens: 4096 },
  { model: 'gpt-4o-mini*', max_output_tokens: 16384 },
  { model: 'gpt-4o*', max_output_tokens: 16384 },
  { model: 'chatgpt-4o*', max_output_tokens: 16384 },
  { model: 'gpt-4-turbo*', max_output_tokens: 4096 },
  { model: 'gpt-4-1106*', max_output_tokens: 4096 },
  { model: 'gpt-4-0125*', max_output_tokens: 4096 },
  { model: 'gpt-4-vision*', max_output_tokens: 4096 },
  { model: 'gpt-4-32k*', max_output_tokens: 32768 },
  { model: 'gpt-4.1*', max_output_tokens: 32768 },
  { model: 'gpt-4.5*', max_output_tokens: 16384 },
  { model: 'gpt-4', max_output_tokens: 8192 },
  { model: 'gpt-4-0613', max_output_tokens: 8192 },
  { model: 'gpt-4-0314', max_output_tokens: 8192 },
  { model: 'o1-mini*', max_output_tokens: 65536 },
  { model: 'o1-preview*', max_output_tokens: 32768 },
  { model: 'o1*', max_output_tokens: 100000 },
  { model: 'o3*', max_output_tokens: 100000 },
  { model: 'o4-mini*', max_output_tokens: 100000 },
  { model: 'gpt-5*', max_output_tokens: 128000 },
];

function matches(pattern: string, model: string): boolean {
  return pattern.endsWith('*') ? model.startsWith(pattern.slice(0, -1)) : pattern === model;
}

/** The model's output limit: the operator's entries first, then the known table; null when unknown. */
export function modelOutputLimit(model: string, extra: readonly ModelOutputLimit[] = []): number | null {
  for (const list of [extra, KNOWN_OUTPUT_LIMITS]) for (const e of list) if (matches(e.model, model)) return e.max_output_tokens;
  return null;
}
