import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_JSON_DEPTH, holdsMoreValues, nestsDeeper } from './json-depth.ts';

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

test('values are counted outside strings only, escaped quotes included', () => {
  const many = (n: number) => Buffer.from(`{"a":[${Array(n).fill('{}').join(',')}]}`);
  // 2,000 objects: 2,001 brackets opened and 1,999 commas, over a bound of 1,000
  assert.equal(holdsMoreValues(many(2000), 1000), true, 'two thousand objects are over a bound of a thousand');
  assert.equal(holdsMoreValues(many(400), 1000), false, 'four hundred objects are within it');
  // commas and brackets inside a string, behind escaped quotes and backslashes, are text
  const text = Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'a,b,[c],{d}, "q\\" ,'.repeat(5000) }] }));
  assert.equal(holdsMoreValues(text, 1000), false, 'punctuation inside a string is not counted');
  const afterEscapes = Buffer.from(`{"a":"x\\\\",${'"",'.repeat(2000)}"b":0}`);
  assert.equal(holdsMoreValues(afterEscapes, 1000), true, 'a string ending in an escaped backslash ends there');
});
