// A node killed (SIGKILL, out of memory) in the middle of a streamed answer: the stream was noted
// as open when it began, in the event store, and checkpointed while it went on. Started again on
// the same data, the node records it as an event that ended `interrupted_by_restart`, with its
// input tokens and at least the output tokens checkpointed: in the events, the usage and the
// ledger (which still verifies). A stream that ends cleanly leaves nothing open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnServe, until } from '../helpers/serve-process.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const CONFIG = 'server: {port: 0}\nstore: {sqlite_path: ./data/warden.db}\nmock: {latency_ms: 0, tokens_per_second: 4}\nlog: {level: error}\nevents: {checkpoint_interval_ms: 100}\n';

interface Exported { id: string; request: { stream: boolean }; response: { status: number; input_tokens: number; output_tokens: number; finish_reason: string | null } }

test('SIGKILL mid-stream: after a restart the streaming interaction is recorded as interrupted, with its tokens, in events, usage and the ledger', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-killed-stream-'));
  writeFileSync(join(dir, 'w.yaml'), CONFIG);
  const env = { WARDEN_LOG_LEVEL: '' };
  const cli = async (args: string[]) => {
    const r = await runWarden([...args, '-c', 'w.yaml'], { cwd: dir, timeout: 120_000 });
    return r;
  };
  const exported = async () => {
    const r = await cli(['events', 'export']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Exported);
  };
  /** The open interactions in the store, read beside the running node. */
  const open = () => {
    const db = new Database(join(dir, 'data/warden.db'), { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      return db.prepare('SELECT id, input_tokens, output_tokens, notes FROM open_interactions').all() as { id: string; input_tokens: number | null; output_tokens: number; notes: string | null }[];
    } finally { db.close(); }
  };
  let first = spawnServe(['-c', 'w.yaml', '--demo'], { cwd: dir, env });
  try {
    const url = await first.listening();
    const key = await first.demoKey();
    const call = (body: object) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me a long story.' }], ...body }) });
    // A stream that ends cleanly: its event, and no open record left.
    const clean = await call({ stream: true, max_tokens: 3 });
    assert.equal(clean.status, 200);
    await clean.text();
    await until('the clean stream in the event store', async () => (await exported()).length === 1 || undefined, 60_000);
    assert.deepEqual(open().map((r) => r.id), [], 'a stream that ended leaves no open record');
    const streaming = await call({ stream: true, max_tokens: 400 });
    assert.equal(streaming.status, 200);
    const id = streaming.headers.get('x-warden-request-id');
    assert.ok(id, 'the request id');
    const reader = streaming.body!.getReader();
    const firstChunk = await reader.read();
    assert.ok(!firstChunk.done && /data: /.test(new TextDecoder().decode(firstChunk.value)), 'the stream has begun');
    // Kill once a checkpoint holds some of the answer (read on, so the mock keeps sending).
    let checkpointed = 0;
    let notes: string | null = null;
    const reading = (async () => { try { while (!(await reader.read()).done); return 'ended'; } catch { return 'cut'; } })();
    await until('a checkpoint of the stream', () => {
      const row = open().find((r) => r.id === id);
      if (row && row.output_tokens >= 2) { checkpointed = row.output_tokens; notes = row.notes; return true; }
      return undefined;
    }, 120_000);
    // The record keeps the limits' reservation, for the charge at recovery (docs/operations.md).
    const limitsNote = (JSON.parse(notes ?? '{}') as { limits?: { lease?: string; backend?: string; cost?: { out?: number } } }).limits;
    assert.ok(limitsNote?.lease && limitsNote.backend === 'memory' && limitsNote.cost?.out === 400, `the open record keeps the reservation: ${notes}`);
    const exited = new Promise((r) => first.proc.once('exit', r));
    first.proc.kill('SIGKILL');
    await exited;
    assert.equal(await reading, 'cut', 'the client sees its stream cut, not a clean end');
    // Started again on the same data: the interrupted interaction is recorded.
    first = spawnServe(['-c', 'w.yaml', '--demo'], { cwd: dir, env });
    await first.listening();
    await until('the interrupted interaction in the event store', async () => (await exported()).length === 2 || undefined, 60_000);
    await first.stop();
    const events = await exported();
    const cut = events.find((e) => e.id === id);
    assert.ok(cut, `the interrupted stream is an event: ${JSON.stringify(events.map((e) => e.id))}`);
    assert.equal(cut.request.stream, true);
    assert.equal(cut.response.finish_reason, 'interrupted_by_restart', 'its outcome says how it ended');
    assert.ok(cut.response.input_tokens > 0, `its input tokens (${cut.response.input_tokens})`);
    assert.ok(cut.response.output_tokens >= checkpointed, `at least the output tokens checkpointed (${cut.response.output_tokens} >= ${checkpointed})`);
    assert.deepEqual(open().map((r) => r.id), [], 'nothing left open once it is recorded');
    // Usage counts it.
    const usage = await cli(['usage', 'export', '--format', 'jsonl', '--by', 'day']);
    assert.equal(usage.code, 0, usage.stderr);
    const rows = usage.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { requests: number; output_tokens: number });
    assert.equal(rows.reduce((n, r) => n + r.requests, 0), 2, `both interactions in the usage: ${usage.stdout}`);
    assert.ok(rows.reduce((n, r) => n + r.output_tokens, 0) >= 3 + checkpointed, `the usage holds its output tokens: ${usage.stdout}`);
    // The ledger holds it, and verifies.
    const ledger = await cli(['ledger', 'query', '--format', 'jsonl']);
    assert.equal(ledger.code, 0, ledger.stderr);
    const leaves = ledger.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; output_tokens: number });
    const leaf = leaves.find((l) => l.id === id);
    assert.ok(leaf, `the ledger records it: ${ledger.stdout}`);
    assert.equal(leaf.output_tokens, cut.response.output_tokens, 'with the same tokens');
    const verify = await cli(['ledger', 'verify']);
    assert.equal(verify.code, 0, `ledger verify: ${verify.stdout}${verify.stderr}`);
  } finally {
    await first.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
