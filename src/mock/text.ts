/**
 * Deterministic text for the mock upstream: a seeded PRNG and a small grammar over a word list
 * in which every piece is exactly one o200k_base token. Generated text is therefore counted
 * without running the tokenizer (the piece count is the token count; tests check this against
 * the real tokenizer), which keeps the hot path cheap.
 */

/** 53-bit string hash (cyrb53): fast, well mixed, not cryptographic. */
export function hashString(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** Small seeded PRNG (mulberry32). Same seed, same sequence, on every platform. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    // Fold a 53-bit seed into 32 bits without losing the high part.
    this.state = (seed ^ Math.floor(seed / 4294967296)) >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : this.nextU32() % n;
  }
  /** Uniform integer in [min, max] (inclusive). */
  range(min: number, max: number): number {
    return max <= min ? min : min + this.int(max - min + 1);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

// Word classes. Every word below is a single o200k_base token with a leading space; words that
// may start a sentence are also single tokens when capitalised (with and without the space).
// `vocabulary.test.ts` verifies all of this with the real tokenizer.
export const WORDS = {
  det: ['the', 'this', 'that', 'each', 'every', 'another', 'our', 'their', 'its', 'your'],
  adj: [
    'simple', 'small', 'large', 'clear', 'quick', 'quiet', 'bright', 'early', 'late', 'final', 'common', 'rare',
    'useful', 'direct', 'modern', 'stable', 'complex', 'brief', 'formal', 'natural', 'local', 'global', 'open',
    'private', 'public', 'strong', 'light', 'dark', 'warm', 'cold', 'fresh', 'easy', 'hard', 'new', 'old', 'main',
    'real', 'full', 'free', 'safe', 'whole', 'single', 'next', 'last', 'good', 'great', 'better', 'different',
    'important', 'similar', 'specific', 'general',
  ],
  noun: [
    'system', 'model', 'answer', 'question', 'team', 'method', 'result', 'process', 'record', 'report', 'signal',
    'pattern', 'request', 'network', 'account', 'service', 'market', 'river', 'garden', 'city', 'window', 'station',
    'bridge', 'story', 'picture', 'letter', 'number', 'idea', 'plan', 'reason', 'choice', 'example', 'problem',
    'solution', 'detail', 'summary', 'engine', 'library', 'table', 'forest', 'mountain', 'village', 'student',
    'teacher', 'doctor', 'writer', 'reader', 'player', 'worker', 'driver', 'engineer', 'artist', 'manager',
    'customer', 'partner', 'council', 'committee', 'project', 'product', 'feature', 'test', 'design', 'review',
    'policy', 'budget', 'schedule', 'meeting', 'channel', 'message',
  ],
  verb: [
    'reviews', 'checks', 'supports', 'shows', 'needs', 'uses', 'moves', 'starts', 'reads', 'writes', 'runs',
    'allows', 'creates', 'measures', 'records', 'tracks', 'handles', 'returns', 'changes', 'makes', 'includes',
    'provides', 'requires', 'describes', 'contains', 'follows', 'produces', 'reduces', 'explains', 'improves',
    'defines', 'connects', 'controls', 'covers', 'builds', 'finds', 'keeps', 'brings', 'holds', 'takes', 'gives',
    'helps', 'opens', 'compares', 'receives', 'sends', 'stores', 'selects', 'tests', 'limits', 'adds', 'updates',
    'accepts', 'protects', 'serves', 'answers', 'solves', 'plans', 'shapes', 'joins', 'guides', 'prepares',
  ],
  adv: [
    'often', 'always', 'never', 'usually', 'clearly', 'simply', 'finally', 'probably', 'certainly', 'really',
    'nearly', 'already', 'still', 'also', 'quickly', 'carefully', 'rarely', 'easily', 'slowly', 'directly',
    'quietly', 'together', 'again', 'soon',
  ],
  prep: [
    'for', 'with', 'from', 'into', 'over', 'under', 'after', 'before', 'during', 'across', 'through', 'near',
    'about', 'around', 'without', 'within', 'between', 'against', 'beyond',
  ],
  conj: ['and', 'but', 'so'],
  /** Subordinating conjunctions that open a sentence ("Because the team ..., the model ..."). */
  sub: ['when', 'while', 'because', 'although', 'since', 'unless'],
  /** Sentence openers followed by a comma. */
  opener: ['usually', 'often', 'finally', 'clearly', 'then', 'next', 'so', 'first', 'later', 'today', 'still', 'also', 'however', 'meanwhile', 'instead', 'overall'],
} as const;

type WordClass = keyof typeof WORDS;
type Slot = WordClass | ',';

// Sentence shapes; '.' is implied at the end. The first slot is capitalised.
const ANSWER_TEMPLATES: Slot[][] = [
  ['det', 'adj', 'noun', 'verb', 'det', 'noun', 'prep', 'det', 'adj', 'noun'],
  ['det', 'noun', 'adv', 'verb', 'det', 'adj', 'noun'],
  ['sub', 'det', 'noun', 'verb', 'det', 'noun', ',', 'det', 'adj', 'noun', 'verb', 'det', 'noun'],
  ['det', 'adj', 'noun', 'verb', 'det', 'noun', ',', 'conj', 'det', 'noun', 'adv', 'verb', 'prep', 'det', 'noun'],
  ['opener', ',', 'det', 'noun', 'verb', 'det', 'adj', 'noun', 'prep', 'det', 'noun'],
  ['det', 'noun', 'prep', 'det', 'adj', 'noun', 'verb', 'det', 'noun'],
];

// Reasoning reads like working notes: fixed openers, then ordinary sentences.
const REASONING_OPENERS: string[][] = [
  ['Let', ' me', ' think', ' about', ' this', ' step', ' by', ' step', '.'],
  ['First', ',', ' consider', ' what', ' the', ' user', ' is', ' asking', '.'],
  ['The', ' user', ' wants', ' a', ' clear', ' answer', '.'],
  ['Okay', ',', ' let', ' me', ' work', ' through', ' the', ' request', '.'],
];

const capitalised = new Map<string, string>();
function cap(word: string): string {
  let c = capitalised.get(word);
  if (c === undefined) {
    c = word[0].toUpperCase() + word.slice(1);
    capitalised.set(word, c);
  }
  return c;
}

/**
 * Appends whole sentences to `out` until it holds at least `target` pieces (it may overshoot by
 * less than one sentence; callers cut to the budget). Every piece is one token.
 */
function appendSentences(out: string[], target: number, rng: Rng): void {
  let sinceParagraph = 0;
  let paragraphLength = rng.range(3, 5);
  while (out.length < target) {
    const template = rng.pick(ANSWER_TEMPLATES);
    const atStart = out.length === 0 || out[out.length - 1].endsWith('\n');
    for (let i = 0; i < template.length; i++) {
      const slot = template[i];
      if (slot === ',') {
        out.push(',');
        continue;
      }
      const word = rng.pick(WORDS[slot]);
      if (i === 0) out.push(atStart ? cap(word) : ' ' + cap(word));
      else out.push(' ' + word);
    }
    sinceParagraph++;
    if (sinceParagraph >= paragraphLength && out.length < target) {
      out.push('.\n\n'); // one token in o200k_base
      sinceParagraph = 0;
      paragraphLength = rng.range(3, 5);
    } else {
      out.push('.');
    }
  }
}

/** Answer text of roughly `target` tokens, ending on a full sentence. Returns one token per piece. */
export function answerPieces(target: number, rng: Rng): string[] {
  const out: string[] = [];
  if (target > 0) appendSentences(out, target, rng);
  return out;
}

/** Reasoning ("thinking") text of roughly `target` tokens. Returns one token per piece. */
export function reasoningPieces(target: number, rng: Rng): string[] {
  if (target <= 0) return [];
  const out: string[] = [...rng.pick(REASONING_OPENERS)];
  appendSentences(out, target, rng);
  // The grammar starts sentences after a '.' with a leading space, so the opener joins cleanly.
  return out;
}

/** A short reasoning summary in the style of the Responses API (bold title, then prose). */
export function summaryText(rng: Rng): string {
  const title = `**${cap(rng.pick(WORDS.adj))} ${rng.pick(WORDS.noun)} ${rng.pick(WORDS.noun)}**`;
  const body: string[] = [];
  appendSentences(body, rng.range(16, 40), rng);
  return `${title}\n\n${body.join('')}`;
}

/** Splits text into word-sized chunks (each keeps its leading whitespace) for streaming prose that is not token-aligned. */
export function wordChunks(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}
