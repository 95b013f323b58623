/**
 * Request shaping: rewrite a request body so the upstream never produces more than the caller
 * is allowed (output budget, choices, log-probabilities, reasoning summaries). Each change is
 * named in the returned list (copied into the event's `enforcement.shaping`).
 */
import type { ApiFlavour } from '../events/index.ts';

/** The capability limits shaping enforces (structurally a subset of the policy's Capabilities). */
export interface ShapingLimits {
  reasoning: 'full' | 'summary' | 'none';
  logprobs: boolean;
  top_logprobs_max: number;
  /** OpenAI `logit_bias`: allowed, allowed without log-probabilities in the same request, or stripped. */
  logit_bias: 'allow' | 'without_logprobs' | 'none';
  n_max: number;
  max_tokens_ceiling: number | null;
}

/**
 * The shaping action of a request that named no output budget and got the ceiling from the
 * gateway: the limits reserve their default for it, not the ceiling (the client asked for none).
 */
export const BUDGET_SET_BY_GATEWAY = 'max_tokens:set';

/** Anthropic's smallest allowed thinking budget. */
const MIN_THINKING_BUDGET = 1024;

/** OpenAI reasoning effort levels and roughly how much each reasons, relative to `medium`. */
const EFFORT_WEIGHTS: Record<string, number> = { low: 0.5, medium: 1, high: 2, xhigh: 3 };

/** What shaping knows of the request beyond the body. */
export interface ShapingContext {
  /**
   * The most the model writes when the request names no budget (docs/policy.md, step 5), null when
   * unknown: a request without a budget gets the ceiling only when this is unknown or above it.
   */
  modelOutputLimit?: number | null;
  /** A Responses compaction (`/v1/responses/compact`): it takes no output budget, so none is written in. */
  compaction?: boolean;
}

/**
 * Rewrite `body` in place for the given limits; returns the actions taken.
 *
 * @example
 *   const actions = shapeRequest('openai.chat', body, { reasoning: 'none', logprobs: false, top_logprobs_max: 0, logit_bias: 'none', n_max: 1, max_tokens_ceiling: 1024 });
 *   // body.max_completion_tokens <= 1024, body.n === 1, body.logprobs deleted; actions lists each change
 */
/**
 * The APIs whose answers are no model prose to shape: vectors, scores, pictures, audio, and
 * transcripts (the client's own recording in words). No output budget, choices or reasoning are
 * shaped; a transcript's log-probabilities are (above), and its text is watermarked as prose
 * (src/policy/hooks.ts).
 */
export const UNSHAPED_FLAVOURS: ReadonlySet<ApiFlavour> = new Set<ApiFlavour>([
  'openai.embeddings', 'openai.moderations', 'openai.images', 'openai.speech',
  'openai.transcriptions', 'openai.translations', 'openai.image_edits', 'openai.image_variations',
]);

