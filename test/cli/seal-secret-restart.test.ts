// A tool-use loop with Anthropic thinking hands back the sealed thinking block Warden gave it. With
// no policy.reasoning_seal_secret configured, a single SQLite server keeps the key it generated
// beside its database, so a loop in flight (or a conversation saved by the app) goes on after a
// restart or an upgrade instead of being refused as "altered".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';

delete process.env.WARDEN_REASONING_SECRET;

const weatherTool = { name: 'weather', description: 'Get the weather in a city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };

async function messages(url: string, key: string, body: object): Promise<{ status: number; json: any }> {
  const r = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, tools: [weatherTool], ...body }),
  });
  return { status: r.status, json: await r.json() };
}

test('a thinking tool-use loop sealed before a restart goes on after it (no seal secret configured)', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-seal-'));
  try {
    const config = parseConfig({ log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 }, server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, ledger: { enabled: false } });
    const first = await startWarden(config, { demo: true, log: () => {} });
    const key = first.demoKey!;
    const question = { role: 'user', content: 'What is the weather in Paris? use the weather tool' };
    let turn: { status: number; json: any };
    try {
      turn = await messages(first.url, key, { messages: [question] });
    } finally { await first.close(); }
    assert.equal(turn.status, 200, JSON.stringify(turn.json));
    const thinking = turn.json.content.find((b: { type: string }) => b.type === 'thinking');
    const call = turn.json.content.find((b: { type: string }) => b.type === 'tool_use');
    assert.ok(thinking && call, `the answer thinks, then calls the tool: ${JSON.stringify(turn.json.content.map((b: { type: string }) => b.type))}`);
    assert.ok(thinking.signature.startsWith('wdn1.'), 'the thinking the account may not read is summarised and its block sealed by Warden');

    const second = await startWarden(config, { log: () => {} });
    try {
      const next = await messages(second.url, key, {
        messages: [question, { role: 'assistant', content: turn.json.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '{"temperatureC":21}' }] }],
      });
      assert.equal(next.status, 200, `the loop's next turn is served after the restart: ${JSON.stringify(next.json)}`);
      assert.ok(next.json.content.some((b: { type: string; text?: string }) => b.type === 'text' && b.text), 'and answered in text');
    } finally { await second.close(); }
    assert.equal(statSync(join(dir, 'reasoning-seal-secret')).mode & 0o777, 0o600, 'the generated key is readable by its owner only');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
