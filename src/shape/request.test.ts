import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shapeRequest, type ShapingLimits } from './request.ts';

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
