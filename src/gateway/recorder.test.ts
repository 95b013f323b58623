// The recorder while its store is unreachable or slow: events accepted are kept and written once the
// store is back, with no request needed to trigger the write and no request hastening the retry; a
// stop waits for the store a bounded time, and what it cannot write is counted and reported, not
// dropped silently (nor counted lost while a write of it may still succeed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventRecorder } from './recorder.ts';
import { COMPILED } from '../../test/helpers/node-args.ts';
import type { EventQuery, EventStore } from '../store/index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { until } from '../../test/helpers/until.ts';

/** An event store that refuses writes while `down`, as PostgreSQL does when it cannot be reached. */
class FlakyStore implements EventStore {
  down = false;
  attempts = 0;
  readonly stored: InteractionEvent[] = [];
  async appendBatch(events: readonly InteractionEvent[]): Promise<void> {
    this.attempts++;
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    this.stored.push(...events);
  }
  async *iterate(_q?: EventQuery): AsyncGenerator<InteractionEvent> { yield* this.stored; }
  async *iterateAccounts(ids: readonly string[]): AsyncGenerator<InteractionEvent> { yield* this.stored.filter((e) => ids.includes(e.account_id!)); }
  async count(): Promise<number> { return this.stored.length; }
  async eraseAccount(): Promise<number> { return 0; }
  async deleteBefore(): Promise<number> { return 0; }
  async close(): Promise<void> {}
}

function event(n: number): InteractionEvent {
  return {
    schema: EVENT_SCHEMA, id: `ev_${String(n).padStart(4, '0')}`, ts: new Date(Date.UTC(2026, 0, 1) + n).toISOString(), duration_ms: 1,
    flavour: 'openai.chat', model: 'gpt-4o-mini', upstream: 'mock', account_id: 'acct_1', org_id: null, key_id: 'key_1',
    client: { ip: '203.0.113.1', user_agent: 'test', country: null, asn: null },
    request: { stream: false, system: null, messages: [], tools: [], tool_choice: null, params: emptyParams(), bytes: 10 },
    response: { status: 200, error_code: null, input_tokens: 1, output_tokens: 1, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 1, output_chars: 1, reasoning_chars: 0 },
    account: null, enforcement: emptyEnforcement(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('events kept during an outage are written when the store is back, with no new request', async () => {
  const store = new FlakyStore();
  const errors: { pending: number; retryInMs: number }[] = [];
  const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10, retryMinMs: 20, retryMaxMs: 80, onError: (_e, s) => errors.push(s) });
  store.down = true;
  for (let n = 0; n < 8; n++) recorder.record(event(n));
  await until('a failed write', () => errors.length >= 2);
  assert.equal(recorder.pending, 8);
  assert.ok(errors[1].retryInMs > errors[0].retryInMs, 'retries back off');
  store.down = false;
  // No record() from here on: only the retry timer can write them.
  await until('the kept events written', () => store.stored.length === 8);
  assert.deepEqual(store.stored.map((e) => e.id), Array.from({ length: 8 }, (_, n) => event(n).id), 'in order, once each');
  assert.equal(recorder.pending, 0);
  assert.equal(recorder.dropped, 0);
  await recorder.close();
});

test('while the store is down, the retry timer writes, not every request', async () => {
  const store = new FlakyStore();
  const recorder = new EventRecorder(store, { batchSize: 2, flushIntervalMs: 10, retryMinMs: 200, retryMaxMs: 200 });
  store.down = true;
  recorder.record(event(0));
  recorder.record(event(1)); // a full batch: written at once, and refused
  await until('the first attempt', () => store.attempts === 1);
  await sleep(5);
  for (let n = 2; n < 100; n++) recorder.record(event(n));
  await sleep(50);
  assert.equal(store.attempts, 1, 'no attempt per request while waiting to retry');
  store.down = false;
  await until('written by the retry', () => store.stored.length === 100);
  await recorder.close();
});

test('a stop while the store is down keeps trying, and writes what it can once the store is back', async () => {
  const store = new FlakyStore();
  const lost: number[] = [];
  const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10, retryMinMs: 20, retryMaxMs: 50, closeTimeoutMs: 5000, onLost: (n) => lost.push(n) });
  store.down = true;
  for (let n = 0; n < 8; n++) recorder.record(event(n));
  setTimeout(() => { store.down = false; }, 300);
  const t0 = Date.now();
  await recorder.close();
  assert.ok(Date.now() - t0 >= 250, 'waited for the store');
  assert.equal(store.stored.length, 8, 'every accepted event written');
  assert.deepEqual(lost, []);
  assert.equal(recorder.dropped, 0);
});

