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

test('an absent budget is written only when the model could exceed the ceiling', () => {
  const capped: ShapingLimits = { ...open, max_tokens_ceiling: 8192 };
  const small: Record<string, unknown> = { model: 'gpt-3.5-turbo', messages: [] };
  assert.deepEqual(shapeRequest('openai.chat', small, capped, { modelOutputLimit: 4096 }), []);
  assert.equal(small.max_completion_tokens, undefined);
  const equal: Record<string, unknown> = { model: 'gpt-4', messages: [] };
  assert.deepEqual(shapeRequest('openai.chat', equal, capped, { modelOutputLimit: 8192 }), [], 'a model limit equal to the ceiling cannot exceed it');
  const big: Record<string, unknown> = { model: 'gpt-4o', input: 'x' };
  assert.deepEqual(shapeRequest('openai.responses', big, capped, { modelOutputLimit: 16384 }), ['max_tokens:set']);
  assert.equal(big.max_output_tokens, 8192);
  const unknown: Record<string, unknown> = { model: 'my-model', messages: [] };
  assert.deepEqual(shapeRequest('openai.chat', unknown, capped), ['max_tokens:set'], 'unknown model: the ceiling still bounds it');
});

test('a capped Anthropic total scales the thinking budget, and disables thinking when 1,024 does not fit', () => {
  const body: Record<string, any> = { model: 'claude-x', max_tokens: 32000, thinking: { type: 'enabled', budget_tokens: 30000 }, messages: [] };
  assert.deepEqual(shapeRequest('anthropic.messages', body, { ...open, max_tokens_ceiling: 8192 }), ['max_tokens:capped', 'thinking_budget:lowered']);
  assert.equal(body.thinking.budget_tokens, 7680, 'asked 30,000 of 32,000; at 8,192 that share is 7,680, below max_tokens');
  const tight: Record<string, any> = { model: 'claude-x', max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: [] };
  assert.deepEqual(shapeRequest('anthropic.messages', tight, { ...open, max_tokens_ceiling: 1024 }), ['max_tokens:capped', 'thinking:disabled']);
  const roomy: Record<string, any> = { model: 'claude-x', max_tokens: 10000, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [] };
  assert.deepEqual(shapeRequest('anthropic.messages', roomy, { ...open, max_tokens_ceiling: 8192 }), ['max_tokens:capped'], 'the 1,024 minimum is kept as it is');
  assert.equal(roomy.thinking.budget_tokens, 1024);
});

test('a capped OpenAI budget lowers a reasoning effort the client set with it, never below low, never adding one', () => {
  const chat: Record<string, unknown> = { model: 'o3', messages: [], max_completion_tokens: 100000, reasoning_effort: 'high' };
  assert.deepEqual(shapeRequest('openai.chat', chat, { ...open, max_tokens_ceiling: 8192 }), ['max_tokens:capped', 'reasoning_effort:lowered']);
  assert.equal(chat.reasoning_effort, 'low');
  const none: Record<string, unknown> = { model: 'o3', messages: [], max_completion_tokens: 100000 };
  shapeRequest('openai.chat', none, { ...open, max_tokens_ceiling: 8192 });
  assert.equal(none.reasoning_effort, undefined);
  const slight: Record<string, unknown> = { model: 'o3', messages: [], max_completion_tokens: 10000, reasoning_effort: 'high' };
  assert.deepEqual(shapeRequest('openai.chat', slight, { ...open, max_tokens_ceiling: 8192 }), ['max_tokens:capped', 'reasoning_effort:lowered']);
  assert.equal(slight.reasoning_effort, 'medium', 'high scaled by 0.82 is 1.64: medium');
  const low: Record<string, unknown> = { model: 'o3', messages: [], max_completion_tokens: 100000, reasoning_effort: 'low' };
  assert.deepEqual(shapeRequest('openai.chat', low, { ...open, max_tokens_ceiling: 8192 }), ['max_tokens:capped'], 'low is never lowered');
});
