// The check a readiness probe or a metrics scrape makes against a store: waited for briefly, one
// run at a time, the last result given while a run is stuck (a stalled database).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedCheck } from '../../src/cli/bounded-check.ts';

test('a stuck run: callers get the last result instead of waiting, and share the one run', async () => {
  let runs = 0;
  let release: (v: boolean) => void = () => {};
  const check = boundedCheck(() => { runs++; return new Promise<boolean>((r) => { release = r; }); }, { waitMs: 20, initial: true });
  assert.equal(await check(), true, 'before any run ended: the initial result');
  assert.equal(await check(), true);
  assert.equal(runs, 1, 'calls while a run is under way share it: no query piled behind a stalled one');
  release(false);
  await new Promise((r) => setImmediate(r));
  assert.equal(await check(), false, 'the run that ended says what the next callers get while the next run is stuck');
  assert.equal(runs, 2);
});

test('a run that answers in time is its result; one that throws keeps the last', async () => {
  let next: () => Promise<number> = async () => 3;
  const check = boundedCheck(() => next(), { waitMs: 1000, initial: 0 });
  assert.equal(await check(), 3);
  next = async () => { throw new Error('store away'); };
  assert.equal(await check(), 3, 'the last figure stays');
  next = async () => 5;
  assert.equal(await check(), 5);
});