test('a stop that cannot reach the store in time counts and reports the events not written', async () => {
  const store = new FlakyStore();
  const lost: { count: number; err: unknown }[] = [];
  const errors: { closing: boolean }[] = [];
  const recorder = new EventRecorder(store, {
    batchSize: 500, flushIntervalMs: 10, retryMinMs: 20, retryMaxMs: 50, closeTimeoutMs: 300,
    onLost: (count, err) => lost.push({ count, err }), onError: (_e, s) => errors.push(s),
  });
  store.down = true;
  for (let n = 0; n < 8; n++) recorder.record(event(n));
  const t0 = Date.now();
  await recorder.close();
  const took = Date.now() - t0;
  assert.ok(took >= 250 && took < 2000, `tried for the timeout, no longer (${took} ms)`);
  assert.ok(store.attempts > 3, `retried (${store.attempts} attempts)`);
  assert.equal(lost.length, 1);
  assert.equal(lost[0].count, 8);
  assert.match(String((lost[0].err as Error).message), /ECONNREFUSED/, 'says why');
  assert.equal(recorder.dropped, 8, 'counted (warden_events_dropped)');
  assert.equal(recorder.pending, 0);
  assert.equal(errors.filter((e) => e.closing).length, 1, 'one message while retrying, not one per attempt');
});

/** A store whose writes wait until the test settles them (`writes[i].ok()` / `.fail()`), as a PostgreSQL that does not answer. */
class HeldStore extends FlakyStore {
  readonly writes: { events: readonly InteractionEvent[]; ok(): void; fail(): void }[] = [];
  override appendBatch(events: readonly InteractionEvent[]): Promise<void> {
    this.attempts++;
    return new Promise((resolve, reject) => {
      this.writes.push({
        events,
        ok: () => { this.stored.push(...events); resolve(); },
        fail: () => reject(Object.assign(new Error('Connection terminated due to connection timeout'), { code: undefined })),
      });
    });
  }
}

test('a stop that gives up on a write still under way says so, and counts it when it ends: written', async () => {
  const store = new HeldStore();
  const lost: number[] = [];
  const unsettled: number[] = [];
  const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10, closeTimeoutMs: 200, onLost: (n) => lost.push(n), onUnsettled: (n) => unsettled.push(n) });
  for (let n = 0; n < 3; n++) recorder.record(event(n));
  await recorder.close();
  assert.deepEqual(unsettled, [3], 'reported as not known');
  assert.deepEqual(lost, [], 'not counted lost: it may yet be written');
  assert.equal(recorder.dropped, 0);
  assert.equal(recorder.pending, 3);
  store.writes[0].ok();
  await until('the late write counted', () => recorder.written === 3);
  assert.equal(recorder.dropped, 0);
  assert.equal(recorder.pending, 0);
  assert.equal(store.stored.length, 3);
});

test('a write left under way by a stop that fails after it is counted and reported lost, not put back in the buffer', async () => {
  const store = new HeldStore();
  const lost: number[] = [];
  const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10, closeTimeoutMs: 200, retryMinMs: 20, onLost: (n) => lost.push(n) });
  for (let n = 0; n < 3; n++) recorder.record(event(n));
  await recorder.close();
  store.writes[0].fail();
  await until('the failure counted', () => recorder.dropped === 3);
  assert.deepEqual(lost, [3]);
  assert.equal(recorder.pending, 0, 'nothing left waiting after close');
  await sleep(100);
  assert.equal(store.attempts, 1, 'and nothing tries again');
});

test('requests that arrive while a failing write is under way wait for the back-off, not one retry each when it fails', async () => {
  const store = new HeldStore();
  const errors: number[] = [];
  const recorder = new EventRecorder(store, { batchSize: 2, flushIntervalMs: 10, retryMinMs: 1000, retryMaxMs: 1000, onError: (_e, s) => errors.push(s.retryInMs) });
  recorder.record(event(0));
  recorder.record(event(1)); // a full batch: written at once
  await until('the first attempt', () => store.attempts === 1);
  for (let n = 2; n < 30; n++) recorder.record(event(n)); // each a full batch while the write waits
  // A store that fails slowly (a connection timing out): the requests came in before the failure was known.
  store.writes[0].fail();
  await sleep(300);
  assert.equal(store.attempts, 1, `no retry before the back-off (${store.attempts} attempts)`);
  assert.deepEqual(errors, [1000], 'one failure reported');
  await until('the retry after the back-off', () => store.attempts === 2, 2000);
  store.writes[1].ok();
  await until('everything written', () => store.stored.length === 30);
  assert.deepEqual(store.stored.map((e) => e.id), Array.from({ length: 30 }, (_, n) => event(n).id), 'in order, once each');
  await recorder.close();
});