export function shapeRequest(flavour: ApiFlavour, body: Record<string, unknown>, limits: ShapingLimits, ctx: ShapingContext = {}): string[] {
  const actions: string[] = [];
  const modelLimit = ctx.modelOutputLimit ?? null;
  // A transcript's token log-probabilities (`include[]=logprobs`, the GPT-4o transcribe models)
  // are the model's, as a chat answer's are: withheld alike (the answer filter drops any that come).
  if (flavour === 'openai.transcriptions' && !limits.logprobs && Array.isArray(body.include) && body.include.includes('logprobs')) {
    body.include = body.include.filter((v) => v !== 'logprobs');
    if ((body.include as unknown[]).length === 0) delete body.include;
    actions.push('logprobs:stripped');
  }
  if (UNSHAPED_FLAVOURS.has(flavour)) return actions;
  if (flavour === 'openai.chat') {
    const asked = capBudget(body, ['max_completion_tokens', 'max_tokens'], limits.max_tokens_ceiling, actions, modelLimit);
    if (asked !== null && typeof body.reasoning_effort === 'string') {
      const lowered = lowerEffort(body.reasoning_effort, asked, limits.max_tokens_ceiling as number);
      if (lowered !== body.reasoning_effort) { body.reasoning_effort = lowered; actions.push('reasoning_effort:lowered'); }
    }
    if (typeof body.n === 'number' && body.n > limits.n_max) { body.n = limits.n_max; actions.push('n:capped'); }
    shapeLogitBias(body, limits, actions);
    if (!limits.logprobs) {
      if (body.logprobs !== undefined && body.logprobs !== false && body.logprobs !== null) actions.push('logprobs:stripped');
      else if (body.top_logprobs !== undefined && body.top_logprobs !== null) actions.push('logprobs:stripped');
      delete body.logprobs;
      delete body.top_logprobs;
    } else if (typeof body.top_logprobs === 'number' && body.top_logprobs > limits.top_logprobs_max) {
      body.top_logprobs = limits.top_logprobs_max;
      actions.push('top_logprobs:capped');
    }
  } else if (flavour === 'openai.completions') {
    // Legacy completions: `max_tokens` defaults to 16 upstream, so an absent one is left absent;
    // `best_of` candidates are generated (and billed) like choices; `logprobs` is a count (0-5), and
    // with `echo` it reads the prompt's own log-probabilities too.
    const mt = body.max_tokens;
    if (limits.max_tokens_ceiling !== null && typeof mt === 'number' && mt > limits.max_tokens_ceiling) { body.max_tokens = limits.max_tokens_ceiling; actions.push('max_tokens:capped'); }
    if (typeof body.n === 'number' && body.n > limits.n_max) { body.n = limits.n_max; actions.push('n:capped'); }
    if (typeof body.best_of === 'number' && body.best_of > limits.n_max) { body.best_of = limits.n_max; actions.push('best_of:capped'); }
    // A prompt repeated in a batch is sampled once per copy: copies x choices of it stay within
    // n_max (more copies than n_max are refused by the policy before this: `repeatedPrompts`).
    const copies = repeatedPrompts(body);
    if (copies > 1 && copies <= limits.n_max) {
      const each = Math.floor(limits.n_max / copies);
      if (typeof body.n === 'number' && body.n > each) { body.n = each; if (!actions.includes('n:capped')) actions.push('n:capped'); }
      if (typeof body.best_of === 'number' && body.best_of > each) { body.best_of = each; if (!actions.includes('best_of:capped')) actions.push('best_of:capped'); }
    }
    shapeLogitBias(body, limits, actions);
    if (body.logprobs !== undefined && body.logprobs !== null) {
      if (!limits.logprobs) { delete body.logprobs; actions.push('logprobs:stripped'); }
      else if (typeof body.logprobs === 'number' && body.logprobs > limits.top_logprobs_max) { body.logprobs = limits.top_logprobs_max; actions.push('top_logprobs:capped'); }
    }
  } else if (flavour === 'openai.responses') {
    const asked = ctx.compaction ? null : capBudget(body, ['max_output_tokens'], limits.max_tokens_ceiling, actions, modelLimit);
    const r = body.reasoning;
    if (asked !== null && r && typeof r === 'object' && !Array.isArray(r) && typeof (r as Record<string, unknown>).effort === 'string') {
      const effort = (r as Record<string, unknown>).effort as string;
      const lowered = lowerEffort(effort, asked, limits.max_tokens_ceiling as number);
      if (lowered !== effort) { (r as Record<string, unknown>).effort = lowered; actions.push('reasoning_effort:lowered'); }
    }
    if (!limits.logprobs) {
      let stripped = body.top_logprobs !== undefined && body.top_logprobs !== null && body.top_logprobs !== 0;
      delete body.top_logprobs;
      if (Array.isArray(body.include)) {
        const kept = body.include.filter((x) => x !== 'message.output_text.logprobs');
        if (kept.length !== body.include.length) { stripped = true; body.include = kept; }
      }
      if (stripped) actions.push('logprobs:stripped');
    } else if (typeof body.top_logprobs === 'number' && body.top_logprobs > limits.top_logprobs_max) {
      body.top_logprobs = limits.top_logprobs_max;
      actions.push('top_logprobs:capped');
    }
    // With reasoning withheld there is no point in having the model write a summary.
    const reasoning = body.reasoning;
    if (limits.reasoning === 'none' && reasoning && typeof reasoning === 'object' && !Array.isArray(reasoning)) {
      const r = reasoning as Record<string, unknown>;
      if (r.summary != null || r.generate_summary != null) {
        delete r.summary; delete r.generate_summary;
        actions.push('reasoning_summary:not_requested');
      }
    }
  } else {
    const before = body.max_tokens;
    const asked = capBudget(body, ['max_tokens'], limits.max_tokens_ceiling, actions, null);
    const thinking = body.thinking as Record<string, unknown> | undefined;
    if (before !== body.max_tokens && thinking && thinking.type === 'enabled' && typeof thinking.budget_tokens === 'number') {
      const maxTokens = body.max_tokens as number;
      // The thinking budget shrinks with the total, so the answer keeps the share the client left
      // it (a budget left as asked would spend the capped total on thinking and cut the answer).
      let budget = asked !== null ? Math.max(MIN_THINKING_BUDGET, Math.floor(thinking.budget_tokens * maxTokens / asked)) : thinking.budget_tokens;
      if (budget >= maxTokens) budget = Math.max(MIN_THINKING_BUDGET, Math.floor(maxTokens * 0.75));
      if (budget >= maxTokens) { body.thinking = { type: 'disabled' }; actions.push('thinking:disabled'); }
      else if (budget < thinking.budget_tokens) { thinking.budget_tokens = budget; actions.push('thinking_budget:lowered'); }
    }
  }
  return actions;
}

/**
 * What `shapeRequest` would do to `body` under `limits`, leaving `body` untouched: the actions and
 * the body it would send. Shaping rewrites top-level keys and the `reasoning` and `thinking`
 * objects only, so only those are copied (never the prompt).
 */
