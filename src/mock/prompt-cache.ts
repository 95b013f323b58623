/**
 * Prompt caching as the providers report it, so that the cache counts Warden meters and prices
 * can be tested: Anthropic caches the prefix up to the last `cache_control` breakpoint (tools,
 * then system, then messages) once it is at least 1,024 tokens; OpenAI caches any prompt of at
 * least 1,024 tokens by itself and reports the longest prefix seen before, in steps of 128 tokens.
 */
import { createHash } from 'node:crypto';
import { isRecord } from './context.ts';
import { countTokens } from './tokens.ts';

/** Shortest cacheable prefix, tokens (both providers). */
export const MIN_CACHED_TOKENS = 1024;
/** OpenAI reports cached tokens in steps of this many. */
const OPENAI_STEP = 128;
/** Prefixes kept per server (oldest forgotten first). */
const KEPT = 512;

export class PromptCache {
  private readonly anthropic = new Map<string, true>();
  private readonly openai: string[] = [];

  /**
   * Anthropic: the tokens written to and read from the cache for this request (both 0 when nothing
   * is marked or it is too short). A top-level `cache_control` marks the prompt's last block. `write1h`: the part of `write` up to the last breakpoint with
   * `ttl: "1h"` (the API reports writes by TTL in `cache_creation`; 1h breakpoints come first).
   */
  anthropicRequest(body: Record<string, unknown>): { write: number; read: number; write1h: number } {
    const texts: string[] = [];
    let upTo = -1;
    let upTo1h = -1;
    const take = (block: unknown, text: string) => {
      texts.push(text);
      if (isRecord(block) && block.cache_control != null) {
        upTo = texts.length;
        if (isRecord(block.cache_control) && block.cache_control.ttl === '1h') upTo1h = texts.length;
      }
    };
    if (Array.isArray(body.tools)) for (const t of body.tools) take(t, JSON.stringify(t));
    if (Array.isArray(body.system)) for (const b of body.system) take(b, isRecord(b) && typeof b.text === 'string' ? b.text : '');
    else if (typeof body.system === 'string') texts.push(body.system);
    if (Array.isArray(body.messages)) {
      for (const m of body.messages) {
        if (!isRecord(m)) continue;
        if (typeof m.content === 'string') texts.push(m.content);
        else if (Array.isArray(m.content)) for (const b of m.content) take(b, isRecord(b) ? (typeof b.text === 'string' ? b.text : JSON.stringify(b)) : '');
      }
    }
    // Automatic caching (`cache_control` at the top level of the request): the breakpoint is the
    // last block of the prompt, with the request's TTL.
    if (isRecord(body.cache_control) && texts.length > 0) {
      upTo = texts.length;
      if (body.cache_control.ttl === '1h') upTo1h = texts.length;
    }
    if (upTo < 0) return { write: 0, read: 0, write1h: 0 };
    const prefix = texts.slice(0, upTo).join('\n');
    const tokens = countTokens(prefix);
    if (tokens < MIN_CACHED_TOKENS) return { write: 0, read: 0, write1h: 0 };
    const key = createHash('sha256').update(`${String(body.model)}\u0000${prefix}`).digest('hex');
    if (this.anthropic.has(key)) {
      this.anthropic.delete(key);
      this.anthropic.set(key, true);
      return { write: 0, read: tokens, write1h: 0 };
    }
    this.anthropic.set(key, true);
    if (this.anthropic.size > KEPT) this.anthropic.delete(this.anthropic.keys().next().value as string);
    const write1h = upTo1h < 0 ? 0 : upTo1h === upTo ? tokens : Math.min(tokens, countTokens(texts.slice(0, upTo1h).join('\n')));
    return { write: tokens, read: 0, write1h };
  }

  /** OpenAI: the cached tokens of a prompt (`joined` its text, `tokens` its count): the longest prefix seen before, in steps of 128, from 1,024. */
  openaiRequest(model: string, joined: string, tokens: number): number {
    if (tokens < MIN_CACHED_TOKENS) return 0;
    const text = `${model}\u0000${joined}`;
    let longest = 0;
    for (const seen of this.openai) {
      const n = Math.min(seen.length, text.length);
      let i = 0;
      while (i < n && seen.charCodeAt(i) === text.charCodeAt(i)) i++;
      if (i > longest) longest = i;
    }
    const at = this.openai.indexOf(text);
    if (at >= 0) this.openai.splice(at, 1);
    this.openai.push(text);
    if (this.openai.length > KEPT) this.openai.shift();
    if (longest <= model.length + 1) return 0;
    const shared = longest >= text.length ? tokens : countTokens(text.slice(model.length + 1, longest));
    const cached = Math.floor(Math.min(shared, tokens) / OPENAI_STEP) * OPENAI_STEP;
    return cached >= MIN_CACHED_TOKENS ? cached : 0;
  }
}
