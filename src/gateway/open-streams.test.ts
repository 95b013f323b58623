// The recorder's open records of streams under way, against an SQLite event store that can be
// made to refuse writes: a stream that ends before its record was written leaves none; a record
// and a checkpoint that met an outage are written once the store is back, with the event that
// removes them; and what a killed node left is recorded as an interrupted event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventRecorder } from './recorder.ts';
import { interruptedEvent, INTERRUPTED_BY_RESTART } from './open-streams.ts';
import { openSqlite, SqliteEventStore, type OpenWrites } from '../store/index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { until } from '../../test/helpers/until.ts';

const T0 = Date.UTC(2026, 11, 7, 9);

function streamed(id: string, output = 0): InteractionEvent {
  return {
    schema: EVENT_SCHEMA, id, ts: new Date(T0).toISOString(), duration_ms: 0,
    flavour: 'openai.chat', model: 'gpt-4o-mini', upstream: 'mock', account_id: 'acct_1', org_id: null, key_id: 'key_1',
    client: { ip: '203.0.113.1', user_agent: 'test', country: null, asn: null },
    request: { stream: true, system: null, messages: [{ role: 'user', text: 'Write a poem about the sea, please.', chars: 35 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 10 },
    response: { status: 200, error_code: null, input_tokens: 0, output_tokens: output, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: output ? 'stop' : null, ttfb_ms: null, output_chars: 0, reasoning_chars: 0 },
    account: null, enforcement: emptyEnforcement(),
  };
}

/** An SQLite store that refuses writes while `down`. */
class Flaky extends SqliteEventStore {
  down = false;
  failures = 0;
  override async appendBatch(events: readonly InteractionEvent[], open?: OpenWrites): Promise<void> {
    if (this.down) { this.failures++; throw new Error('the store is down'); }
    return super.appendBatch(events, open);
  }
}

const opened = (id: string) => () => ({ id, node: 'n1', ts: new Date(T0).toISOString(), input_tokens: null, event: streamed(id) });
const progress = (id: string, output: number) => ({ id, at: new Date(T0 + 5000).toISOString(), input_tokens: 9, output_tokens: output, reasoning_tokens: 0, output_chars: output * 4, reasoning_chars: 0 });

test('a stream that ends before its open record is written leaves none; its event is stored', async () => {
  const db = openSqlite(':memory:');
  const store = new SqliteEventStore(db);
  const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10 });
  let made = 0;
  recorder.open('ev_1', () => { made++; return opened('ev_1')(); });
  recorder.record(streamed('ev_1', 5));
  await recorder.flush();
  assert.equal(made, 0, 'the record was never made');
  assert.equal(await store.count(), 1, 'the event is stored');
  assert.deepEqual(await store.takeOpenInteractions('n1', new Date(0).toISOString()), [], 'nothing open');
  await recorder.close();
  db.close();
});

test('an open record and a checkpoint that met an outage are written when the store is back, and the event that follows removes them', async () => {
  const db = openSqlite(':memory:');
  const store = new Flaky(db);
  const recorder = new EventRecorder(store, { batchSize: 500, flushIntervalMs: 10, retryMinMs: 20, retryMaxMs: 40 });
  store.down = true;
  recorder.open('ev_1', opened('ev_1'));
  recorder.open('ev_2', opened('ev_2'));
  await until('a failed write', () => store.failures >= 1);
  recorder.checkpoint([progress('ev_1', 7), progress('ev_2', 3)]);
  store.down = false;
  await until('the records written', () => recorder.pendingOpen === 0);
  const open = await store.takeOpenInteractions('n1', new Date(0).toISOString());
  assert.deepEqual(open.map((r) => [r.id, r.output_tokens]), [['ev_1', 7], ['ev_2', 3]], 'both open, with their checkpoints');
  // One ends while the store is down again: written with a later checkpoint of the other, once back.
  store.down = true;
  recorder.checkpoint([progress('ev_2', 11)]);
  recorder.record(streamed('ev_1', 20));
  const failed = store.failures;
  await until('a failed write', () => store.failures > failed);
  store.down = false;
  await until('written', () => recorder.pending === 0 && recorder.pendingOpen === 0);
  const left = await store.takeOpenInteractions('n1', new Date(0).toISOString());
  assert.deepEqual(left.map((r) => [r.id, r.output_tokens]), [['ev_2', 11]], 'the ended one is gone; the other has its later checkpoint');
  await recorder.close();
  db.close();
});

test('what a killed node left open becomes an event that ended interrupted_by_restart, with the checkpointed tokens', () => {
  const e = interruptedEvent({
    id: 'ev_1', node: 'n1', ts: new Date(T0).toISOString(), checkpoint_at: new Date(T0 + 5000).toISOString(),
    input_tokens: null, output_tokens: 42, reasoning_tokens: 0, output_chars: 170, reasoning_chars: 0, event: streamed('ev_1'),
  });
  assert.equal(e.response.finish_reason, INTERRUPTED_BY_RESTART);
  assert.equal(e.response.status, 200, 'the client had the answer begun');
  assert.equal(e.response.output_tokens, 42, 'the checkpoint\'s output tokens');
  assert.ok(e.response.input_tokens > 0, 'input tokens counted from the prompt kept when no count was known');
  assert.equal(e.duration_ms, 5000, 'as long as it was last seen streaming');
  assert.equal(e.request.messages[0].text, 'Write a poem about the sea, please.', 'the request as it began');
});
