/**
 * Which model names the mock upstream accepts, what it lists, and how each model reasons.
 */

/** Models listed by `GET /v1/models` when no explicit list is configured. */
export const DEFAULT_LISTED_MODELS: readonly string[] = [
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-5',
  'gpt-5-mini',
  'gpt-5.5',
  'gpt-3.5-turbo-instruct',
  'text-embedding-3-small',
  'text-embedding-3-large',
  'o3',
  'o4-mini',
  'claude-opus-4-8',
  'claude-sonnet-5',
  'claude-haiku-4-5',
  'deepseek-reasoner',
  'mock-model',
  'mock-reasoning',
];

/**
 * Model-name patterns accepted by default: the OpenAI (chat and embedding), Anthropic and DeepSeek families plus
 * `mock-*` (which includes the failure-injection names `mock-fail-*`). `*` matches any run of
 * characters. Anything else is answered with the API's own "model not found" error.
 */
export const DEFAULT_MODEL_PATTERNS: readonly string[] = [
  'gpt-*',
  'chatgpt-*',
  'o1*',
  'o3*',
  'o4*',
  'claude-*',
  'deepseek-*',
  'text-embedding-*',
  'omni-moderation-*',
  'dall-e-*',
  'whisper-*',
  'text-moderation-*',
  'mock-*',
];

/** Compiled matcher for a list of exact names / `*` patterns. */
export class ModelCatalogue {
  private readonly exact = new Set<string>();
  private readonly patterns: RegExp[] = [];
  /** Names without wildcards, in configured order: what `GET /v1/models` lists. */
  readonly listed: string[];

  constructor(patterns: readonly string[] = DEFAULT_MODEL_PATTERNS, listed?: readonly string[]) {
    for (const p of patterns) {
      if (p.includes('*')) {
        const body = p.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
        this.patterns.push(new RegExp(`^${body}$`));
      } else {
        this.exact.add(p);
      }
    }
    const explicit = patterns.filter((p) => !p.includes('*'));
    this.listed = [...(listed ?? (explicit.length > 0 ? explicit : DEFAULT_LISTED_MODELS))];
  }

  accepts(model: string): boolean {
    if (this.exact.has(model)) return true;
    for (const re of this.patterns) if (re.test(model)) return true;
    return false;
  }
}

/**
 * How a model reasons on the OpenAI APIs:
 * - `hidden`: OpenAI reasoning models (`o1*`, `o3*`, `o4*`, `gpt-5*` except `*-chat*`). Reasoning
 *   tokens are counted in usage (`reasoning_tokens`) but the text is never returned by Chat
 *   Completions; the Responses API returns a reasoning item (with a summary when asked).
 * - `visible`: OpenAI-compatible reasoning servers (DeepSeek, vLLM, QwQ): names containing
 *   `reasoning`, `reasoner`, `-r1`, `qwq` or `thinking`. Chat Completions also returns the text
 *   as `reasoning_content`.
 * - `none`: everything else.
 * The Anthropic Messages API ignores this and thinks only when `thinking` is requested.
 */
export type ReasoningStyle = 'hidden' | 'visible' | 'none';

const styleCache = new Map<string, ReasoningStyle>();

export function reasoningStyle(model: string): ReasoningStyle {
  let style = styleCache.get(model);
  if (style !== undefined) return style;
  const m = model.toLowerCase();
  if (/reasoning|reasoner|-r1|qwq|thinking/.test(m)) style = 'visible';
  else if (/^o\d/.test(m) || (/^gpt-5/.test(m) && !m.includes('-chat'))) style = 'hidden';
  else style = 'none';
  if (styleCache.size < 1024) styleCache.set(model, style);
  return style;
}

/**
 * Whether a name is one of Anthropic's models. The Anthropic API lists and describes only its
 * own (Claude) models, so the mock's Anthropic flavour of `GET /v1/models` shows only these.
 */
export function isAnthropicModel(id: string): boolean {
  return /^claude-/i.test(id);
}

/**
 * A model as the Anthropic API describes one: `display_name` in its wording ("Claude Sonnet 4.5"
 * for `claude-sonnet-4-5`, "Claude Haiku 3.5" for `claude-3-5-haiku-20241022`) and `created_at`
 * the snapshot's date when the id carries one.
 */
export function anthropicModelObject(id: string): { type: 'model'; id: string; display_name: string; created_at: string } {
  const dated = /-(\d{4})(\d{2})(\d{2})$/.exec(id);
  const parts = id.replace(/-(\d{8}|latest)$/, '').split('-').slice(1);
  const words = parts.filter((p) => !/^\d+$/.test(p)).map((p) => p[0].toUpperCase() + p.slice(1));
  const version = parts.filter((p) => /^\d+$/.test(p)).join('.');
  const display = ['Claude', ...words, version].filter((p) => p.length > 0).join(' ');
  const createdAt = dated ? `${dated[1]}-${dated[2]}-${dated[3]}T00:00:00Z` : '2025-01-01T00:00:00Z';
  return { type: 'model', id, display_name: display, created_at: createdAt };
}
