// A node whose clock is off from the others' (a VM restored from a snapshot, NTP stopped) moves the
// shared detector's event time with its events and misplaces them in the replicas' stream: the
// offset from the shared database's clock is measured, served as a metric, and said once when it
// passes the bound and once when it is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { watchClockOffset, type ClockLine } from './clock-offset.ts';
import { openPostgres, postgresClockMs } from './index.ts';
import { TEST_POSTGRES_URL } from '../../test/helpers/postgres.ts';

function fakeServer(start: number) {
  let serverMs = start;
  let skewMs = 0;
  return {
    read: async () => serverMs,
    now: () => serverMs + skewMs,
    skew(ms: number) { skewMs = ms; },
    advance(ms: number) { serverMs += ms; },
  };
}

test('the offset from the database clock is measured, warned about once past the bound and said again once back', async () => {
  const clock = fakeServer(Date.parse('2026-12-06T05:00:00Z'));
  const lines: { line: string; code: string; level: string }[] = [];
  const log: ClockLine = (line, meta) => lines.push({ line, code: meta.code, level: meta.level });
  const watch = watchClockOffset({ read: clock.read, now: clock.now, log, everyMs: 0 });
  await watch.check();
  assert.equal(watch.offsetSeconds(), 0, 'clocks that agree: offset 0');
  assert.equal(lines.length, 0, 'nothing said while the clocks agree');

  clock.skew(20 * 86_400_000);
  await watch.check();
  await watch.check();
  assert.equal(watch.offsetSeconds(), 20 * 86_400, 'the offset in seconds, positive when this node is ahead');
  assert.equal(lines.length, 1, `said once, not at every check: ${JSON.stringify(lines)}`);
  assert.equal(lines[0]!.code, 'CLOCK_SKEW');
  assert.equal(lines[0]!.level, 'warn');
  assert.match(lines[0]!.line, /this node's clock is 1728000\.0 s ahead of the database's/, 'the line says by how much and which way');

  clock.skew(-1_500);
  await watch.check();
  assert.equal(lines.length, 1, 'still past half the bound: no line yet');
  clock.skew(200);
  await watch.check();
  assert.equal(lines.length, 2, 'back within the bound: said once');
  assert.equal(lines[1]!.code, 'CLOCK_SKEW_RESOLVED');
  assert.equal(lines[1]!.level, 'info');
  watch.stop();
});

test('a reading that took too long to trust is not used, and a failed one leaves the last offset', async () => {
  const clock = fakeServer(Date.parse('2026-12-06T05:00:00Z'));
  let slow = false;
  let fail = false;
  const read = async () => {
    if (fail) throw new Error('connect ECONNREFUSED');
    const v = await clock.read();
    if (slow) clock.advance(5_000);
    return v;
  };
  const lines: string[] = [];
  const watch = watchClockOffset({ read, now: clock.now, log: (l) => lines.push(l), everyMs: 0 });
  assert.equal(watch.offsetSeconds(), null, 'none measured yet');
  clock.skew(3_000);
  await watch.check();
  assert.equal(watch.offsetSeconds(), 3);
  slow = true;
  await watch.check();
  assert.equal(watch.offsetSeconds(), 3, 'a 5 s round trip says nothing about a 3 s offset: the last one stays');
  slow = false;
  fail = true;
  await watch.check();
  assert.equal(watch.offsetSeconds(), 3, 'the database away: the last offset stays, nothing thrown');
  watch.stop();
});

test('PostgreSQL: its clock is read, and a node on the same machine is within a second of it', async () => {
  const pool = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  try {
    const watch = watchClockOffset({ read: () => postgresClockMs(pool), log: () => {}, everyMs: 0 });
    // On a loaded machine a round trip can pass the second a reading is trusted within: read again.
    for (let i = 0; i < 20 && watch.offsetSeconds() === null; i++) await watch.check();
    const offset = watch.offsetSeconds();
    assert.ok(offset !== null && Math.abs(offset) < 1, `same machine, same clock: ${offset}`);
    watch.stop();
  } finally {
    await pool.end();
  }
});
