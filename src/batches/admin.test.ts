// The operator's batch and file listings answer what the stores hold, and their answers match the
// admin API's OpenAPI document (checked on every answer here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { batchAdminRoutes } from './admin.ts';
import type { BatchRecord, BatchStore } from './store.ts';
import type { FileStore, StoredFile } from './files-store.ts';

const now = Date.parse('2026-12-05T00:00:00.000Z');
// A batch whose input file could not be read: it failed before it knew its model.
const failed: BatchRecord = {
  id: 'batch_failed', account_id: 'acct_a', org_id: null, key_id: 'key_a', client_ip: '192.0.2.1', user_agent: null,
  anthropic_version: null, anthropic_beta: null, status: 'ended', created_at: now, expires_at: now + 86_400_000, ended_at: now, cancel_initiated_at: null,
  openai: { endpoint: '/v1/chat/completions', input_file_id: 'file_in', completion_window: '24h', model: null, metadata: null, output_expires_seconds: null,
    errors: [{ code: 'invalid_json_line', message: 'line 1 is not JSON', param: null, line: 1 }] },
};
// A batch's output file before it was first described: its size is not known yet.
const output: StoredFile = { id: 'file_out', account_id: 'acct_a', org_id: null, purpose: 'batch_output', filename: 'batch_failed_output.jsonl', bytes: null, created_at: now, expires_at: null, batch_id: 'batch_failed', kind: 'output' };

test('operators list a failed OpenAI batch (no model) and an output file not yet described (no size), as the document says', async () => {
  const store = {
    recent: async () => [failed],
    counts: async () => ({ pending: 0, running: 0, succeeded: 0, errored: 1, canceled: 0, expired: 0 }),
  } as unknown as BatchStore;
  const files = { recent: async () => [output] } as unknown as FileStore;
  const app = Fastify();
  mountAdminRoutes(app, [batchAdminRoutes(store, undefined, files)], { validateResponses: true });
  try {
    const batches = await app.inject({ method: 'GET', url: '/batches' });
    assert.equal(batches.statusCode, 200, batches.body);
    assert.equal(batches.json().data[0].model, null);
    const listed = await app.inject({ method: 'GET', url: '/files' });
    assert.equal(listed.statusCode, 200, listed.body);
    assert.equal(listed.json().data[0].bytes, null);
  } finally { await app.close(); }
});