test('a stop that gives up while waiting to retry lets the process exit at once', async () => {
  // In a process of its own: nothing else there holds the event loop open.
  const script = `
    const { EventRecorder } = await import(${JSON.stringify(new URL(COMPILED ? './recorder.js' : './recorder.ts', import.meta.url).href)});
    const store = { appendBatch: async () => { throw new Error('connect ECONNREFUSED'); } };
    const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10, retryMinMs: 5000, retryMaxMs: 5000, closeTimeoutMs: 100 });
    recorder.record({ id: 'ev_1' });
    await recorder.close();
    globalThis.closedAt = Date.now();
    process.on('exit', () => console.log(Date.now() - globalThis.closedAt));
  `;
  const child = spawn(process.execPath, [...(COMPILED ? [] : ['--import', 'tsx']), '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0);
  const lingered = Number(out.trim());
  assert.ok(lingered < 1000, `exited ${lingered} ms after close() returned`);
});

test('the bound counts the events being written: memory holds at most maxBuffered events, and a backlog is written in parts', async () => {
  const store = new HeldStore();
  const recorder = new EventRecorder(store, { batchSize: 5, flushIntervalMs: 10, maxBuffered: 100, retryMinMs: 20, closeTimeoutMs: 1000 });
  for (let n = 0; n < 5; n++) recorder.record(event(n));
  await until('a write under way', () => store.attempts === 1);
  for (let n = 5; n < 205; n++) recorder.record(event(n));
  assert.equal(recorder.pending, 100, 'the 5 being written and the newest 95');
  assert.equal(recorder.dropped, 105);
  store.writes[0].ok();
  for (let i = 1; store.stored.length < 100; i++) {
    await until(`write ${i + 1}`, () => store.writes.length > i);
    assert.ok(store.writes[i].events.length <= 10, `a part of the backlog (${store.writes[i].events.length} events)`);
    store.writes[i].ok();
  }
  assert.deepEqual(store.stored.map((e) => e.id), [0, 1, 2, 3, 4, ...Array.from({ length: 95 }, (_, n) => 110 + n)].map((n) => event(n).id));
  await recorder.close();
});

test('beyond the buffer the oldest events are dropped and counted', async () => {
  const store = new FlakyStore();
  const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10, maxBuffered: 5, retryMinMs: 20, retryMaxMs: 20, closeTimeoutMs: 1000 });
  store.down = true;
  for (let n = 0; n < 8; n++) recorder.record(event(n));
  assert.equal(recorder.dropped, 3);
  store.down = false;
  await recorder.close();
  assert.deepEqual(store.stored.map((e) => e.id), [3, 4, 5, 6, 7].map((n) => event(n).id));
});

test('during an outage the events kept are bounded in bytes too: large events drop the oldest, and the newest are written', async () => {
  const store = new FlakyStore();
  const MiB = 1024 * 1024;
  const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10, retryMinMs: 20, retryMaxMs: 40, maxBuffered: 100_000, maxBufferedBytes: 4 * MiB });
  store.down = true;
  // 40 events of 256 Ki characters of prompt each (10 MiB): far under the count bound, over the byte bound.
  const big = (n: number) => {
    const e = event(n);
    e.request.messages = [{ role: 'user', text: String.fromCharCode(97 + (n % 26)).repeat(256 * 1024), chars: 256 * 1024 }];
    return e;
  };
  for (let n = 0; n < 40; n++) recorder.record(big(n));
  await until('a failed write', () => store.attempts >= 1);
  assert.ok(recorder.pendingBytes <= 4 * MiB, `${recorder.pendingBytes} bytes kept, over the 4 MiB bound`);
  assert.ok(recorder.pending >= 14 && recorder.pending <= 16, `${recorder.pending} events of 256 KiB kept under 4 MiB`);
  assert.equal(recorder.dropped + recorder.pending, 40, 'the others are counted dropped');
  store.down = false;
  await until('the kept events written', () => recorder.pending === 0);
  assert.equal(store.stored.at(-1)!.id, big(39).id, 'the newest are the ones kept');
  assert.equal(recorder.pendingBytes, 0, 'nothing is left counted once written');
  await recorder.close();
});

test('the byte estimate of an event is close to its stored size, whatever strings its request names', async () => {
  const { eventBytes } = await import('./recorder.ts');
  const { extractRequestFeatures } = await import('./request-features.ts');
  const messages: unknown[] = [];
  for (let i = 0; i < 400; i++) messages.push({ role: 'r'.repeat(19_000) + i, content: [{ type: 'text', text: 'hi ' + i }, { type: 'p'.repeat(500) + i }, { type: 'document', source: { type: 'text', data: 'doc '.repeat(100) } }] });
  const tools = Array.from({ length: 128 }, (_, i) => ({ type: 'function', function: { name: i + 'n'.repeat(5000) } }));
  const e = event(1);
  e.request = extractRequestFeatures('openai.chat', { model: 'm', messages, tools, tool_choice: { type: 't'.repeat(100_000) } }, 0, { recordPrompts: 'full', maxMessageChars: 8000 });
  const stored = JSON.stringify(e).length;
  const estimate = eventBytes(e);
  assert.ok(estimate * 2 >= stored && estimate <= stored * 2, `estimated ${estimate} bytes for an event of ${stored}`);
});
