// A single-shot question read once (question-pass.ts) gives what the four parts that read it
// before each found on their own: the opening question's keys, the pair fingerprint, the lead-in
// hashes and the payload's key. The detector's decisions rest on those values: equal, bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { leadPrefix, question, readQuestion } from './question-pass.ts';
import { problemKeys } from './shared-problems.ts';
import { itemFp } from './paired-items.ts';
import { leadHashes } from './standing-input.ts';
import { textKey } from './harvest-yield.ts';

const prompts = JSON.parse(readFileSync(join(import.meta.dirname, '../../test/fixtures/detect/prompts.json'), 'utf8')) as Record<string, string[]>;

/** Texts of every kind the pass treats apart: word boundaries at its limits, white space, case, scripts, lengths. */
function texts(): string[] {
  const out: string[] = [];
  for (const list of Object.values(prompts)) for (const p of list) out.push(p, p.toUpperCase(), `  ${p}\n\n`, p.replace(/ /g, '\t'));
  let seed = 7;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  const pieces = ['word', 'Über', 'naïve', '问题', '計算', 'ответ', 'x2', '42', ' ', '  ', '\n', '\t', '\r\n', '.', ',', '?', '😀', 'ÉCRIS', 'step', 'by', '\u00a0', '_', '-'];
  for (let k = 0; k < 400; k++) {
    const len = [10, 63, 64, 65, 127, 128, 129, 256, 257, 300, 599, 600, 601, 2000, 7999, 8000, 8001, 8192, 8193, 9000, 20000][k % 21];
    let t = '';
    while (t.length < len) t += pieces[Math.floor(rand() * pieces.length)] + (rand() < 0.6 ? ' ' : '');
    out.push(t.slice(0, len));
  }
  // A word that runs across the 600 characters the keys read, and one that ends exactly there.
  out.push('a'.repeat(595) + 'bcdefghij k l m n o p', 'x '.repeat(297) + 'abcdef' + ' tail words here');
  out.push('', 'a', 'hi there');
  return out;
}

test('one pass over a question gives the keys, the fingerprint, the lead-in hashes and the payload key of the four passes it replaces', () => {
  const keys = new Uint32Array(2);
  const checked = texts();
  assert.ok(checked.length > 900, 'texts of every kind are checked');
  let keyed = 0; let fingerprinted = 0;
  for (const text of checked) {
    for (const chars of [text.length, text.length + 100]) {
      readQuestion(text, chars);
      const lead = question.lead;
      const hashes = leadPrefix.slice(1, lead + 1);
      problemKeys(text, keys);
      assert.equal(question.problem, keys[0], `first key of ${JSON.stringify(text.slice(0, 40))} (${text.length} characters)`);
      assert.equal(question.problem2, keys[1], `second key of ${JSON.stringify(text.slice(0, 40))} (${text.length} characters)`);
      if (text) assert.equal(question.textKey, textKey(text), `payload key of ${JSON.stringify(text.slice(0, 40))} (${text.length} characters)`);
      assert.equal(question.fp, itemFp(text, chars), `fingerprint of ${JSON.stringify(text.slice(0, 40))} (${text.length} characters, ${chars} recorded)`);
      const read = leadHashes([{ role: 'user', text, chars }] as Parameters<typeof leadHashes>[0]);
      assert.equal(lead, read, `lead-in characters read of ${JSON.stringify(text.slice(0, 40))}`);
      assert.deepEqual(hashes, leadPrefix.slice(1, read + 1), `lead-in hashes of ${JSON.stringify(text.slice(0, 40))}`);
      if (keys[0] !== 0) keyed++;
      if (question.fp !== 0) fingerprinted++;
    }
  }
  assert.ok(keyed > 500 && fingerprinted > 500, `most texts have keys (${keyed}) and a fingerprint (${fingerprinted}): the values compared are not all 0`);
});

test('the lead-in hashes of a question read once are forgotten when another request is hashed', () => {
  readQuestion('Explain step by step how the quadratic formula is derived from completing the square.', 87);
  assert.ok(question.text !== null, 'the question is held');
  leadHashes([{ role: 'user', text: 'another request', chars: 15 }] as Parameters<typeof leadHashes>[0]);
  assert.equal(question.text, null, 'once the scratch holds another lead-in, the question is no longer taken from it');
});
