import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_JSON_DEPTH, nestsDeeper } from './json-depth.ts';

const nested = (levels: number) => `{"x":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
const check = (text: string) => nestsDeeper(text, JSON.parse(text));

test('bodies up to the bound pass, one level more does not', () => {
  assert.equal(check(nested(MAX_JSON_DEPTH)), false);
  assert.equal(check(nested(MAX_JSON_DEPTH + 1)), true);
  assert.equal(check(nested(5000)), true);
  // objects count as arrays do
  const objects = (n: number) => '{"a":'.repeat(n - 1) + '{}' + '}'.repeat(n - 1);
  assert.equal(check(objects(MAX_JSON_DEPTH)), false);
  assert.equal(check(objects(MAX_JSON_DEPTH + 1)), true);
});

test('many shallow arrays and objects, and brackets inside strings, are not depth', () => {
  const wide = JSON.stringify({ messages: Array.from({ length: 500 }, (_, i) => ({ role: 'user', content: [{ type: 'text', text: `[{[{ ${i}` }] })) });
  assert.equal(check(wide), false);
  assert.equal(check(JSON.stringify({ text: '['.repeat(10_000) })), false);
});
