// Streamed answers under way, recorded as open interactions beside the events (SQLite, inline and
// through the writer thread, and PostgreSQL): an open record is written with a batch, its
// checkpoints raise the tokens known, and the interaction's event removes it in the same write. What
// a killed node left is read back at the next start: its own records, and on PostgreSQL those of
// any node that were abandoned (older than the longest stream), each claimed by one node only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore, PostgresEventStore, type EventStore } from './index.ts';
import type { OpenedInteraction } from './open-interactions.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';

const T0 = Date.UTC(2026, 11, 7, 9);
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

function streamed(id: string, s: number, over: Partial<InteractionEvent['response']> = {}): InteractionEvent {
  return {
    schema: EVENT_SCHEMA, id, ts: iso(s), duration_ms: 0,
    flavour: 'openai.chat', model: 'gpt-4o-mini', upstream: 'mock', account_id: 'acct_1', org_id: 'org_1', key_id: 'key_1',
    client: { ip: '203.0.113.9', user_agent: 'test', country: null, asn: null },
    request: { stream: true, system: null, messages: [{ role: 'user', text: 'Tell me a long story.', chars: 21 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
    response: { status: 200, error_code: null, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: null, ttfb_ms: null, output_chars: 0, reasoning_chars: 0, ...over },
    account: null, enforcement: emptyEnforcement(),
  };
}

const opened = (id: string, node: string, s: number, input: number | null = null): OpenedInteraction => ({ id, node, ts: iso(s), input_tokens: input, event: streamed(id, s) });
const progress = (id: string, s: number, output: number) => ({ id, at: iso(s), input_tokens: 12, output_tokens: output, reasoning_tokens: 0, output_chars: output * 4, reasoning_chars: 0 });

async function checkStore(store: EventStore) {
  assert.ok(store.takeOpenInteractions, 'the store keeps open interactions');
  // Two streams begin; both are checkpointed; one ends cleanly, the other is cut by a kill.
  await store.appendBatch([], { opened: [opened('ev_a', 'n1', 0, 7), opened('ev_b', 'n1', 1)], progress: [] });
  await store.appendBatch([], { opened: [], progress: [progress('ev_a', 5, 30), progress('ev_b', 5, 20)] });
  await store.appendBatch([streamed('ev_a', 0, { output_tokens: 55, finish_reason: 'stop' })], { opened: [], progress: [progress('ev_b', 10, 41)] });
  // Opened and ended within one write: nothing is left open.
  await store.appendBatch([streamed('ev_c', 2, { output_tokens: 3, finish_reason: 'stop' })], { opened: [opened('ev_c', 'n1', 2)], progress: [] });
  // A checkpoint that arrives after its interaction ended creates nothing.
  await store.appendBatch([], { opened: [], progress: [progress('ev_a', 11, 60)] });
  const left = await store.takeOpenInteractions!('n1', iso(-3600));
  assert.deepEqual(left.map((r) => r.id), ['ev_b'], 'only the interaction cut by the kill is open');
  const b = left[0];
  assert.equal(b.output_tokens, 41, 'the last checkpoint\'s output tokens');
  assert.equal(b.input_tokens, 12, 'the input tokens the checkpoint knew');
  assert.equal(b.checkpoint_at, iso(10), 'when it was last seen streaming');
  assert.equal(b.ts, iso(1), 'when it began');
  assert.equal(b.event.request.messages[0].text, 'Tell me a long story.', 'the request as it began');
  assert.equal(await store.count(), 2, 'the two ended ones are events');
  // Its event recorded (as the recovery at start does): the open record goes with it.
  await store.appendBatch([streamed('ev_b', 1, { output_tokens: 41, finish_reason: 'interrupted_by_restart' })]);
  assert.deepEqual((await store.takeOpenInteractions!('n1', iso(-3600))).map((r) => r.id), [], 'recorded: no longer open');
  // An open record whose event is already stored (written by a build that did not remove it) is not recovered twice.
  await store.appendBatch([], { opened: [opened('ev_a', 'n1', 0)], progress: [] });
  assert.deepEqual((await store.takeOpenInteractions!('n1', iso(-3600))).map((r) => r.id), [], 'an interaction already recorded is not open');
  // An account erased while a stream of its was left open: the record is erased too, and so is the event it becomes.
  await store.appendBatch([], { opened: [opened('ev_e', 'n1', 3)], progress: [] });
  await store.eraseAccount('acct_1', iso(20));
  const [erased] = await store.takeOpenInteractions!('n1', iso(-3600));
  assert.equal(erased?.id, 'ev_e');
  assert.equal(erased.event.request.messages[0].text, null, 'the prompt of the open record is erased');
  assert.equal(erased.event.client.ip, '', 'and its address');
  assert.equal(erased.event.erased_at, iso(20));
  await store.appendBatch([streamed('ev_e', 3, { output_tokens: 5 })]);
}

test('SQLite (inline writer): an open interaction is written, checkpointed, removed with its event, and read back when left open', async () => {
  const db = openSqlite(':memory:');
  try { await checkStore(new SqliteEventStore(db)); } finally { db.close(); }
});

test('SQLite (writer thread): the same, through the thread that writes the events', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-open-'));
  const db = openSqlite(join(dir, 'w.db'));
  const store = new SqliteEventStore(db, { writer: 'thread' });
  try { await checkStore(store); } finally { await store.close(); db.close(); rmSync(dir, { recursive: true, force: true }); }
});

test('PostgreSQL: the same; a node reads its own open interactions, and those of other nodes once abandoned, each claimed once', { timeout: 60_000 }, async () => {
  await withPgSchema('open_interactions', async (pool) => {
    const store = new PostgresEventStore(pool);
    await checkStore(store);
    // Node n2 was killed with one stream under way at 0 s, n3 has one live now (100 s).
    await store.appendBatch([], { opened: [opened('ev_n2', 'n2', 0), opened('ev_n3', 'n3', 100)], progress: [] });
    assert.deepEqual((await store.takeOpenInteractions('n1', iso(-3600))).map((r) => r.id), [], 'none of n1\'s own, none abandoned yet');
    // Past the longest stream after n2's began: abandoned, claimed by the first node to look, not by the next.
    const claimed = await store.takeOpenInteractions('n1', iso(50));
    assert.deepEqual(claimed.map((r) => r.id), ['ev_n2'], 'the abandoned one is taken over; the live one on n3 is not');
    assert.deepEqual((await store.takeOpenInteractions('n4', iso(50))).map((r) => r.id), [], 'a claimed one is not taken over again');
    assert.deepEqual((await store.takeOpenInteractions('n3', iso(50))).map((r) => r.id), ['ev_n3'], 'n3 restarted reads its own');
  });
});
