/**
 * Token counting for the mock upstream, with the o200k_base encoding (GPT-4o, GPT-4.1, GPT-5,
 * o-series). Prompt counts are cached by text because benchmarks and tests repeat prompts; the
 * cache is bounded so arbitrary traffic cannot grow it without limit.
 */
import { encode, decode } from 'gpt-tokenizer/encoding/o200k_base';
import { countTokens as countBounded } from '../tokens/index.ts';

// Text such as "<|endoftext|>" in a prompt is ordinary text here, never a special token (and never an exception).
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

const CACHE_MAX_ENTRIES = 4096;
const CACHE_MAX_KEY_CHARS = 64 * 1024;
const cache = new Map<string, number>();

/** Number of o200k_base tokens in `text`, at a bounded cost (src/tokens). Cached for texts up to 64 KiB. */
export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const count = countBounded(text);
  if (text.length <= CACHE_MAX_KEY_CHARS) {
    if (cache.size >= CACHE_MAX_ENTRIES) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(text, count);
  }
  return count;
}

/**
 * Splits `text` into its tokens' text, one string per token, so that it can be streamed token by
 * token. A token that ends inside a multi-byte character is merged with the next so every piece
 * is valid UTF-8; `count` is always the exact token count.
 */
export function tokenPieces(text: string): { pieces: string[]; count: number } {
  if (text.length === 0) return { pieces: [], count: 0 };
  const ids = encode(text, PLAIN_TEXT);
  const pieces: string[] = [];
  let pending: number[] = [];
  for (const id of ids) {
    pending.push(id);
    const piece = decode(pending);
    if (piece.includes('\uFFFD') && pending.length < 4) continue;
    pieces.push(piece);
    pending = [];
  }
  if (pending.length > 0) pieces.push(decode(pending));
  return { pieces, count: ids.length };
}
