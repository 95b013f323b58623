// Rotating the admin token on a running fleet: the new token and, until the expiry the operator
// set, the previous one are accepted, so scripts and the dashboard keep working through a rolling
// restart; who still uses the previous one is logged and counted, never the token itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.ts';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

const NEW_TOKEN = 'adm_new_rotation_token_0123456789abcdef';
const OLD_TOKEN = 'adm_old_rotation_token_fedcba9876543210';

interface Line { line: string; meta?: { code?: string; fields?: Record<string, unknown> } }

async function start(expiresAt: string): Promise<{ w: TestWarden; lines: Line[] }> {
  const lines: Line[] = [];
  const log = ((line: string, meta?: Line['meta']) => { lines.push({ line, meta }); }) as (line: string) => void;
  const w = await startTestWarden({ admin: { token: NEW_TOKEN, previous_token: OLD_TOKEN, previous_token_expires_at: expiresAt } }, { log });
  return { w, lines };
}

const get = (w: TestWarden, path: string, token: string, actor?: string) =>
  fetch(`${w.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...(actor ? { 'x-warden-actor': actor } : {}) } });

async function metric(w: TestWarden, name: string): Promise<string> {
  return (await (await fetch(`${w.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith(name)).join('\n');
}

test('during a rotation the new and the previous admin token are both accepted, and each caller of the previous one is logged once without the token', async () => {
  const { w, lines } = await start(new Date(Date.now() + 3600_000).toISOString());
  try {
    assert.ok(lines.some((l) => /previous token \(admin\.previous_token\) is also accepted until/.test(l.line)), `the start says until when: ${lines.map((l) => l.line).join('\n')}`);
    assert.equal((await get(w, '/admin/orgs', NEW_TOKEN)).status, 200, 'the new token works');
    assert.ok(!lines.some((l) => l.meta?.code === 'ADMIN_PREVIOUS_TOKEN_USED'), 'the new token is not reported');
    for (let i = 0; i < 3; i++) assert.equal((await get(w, '/admin/orgs', OLD_TOKEN, 'cron:nightly-report')).status, 200, 'the previous token still works');
    assert.equal((await get(w, '/admin/accounts', OLD_TOKEN, 'cli:bob')).status, 200);
    assert.equal((await get(w, '/admin/orgs', 'adm_some_other_token_0123456789')).status, 401, 'any other token is refused');

    const used = lines.filter((l) => l.meta?.code === 'ADMIN_PREVIOUS_TOKEN_USED');
    assert.deepEqual(used.map((l) => l.meta?.fields?.actor), ['cron:nightly-report', 'cli:bob'], 'one line per caller, not per request');
    assert.equal(used[0].meta?.fields?.path, '/admin/orgs');
    assert.equal(used[0].meta?.fields?.ip, '127.0.0.1');
    const everything = JSON.stringify(lines);
    assert.ok(!everything.includes(OLD_TOKEN) && !everything.includes(NEW_TOKEN), 'no token in any log line');
    assert.match(await metric(w, 'warden_admin_previous_token_requests_total'), /result="accepted"\} 4/, 'every use counted');
  } finally {
    await w.close();
  }
});

test('past its expiry the previous admin token is refused with a 401 that says it was replaced, and the refusal is logged', async () => {
  const { w, lines } = await start(new Date(Date.now() - 1000).toISOString());
  try {
    assert.ok(lines.some((l) => /admin\.previous_token expired at .* remove it/.test(l.line)), 'the start says it has expired');
    const old = await get(w, '/admin/orgs', OLD_TOKEN, 'cron:nightly-report');
    assert.equal(old.status, 401, 'the previous token no longer works');
    const body = await old.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'WARDEN_ADMIN_UNAUTHORIZED');
    assert.match(body.error.message, /replaced and stopped being accepted/, 'the caller learns why');
    assert.equal((await get(w, '/admin/orgs', NEW_TOKEN)).status, 200, 'the new token works');
    const refused = lines.filter((l) => l.meta?.code === 'ADMIN_PREVIOUS_TOKEN_EXPIRED');
    assert.equal(refused.length, 1, 'the refusal is logged');
    assert.equal(refused[0].meta?.fields?.actor, 'cron:nightly-report');
    assert.match(await metric(w, 'warden_admin_previous_token_requests_total'), /result="refused"\} 1/);
  } finally {
    await w.close();
  }
});

test('a previous admin token needs an expiry and must differ from the current one', () => {
  assert.throws(() => parseConfig({ admin: { token: NEW_TOKEN, previous_token: OLD_TOKEN } }), /previous_token_expires_at/, 'no expiry: refused');
  assert.throws(() => parseConfig({ admin: { token: NEW_TOKEN, previous_token: NEW_TOKEN, previous_token_expires_at: '2030-01-01T00:00:00Z' } }), /same as admin\.token/);
  assert.throws(() => parseConfig({ admin: { token: NEW_TOKEN, previous_token: 'short', previous_token_expires_at: '2030-01-01T00:00:00Z' } }), /at least 16/);
});
