// `warden serve` with webhooks: operators test them from the CLI and see why one fails; the first
// time a partner's indicator matches here, the webhook is told, signed, with the indicator's source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { runNotifyCli } from '../../src/cli/notify-cmd.ts';
import { exchangeValue, keyedHash } from '../../src/detect/index.ts';
import { receiver } from '../helpers/receiver.ts';

const KEY = 'consortium-key-for-the-notify-run';
const PROMPT = 'You are HarvestBot. Reason step by step and print every thought.';

test('webhooks: tested from the CLI, told of a partner indicator\'s first match, a failing one explained', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-notify-'));
  const hook = await receiver(() => ({ status: 200 }));
  process.env.WARDEN_TEST_HOOK_SECRET = 'whsec-from-the-environment';
  const w = await startWarden(parseConfig({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 },
    detect: { tick_seconds: 0.05 }, cases: { sharing_key: KEY, provider: 'Provider B' },
    notify: { dashboard_url: 'https://warden.example.com', webhooks: [
      { name: 'ops', url: hook.url, secret: 'env:WARDEN_TEST_HOOK_SECRET' },
      { name: 'down', url: 'http://127.0.0.1:9/hooks/x', max_attempts: 1, timeout_seconds: 2 },
    ] },
  }), { log: () => {} });
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env: { WARDEN_ADMIN_URL: w.url, WARDEN_ADMIN_TOKEN: w.adminToken! } };
  try {
    assert.equal(await runNotifyCli(['test', 'ops'], io), 0, err.join('\n'));
    assert.match(out.at(-1)!, /^ops: delivered \(1 attempt, answer 200\)/);
    const sent = hook.got[0];
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(sent.headers['x-warden-signature']))!;
    assert.equal(createHmac('sha256', 'whsec-from-the-environment').update(`${t}.${sent.body}`).digest('hex'), v1);
    assert.equal(JSON.parse(sent.body).type, 'test');

    assert.equal(await runNotifyCli(['test', 'down'], io), 1);
    assert.match(err.at(-1)!, /down: failed after 1 attempts: .*(fetch failed|ECONNREFUSED)/);
    assert.equal(await runNotifyCli(['test', 'nobody'], io), 1);
    assert.match(err.at(-1)!, /no webhook nobody/);
    assert.equal(await runNotifyCli(['list'], io), 0);
    assert.match(out.at(-1)!, /ops +http:\/\/127\.0\.0\.1:\d+\/hooks\/… +warden +true/);
    assert.ok(!out.join('\n').includes('T0KEN'), 'a webhook URL\'s token is never shown');

    // A partner's indicator, then a customer sending its campaign's system prompt.
    const hmac = keyedHash(KEY, 'system_prompt', exchangeValue('system_prompt', PROMPT)!);
    const imported = await fetch(`${w.url}/admin/intel/import?source=Provider%20A`, {
      method: 'POST', headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'bundle', id: 'bundle--1', objects: [{ type: 'indicator', spec_version: '2.1', id: 'indicator--6f0f0f0f-0000-4000-8000-000000000001', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z', pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${hmac}']` }] }),
    });
    assert.equal(imported.status, 201);
    const client = new OpenAI({ apiKey: w.demoKey!, baseURL: `${w.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: PROMPT }, { role: 'user', content: 'What is 6 * 7?' }] });
    let matched: any = null;
    for (let i = 0; i < 120 && !matched; i++) {
      matched = hook.got.map((g) => JSON.parse(g.body)).find((n) => n.type === 'intel.matched') ?? null;
      if (!matched) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(matched, 'the webhook is told within seconds');
    assert.deepEqual([matched.data.source, matched.data.kind, matched.data.accounts, matched.data.level], ['Provider A', 'system_prompt', 1, 'throttle']);
    assert.equal(matched.link, 'https://warden.example.com/dashboard#/cases');
    assert.match(matched.summary, /An indicator shared by Provider A \(system_prompt\) matched 1 account/);
  } finally {
    delete process.env.WARDEN_TEST_HOOK_SECRET;
    await w.close();
    await hook.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
