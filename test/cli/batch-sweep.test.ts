// The bulk channel is governed like single requests, through the whole of `warden serve` (default
// policy, online detector): an enterprise account's logit sweep sent as one OpenAI batch is
// recognised while the batch runs, and the rest of the batch is shaped: its answers in the output
// file carry no log-probabilities, and their events say why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

test('a logit sweep sent as one batch is shaped while the batch runs', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-batch-sweep-'));
  // One request at a time, 40 ms each, scored every second of event time: the detector sees the
  // sweep while the batch is still running.
  const w = await startWarden(parseConfig({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' },
    mock: { latency_ms: 40, tokens_per_second: 0 }, batches: { concurrency: 1 }, detect: { tick_seconds: 1 },
  }), { log: () => {} });
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${w.url}/admin${path}`, { method, headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() as any };
  };
  try {
    const acct = (await admin('POST', '/accounts', { tier: 'enterprise', email: 'lab@example.org', claimed_country: 'GB' })).body;
    const key = (await admin('POST', `/accounts/${acct.id}/keys`, { scopes: ['inference'] })).body.secret as string;
    const client = new OpenAI({ apiKey: key, baseURL: `${w.url}/v1`, maxRetries: 0 });
    const PROMPTS = ['The capital of France is', 'Once upon a time', 'The derivative of x squared is'];
    const lines = Array.from({ length: 90 }, (_, n) => {
      const bias: Record<string, number> = {};
      for (let k = 0; k < 5; k++) bias[String(1000 + 5 * Math.floor(n / 3) + k)] = 100;
      return JSON.stringify({ custom_id: `p${n}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPTS[n % 3] }], max_tokens: 1, logprobs: true, top_logprobs: 5, logit_bias: bias } });
    });
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'sweep.jsonl'), purpose: 'batch' });
    let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    for (let t = 0; t < 600 && batch.status === 'in_progress'; t++) {
      await new Promise((r) => setTimeout(r, 100));
      batch = await client.batches.retrieve(batch.id);
    }
    assert.equal(batch.status, 'completed');
    const errors = batch.error_file_id ? await (await client.files.content(batch.error_file_id)).text() : '';
    assert.deepEqual(batch.request_counts, { total: 90, completed: 90, failed: 0 }, errors.slice(0, 2000));

    const output = (await (await client.files.content(batch.output_file_id!)).text()).trim().split('\n').map((l) => JSON.parse(l));
    const withLogprobs = output.map((l) => (l.response.body.choices[0].logprobs?.content?.length ?? 0) > 0);
    assert.equal(withLogprobs[0], true, 'enterprise: the sweep starts with log-probabilities');
    const firstShaped = withLogprobs.indexOf(false);
    t.diagnostic(`shaped from request ${firstShaped} of 90`);
    assert.ok(firstShaped >= 20 && firstShaped < 80, `shaped from request ${firstShaped} of 90, while the batch ran`);
    assert.ok(withLogprobs.slice(firstShaped).every((x) => !x), 'and every request after it');

    const why = (await admin('GET', `/detect/accounts/${acct.id}`)).body;
    assert.equal(why.level, 'shape');
    assert.ok(why.verdict.reasons.some((r: { signal: string; value: unknown }) => r.signal === 'logit_probe_test' && r.value === 'pass'));

    await w.gateway.recorder.flush();
    const events: InteractionEvent[] = [];
    for await (const e of w.stores.events.iterate()) if (e.client.batch_id === batch.id) events.push(e);
    assert.equal(events.length, 90);
    const last = events.at(-1)!;
    assert.equal(last.enforcement.verdict, 'shape');
    assert.ok(last.enforcement.shaping.includes('logit_bias:stripped'), last.enforcement.shaping.join());
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
