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
  assert.ok(text.length > 50_000);
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
  for (const [what, text, near] of [['96K repeated letters', 'A'.repeat(96_000), 96_000 / 8], ['512K random letters', random, random.length / 2.5]] as const) {
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
