/**
 * Prompt corpus for the traffic model: real prompts loaded from a directory laid out as
 * `organic/*.jsonl` and `distill/*.jsonl` (lines `{"text","source"}`), or the small fixture set
 * shipped in test/fixtures/prompts. Prompts are pooled by what they ask (chat, code, maths), not
 * by the file they came from: organic developers ask code-set questions, students ask maths,
 * attackers send chit-chat.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PromptPool = 'chat' | 'code' | 'math';

export interface PromptCorpus {
  chat: string[];
  code: string[];
  math: string[];
  /** Where the prompts came from (directory) and per-file counts, for reports. */
  origin: { dir: string; files: Record<string, number> };
}

const STRONG_CODE = /```|\bdef \w+\(|=>|console\.log|#include|\bSELECT\b.+\bFROM\b|^\s*(import|from|public|private|function|const|let|var)\s|[{};]\s*$/m;
const CODE_WORDS = /\b(python|javascript|typescript|java|c\+\+|c#|golang|rust|kotlin|swift|php|sql|mysql|postgres\w*|html|css|bash|shell|regex|regular expression|function|method|class|array|string|integer|algorithm|compiler?|api|json|docker\w*|kubernetes|git|github|react|node\.?js|pandas|numpy|program(ming)?|code|script|query|database|linked list|recursion|unit test|variable|loop|tcp|udp|http|https|server|linux|software|debug|stack|queue|hash ?map|binary|big-o|thread|process|cache|deadlock|websockets?|jwt|cors|frontend|backend)\b/i;
const MATH_HINT = /\b(how (many|much|old|long|far|fast)|what is the (total|sum|average|probability|value)|calculate|compute|solve|equation|percent|per (hour|day|week)|each|altogether|remaining|twice|half|times as|more than|less than)\b|%|\$\d/i;

/** Which pool a prompt belongs to, judged from its text. */
export function classifyPrompt(text: string): PromptPool {
  if (STRONG_CODE.test(text)) return 'code';
  const digits = (text.match(/\d+/g) ?? []).length;
  if (digits >= 2 && MATH_HINT.test(text)) return 'math';
  if (CODE_WORDS.test(text)) return 'code';
  return 'chat';
}

/** The fixture directory shipped with the repository (works from src/ and from the built dist/). */
export function defaultPromptDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const rel of ['../../test/fixtures/prompts', '../../../test/fixtures/prompts']) {
    const p = join(here, rel);
    if (existsSync(join(p, 'organic'))) return p;
  }
  throw new Error('prompt fixtures not found (test/fixtures/prompts); pass --prompts DIR');
}

const cache = new Map<string, PromptCorpus>();

/**
 * Load every `*.jsonl` under DIR/organic and DIR/distill (missing sub-directories are allowed,
 * but at least one prompt of each pool must exist; a pool that is empty borrows from the others).
 * Lines longer than `maxChars` are cut (a pasted novel is still a long prompt, not an 80 KB one).
 */
export function loadPromptCorpus(dir: string = defaultPromptDir(), opts: { maxChars?: number } = {}): PromptCorpus {
  const maxChars = opts.maxChars ?? 12_000;
  const key = `${dir}\u0000${maxChars}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const corpus: PromptCorpus = { chat: [], code: [], math: [], origin: { dir, files: {} } };
  let any = false;
  for (const sub of ['organic', 'distill']) {
    const d = join(dir, sub);
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d).filter((n) => n.endsWith('.jsonl')).sort()) {
      const lines = readFileSync(join(d, name), 'utf8').split('\n');
      let n = 0;
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i].trim();
        if (!line) continue;
        let text: unknown;
        try { text = (JSON.parse(line) as { text?: unknown }).text; } catch {
          throw new Error(`${join(d, name)} line ${i + 1}: not JSON`);
        }
        if (typeof text !== 'string' || !text.trim()) continue;
        const t = text.length > maxChars ? text.slice(0, maxChars) : text;
        corpus[classifyPrompt(t)].push(t);
        n++;
        any = true;
      }
      corpus.origin.files[`${sub}/${name}`] = n;
    }
  }
  if (!any) throw new Error(`no prompts found under ${dir} (expected organic/*.jsonl and/or distill/*.jsonl)`);
  const all = [...corpus.chat, ...corpus.code, ...corpus.math];
  for (const pool of ['chat', 'code', 'math'] as const) if (corpus[pool].length === 0) corpus[pool] = all;
  cache.set(key, corpus);
  return corpus;
}
