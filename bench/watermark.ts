/**
 * Watermark measurements: false positives on real human text, detection power against text
 * length, share of words changed, whether an n-gram student trained on marked text carries the
 * mark, and what a synonym-replacing paraphraser does to it. Embedding speed against a baseline.
 *
 *   node --import tsx bench/watermark.ts [--data ../shared/data] [--quick]
 *
 * Human text: ../shared/data/organic (ShareGPT first prompts, hh-rlhf prompts). Text standing in
 * for model answers (what a harvester collects): the same plus ../shared/data/distill (GSM8K,
 * Code Alpaca instructions). Without ../shared the run stops with a message (tests use fixtures).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { deriveWatermarkKey, type WatermarkKey } from '../src/watermark/keys.ts';
import { watermarkText, StreamingWatermarker } from '../src/watermark/embed.ts';
import { detectWatermark } from '../src/watermark/detect.ts';
import { LEXICON } from '../src/watermark/lexicon.ts';

const args = process.argv.slice(2);
const dataDir = args.includes('--data') ? args[args.indexOf('--data') + 1] : new URL('../../shared/data', import.meta.url).pathname;
const quick = args.includes('--quick');
if (!existsSync(join(dataDir, 'organic'))) {
  console.error(`no data at ${dataDir}/organic; pass --data <dir with organic/ and distill/>`);
  process.exit(2);
}
const readJsonl = (f: string) => readFileSync(join(dataDir, f), 'utf8').trim().split('\n').map((l) => String(JSON.parse(l).text ?? ''));
const human = [...readJsonl('organic/sharegpt-first-prompts.jsonl'), ...readJsonl('organic/hh-rlhf-harmless-prompts.jsonl')];
const distill = [...readJsonl('distill/gsm8k-train-questions.jsonl'), ...readJsonl('distill/code-alpaca-2k.jsonl')];

// Deterministic PRNG for sampling and paraphrasing.
let seed = 0x9e3779b9;
const rand = () => { seed = (seed + 0x6d2b79f5) >>> 0; let t = seed; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
/** Everything, shuffled deterministically: the stand-in for a harvester's collected answers. */
const machineLike = [...human, ...distill].map((t) => [rand(), t] as const).sort((a, b) => a[0] - b[0]).map(([, t]) => t);

const MASTER = 'benchmark-master-secret-0123456789';
const keyOf = (i: number): WatermarkKey => deriveWatermarkKey(MASTER, { kind: 'account', id: `acc_${i}` });

/** Split a corpus into documents of about `words` words (texts concatenated in order, paragraph breaks kept). */
function documents(texts: string[], words: number): string[] {
  const out: string[] = [];
  let cur: string[] = [], n = 0;
  for (const t of texts) {
    cur.push(t);
    n += t.split(/\s+/).filter(Boolean).length;
    if (n >= words) {
      const all = cur.join('\n\n').split(/(\s+)/);
      // Trim to exactly `words` words, keeping the whitespace between them.
      let count = 0, i = 0;
      for (; i < all.length && count < words; i++) if (all[i].trim()) count++;
      out.push(all.slice(0, i).join(''));
      cur = []; n = 0;
    }
  }
  return out;
}

const fmt = (x: number, d = 4) => (x === 0 ? '0' : x < 1e-3 ? x.toExponential(1) : x.toFixed(d));
const lines: string[] = [];
const log = (s: string) => { console.log(s); lines.push(s); };

log(`# watermark benchmark — ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
log(`lexicon: ${new Set([...LEXICON.values()].map((g) => g.id)).size} groups, ${LEXICON.size} words; alpha = 1e-3`);
const humanWords = human.reduce((a, t) => a + t.split(/\s+/).filter(Boolean).length, 0);
log(`human text: ${human.length} texts, ${humanWords} words; machine-like corpus: ${machineLike.length} texts`);

// 1. Share of words changed, and slot density, on the whole human corpus.
{
  const { stats } = watermarkText(human.join('\n\n'), keyOf(0).key);
  log(`\n## words changed\nslots (lexicon words outside code) per word: ${fmt(stats.slots / stats.words)}; words changed: ${fmt(stats.changed / stats.words)} (${stats.changed} of ${stats.words})`);
}

