import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { countTokens as exact } from 'gpt-tokenizer/encoding/o200k_base';
import { countTokens, EXACT_CHARS } from './index.ts';

const PLAIN = { disallowedSpecial: new Set<string>() };
const FIXTURES = join(import.meta.dirname, '../../test/fixtures/prompts');
/** Real prompts from the repository's fixture set, joined into one long text. */
function prose(): string {
  const texts: string[] = [];
  for (const dir of ['organic', 'distill']) {
    for (const f of readdirSync(join(FIXTURES, dir))) {
      for (const line of readFileSync(join(FIXTURES, dir, f), 'utf8').split('\n')) if (line) texts.push(JSON.parse(line).text);
    }
  }
  return texts.join('\n\n');
}

test('text up to the exact bound is counted as the tokenizer counts it', () => {
  const text = prose().slice(0, EXACT_CHARS);
  assert.equal(text.length, EXACT_CHARS);
  assert.equal(countTokens(text), exact(text, PLAIN));
  assert.equal(countTokens(''), 0);
  assert.equal(countTokens('Say <|endoftext|> and <|im_start|> as words'), exact('Say <|endoftext|> and <|im_start|> as words', PLAIN), 'special tokens are plain text');
});

test('long prose is estimated from samples within a few percent, the same every time', () => {
  const text = [prose(), prose().toUpperCase(), prose(), prose().replace(/\s+/g, ' ')].join('\n');
  assert.ok(text.length > 3 * EXACT_CHARS, `fixture prose is ${text.length} chars`);
  const want = exact(text, PLAIN);
  const got = countTokens(text);
  assert.ok(Math.abs(got - want) / want < 0.05, `estimated ${got}, exact ${want}`);
  assert.equal(countTokens(text), got);
});

test('text the tokenizer is slow on is counted in bounded time: long runs without spaces, random letters', () => {
  // Before: 96K "A"s took about ten seconds on the event loop, 512K random letters minutes.
  let seed = 7;
  const random = Array.from({ length: 512 * 1024 }, () => String.fromCharCode(97 + ((seed = (seed * 1103515245 + 12345) >>> 0) % 26))).join('');
  const cases = [
    ['96K repeated letters', 'A'.repeat(96_000), 96_000 / 8], ['512K random letters', random, random.length / 2.5],
    // Runs of whitespace are one piece to the tokenizer too: 64K spaces took 6 s.
    ['64K spaces', ' '.repeat(EXACT_CHARS * 4), 500], ['16K tabs', '\t'.repeat(EXACT_CHARS), 1000], ['newlines', ' \n'.repeat(EXACT_CHARS / 2), 5000],
  ] as const;
  for (const [what, text, near] of cases) {
    const t = performance.now();
    const n = countTokens(text);
    const ms = performance.now() - t;
    assert.ok(ms < 2000, `${what}: ${ms.toFixed(0)} ms`);
    assert.ok(n > near / 4 && n < near * 4, `${what}: ${n} tokens`);
  }
  // A run cut into pieces costs about a token per cut, not more.
  const run = 'x'.repeat(2000);
  assert.ok(Math.abs(countTokens(run) - exact(run, PLAIN)) <= 2000 / 128 + 1, `${countTokens(run)} against ${exact(run, PLAIN)}`);
});

test('long text made cheap where the sampled windows fall is not counted cheap', () => {
  // Random CJK (about 1.7 tokens a character), with runs of one letter where the windows are read.
  let seed = 11;
  const n = 400_000;
  const chars = Array.from({ length: n }, () => String.fromCharCode(0x4e00 + ((seed = (seed * 1103515245 + 12345) >>> 0) % 20000)));
  for (let k = 0; k < 16; k++) {
    const at = Math.floor((k * (n - 1024)) / 15);
    for (let j = Math.max(0, at - 100); j < Math.min(n, at + 1200); j++) chars[j] = 'a';
  }
  const text = chars.join('');
  let exactCount = 0;
  // Exact count in 2K pieces (the tokenizer is slow on long runs without spaces: 16K pieces took 26 s; a piece's edge moves the total by a token or two).
  for (let i = 0; i < n; i += 2_048) exactCount += exact(text.slice(i, i + 2_048), PLAIN);
  const got = countTokens(text);
  // Read from every character: a few times low at worst (it was 14 times), never the windows' few hundred.
  assert.ok(got > exactCount / 5, `counted ${got}, exact ${exactCount}`);
});
