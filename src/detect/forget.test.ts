import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine, scanEvents } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { accountEvent } from '../../test/helpers/detect-fixtures.ts';

// Forgetting idle accounts (detect.evict_idle_hours): memory follows the accounts active within
// the horizon, and what is kept (links, verdicts, reports) does not change.

const T0 = Date.parse('2026-05-04T08:00:00.000Z');
const HOUR = 3_600_000;

const event = (account: string, ms: number, ip: string, card?: string) => accountEvent(T0, account, ms, ip, { card });

test('idle accounts are forgotten: memory follows the active population, linked accounts and operator verdicts stay', () => {
  const e = new DetectorEngine();
  e.setManualVerdict({ kind: 'account', id: 'acct_watched' }, 'throttle', 'under review');
  // Two accounts sharing a card and a home address: linked, and kept however long they idle.
  for (const id of ['acct_pair_a', 'acct_pair_b']) for (let k = 0; k < 3; k++) e.ingest(event(id, k * 60_000, '81.2.69.10', 'card-shared'));
  e.ingest(event('acct_watched', 0, '81.2.70.1'));
  // Six waves of 200 new accounts, 20 days apart, three requests each.
  for (let wave = 0; wave < 6; wave++) {
    for (let a = 0; a < 200; a++) {
      for (let k = 0; k < 3; k++) e.ingest(event(`acct_w${wave}_${a}`, wave * 20 * 24 * HOUR + a * 1000 + k * 60_000, `100.${wave}.${a}.${k + 1}`));
    }
    e.flush();
  }
  const s = e.stats();
  assert.equal(s.forgotten, 1000, 'the first five waves are forgotten');
  assert.equal(s.accounts, 200 + 3, 'the last wave, the pair and the account under an operator verdict remain');
  assert.equal(e.forAccount('acct_w0_7').level, 'none');
  assert.equal(e.accountIndicators('acct_w0_7').length, 0, 'a forgotten account has no window');
  assert.ok(e.forAccount('acct_pair_a').clusterId, 'the linked pair is kept');
  assert.equal(e.forAccount('acct_pair_a').clusterId, e.forAccount('acct_pair_b').clusterId);
  assert.equal(e.forAccount('acct_watched').level, 'throttle');
  // Keys held only by forgotten accounts go too: what is left is the last wave's and the kept accounts'.
  const fresh = new DetectorEngine({ config: { evict_idle_hours: 0 } });
  for (let a = 0; a < 200; a++) for (let k = 0; k < 3; k++) fresh.ingest(event(`acct_w5_${a}`, a * 1000 + k * 60_000, `100.5.${a}.${k + 1}`));
  fresh.flush();
  assert.ok(s.linkKeys <= fresh.stats().linkKeys + 40, `link keys ${s.linkKeys}, one wave alone ${fresh.stats().linkKeys}`);

  // A forgotten account that comes back starts afresh.
  e.ingest(event('acct_w0_7', 101 * 24 * HOUR, '100.0.7.1'));
  e.flush();
  assert.equal(e.stats().accounts, 204);
  assert.equal(e.accountIndicators('acct_w0_7').length, 0, 'one request: too few for any indicator');

  // Off: nothing is forgotten.
  const keep = new DetectorEngine({ config: { evict_idle_hours: 0 } });
  for (let wave = 0; wave < 3; wave++) for (let a = 0; a < 50; a++) keep.ingest(event(`acct_w${wave}_${a}`, wave * 20 * 24 * HOUR + a * 1000, `100.${wave}.${a}.1`));
  keep.flush();
  assert.deepEqual([keep.stats().accounts, keep.stats().forgotten], [150, 0]);
});

test('a forgotten account\'s index, handed to a new account, brings none of its shared-address evidence', () => {
  const e = new DetectorEngine();
  // A and B each start from addresses of their own, then share four more within a day: 0.8 of
  // evidence, below the link threshold (1) on its own.
  const own = (id: string, t: number) => { e.ingest(event(id, t, `192.0.${id.length}.${t % 200}`)); e.ingest(event(id, t + 1000, `198.18.${id.charCodeAt(5)}.${t % 200}`)); };
  own('acct_A', 0); own('acct_Bb', 0);
  for (let k = 0; k < 4; k++) { e.ingest(event('acct_A', 60_000 + k, `203.0.11${k}.9`)); e.ingest(event('acct_Bb', 120_000 + k, `203.0.11${k}.9`)); }
  e.flush();
  assert.equal(e.forAccount('acct_A').clusterId, null, 'four shared addresses alone do not link');
  // B stays active; A idles past the horizon and is forgotten.
  for (let d = 1; d <= 16; d++) e.ingest(event('acct_Bb', d * 24 * HOUR, '192.0.7.1'));
  e.flush();
  assert.equal(e.stats().forgotten, 1);
  // C arrives and shares one address with B: one address is a NAT or a coincidence.
  const t = 16 * 24 * HOUR + 60_000;
  own('acct_C', t);
  e.ingest(event('acct_Bb', t + 10_000, '203.0.120.9'));
  e.ingest(event('acct_C', t + 20_000, '203.0.120.9'));
  e.flush();
  assert.equal(e.forAccount('acct_C').clusterId, null, 'C is not linked to B through evidence A left behind');
});

test('a scan report still lists forgotten accounts with what they were served', async () => {
  const events: InteractionEvent[] = [];
  for (let a = 0; a < 30; a++) for (let k = 0; k < 4; k++) events.push(event(`acct_early_${a}`, a * 1000 + k * 60_000, `100.1.${a}.1`));
  for (let a = 0; a < 30; a++) for (let k = 0; k < 2; k++) events.push(event(`acct_late_${a}`, 30 * 24 * HOUR + a * 1000 + k * 60_000, `100.2.${a}.1`));
  const { report, engine } = await scanEvents(events);
  assert.equal(engine!.stats().forgotten, 30);
  assert.equal(report.accounts.length, 60, 'forgotten accounts are in the report');
  const early = report.accounts.find((a) => a.account_id === 'acct_early_3')!;
  assert.deepEqual([early.level, early.served[0], early.served.slice(1).reduce((x, y) => x + y, 0)], ['none', 4, 0]);
});

test('evict_idle_hours below a two-day horizon is refused with the reason', () => {
  assert.throws(() => new DetectorEngine({ config: { evict_idle_hours: 12 } }), /evict_idle_hours is 0 \(never\) or at least 48/);
});

test('a flush before the first event does not make the first event wait (the next tick is found in one step)', () => {
  // The gateway flushes an idle engine; before any event its clock is at 0. The first event then
  // moved the next tick forward one step at a time: 1.8 billion steps at this tick length (seconds
  // of a blocked event loop; 0.3 s at the default 5 s). One step takes microseconds.
  const e = new DetectorEngine({ config: { tick_seconds: 1 } });
  e.flush();
  const t0 = performance.now();
  e.ingest(event('acct_first', 0, '81.2.69.1'));
  e.ingest(event('acct_first', 1500, '81.2.69.1'));
  const ms = performance.now() - t0;
  const state = e.snapshotState() as { nextTick: number; now: number };
  assert.ok(state.nextTick > state.now && state.nextTick <= state.now + 1, `next tick ${state.nextTick} for now ${state.now}`);
  // A loop over every tick since the epoch would take hours: the bound is far from a loaded machine's noise.
  assert.ok(ms < 10_000, `the first events took ${ms.toFixed(0)} ms`);
});