// 2. False positives on unmarked human text: documents x keys, one key at a time and 100 at a time.
const alpha = 1e-3;
log('\n## false positives on human text (unmarked)');
log('| document words | documents | keys per document | trials | positives | FPR | p <= 0.05 share |');
log('|---|---|---|---|---|---|---|');
const fpKeys = quick ? 20 : 100;
const keys = Array.from({ length: fpKeys }, (_, i) => keyOf(1000 + i));
for (const words of [100, 200, 400, 800, 1600]) {
  const docs = documents(human, words);
  let trials = 0, pos = 0, p05 = 0;
  for (const d of docs) {
    // One test per key (the single-key false positive rate)...
    const r = detectWatermark(d, keys, alpha);
    for (const s of r.scores) { trials++; if (s.pValue <= alpha) pos++; if (s.pValue <= 0.05) p05++; }
  }
  log(`| ${words} | ${docs.length} | ${fpKeys} | ${trials} | ${pos} | ${fmt(pos / trials)} | ${fmt(p05 / trials, 3)} |`);
}
{
  // ...and the attribution test over all candidates with Bonferroni correction.
  const docs = documents(human, 400);
  let pos = 0;
  for (const d of docs) if (detectWatermark(d, keys, alpha).detected) pos++;
  log(`attribution test over ${fpKeys} candidate keys (Bonferroni), 400-word documents: ${pos} false detections in ${docs.length} documents`);
}

// 3. Detection power against length (marked human text, and marked machine-like text).
log('\n## detection power (marked text, the right key among 100 candidates, Bonferroni)');
log('| document words | human text (organic): detected | GSM8K + Code Alpaca text: detected | median slots |');
log('|---|---|---|---|');
const cands = Array.from({ length: 100 }, (_, i) => keyOf(i));
for (const words of [100, 200, 400, 800, 1600, 3200]) {
  const row: string[] = [];
  let slotsAll: number[] = [];
  for (const corpus of [human, distill]) {
    const docs = documents(corpus, words).slice(0, quick ? 60 : 300);
    let det = 0;
    docs.forEach((d, i) => {
      const k = cands[i % cands.length];
      const marked = watermarkText(d, k.key).text;
      const r = detectWatermark(marked, cands, alpha);
      if (r.detected && r.best!.keyId === k.id) det++;
      slotsAll.push(r.slots);
    });
    row.push(`${fmt(det / Math.max(1, docs.length), 3)} (${docs.length})`);
  }
  slotsAll = slotsAll.sort((a, b) => a - b);
  log(`| ${words} | ${row[0]} | ${row[1]} | ${slotsAll[slotsAll.length >> 1]} |`);
}

{
  // Assistant-style prose (the test fixture, written for Warden's tests): far denser in slots.
  const prose = readFileSync(new URL('../test/fixtures/policy/assistant-answers.txt', import.meta.url), 'utf8');
  const words = prose.split(/\s+/).filter(Boolean);
  const { stats } = watermarkText(prose, keyOf(0).key);
  log(`\nassistant-style prose (test fixture, ${words.length} words): slots per word ${fmt(stats.slots / stats.words)}, words changed ${fmt(stats.changed / stats.words)}`);
  log('| window words | windows | detected (right key of 100) | false detections on the unmarked windows |');
  log('|---|---|---|---|');
  for (const w of [50, 100, 150, 200, 300]) {
    let det = 0, fp = 0, n = 0;
    for (let start = 0; start + w <= words.length; start += Math.max(10, Math.floor(w / 4))) {
      const text = words.slice(start, start + w).join(' ');
      const k = cands[n % cands.length];
      n++;
      const r = detectWatermark(watermarkText(text, k.key).text, cands, alpha);
      if (r.detected && r.best!.keyId === k.id) det++;
      if (detectWatermark(text, cands, alpha).detected) fp++;
    }
    log(`| ${w} | ${n} | ${fmt(det / n, 3)} | ${fp} |`);
  }
}

