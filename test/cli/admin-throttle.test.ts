// Wrong admin tokens are throttled per client address (admin.failed_auth_*): past the limit, the
// address's admin requests (the API, the dashboard's sign-in, the ledger reads that take the admin
// token) get 429 with retry-after before their token is checked, so guessing goes no faster than
// the limit. The client address is the gateway's (server.trusted_proxies): an operator on another
// address, and the CLI, keep working; an X-Forwarded-For that no trusted proxy wrote buys nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';
import { runAdminCommand } from '../../src/admin/index.ts';

const GUESSER = '203.0.113.7';
const OPERATOR = '198.51.100.20';
const WRONG = 'adm_wrong_guess_0000000000000000';

async function metric(url: string, name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text());
  assert.ok(m, `${name} is served at /metrics`);
  return Number(m[1]);
}

test('past admin.failed_auth_limit wrong tokens, an address gets 429 with retry-after whatever token it sends; other addresses and the CLI are unaffected', async () => {
  const lines: string[] = [];
  const t = await startTestWarden({
    server: { port: 0, trusted_proxies: ['loopback'] },
    admin: { token: TEST_ADMIN_TOKEN, failed_auth_limit: 5, failed_auth_window_s: 60, failed_auth_block_s: 300 },
  }, { log: (l) => lines.push(l) });
  try {
    const call = (token: string | null, from: string, path = '/admin/orgs') =>
      fetch(`${t.url}${path}`, { headers: { 'x-forwarded-for': from, ...(token ? { authorization: `Bearer ${token}` } : {}) } });

    // Requests without a token guess nothing: not counted.
    for (let i = 0; i < 8; i++) assert.equal((await call(null, GUESSER)).status, 401, 'no token: 401');
    for (let i = 0; i < 5; i++) assert.equal((await call(`${WRONG}${i}`, GUESSER)).status, 401, `guess ${i + 1} is refused as a wrong token`);

    const blocked = await call(`${WRONG}x`, GUESSER);
    assert.equal(blocked.status, 429, 'the sixth guess is not checked');
    const retry = Number(blocked.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 300, `retry-after within the block (got ${blocked.headers.get('retry-after')})`);
    const body = await blocked.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'WARDEN_RATE_LIMITED');
    assert.match(body.error.message, /too many wrong admin tokens from this address/);
    assert.equal((await call(TEST_ADMIN_TOKEN, GUESSER)).status, 429, 'even the right token from the blocked address is refused unchecked');
    assert.equal((await call(TEST_ADMIN_TOKEN, GUESSER, '/admin/dashboard/features')).status, 429, 'the dashboard\'s sign-in is throttled too');
    assert.equal((await call(TEST_ADMIN_TOKEN, GUESSER, '/ledger/v1/key')).status, 429, 'the ledger reads that take the admin token too');

    // An operator behind the same trusted proxy, on another address, is not held back.
    assert.equal((await call(TEST_ADMIN_TOKEN, OPERATOR)).status, 200, 'another address with the right token');
    assert.equal((await call(TEST_ADMIN_TOKEN, OPERATOR, '/ledger/v1/key')).status, 200, 'another address reads the ledger');
    // The CLI against the server (from the machine itself, its own address).
    const out: string[] = [];
    const err: string[] = [];
    const code = await runAdminCommand('orgs', ['list', '--url', t.url, '--token', TEST_ADMIN_TOKEN, '--json'], { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
    assert.equal(code, 0, `the CLI works: ${err.join('\n')}`);

    assert.equal(await metric(t.url, 'warden_admin_auth_failures_total'), 5, 'the wrong tokens are counted, not the requests without one');
    assert.equal(await metric(t.url, 'warden_admin_auth_throttled_total'), 4, 'the requests refused unchecked are counted');
    assert.equal(await metric(t.url, 'warden_admin_auth_blocked_addresses'), 1);

    const said = lines.filter((l) => l.includes('wrong admin tokens'));
    assert.equal(said.length, 1, `the block is logged once:\n${lines.join('\n')}`);
    // The address as counted: the client address behind the trusted proxy (an IPv4 address is its own /32).
    assert.match(said[0], new RegExp(`5 wrong admin tokens from ${GUESSER.replace(/\./g, '\\.')}(/32)? within 60s`));
    assert.ok(!lines.some((l) => l.includes(WRONG) || l.includes(TEST_ADMIN_TOKEN)), 'no token is logged');
  } finally {
    await t.close();
  }
});

test('without a trusted proxy, X-Forwarded-For does not make new addresses; guesses at the ledger reads count with the admin API\'s', async () => {
  const t = await startTestWarden({ admin: { token: TEST_ADMIN_TOKEN, failed_auth_limit: 3 } });
  try {
    const call = (token: string, from: string, path: string) => fetch(`${t.url}${path}`, { headers: { 'x-forwarded-for': from, authorization: `Bearer ${token}` } });
    assert.equal((await call(`${WRONG}1`, '192.0.2.1', '/admin/orgs')).status, 401);
    assert.equal((await call(`${WRONG}2`, '192.0.2.2', '/ledger/v1/checkpoint')).status, 401, 'a wrong secret at the ledger reads');
    assert.equal((await call(`${WRONG}3`, '192.0.2.3', '/admin/orgs')).status, 401);
    const r = await call(TEST_ADMIN_TOKEN, '192.0.2.4', '/admin/orgs');
    assert.equal(r.status, 429, 'the socket address is the client: the forged hops are one address, now blocked');
    assert.ok(Number(r.headers.get('retry-after')) >= 1, 'retry-after is given');
    const ledger = await call(TEST_ADMIN_TOKEN, '192.0.2.5', '/ledger/v1/key');
    assert.equal(ledger.status, 429);
    assert.equal((await ledger.json() as { error: { code: string } }).error.code, 'LEDGER_RATE_LIMITED');
  } finally {
    await t.close();
  }
});

test('admin.failed_auth_limit: 0 turns the throttle off', async () => {
  const t = await startTestWarden({ admin: { token: TEST_ADMIN_TOKEN, failed_auth_limit: 0 } });
  try {
    for (let i = 0; i < 12; i++) assert.equal((await fetch(`${t.url}/admin/orgs`, { headers: { authorization: `Bearer ${WRONG}${i}` } })).status, 401);
    assert.equal((await fetch(`${t.url}/admin/orgs`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).status, 200, 'the right token still works');
    assert.equal(await metric(t.url, 'warden_admin_auth_failures_total'), 12, 'failures are still counted');
  } finally {
    await t.close();
  }
});
