// The events of streamed background responses, below the HTTP routes: a reader far behind a long
// running answer gets every event once, in order, though memory keeps only the last ones; a reader
// of a response over without a final event (cancelled) stops, and so does every reader when the
// node stops; a run that starts again after its
// node stopped mid-answer fails the response rather than stream a second answer after the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../store/index.ts';
import { SqliteBatchStore, type BatchRecord } from './store.ts';
import { BackgroundStreams, sseFrame } from './stream-log.ts';
import { createStreamedRuns } from './background.ts';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-stream-'));
  const db = openSqlite(join(dir, 'w.db'));
  const store = new SqliteBatchStore(db);
  return { store, streams: new BackgroundStreams(store), close: () => { db.close(); rmSync(dir, { recursive: true, force: true }); } };
}
const record = (id: string): BatchRecord => ({
  id, account_id: 'acc', org_id: null, key_id: 'key', client_ip: '203.0.113.1', user_agent: null, anthropic_version: null, anthropic_beta: null,
  status: 'in_progress', created_at: 1_000, expires_at: 1_000 + 86_400_000, ended_at: null, cancel_initiated_at: null, background: true,
  openai: { endpoint: '/v1/responses', input_file_id: '', completion_window: '24h', model: 'gpt-5', metadata: null, output_expires_seconds: null, errors: null, streamed: true },
});
const seqOf = (frame: string) => JSON.parse(frame.slice(frame.indexOf('data: ') + 6)).sequence_number as number;
const typeOf = (frame: string) => frame.slice(7, frame.indexOf('\n'));

test('a reader far behind a long answer gets every event once, in order, from memory and the store', async () => {
  const { store, streams, close } = setup();
  try {
    await store.create(record('resp_bg_a'), [{ custom_id: 'response', params: '{}' }]);
    await streams.write('resp_bg_a', 0, [sseFrame('response.created', { sequence_number: 0 }), sseFrame('response.queued', { sequence_number: 1 })]);
    streams.open('resp_bg_a', 2);
    const total = 5_000;
    // The writer outpaces the reader by far: thousands of events are stored and dropped from memory before it reads.
    for (let seq = 2; seq < total - 1; seq++) streams.append('resp_bg_a', sseFrame('response.output_text.delta', { delta: 'x', sequence_number: seq }));
    await streams.flush();
    const ac = new AbortController();
    const seen: number[] = [];
    const reading = (async () => {
      for await (const frame of streams.follow('resp_bg_a', -1, ac.signal, async () => false)) {
        seen.push(seqOf(frame));
        if (seen.length % 700 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    streams.append('resp_bg_a', sseFrame('response.completed', { sequence_number: total - 1 }));
    await streams.close('resp_bg_a');
    await reading;
    assert.equal(seen.length, total);
    assert.ok(seen.every((s, i) => s === i), 'every event once, in order');
    assert.equal(await store.lastStreamSeq('resp_bg_a'), total - 1, 'all stored');
  } finally { close(); }
});

test('a reader stops when the response is over without a final event, and when its client goes', async () => {
  const { store, streams, close } = setup();
  try {
    await store.create(record('resp_bg_b'), [{ custom_id: 'response', params: '{}' }]);
    await streams.write('resp_bg_b', 0, [sseFrame('response.created', { sequence_number: 0 })]);
    let over = false;
    const got: string[] = [];
    const started = Date.now();
    const reading = (async () => { for await (const f of streams.follow('resp_bg_b', -1, new AbortController().signal, async () => over)) got.push(typeOf(f)); })();
    await new Promise((r) => setTimeout(r, 300));
    over = true; // cancelled while it waited
    await reading;
    assert.deepEqual(got, ['response.created']);
    assert.ok(Date.now() - started < 3_000, 'it noticed within about a second');

    const ac = new AbortController();
    const waiting = (async () => { for await (const f of streams.follow('resp_bg_b', 0, ac.signal, async () => false)) got.push(f); })();
    setTimeout(() => ac.abort(), 50);
    await waiting;
    assert.equal(got.length, 1, 'a reader whose client left ends with nothing more');

    // The node stops: its readers end at once (their clients read on elsewhere), not when the response does.
    const stopping = (async () => { for await (const f of streams.follow('resp_bg_b', 0, new AbortController().signal, async () => false)) got.push(f); })();
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await streams.stop();
    await stopping;
    assert.ok(Date.now() - t0 < 100, 'ended when the node stopped');
    assert.equal(streams.waiting, 0, 'no reader left anything behind');
  } finally { close(); }
});

test('a run that starts again after its node stopped mid-answer fails the response', async () => {
  const { store, streams, close } = setup();
  try {
    const b = record('resp_bg_c');
    await store.create(b, [{ custom_id: 'response', params: '{}' }]);
    const runs = createStreamedRuns(store, streams);
    await streams.write(b.id, 0, [sseFrame('response.created', { sequence_number: 0 }), sseFrame('response.queued', { sequence_number: 1 })]);
    assert.deepEqual(await runs.begin(b), { ok: true }, 'not yet begun: it runs');
    await streams.write(b.id, 2, [sseFrame('response.in_progress', { sequence_number: 2 }), sseFrame('response.output_text.delta', { sequence_number: 3 })]);
    const again = await runs.begin(b);
    assert.equal(again.ok, false);
    assert.match(!again.ok ? again.result : '', /"code":"interrupted"/);
    const frames = (await store.streamEvents(b.id, -1, 100)).map((e) => e.frame);
    assert.deepEqual(frames.map(typeOf), ['response.created', 'response.queued', 'response.in_progress', 'response.output_text.delta', 'error', 'response.failed']);
    assert.deepEqual(frames.map(seqOf), [0, 1, 2, 3, 4, 5]);
    assert.equal(JSON.parse(frames[5].slice(frames[5].indexOf('data: ') + 6)).response.id, b.id);
  } finally { close(); }
});

test('a run stores response.in_progress before it relays anything', async () => {
  const { store, streams, close } = setup();
  try {
    const b = record('resp_bg_d');
    await store.create(b, [{ custom_id: 'response', params: '{}' }], [sseFrame('response.created', { sequence_number: 0 }), sseFrame('response.queued', { sequence_number: 1 })]);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    async function* answer() {
      yield Buffer.from('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi","sequence_number":3}\n\n');
      await held;
      yield Buffer.from('event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_up","status":"completed","output":[]},"sequence_number":9}\n\n');
    }
    const runs = createStreamedRuns(store, streams);
    const relaying = runs.relay(b, answer(), 'req_1', async () => false);
    await new Promise((r) => setTimeout(r, 20));
    // The delta is only in memory (flushed later); in_progress is already stored.
    assert.equal(await store.lastStreamSeq(b.id), 2);
    assert.deepEqual(await runs.begin(b).then((x) => x.ok), false, 'a second run, were this node gone, would fail the response');
    release();
    const outcome = await relaying;
    assert.equal(outcome.state, 'succeeded');
    assert.match(outcome.result ?? '', /"id":"resp_up"/, 'the final response is kept under the upstream\'s id');
  } finally { close(); }
});
