// A client's answer-length headers (`x-mock-output-tokens`, `x-mock-reasoning-tokens`) reach the
// built-in mock `warden serve` starts, and only it, only with `mock.answer_length_headers`: the red
// team asks for the simulated answers' lengths with them. A configured upstream (a provider) never
// receives them, nor any other `x-mock-*` header, whatever the setting says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { createMockUpstream } from '../../src/mock/index.ts';

const quiet = { log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 }, server: { port: 0 } } as const;
const lengths = { 'x-mock-output-tokens': '900', 'x-mock-reasoning-tokens': '600' };

interface Usage { completion_tokens: number; completion_tokens_details?: { reasoning_tokens?: number } }

async function chat(url: string, key: string, headers: Record<string, string>, stream = false): Promise<Usage> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'o3', messages: [{ role: 'user', content: 'Explain the tides.' }], max_completion_tokens: 4000, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `the request is answered: ${text.slice(0, 300)}`);
  if (!stream) return (JSON.parse(text) as { usage: Usage }).usage;
  const last = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { usage?: Usage | null }).findLast((c) => c.usage);
  assert.ok(last?.usage, 'the stream ends with its usage');
  return last.usage;
}

async function messages(url: string, key: string, headers: Record<string, string>): Promise<{ output_tokens: number; output_tokens_details?: { thinking_tokens?: number } }> {
  const r = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: [{ role: 'user', content: 'Explain the tides.' }] }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `the request is answered: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { usage: { output_tokens: number; output_tokens_details?: { thinking_tokens?: number } } }).usage;
}

test('with mock.answer_length_headers the built-in mock answers at the lengths a client asks for, streamed or not, in both wire formats', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mocklen-'));
  try {
    const w = await startWarden(parseConfig({ ...quiet, mock: { ...quiet.mock, answer_length_headers: true }, store: { sqlite_path: join(dir, 'w.db') } }), { demo: true });
    try {
      const key = w.demoKey!;
      for (const stream of [false, true]) {
        const u = await chat(w.url, key, lengths, stream);
        const reasoning = u.completion_tokens_details?.reasoning_tokens ?? 0;
        assert.ok(reasoning >= 600 && reasoning < 700, `reasoning near the 600 asked for (stream ${stream}): ${reasoning}`);
        assert.ok(u.completion_tokens - reasoning >= 900 && u.completion_tokens - reasoning < 1000, `answer near the 900 asked for (stream ${stream}): ${u.completion_tokens - reasoning}`);
      }
      const m = await messages(w.url, key, lengths);
      assert.ok((m.output_tokens_details?.thinking_tokens ?? 0) >= 600, `thinking near the 600 asked for: ${JSON.stringify(m)}`);
      assert.ok(m.output_tokens >= 1500, `answer and thinking as asked for: ${m.output_tokens}`);
      // A value that is not a whole number within bounds is dropped, not passed (the mock answers at its own length).
      const odd = await chat(w.url, key, { 'x-mock-output-tokens': '9999999', 'x-mock-reasoning-tokens': '-5' });
      assert.ok(odd.completion_tokens < 400, `out-of-bounds lengths are not passed: ${odd.completion_tokens}`);
      // Only the length headers: a failure asked for by header does not reach the mock.
      const failed = await fetch(`${w.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-mock-fail': '500' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(failed.status, 200, 'x-mock-fail is not passed on');
    } finally { await w.close(); }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('by default the built-in mock gets no answer-length header: its own lengths', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mocklen-'));
  try {
    const w = await startWarden(parseConfig({ ...quiet, store: { sqlite_path: join(dir, 'w.db') } }), { demo: true });
    try {
      const u = await chat(w.url, w.demoKey!, lengths);
      // The mock's own: 16-96 answer tokens and 64-192 reasoning at medium effort, each to a sentence's end.
      assert.ok(u.completion_tokens < 400, `the client's lengths are not passed: ${u.completion_tokens} output tokens`);
    } finally { await w.close(); }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a configured upstream never receives x-mock-* headers, even with mock.answer_length_headers on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mocklen-'));
  // Stands for a provider: a server Warden did not start, configured in `upstreams`, that records the headers it got.
  const provider = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  try {
    const config = parseConfig({
      ...quiet, mock: { ...quiet.mock, answer_length_headers: true }, store: { sqlite_path: join(dir, 'w.db') },
      upstreams: [{ name: 'provider', base_url: provider.url, api_key: null, models: ['*'] }],
    });
    const w = await startWarden(config, { demo: true });
    try {
      const u = await chat(w.url, w.demoKey!, { ...lengths, 'x-mock-fail': '500', 'x-mock-latency-ms': '1' });
      assert.ok(u.completion_tokens < 400, `the provider answered at its own length: ${u.completion_tokens}`);
      await messages(w.url, w.demoKey!, lengths);
      const got = provider.received.filter((r) => r.path === '/v1/chat/completions' || r.path === '/v1/messages');
      assert.equal(got.length, 2, 'both requests reached the provider');
      for (const r of got) {
        const sent = Object.keys(r.headers).filter((h) => h.startsWith('x-mock-'));
        assert.deepEqual(sent, [], `no x-mock-* header reaches a configured upstream (${r.path}): ${sent.join(', ')}`);
      }
    } finally { await w.close(); }
  } finally {
    await provider.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