// 4. Student: trigram model trained on marked answers, sampled, tested.
function tokenize(t: string): string[] { return t.split(/\s+/).filter(Boolean); }
class Trigram {
  private tri = new Map<string, Map<string, number>>();
  private bi = new Map<string, Map<string, number>>();
  private uni: string[] = [];
  train(texts: string[]): void {
    for (const t of texts) {
      const w = ['<s>', '<s>', ...tokenize(t), '</s>'];
      for (let i = 2; i < w.length; i++) {
        add(this.tri, `${w[i - 2]} ${w[i - 1]}`, w[i]);
        add(this.bi, w[i - 1], w[i]);
        this.uni.push(w[i]);
      }
    }
  }
  sample(words: number): string {
    const out: string[] = [];
    let a = '<s>', b = '<s>';
    while (out.length < words) {
      const dist = this.tri.get(`${a} ${b}`) ?? this.bi.get(b);
      const next = dist ? draw(dist) : this.uni[Math.floor(rand() * this.uni.length)];
      if (next === '</s>') { out.push('\n\n'); a = '<s>'; b = '<s>'; continue; }
      out.push(next); a = b; b = next;
    }
    return out.join(' ');
  }
}
function add(m: Map<string, Map<string, number>>, k: string, v: string) { let d = m.get(k); if (!d) { d = new Map(); m.set(k, d); } d.set(v, (d.get(v) ?? 0) + 1); }
function draw(d: Map<string, number>): string { let total = 0; for (const c of d.values()) total += c; let r = rand() * total; for (const [w, c] of d) { r -= c; if (r <= 0) return w; } return [...d.keys()].pop()!; }

log('\n## n-gram student trained on harvested answers (trigram, sampled), tested against 100 candidate keys');
log('| training data | sample words | detected (right key) | median corrected p |');
log('|---|---|---|---|');
{
  const teacherKey = cands[7];
  const corpus = machineLike.slice(0, quick ? 4000 : machineLike.length);
  const scenarios: [string, string[]][] = [
    ['all answers marked with one key (a cluster key)', corpus.map((t) => watermarkText(t, teacherKey.key).text)],
    ['25% marked with the key, 75% unmarked (one account of a campaign)', corpus.map((t, i) => (i % 4 === 0 ? watermarkText(t, teacherKey.key).text : t))],
    ['answers marked with 20 different account keys (per-account keys, 20 harvesting accounts)', corpus.map((t, i) => watermarkText(t, cands[i % 20].key).text)],
    ['unmarked answers (control)', corpus],
  ];
  for (const [name, data] of scenarios) {
    const student = new Trigram();
    student.train(data);
    for (const words of [1000, 4000, 16000]) {
      const trials = quick ? 5 : 20;
      let det = 0; const ps: number[] = [];
      for (let i = 0; i < trials; i++) {
        const r = detectWatermark(student.sample(words), cands, alpha);
        const ok = r.detected && (name.startsWith('answers marked with 20') ? cands.slice(0, 20).some((k) => k.id === r.best!.keyId) : r.best!.keyId === teacherKey.id);
        if (ok) det++;
        else if (process.env.WM_DEBUG) console.error(name, words, r.slots, r.best?.keyId, r.best?.correctedP);
        ps.push(r.best?.correctedP ?? 1);
      }
      ps.sort((a, b) => a - b);
      log(`| ${name} | ${words} | ${det}/${trials} | ${fmt(ps[ps.length >> 1])} |`);
    }
  }
}

