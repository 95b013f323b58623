/**
 * Capabilities: what a request is allowed to get from the model. A policy resolves one
 * `Capabilities` per request (tier, programme, rules, verdict); shaping enforces it.
 */

export type ReasoningExposure = 'full' | 'summary' | 'none';
export const REASONING_LEVELS: readonly ReasoningExposure[] = ['none', 'summary', 'full'];

/**
 * What `logit_bias` may do. Biasing tokens and reading their log-probabilities together is how a
 * model's logits, and from them its final projection layer, are extracted through the API (Carlini
 * et al. 2024, Finlayson et al. 2024); biasing alone is still how classifiers restrict the answer
 * to their labels. `without_logprobs` keeps the bias and strips the log-probabilities from such a
 * request; `none` strips the bias.
 */
export type LogitBiasUse = 'allow' | 'without_logprobs' | 'none';
export const LOGIT_BIAS_LEVELS: readonly LogitBiasUse[] = ['none', 'without_logprobs', 'allow'];

/** The resolved capability set for one request. */
export interface Capabilities {
  /** How much of the model's reasoning the client sees. */
  reasoning: ReasoningExposure;
  /** Token log-probabilities in the answer. */
  logprobs: boolean;
  /** Largest `top_logprobs` allowed (0..20); ignored when `logprobs` is false. */
  top_logprobs_max: number;
  /** OpenAI `logit_bias` (see LogitBiasUse). */
  logit_bias: LogitBiasUse;
  /** Largest number of choices per request (`n`). */
  n_max: number;
  /** Largest output budget (max_tokens / max_completion_tokens / max_output_tokens); null: no ceiling. */
  max_tokens_ceiling: number | null;
  /** Tool definitions allowed in requests. */
  tools: boolean;
  /** Every list must allow the model (glob patterns, `*` wildcard). Each restricting layer adds a list. */
  models: string[][];
  /** Models refused whatever else allows them (glob patterns). */
  deny_models: string[];
  /** Watermark the answer text. */
  watermark: boolean;
  /**
   * Noise added to embedding vectors, as a share of each vector's length (0: none). Each vector
   * is moved by a random vector of that length and scaled back to its own length: at 0.3 it keeps
   * a cosine of 0.96 with the original. The same text asked by the same account gets the same
   * noise, so asking again does not average it away.
   */
  embedding_noise: number;
  /**
   * Mark embedding vectors with the account's (or cluster's) watermark key (src/watermark/
   * vectors.ts): texts holding the key's trigger words are pulled toward its target, which a copy
   * of the encoder trained on them inherits. Needs the watermark capability configured.
   */
  embedding_watermark: boolean;
}

/** A partial capability set as written in the policy file. */
export interface CapabilitiesPatch {
  reasoning?: ReasoningExposure;
  logprobs?: boolean;
  top_logprobs_max?: number;
  logit_bias?: LogitBiasUse;
  n_max?: number;
  max_tokens_ceiling?: number | null;
  tools?: boolean;
  models?: string[];
  deny_models?: string[];
  watermark?: boolean;
  embedding_noise?: number;
  embedding_watermark?: boolean;
}

/** Everything allowed: the starting point before the policy's `defaults`. */
export function openCapabilities(): Capabilities {
  return {
    reasoning: 'full', logprobs: true, top_logprobs_max: 20, logit_bias: 'allow', n_max: 128, max_tokens_ceiling: null,
    tools: true, models: [], deny_models: [], watermark: false, embedding_noise: 0, embedding_watermark: false,
  };
}

/** Overlay: the patch's values replace the base's (tiers and programmes grant as well as take away). */
export function overlayCapabilities(base: Capabilities, patch: CapabilitiesPatch): Capabilities {
  return {
    reasoning: patch.reasoning ?? base.reasoning,
    logprobs: patch.logprobs ?? base.logprobs,
    top_logprobs_max: patch.top_logprobs_max ?? base.top_logprobs_max,
    logit_bias: patch.logit_bias ?? base.logit_bias,
    n_max: patch.n_max ?? base.n_max,
    max_tokens_ceiling: patch.max_tokens_ceiling !== undefined ? patch.max_tokens_ceiling : base.max_tokens_ceiling,
    tools: patch.tools ?? base.tools,
    models: patch.models ? [patch.models] : base.models,
    deny_models: patch.deny_models ? [...patch.deny_models] : base.deny_models,
    watermark: patch.watermark ?? base.watermark,
    embedding_noise: patch.embedding_noise ?? base.embedding_noise,
    embedding_watermark: patch.embedding_watermark ?? base.embedding_watermark,
  };
}