export function probeShaping(flavour: ApiFlavour, body: Record<string, unknown>, limits: ShapingLimits, ctx: ShapingContext = {}): { actions: string[]; body: Record<string, unknown> } {
  const copy = { ...body };
  for (const k of ['reasoning', 'thinking']) {
    const v = copy[k];
    if (v && typeof v === 'object' && !Array.isArray(v)) copy[k] = { ...v };
  }
  return { actions: shapeRequest(flavour, copy, limits, ctx), body: copy };
}

/**
 * Legacy completions: the most copies of one prompt in a batch of prompts whose copies can differ
 * (1 for a single prompt). Each copy gets its own choices, so five copies with `n: 1` are five
 * samples of one question when sampling is on (`temperature` unset or above 0, `n` or `best_of`
 * above 1); at temperature 0 with one choice they are the same answer, as in a dataset with
 * duplicate rows. Prompts are compared trimmed, with white space collapsed, in lower case and
 * without trailing punctuation, so trivial variants count as copies. A bound per request only:
 * separate requests, or any other change to the text, get around it. `nMax`: `n` and `best_of` are
 * taken as they will be sent, capped to it.
 */
export function repeatedPrompts(body: Record<string, unknown>, nMax = Infinity): number {
  const p = body.prompt;
  // A list of token ids is one prompt; a list of strings or of token-id lists is a batch.
  if (!Array.isArray(p) || p.length < 2 || typeof p[0] === 'number') return 1;
  const more = (v: unknown) => typeof v === 'number' && Math.min(v, nMax) > 1;
  const sampled = body.temperature === undefined || body.temperature === null || (typeof body.temperature === 'number' && body.temperature > 0) || more(body.n) || more(body.best_of);
  if (!sampled) return 1;
  const seen = new Map<string, number>();
  let most = 1;
  for (const x of p) {
    const k = typeof x === 'string' ? `s${samePrompt(x)}` : Array.isArray(x) ? `t${x.join(',')}` : `j${JSON.stringify(x)}`;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    if (n > most) most = n;
  }
  return most;
}

/** A prompt as compared for copies: trimmed, white space collapsed, lower case, trailing punctuation dropped. */
function samePrompt(s: string): string {
  return s.trim().replace(/\s+/g, ' ').toLowerCase().replace(/[\s\p{P}]+$/u, '');
}

/**
 * `logit_bias` with log-probabilities reads the model's logits token by token (logit extraction);
 * `logit_bias` alone still serves classifiers. Strips the bias, or the log-probabilities that come
 * with it, as the limits say.
 */
function shapeLogitBias(body: Record<string, unknown>, limits: ShapingLimits, actions: string[]): void {
  const bias = body.logit_bias;
  if (bias === undefined || bias === null) return;
  if (limits.logit_bias === 'none') {
    delete body.logit_bias;
    actions.push('logit_bias:stripped');
  } else if (limits.logit_bias === 'without_logprobs' && limits.logprobs) {
    // (Chat: `logprobs: true`; legacy completions: `logprobs: 0..5`, where 0 still returns the chosen tokens' own.)
    const asked = (body.logprobs !== undefined && body.logprobs !== false && body.logprobs !== null) || (body.top_logprobs !== undefined && body.top_logprobs !== null);
    if (typeof bias === 'object' && Object.keys(bias as object).length > 0 && asked) {
      delete body.logprobs;
      delete body.top_logprobs;
      actions.push('logprobs:stripped_with_logit_bias');
    }
  }
}

/**
 * Cap the output budget to `ceiling`; returns the budget the client asked for when it was capped
 * (else null). A request that names none gets the ceiling only when the model could write more
 * (`modelLimit` above it, or unknown): a budget above the model's own limit is a 400 upstream.
 */
function capBudget(body: Record<string, unknown>, fields: string[], ceiling: number | null, actions: string[], modelLimit: number | null): number | null {
  if (ceiling === null) return null;
  let present = false;
  let asked: number | null = null;
  for (const f of fields) {
    const v = body[f];
    if (v === undefined || v === null) continue;
    present = true;
    if (typeof v === 'number' && v > ceiling) {
      asked = Math.max(asked ?? 0, v);
      body[f] = ceiling;
      if (!actions.includes('max_tokens:capped')) actions.push('max_tokens:capped');
    }
  }
  if (!present && (modelLimit === null || modelLimit > ceiling)) { body[fields[0]] = ceiling; actions.push(BUDGET_SET_BY_GATEWAY); }
  return asked;
}

/**
 * An OpenAI reasoning effort lowered with the budget: the highest level whose weight (roughly how
 * much it reasons: `EFFORT_WEIGHTS`) is at most the asked level's scaled by ceiling / asked, never
 * below `low`, so the hidden reasoning shrinks as the total does and leaves room for an answer.
 * Efforts it does not know, and `low` or under, are left as they are.
 */
function lowerEffort(effort: string, asked: number, ceiling: number): string {
  const weight = EFFORT_WEIGHTS[effort];
  if (weight === undefined || weight <= EFFORT_WEIGHTS.low) return effort;
  const target = weight * ceiling / asked;
  let chosen = 'low';
  for (const [level, w] of Object.entries(EFFORT_WEIGHTS)) if (w <= target && w > EFFORT_WEIGHTS[chosen]) chosen = level;
  return chosen;
}
