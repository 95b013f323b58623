// `warden serve` on PostgreSQL when the database cannot be reached (through a TCP proxy the test
// stops), or accepts connections and never answers (the proxy stalls): at start, a `warden:` error
// naming the setting; while running, a key not in the node's cache is answered 503 in the client's
// API format, events are kept and written once the database is back without a request to trigger
// it; at shutdown, events it cannot write are counted and logged, and the stop ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openPostgres } from '../../src/store/index.ts';
import { TEST_POSTGRES_URL } from '../helpers/postgres.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { WARDEN } from '../helpers/node-args.ts';

const TOKEN = `adm_${randomBytes(12).toString('hex')}`;

interface Serve { proc: ChildProcess; lines: string[]; exited: Promise<number | null> }

/** `warden serve --config FILE`, its output collected line by line. */
function serve(configFile: string): Serve {
  const proc = spawn(process.execPath, [...WARDEN, 'serve', '--no-demo', '--config', configFile], {
    env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '', WARDEN_LOG_LEVEL: '' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [proc.stdout!, proc.stderr!]) createInterface({ input: stream }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, lines, exited };
}

async function until<T>(what: string, get: () => T | Promise<T>, ms = 15_000): Promise<NonNullable<T>> {
  for (const end = Date.now() + ms; ;) {
    const v = await get();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A URL of the test database through `port`, with a password and a private search path. */
function urlThrough(port: number, schema: string): string {
  const u = new URL(TEST_POSTGRES_URL);
  u.port = String(port);
  u.password = 'hunter2-not-shown';
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.href;
}

/**
 * `warden serve` on a PostgreSQL schema of its own, reached through a TCP proxy the test stops or
 * stalls, with an account and two keys: `used`, served once (so in the node's auth cache, its
 * event stored), and `unused`, never. `close()` stops the node if it still runs, the proxy, and
 * drops the schema.
 */
async function serveThroughProxy(name: string, settings: { authCacheTtlMs?: number; ledger?: boolean } = {}) {
  const schema = `store_${name}_${randomBytes(6).toString('hex')}`;
  const admin = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
  const dir = mkdtempSync(join(tmpdir(), `warden-pg-${name}-`));
  let s: Serve | null = null;
  const close = async () => {
    if (s && s.proc.exitCode === null) { s.proc.kill('SIGKILL'); await s.exited; }
    await proxy.stop();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    if (settings.ledger) await admin.query(`DROP SCHEMA IF EXISTS ${schema}_ledger CASCADE`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, JSON.stringify({
      server: { port: 0 },
      store: { driver: 'postgres', postgres_url: urlThrough(proxy.port, schema) },
      admin: { token: TOKEN },
      ledger: settings.ledger ? { postgres_schema: `${schema}_ledger`, key_file: join(dir, 'ledger.key') } : { enabled: false },
      log: { level: 'warn' },
      mock: { latency_ms: 0, tokens_per_second: 0 },
      identity: { auth_cache: { ttl_ms: settings.authCacheTtlMs ?? 600_000 } },
      events: { close_timeout_ms: 1500 },
    }));
    const node = serve(config);
    s = node;
    const url = await until('listening', () => node.lines.map((l) => /^Warden listening on (\S+)/.exec(l)?.[1]).find(Boolean), 120_000);
    const adminPost = async (path: string, body: object) => {
      const r = await fetch(`${url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.ok(r.status < 300, `${path}: ${r.status}`);
      return (await r.json()) as any;
    };
    const account = await adminPost('/accounts', { name, email: `${name}@example.org`, tier: 'email_verified' });
    const used = (await adminPost(`/accounts/${account.id}/keys`, { name: 'used' })).secret as string;
    const unused = (await adminPost(`/accounts/${account.id}/keys`, { name: 'not yet used' })).secret as string;
    const chat = (key: string) => fetch(`${url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    const stored = async () => (await admin.query(`SELECT COUNT(*)::int AS n FROM ${schema}.events WHERE account_id = $1`, [account.id])).rows[0].n as number;
    assert.equal((await chat(used)).status, 200); // now in the node's auth cache
    await until('the first event stored', async () => (await stored()) === 1);
    return { s: node, url, proxy, used, unused, chat, stored, close };
  } catch (err) {
    await close();
    throw err;
  }
}

test('PostgreSQL unreachable at start: a warden: error naming the setting, without the password', { timeout: 60_000 }, async () => {
  const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
  await proxy.stop(); // a port where nothing answers
  const dir = mkdtempSync(join(tmpdir(), 'warden-pg-down-'));
  try {
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, JSON.stringify({ server: { port: 0 }, store: { driver: 'postgres', postgres_url: urlThrough(proxy.port, 'public') }, ledger: { enabled: false } }));
    const s = serve(config);
    assert.equal(await s.exited, 1);
    const out = s.lines.join('\n');
    assert.match(out, new RegExp(`^warden: cannot use PostgreSQL at store\\.postgres_url postgres://[^\\s]*@127\\.0\\.0\\.1:${proxy.port}/[^\\s]*: connect ECONNREFUSED`, 'm'));
    assert.ok(!out.includes('hunter2'), 'the password is not shown');
    assert.ok(!/unhandled|at async|node_modules/i.test(out), `no stack trace:\n${out}`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a PostgreSQL outage while serving: 503 for uncached keys, events kept and written, counted when lost at shutdown', { timeout: 90_000 }, async () => {
  const { s, url, proxy, unused, used, chat, stored, close } = await serveThroughProxy('outage');
  try {
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text())?.[1]);

    await proxy.stop();
    // A key the node has not cached cannot be checked: 503 with retry-after, in each API's format.
    const refused = await chat(unused);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    const body = (await refused.json()) as any;
    assert.equal(body.error.warden_code, 'WARDEN_STORE_UNAVAILABLE');
    assert.equal(body.error.type, 'server_error');
    const anthropic = await fetch(`${url}/v1/messages`, {
      method: 'POST', headers: { 'x-api-key': unused, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(anthropic.status, 503);
    const aBody = (await anthropic.json()) as any;
    assert.equal(aBody.type, 'error');
    assert.equal(aBody.error.type, 'overloaded_error');
    assert.equal(aBody.error.code, 'WARDEN_STORE_UNAVAILABLE');

    // The cached key is served; its events wait in memory.
    for (let i = 0; i < 5; i++) assert.equal((await chat(used)).status, 200);
    await until('events kept', async () => (await metric('warden_events_pending')) >= 5);
    // The outage is logged once a write has failed (a write waiting for a connection has not yet).
    const outageLines = () => s.lines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter((l) => l?.code === 'EVENT_STORE_UNREACHABLE');
    await until('the outage logged', async () => outageLines().length > 0, 20_000);

    // The database is back and no request comes: the events are written all the same.
    await proxy.start();
    await until('kept events written', async () => (await stored()) === 6, 20_000);
    assert.equal(await metric('warden_events_pending'), 0);
    assert.equal(await metric('warden_events_dropped'), 0);
    // The outage is one JSON line with a stable code, not a stack trace per retry.
    const down = outageLines();
    assert.equal(down.length, 1, `one line for the outage, not one per retry:\n${s.lines.join('\n')}`);
    assert.equal(down[0].level, 50, 'logged at error level');
    assert.ok(!s.lines.some((l) => l.includes('"stack"')), `no stack trace in the log:\n${s.lines.join('\n')}`);

    // Down again, then a stop: the node tries for events.close_timeout_ms, then says what it lost.
    // (Refusals are recorded too; the cached key may be gone: a node back on its NOTIFY connection
    // clears its cache, having perhaps missed changes.)
    await proxy.stop();
    for (let i = 0; i < 3; i++) assert.equal((await chat(unused)).status, 503);
    await until('events kept', async () => (await metric('warden_events_pending')) >= 3);
    const t0 = Date.now();
    s.proc.kill('SIGTERM');
    assert.equal(await s.exited, 0);
    const took = Date.now() - t0;
    assert.ok(took >= 1400, `kept trying before giving up (${took} ms)`);
    const lost = s.lines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((l) => l?.msg?.includes('not recorded'));
    assert.ok(lost, `a log line says what was lost:\n${s.lines.join('\n')}`);
    assert.equal(lost.lost, 3);
    assert.match(lost.msg, /3 events not recorded/);
    await proxy.start();
    assert.equal(await stored(), 6);
  } finally {
    await close();
  }
});

test('PostgreSQL that accepts connections and never answers, at start: a warden: error naming the setting, not a hang', { timeout: 90_000 }, async () => {
  const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
  await proxy.stall();
  const dir = mkdtempSync(join(tmpdir(), 'warden-pg-stalled-'));
  try {
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, JSON.stringify({ server: { port: 0 }, store: { driver: 'postgres', postgres_url: urlThrough(proxy.port, 'public') }, ledger: { enabled: false } }));
    const s = serve(config);
    // Loading the modules takes seconds already; without a connect timeout it would wait forever.
    const code = await Promise.race([s.exited, new Promise((r) => setTimeout(() => r('still waiting'), 60_000).unref())]);
    if (code === 'still waiting') s.proc.kill('SIGKILL');
    assert.equal(code, 1);
    const out = s.lines.join('\n');
    assert.match(out, new RegExp(`^warden: cannot use PostgreSQL at store\\.postgres_url postgres://[^\\s]*:\\*\\*\\*@127\\.0\\.0\\.1:${proxy.port}/[^\\s]*: (Connection terminated due to connection timeout|timeout exceeded when trying to connect)`, 'm'));
    assert.ok(!out.includes('hunter2'), 'the password is not shown');
  } finally {
    await proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL that stops answering while serving: 503 for uncached keys within seconds, and a stop that ends soon after events.close_timeout_ms', { timeout: 120_000 }, async () => {
  const { s, proxy, unused, used, chat, close } = await serveThroughProxy('stall');
  try {
    // Connections open and new ones accepted, nothing answered.
    await proxy.stall();
    const t0 = Date.now();
    const refused = await chat(unused);
    const took = Date.now() - t0;
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as any).error.warden_code, 'WARDEN_STORE_UNAVAILABLE');
    assert.ok(took < 12_000, `answered within the statement and connect timeouts (${took} ms)`);
    assert.equal((await chat(used)).status, 200, 'a cached key is served');

    const t1 = Date.now();
    s.proc.kill('SIGTERM');
    assert.equal(await s.exited, 0);
    const stopping = Date.now() - t1;
    // events.close_timeout_ms, then one write of the keys' last-use times (5 s statement timeout), then 2 s to close the connections:
    // about 9.5 s on a quiet machine, so a margin of 4 s for a loaded one (the whole suite at once); a stop that hangs is far over it.
    assert.ok(stopping < 1500 + 5000 + 2000 + 4000, `stopped soon after events.close_timeout_ms (${stopping} ms)`);
    const out = s.lines.join('\n');
    assert.match(out, /events (not recorded|were being written, whether they are recorded is not known)/, out);
  } finally {
    await close();
  }
});

// A restart or failover of PostgreSQL longer than the auth cache's ttl: the keys the node has
// served keep working and the node stays ready (stale-if-error); the admin API says the store is
// away (503, not 500); every outage line in the JSON log has its component and a stable code.
test('a PostgreSQL outage past the auth cache ttl: cached keys still served, /readyz ready, admin 503, outage lines with component and code', { timeout: 90_000 }, async () => {
  const { s, url, proxy, used, unused, chat, close } = await serveThroughProxy('stale', { authCacheTtlMs: 1000 });
  try {
    await proxy.stop();
    await new Promise((r) => setTimeout(r, 2500)); // past ttl_ms
    assert.equal((await chat(used)).status, 200, 'a key the node served before the outage still works past its ttl');
    assert.equal((await chat(unused)).status, 503, 'a key it never saw cannot be checked');
    assert.equal((await fetch(`${url}/readyz`)).status, 200, 'the node holds keys it can serve: it stays ready');
    const admin = await fetch(`${url}/admin/orgs`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(admin.status, 503, 'the admin API says the store is away');
    assert.equal(((await admin.json()) as any).error.code, 'WARDEN_STORE_UNAVAILABLE');
    assert.ok(admin.headers.get('retry-after'), 'with retry-after');
    const json = () => s.lines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
    await until('the stale serving is logged', () => json().some((l) => l.code === 'IDENTITY_STALE_AUTH'), 20_000);
    await until('the event store outage is logged', () => json().some((l) => l.code === 'EVENT_STORE_UNREACHABLE'), 20_000);
    await proxy.start();
    await until('the store is back for the authenticator', async () => { await chat(used); return json().some((l) => l.code === 'IDENTITY_STORE_RECOVERED'); }, 20_000);
    await until('event writes are back', () => json().some((l) => l.code === 'EVENT_STORE_RECOVERED'), 20_000);
    const coded = json().filter((l) => l.code);
    const lacking = coded.filter((l) => typeof l.component !== 'string');
    assert.deepEqual(lacking.map((l) => l.code), [], `every line with a code names its component:\n${s.lines.join('\n')}`);
  } finally {
    await close();
  }
});

// A PostgreSQL that stops answering holds each query for its 5 s timeout. The probes and the
// scrape must not wait that long: a load balancer gives a health check a second or a few
// (Kubernetes: 1 s by default) and would take every node out at once, although each still serves
// the keys it has cached; Prometheus would lose the metrics of the outage itself.
test('PostgreSQL that stops answering: /readyz and /metrics still answer a probe\'s timeout, ready while cached keys are served', { timeout: 180_000 }, async () => {
  const { url, proxy, used, chat, close } = await serveThroughProxy('probes', { ledger: true });
  try {
    // What a load balancer or Prometheus does: give up on an answer after a few seconds.
    const probe = async (path: string) => {
      try {
        const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(3000) });
        return { status: r.status, body: await r.text() };
      } catch (err) {
        return { status: 0, body: String((err as Error).name) };
      }
    };
    assert.equal((await probe('/readyz')).status, 200);
    await proxy.stall();
    for (let round = 0; round < 3; round++) {
      const ready = await probe('/readyz');
      assert.equal(ready.status, 200, `round ${round}: /readyz answers, ready (the node serves its cached keys): ${ready.status} ${ready.body}`);
      const metrics = await probe('/metrics');
      assert.equal(metrics.status, 200, `round ${round}: /metrics answers: ${metrics.status} ${metrics.body}`);
      assert.match(metrics.body, /^warden_ledger_unconfigured_keys 0$/m, 'the ledger gauge keeps its last figure');
      // Past the store's own 5 s timeout the check has failed: the cached key keeps the node ready.
      if (round === 0) await new Promise((r) => setTimeout(r, 6000));
    }
    assert.equal((await chat(used)).status, 200, 'the cached key is served');
  } finally {
    await proxy.start();
    await close();
  }
});