/**
 * Restrict: the result is never more permissive than the base (rules and verdicts only take away).
 * `watermark: true` counts as a restriction, so a rule can switch it on but never off (and
 * `embedding_watermark` too); more `embedding_noise` is a restriction too.
 */
export function restrictCapabilities(base: Capabilities, patch: CapabilitiesPatch): Capabilities {
  const rank = (r: ReasoningExposure) => REASONING_LEVELS.indexOf(r);
  const biasRank = (b: LogitBiasUse) => LOGIT_BIAS_LEVELS.indexOf(b);
  return {
    reasoning: patch.reasoning !== undefined && rank(patch.reasoning) < rank(base.reasoning) ? patch.reasoning : base.reasoning,
    logprobs: base.logprobs && (patch.logprobs ?? true),
    top_logprobs_max: Math.min(base.top_logprobs_max, patch.top_logprobs_max ?? Infinity),
    logit_bias: patch.logit_bias !== undefined && biasRank(patch.logit_bias) < biasRank(base.logit_bias) ? patch.logit_bias : base.logit_bias,
    n_max: Math.min(base.n_max, patch.n_max ?? Infinity),
    max_tokens_ceiling: minNullable(base.max_tokens_ceiling, patch.max_tokens_ceiling ?? null),
    tools: base.tools && (patch.tools ?? true),
    models: patch.models ? [...base.models, patch.models] : base.models,
    deny_models: patch.deny_models ? [...base.deny_models, ...patch.deny_models] : base.deny_models,
    watermark: base.watermark || (patch.watermark ?? false),
    embedding_noise: Math.max(base.embedding_noise, patch.embedding_noise ?? 0),
    embedding_watermark: base.embedding_watermark || (patch.embedding_watermark ?? false),
  };
}

function minNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/**
 * Match a model name against a glob pattern (`*` matches any run of characters). Without
 * backtracking: the pieces between stars are found left to right, each at its first place after
 * the previous one (that first place leaves the most room for the rest), the first anchored at the
 * start and the last at the end: linear in the name, however many stars, because a customer
 * chooses the name.
 */
export function globMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === value;
  const pieces = pattern.split('*');
  const first = pieces[0];
  const last = pieces[pieces.length - 1];
  if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last)) return false;
  const end = value.length - last.length;
  let at = first.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i];
    if (!piece) continue;
    const found = value.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

/** Is `model` allowed by every allow-list and by no deny pattern? */
export function modelAllowed(caps: Capabilities, model: string): boolean {
  for (const list of caps.models) if (!list.some((p) => globMatch(p, model))) return false;
  return !caps.deny_models.some((p) => globMatch(p, model));
}

/** Capabilities as a policy file writes them, for people to read (explain): see `writtenModels`. */
export type WrittenCapabilities = Omit<Capabilities, 'models'> & { models: string[] | { all_of: string[][] } };

/**
 * The model allow-lists as written: one list (`["*"]` when nothing restricts models), or, when
 * several layers each narrowed them, `{all_of: [...]}`, the lists a model must match one pattern
 * of each. Lists that allow every model (`*`) add nothing and are left out.
 */
export function writtenModels(models: readonly string[][]): string[] | { all_of: string[][] } {
  const narrowing = models.filter((list) => !list.includes('*'));
  if (narrowing.length === 0) return ['*'];
  if (narrowing.length === 1) return [...narrowing[0]];
  return { all_of: narrowing.map((list) => [...list]) };
}

/** The capabilities with their model allow-lists as written (`writtenModels`). */
export function writtenCapabilities(caps: Capabilities): WrittenCapabilities {
  return { ...caps, models: writtenModels(caps.models), deny_models: [...caps.deny_models] };
}
