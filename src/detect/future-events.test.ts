// A node whose clock runs ahead must not move the online detector's time for every account.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine, detectHooks } from './index.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const DAY = 86_400_000;

test('an event stamped 20 days ahead is read at this node\'s time and counted; one within the minute\'s tolerance is read as stamped', async () => {
  const engine = new DetectorEngine();
  const hooks = detectHooks(engine, { idleFlushMs: 0, now: () => NOW });
  const ahead = sampleEvent(1, { ts: new Date(NOW + 20 * DAY).toISOString() });
  hooks.onEvent(ahead);
  await hooks.drained();
  assert.equal(engine.eventTimeMs, NOW, 'the engine\'s time stays at this node\'s clock');
  assert.equal(hooks.queueStats().futureClamped, 1, 'the event from the future is counted');
  assert.equal(ahead.ts, new Date(NOW + 20 * DAY).toISOString(), 'the event itself (the store\'s copy) is left as the node wrote it');

  hooks.onEvent(sampleEvent(2, { ts: new Date(NOW + 30_000).toISOString() }));
  await hooks.drained();
  assert.equal(engine.eventTimeMs, NOW + 30_000, 'a clock 30 s ahead is within the tolerance');
  assert.equal(hooks.queueStats().futureClamped, 1);
  await hooks.close!();
});

test('with the tolerance off (0), the engine takes event time as stamped', async () => {
  const engine = new DetectorEngine();
  const hooks = detectHooks(engine, { idleFlushMs: 0, futureToleranceMs: 0, now: () => NOW });
  hooks.onEvent(sampleEvent(1, { ts: new Date(NOW + 20 * DAY).toISOString() }));
  await hooks.drained();
  assert.equal(engine.eventTimeMs, NOW + 20 * DAY, 'the event time is the event\'s');
  await hooks.close!();
});
