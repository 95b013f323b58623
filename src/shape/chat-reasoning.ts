/**
 * Reasoning in Chat Completions messages and deltas, in every spelling of the OpenAI-compatible
 * servers Warden may front:
 *
 * - `reasoning_content`: DeepSeek, vLLM before 0.9, xAI, Qwen, LiteLLM; a string.
 * - `reasoning`: vLLM 0.9 and later, OpenRouter, Groq, Ollama; a string.
 * - `reasoning_details`: OpenRouter; `[{type: "reasoning.text", text} | {type: "reasoning.summary",
 *   summary} | {type: "reasoning.encrypted", data}]`.
 * - `thinking_blocks`: LiteLLM; `[{type: "thinking", thinking, signature} | {type: "redacted_thinking", data}]`.
 * - `content` parts of type `thinking` (Mistral's Magistral): `{type: "thinking", thinking: [{type: "text", text}]}`.
 *
 * Any other key that starts with `reasoning` or `thinking` counts as reasoning too, so that a new
 * spelling is withheld rather than passed on, and so do such keys one object down (LiteLLM repeats
 * `thinking_blocks` in `provider_specific_fields`). The same trace often comes in two of these at once
 * (OpenRouter: `reasoning` and `reasoning_details`; LiteLLM: `reasoning_content` and
 * `thinking_blocks`): its text is the longest one's, not their sum.
 */

/** Whether a key of a Chat message or delta (or a content part's type) names reasoning. */
export function isReasoningKey(key: string): boolean {
  return key.startsWith('reasoning') || key.startsWith('thinking');
}

/** Keys inside reasoning objects that hold no readable text (ids, types, signatures, encrypted data). */
const OPAQUE_KEYS = new Set(['type', 'id', 'index', 'format', 'signature', 'data', 'encrypted', 'encrypted_content']);

/** The readable text of a reasoning value: a string, or the text fields of objects and arrays. */
export function reasoningValueText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) { let s = ''; for (const x of v) s += reasoningValueText(x); return s; }
  if (!v || typeof v !== 'object') return '';
  let s = '';
  for (const k in v) if (!OPAQUE_KEYS.has(k)) s += reasoningValueText((v as Record<string, unknown>)[k]);
  return s;
}

function isReasoningPart(part: unknown): boolean {
  const type = (part as { type?: unknown } | null)?.type;
  return typeof type === 'string' && isReasoningKey(type);
}

/** Plain objects inside a message or delta that may hold reasoning keys of their own. */
function* nestedObjects(m: Record<string, unknown>): Generator<Record<string, unknown>> {
  for (const k in m) {
    const v = m[k];
    if (!isReasoningKey(k) && v && typeof v === 'object' && !Array.isArray(v)) yield v as Record<string, unknown>;
  }
}

/** The reasoning text a Chat message or delta carries ('' for none). */
export function chatReasoningText(m: Record<string, unknown>, depth = 1): string {
  let text = '';
  const consider = (s: string) => { if (s.length > text.length) text = s; };
  for (const k in m) if (isReasoningKey(k)) consider(reasoningValueText(m[k]));
  if (Array.isArray(m.content)) {
    let parts = '';
    for (const p of m.content) if (isReasoningPart(p)) parts += reasoningValueText(p);
    consider(parts);
  }
  if (depth > 0) for (const o of nestedObjects(m)) consider(chatReasoningText(o, depth - 1));
  return text;
}

/**
 * Remove the reasoning a Chat message or delta carries: every reasoning field and content part
 * with readable text. Opaque items (OpenRouter's `reasoning.encrypted`, LiteLLM's
 * `redacted_thinking`) stay, as encrypted reasoning does in the Responses API, so that they can be
 * handed back on the next turn. Returns the text removed, or null when nothing was.
 */
export function takeChatReasoning(m: Record<string, unknown>, depth = 1): string | null {
  const text = chatReasoningText(m, depth);
  let removed = false;
  if (depth > 0) for (const o of nestedObjects(m)) if (takeChatReasoning(o, depth - 1) !== null) removed = true;
  for (const k of Object.keys(m)) {
    if (!isReasoningKey(k)) continue;
    const v = m[k];
    if (Array.isArray(v)) {
      const opaque = v.filter((item) => reasoningValueText(item) === '');
      if (opaque.length === v.length) continue;
      removed = true;
      if (opaque.length === 0) delete m[k]; else m[k] = opaque;
    } else if (typeof v === 'string' || reasoningValueText(v) !== '') {
      removed = true;
      delete m[k];
    } else if (v === null) delete m[k];
  }
  if (Array.isArray(m.content) && m.content.some(isReasoningPart)) {
    const kept = m.content.filter((p) => !isReasoningPart(p) || reasoningValueText(p) === '');
    if (kept.length < m.content.length) { removed = true; m.content = kept; }
  }
  return removed ? text : null;
}
