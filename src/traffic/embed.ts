/**
 * Embeddings as the traffic model's clients request them, and the sketch the gateway would record
 * of the built-in mock's answers (the mock's own `embedText`, projected by the events module), so
 * simulated events carry what a run through `warden serve` would:
 *
 * - a customer indexing its documents embeds texts on its own subject;
 * - a retrieval product embeds its users' questions (any subject) next to its chat traffic;
 * - an encoder harvest embeds a broad corpus (every subject), or splits it by subject across
 *   accounts.
 *
 * A "subject" is the prompts of the real prompt sets that mention one topical word: the texts a
 * company about that thing would hold. Real encoders place such texts much closer together than
 * the mock (whose vectors only follow shared words), so the mock is the harder case.
 */
import { EMBEDDING_DIRECTIONS, EmbeddingSketch, sampledIndices, type EmbeddingSummary } from '../events/index.ts';
import { embedText } from '../mock/openai-embeddings.ts';
import type { PromptCorpus } from './prompts.ts';

/** The model simulated clients embed with, and the size they ask for (`dimensions`). */
export const EMBED_MODEL = 'text-embedding-3-small';
export const EMBED_DIMS = 256;

/** Topical words; each with enough prompts in the corpus is a subject. */
const SUBJECT_WORDS = [
  'python', 'javascript', 'sql', 'data', 'recipe', 'food', 'dog', 'cat', 'health', 'money', 'car', 'music', 'game',
  'book', 'movie', 'water', 'school', 'job', 'email', 'story', 'history', 'war', 'law', 'weather', 'travel', 'plant',
  'doctor', 'computer', 'phone', 'house', 'sleep', 'exercise', 'stock', 'price', 'marketing', 'business',
  'language', 'religion', 'sport', 'energy', 'function', 'apples', 'student', 'police', 'drug', 'company',
];
const MIN_SUBJECT_TEXTS = 6;

export interface Subject { word: string; texts: string[] }

const subjectCache = new WeakMap<PromptCorpus, { subjects: Subject[]; all: string[] }>();

/** The corpus's subjects (at least one: the whole corpus when no word has enough prompts) and all its prompts. */
export function embeddingCorpus(corpus: PromptCorpus): { subjects: Subject[]; all: string[] } {
  const hit = subjectCache.get(corpus);
  if (hit) return hit;
  const all = [...new Set([...corpus.chat, ...corpus.code, ...corpus.math])];
  const subjects: Subject[] = [];
  for (const word of SUBJECT_WORDS) {
    const re = new RegExp(`\\b${word}s?\\b`, 'i');
    const texts = all.filter((t) => re.test(t));
    if (texts.length >= MIN_SUBJECT_TEXTS) subjects.push({ word, texts });
  }
  if (subjects.length === 0) subjects.push({ word: '*', texts: all });
  const out = { subjects, all };
  subjectCache.set(corpus, out);
  return out;
}

/** Projections of single texts, kept: simulated corpora repeat texts, and the mock's vectors are costly. */
const projections = new Map<string, { sum: Float64Array; sq: number }>();
const MAX_CACHED = 100_000;

function projected(text: string, dims: number): { sum: Float64Array; sq: number } | null {
  const key = `${dims}\u0000${text}`;
  let p = projections.get(key);
  if (!p) {
    const s = new EmbeddingSketch();
    s.add(embedText(text, EMBED_MODEL, dims));
    if (s.sampled === 0) return null;
    p = { sum: s.sum, sq: s.sq };
    if (projections.size >= MAX_CACHED) projections.clear();
    projections.set(key, p);
  }
  return p;
}

/** What the gateway records of the mock's answer to these inputs (`response.embeddings`). */
export function simulatedEmbeddings(texts: readonly string[], dims = EMBED_DIMS): EmbeddingSummary | null {
  const sum = new Float64Array(EMBEDDING_DIRECTIONS);
  let sq = 0; let sampled = 0;
  for (const k of sampledIndices(texts.length)) {
    const p = projected(texts[k], dims);
    if (!p) continue;
    for (let j = 0; j < EMBEDDING_DIRECTIONS; j++) sum[j] += p.sum[j];
    sq += p.sq; sampled++;
  }
  if (sampled === 0) return null;
  return { vectors: texts.length, dimensions: dims, sampled, sum: Array.from(sum, (x) => Math.round(x * 1e4) / 1e4), sq: Math.round(sq * 1e4) / 1e4 };
}
