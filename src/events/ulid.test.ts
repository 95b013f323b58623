import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ulid, ulidTime } from './ulid.ts';

test('a ULID is 26 Crockford base32 characters that encode its millisecond', () => {
  const now = Date.UTC(2026, 11, 2, 13, 45, 0, 123);
  const id = ulid(now);
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.equal(ulidTime(id), now);
  // The time part is the standard encoding (spec example: 1469918176385 -> 01ARYZ6S41).
  assert.equal(ulid(1469918176385).slice(0, 10), '01ARYZ6S41');
});

test('ULIDs made in one process sort in the order they were made, within a millisecond too', () => {
  const ids: string[] = [];
  const t = Date.now();
  for (let i = 0; i < 2000; i++) ids.push(ulid(t + Math.floor(i / 500)));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});