// 5. Paraphrasing: synonym replacement over marked text.
log('\n## paraphrasing marked text (right key among 100, Bonferroni)');
log('| paraphraser | 3,200-word documents (organic + GSM8K + Code Alpaca) | 300-word windows of assistant-style prose |');
log('|---|---|---|');
{
  const allWords = [...new Set(machineLike.join(' ').split(/\s+/).filter((w) => /^[a-z]+$/.test(w)))];
  const docs = documents(machineLike, 3200).slice(0, quick ? 30 : 100);
  const proseWords = readFileSync(new URL('../test/fixtures/policy/assistant-answers.txt', import.meta.url), 'utf8').split(/\s+/).filter(Boolean);
  const windows: string[] = [];
  for (let start = 0; start + 300 <= proseWords.length; start += 25) windows.push(proseWords.slice(start, start + 300).join(' '));
  const lexiconAware = (text: string, rate: number) => text.split(/(\s+)/).map((c) => {
    const g = LEXICON.get(c.toLowerCase());
    if (!g || rand() >= rate) return c;
    return g.members[Math.floor(rand() * g.members.length)];
  }).join('');
  const generic = (text: string, rate: number) => text.split(/(\s+)/).map((c) => (c.trim() && /^[a-z]+$/.test(c) && !LEXICON.has(c) && rand() < rate ? allWords[Math.floor(rand() * allWords.length)] : c)).join('');
  const cases: [string, (t: string) => string][] = [
    ['none', (t) => t],
    ['generic: 10% of other words replaced', (t) => generic(t, 0.1)],
    ['generic: 30% of other words replaced', (t) => generic(t, 0.3)],
    ['lexicon-aware: 25% of slots re-drawn', (t) => lexiconAware(t, 0.25)],
    ['lexicon-aware: 50% of slots re-drawn', (t) => lexiconAware(t, 0.5)],
    ['lexicon-aware: every slot re-drawn', (t) => lexiconAware(t, 1)],
  ];
  const rate = (set: string[], para: (t: string) => string) => {
    let det = 0;
    set.forEach((d, i) => {
      const k = cands[i % cands.length];
      const r = detectWatermark(para(watermarkText(d, k.key).text), cands, alpha);
      if (r.detected && r.best!.keyId === k.id) det++;
    });
    return `${fmt(det / set.length, 3)} (${set.length})`;
  };
  for (const [name, para] of cases) log(`| ${name} | ${rate(docs, para)} | ${rate(windows, para)} |`);
}

// 6. Speed: embedding against a baseline that touches the same text (split on whitespace and join).
{
  const text = machineLike.slice(0, 3000).join('\n\n');
  const mb = Buffer.byteLength(text) / 1e6;
  const time = (fn: () => void, rounds = 5) => { let best = Infinity; for (let r = 0; r < rounds; r++) { const t0 = performance.now(); fn(); best = Math.min(best, performance.now() - t0); } return best; };
  const base = time(() => { text.split(/(\s+)/).join(''); });
  const k = keyOf(1).key;
  const whole = time(() => { watermarkText(text, k); });
  const streamed = time(() => { const w = new StreamingWatermarker(k); for (let i = 0; i < text.length; i += 12) w.push(text.slice(i, i + 12)); w.end(); });
  const detect = time(() => { detectWatermark(text, cands.slice(0, 10)); });
  log('\n## speed');
  log('| operation | MB/s | vs baseline |');
  log('|---|---|---|');
  log(`| baseline: split on whitespace + join | ${(mb / (base / 1000)).toFixed(1)} | 1.0x |`);
  log(`| embed, whole text | ${(mb / (whole / 1000)).toFixed(1)} | ${(whole / base).toFixed(1)}x time |`);
  log(`| embed, streamed in 12-character deltas | ${(mb / (streamed / 1000)).toFixed(1)} | ${(streamed / base).toFixed(1)}x time |`);
  log(`| detect against 10 keys | ${(mb / (detect / 1000)).toFixed(1)} | ${(detect / base).toFixed(1)}x time |`);
}
