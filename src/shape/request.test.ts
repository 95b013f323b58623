import { test } from 'node:test';
import assert from 'node:assert/strict';
import { repeatedPrompts, shapeRequest, type ShapingLimits } from './request.ts';

const open: ShapingLimits = { reasoning: 'full', logprobs: true, top_logprobs_max: 20, logit_bias: 'allow', n_max: 8, max_tokens_ceiling: null };
const probe = () => ({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }], max_tokens: 1, logprobs: true, top_logprobs: 5, logit_bias: { '1000': 100, '1001': 100 } });

test('logit_bias with log-probabilities: forwarded when allowed', () => {
  const body = probe();
  assert.deepEqual(shapeRequest('openai.chat', body, open), []);
  assert.deepEqual(body, probe());
});

test('without_logprobs: the bias stays, the log-probabilities that would read it go', () => {
  const body: Record<string, unknown> = probe();
  assert.deepEqual(shapeRequest('openai.chat', body, { ...open, logit_bias: 'without_logprobs' }), ['logprobs:stripped_with_logit_bias']);
  assert.deepEqual(body.logit_bias, { '1000': 100, '1001': 100 });
  assert.equal(body.logprobs, undefined);
  assert.equal(body.top_logprobs, undefined);
  // a classifier's bias alone, and logprobs alone, pass untouched
  const classifier: Record<string, unknown> = { model: 'gpt-test', messages: [], max_tokens: 1, logit_bias: { '9642': 100, '2822': 100 } };
  assert.deepEqual(shapeRequest('openai.chat', classifier, { ...open, logit_bias: 'without_logprobs' }), []);
  assert.deepEqual(classifier.logit_bias, { '9642': 100, '2822': 100 });
  const plain: Record<string, unknown> = { model: 'gpt-test', messages: [], logprobs: true, top_logprobs: 3 };
  assert.deepEqual(shapeRequest('openai.chat', plain, { ...open, logit_bias: 'without_logprobs' }), []);
  assert.equal(plain.top_logprobs, 3);
  // an empty map biases nothing
  const empty: Record<string, unknown> = { model: 'gpt-test', messages: [], logprobs: true, logit_bias: {} };
  assert.deepEqual(shapeRequest('openai.chat', empty, { ...open, logit_bias: 'without_logprobs' }), []);
  assert.equal(empty.logprobs, true);
});

test('none: the bias is stripped, and logprobs follow their own capability', () => {
  const body: Record<string, unknown> = probe();
  assert.deepEqual(shapeRequest('openai.chat', body, { ...open, logit_bias: 'none' }), ['logit_bias:stripped']);
  assert.equal(body.logit_bias, undefined);
  assert.equal(body.top_logprobs, 5);
  const both: Record<string, unknown> = probe();
  assert.deepEqual(shapeRequest('openai.chat', both, { ...open, logit_bias: 'none', logprobs: false }).sort(), ['logit_bias:stripped', 'logprobs:stripped']);
  assert.deepEqual(Object.keys(both).sort(), ['max_tokens', 'messages', 'model']);
});

test('repeated prompts: counted only when the copies can differ, after trivial normalisation', () => {
  const variants = ['Explain X', 'Explain X ', 'explain x\n', ' Explain   X', 'Explain X.', 'Explain X?!'];
  assert.equal(repeatedPrompts({ prompt: variants }), 6, 'case, spacing and trailing punctuation do not make a new prompt');
  assert.equal(repeatedPrompts({ prompt: variants, temperature: 0.7 }), 6, 'sampled at a temperature above 0');
  assert.equal(repeatedPrompts({ prompt: ['Explain X', 'Explain Y', 'Explain X!'] }), 2);
  // Deterministic sampling: copies give the same answer, no extra samples.
  const rows = ['Classify: great product', 'Classify: great product', 'Classify: awful'];
  assert.equal(repeatedPrompts({ prompt: rows, temperature: 0 }), 1, 'temperature 0 with one choice: duplicates are not samples');
  assert.equal(repeatedPrompts({ prompt: rows, temperature: 0, n: 1, best_of: 1 }), 1);
  assert.equal(repeatedPrompts({ prompt: rows, temperature: 0, n: 2 }), 2, 'n > 1 samples each copy');
  assert.equal(repeatedPrompts({ prompt: rows, temperature: 0, best_of: 3 }), 2, 'best_of > 1 samples each copy');
  assert.equal(repeatedPrompts({ prompt: rows, temperature: 0, n: 3, best_of: 3 }, 1), 1, 'n and best_of as sent: capped to n_max 1, one choice each');
  // Token-id lists compare exactly; one list is one prompt.
  assert.equal(repeatedPrompts({ prompt: [[1, 2], [1, 2], [1, 3]] }), 2);
  assert.equal(repeatedPrompts({ prompt: [1, 1, 1] }), 1, 'a single list of token ids is one prompt');
  // Words still matter: only the end's punctuation is dropped.
  assert.equal(repeatedPrompts({ prompt: ['Is it 3.5?', 'Is it 35?', 'is it 3.5'] }), 2, '3.5 is not 35');
});
