import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { randomBytes } from 'node:crypto';
import { openSqlite, openPostgres } from '../store/index.ts';
import { SqliteIdentityStore, PostgresIdentityStore, CachedAuthenticator } from '../identity/index.ts';
import { adminPlugin } from './plugin.ts';
import { runAdminCommand, parseDuration, type AdminGroup } from './commands.ts';

const TOKEN = 'cli-test-admin-token-0123456789';
const TEST_POSTGRES_URL = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function capture(env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out, err,
    run: (group: AdminGroup, argv: string[]) => runAdminCommand(group, argv, { out: (t) => out.push(t), err: (t) => err.push(t), env }),
    text: () => out.join('\n'),
    reset: () => { out.length = 0; err.length = 0; },
  };
}

describe('admin commands on the local store', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-admin-cli-'));
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `store:\n  driver: sqlite\n  sqlite_path: ${join(dir, 'warden.db')}\nidentity:\n  fingerprint_secret: env:TEST_FP_SECRET\n`);
    env = { WARDEN_CONFIG: config, TEST_FP_SECRET: 'cli-fp-secret' };
  });
  after(() => { rmSync(dir, { recursive: true, force: true }); });

  it('creates an org, account and key; lists without the secret; revokes', async () => {
    const c = capture(env);
    assert.equal(await c.run('orgs', ['create', '--name', 'Acme', '--tier', 'enterprise', '--json']), 0);
    const org = JSON.parse(c.text());
    assert.equal(org.tier, 'enterprise');
    c.reset();
    assert.equal(await c.run('accounts', ['create', '--org', org.id, '--email', 'a@acme.example', '--payment-instrument', 'pm_123', '--country', 'fr', '--json']), 0);
    const acct = JSON.parse(c.text());
    assert.equal(acct.claimed_country, 'FR');
    assert.match(acct.payment_fp, /^[0-9a-f]{64}$/);
    c.reset();
    assert.equal(await c.run('keys', ['create', '--account', acct.id, '--name', 'ci', '--scope', 'inference', '--scope', 'models:read', '--expires-in', '30d']), 0);
    const secret = /^secret: (\S+)$/m.exec(c.text())![1];
    assert.match(secret, /^wk_live_/);
    assert.match(c.err.join('\n'), /cannot show it again/);
    const keyId = /^id\s+(key_\S+)$/m.exec(c.text())![1];

    // The key works against the same database file.
    const db = openSqlite(join(dir, 'warden.db'));
    const store = new SqliteIdentityStore(db);
    try {
      assert.equal((await store.authenticate(secret)).key.id, keyId);
      c.reset();
      assert.equal(await c.run('keys', ['list', '--account', acct.id]), 0);
      assert.match(c.text(), new RegExp(keyId));
      assert.ok(!c.text().includes(secret.slice(-40)), 'list printed the secret');
      c.reset();
      assert.equal(await c.run('keys', ['revoke', keyId, '--reason', 'test']), 0);
      await assert.rejects(store.authenticate(secret), (e: { code?: string }) => e.code === 'WARDEN_REVOKED_API_KEY');
      c.reset();
      assert.equal(await c.run('accounts', ['suspend', acct.id, '--reason', 'fraud ring']), 0);
      c.reset();
      assert.equal(await c.run('accounts', ['history', acct.id]), 0);
      assert.match(c.text(), /suspended/);
      assert.match(c.text(), /cli:/);
    } finally { db.close(); }
  });

  it('reports usage and validation errors with non-zero exit codes', async () => {
    const c = capture(env);
    assert.equal(await c.run('orgs', ['create']), 2);
    assert.match(c.err.join('\n'), /--name is required/);
    c.reset();
    assert.equal(await c.run('orgs', ['frobnicate']), 2);
    c.reset();
    assert.equal(await c.run('orgs', ['create', '--name', 'x', '--bogus']), 2);
    c.reset();
    // A bad option value is a usage error (2) whether the CLI or the store refuses it.
    assert.equal(await c.run('orgs', ['create', '--name', 'x', '--tier', 'gold']), 2);
    assert.match(c.err.join('\n'), /tier/);
    c.reset();
    assert.equal(await c.run('orgs', ['list', '--limit', '0']), 2);
    assert.equal(await c.run('orgs', ['list', '--limit', 'abc']), 2);
    assert.equal(await c.run('accounts', ['list', '--status', 'bogus']), 2);
    assert.equal(await c.run('keys', ['create', '--account', 'acct_x', '--expires-in', '90x']), 2);
    c.reset();
    // A bare number is refused rather than read as seconds (a key meant for 90 days dying in 90 s).
    assert.equal(await c.run('keys', ['create', '--account', 'acct_x', '--expires-in', '90']), 2);
    assert.match(c.err.join('\n'), /--expires-in: 90 has no unit: write 90s, 90m, 90h or 90d/);
    c.reset();
    assert.equal(await c.run('orgs', ['list', '--url', 'notaurl', '--token', 'x']), 2);
    assert.match(c.err.join('\n'), /--url: notaurl is not an http\(s\) URL/);
    c.reset();
    assert.equal(await c.run('keys', ['get', 'key_missing']), 1);
    assert.match(c.err.join('\n'), /WARDEN_NOT_FOUND/);
    c.reset();
    // The history of an account that does not exist is an error like \`accounts get\`, not "(none)".
    assert.equal(await c.run('accounts', ['history', 'acct_nope']), 1);
    assert.match(c.err.join('\n'), /account acct_nope not found \(WARDEN_NOT_FOUND\)/);
    assert.doesNotMatch(c.text(), /\(none\)/);
    c.reset();
    assert.equal(await c.run('keys', ['--help']), 0);
    assert.match(c.text(), /warden keys create/);
  });

  it('prints a customer\'s text inert: no terminal escape reaches the terminal, no line break forges a row', async () => {
    // Signup facts come from the customer (its signup form, its browser): a name or user agent may
    // carry ESC sequences (clear the screen, retitle the window, recolour), C1 controls, line breaks.
    const c = capture(env);
    const name = 'Eve\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202eRED';
    assert.equal(await c.run('orgs', ['create', '--name', 'Escapes', '--json']), 0);
    const org = JSON.parse(c.text());
    c.reset();
    // A name is refused with them, naming the first one; a user agent is recorded as given.
    assert.equal(await c.run('accounts', ['create', '--org', org.id, '--name', name, '--json']), 2);
    assert.match(c.err.join('\n'), /name: U\+001B is not allowed in a name/);
    c.reset();
    assert.equal(await c.run('accounts', ['create', '--org', org.id, '--name', 'Eve', '--user-agent', 'UA\r\nforged: row', '--json']), 0);
    const acct = JSON.parse(c.text());
    assert.equal(acct.user_agent, 'UA\r\nforged: row', 'the record keeps the user agent as given (--json prints it JSON-escaped)');
    c.reset();
    const renamed = 'Mallory\u001b[1A\u001b[2K\nforged row';
    assert.equal(await c.run('accounts', ['update', acct.id, '--name', renamed]), 2);
    assert.match(c.err.join('\n'), /U\+001B is not allowed in a name/);
    c.reset();
    assert.equal(await c.run('accounts', ['update', acct.id, '--name', 'Mallory']), 0);
    // A name recorded before names were checked (or written by other means) is still printed inert.
    const db = openSqlite(join(dir, 'warden.db'));
    db.prepare('UPDATE accounts SET name = ? WHERE id = ?').run(renamed, acct.id);
    db.prepare('UPDATE identity_changes SET new_value = ? WHERE subject_id = ? AND new_value = ?').run(renamed, acct.id, 'Mallory');
    db.close();
    for (const argv of [['accounts', 'get', acct.id], ['accounts', 'list', '--org', org.id], ['changes', '--subject', acct.id]]) {
      c.reset();
      assert.equal(await c.run(argv[0] as AdminGroup, argv.slice(1)), 0, c.err.join('\n'));
      const text = c.text();
      assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/.test(text), `${argv.join(' ')}: no control character printed: ${JSON.stringify(text)}`);
      assert.ok(text.split('\n').every((l) => !/^(?:fake|forged)/.test(l.trim())), `${argv.join(' ')}: no forged line: ${JSON.stringify(text)}`);
    }
    c.reset();
    assert.equal(await c.run('changes', ['--subject', acct.id]), 0);
    assert.match(c.text(), /Mallory\\x1b\[1A\\x1b\[2K\\nforged row/, 'the history shows the old name as escapes');
    c.reset();
    assert.equal(await c.run('accounts', ['get', acct.id]), 0);
    assert.match(c.text(), /name\s+Mallory\\x1b\[1A\\x1b\[2K\\nforged row/, 'the controls are shown as escapes');
    assert.match(c.text(), /user_agent\s+UA\\r\\nforged: row/, 'the user agent on one line');
  });
});

describe('admin commands against a running server', () => {
  it('use the admin API with --url and the token from the environment', async () => {
    const db = openSqlite(':memory:');
    const store = new SqliteIdentityStore(db);
    const app = Fastify();
    await app.register(adminPlugin, { prefix: '/admin', store, token: TOKEN });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const c = capture({ WARDEN_ADMIN_TOKEN: TOKEN });
      assert.equal(await c.run('accounts', ['create', '--url', url, '--email', 'r@remote.example', '--json']), 0);
      const acct = JSON.parse(c.text());
      c.reset();
      assert.equal(await c.run('keys', ['create', '--url', url, '--account', acct.id, '--json']), 0);
      const created = JSON.parse(c.text());
      assert.equal((await store.authenticate(created.secret)).account.id, acct.id);
      c.reset();
      assert.equal(await c.run('keys', ['rotate', created.key.id, '--url', url, '--grace', '1h', '--json']), 0);
      const rotated = JSON.parse(c.text());
      assert.equal(rotated.previous.status, 'rotating');
      await store.authenticate(created.secret);
      await store.authenticate(rotated.secret);
      c.reset();
      assert.equal(await c.run('changes', ['--url', url, '--subject', created.key.id, '--json']), 0);
      assert.ok(JSON.parse(c.text()).data.some((x: { action: string; actor: string }) => x.action === 'rotate' && x.actor.startsWith('cli:')));

      // The admin API's address as `warden serve` prints it (…/admin) works as --url too.
      c.reset();
      assert.equal(await c.run('orgs', ['list', '--url', `${url}/admin`]), 0, c.err.join('\n'));
      assert.equal(await c.run('orgs', ['list', '--url', `${url}/admin/`]), 0, c.err.join('\n'));

      const bad = capture({ WARDEN_ADMIN_TOKEN: 'wrong-token-wrong-token' });
      assert.equal(await bad.run('orgs', ['list', '--url', url]), 1);
      assert.match(bad.err.join('\n'), /WARDEN_ADMIN_UNAUTHORIZED/);
    } finally {
      await app.close();
      db.close();
    }
  });
});

describe('admin commands on a local PostgreSQL store', () => {
  it('a key revoked from the command line is refused by running nodes at once, not after their cache expires', async () => {
    const schema = `admin_cli_${randomBytes(6).toString('hex')}`;
    const adminPool = openPostgres(TEST_POSTGRES_URL, { max: 1 });
    await adminPool.query(`CREATE SCHEMA ${schema}`);
    const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const dir = mkdtempSync(join(tmpdir(), 'warden-admin-cli-pg-'));
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `store:\n  driver: postgres\n  postgres_url: "${url}"\nidentity:\n  fingerprint_secret: env:TEST_FP_SECRET\n`);
    const c = capture({ WARDEN_CONFIG: config, TEST_FP_SECRET: 'cli-fp-secret' });
    // A running node: its own pool, listening, and an auth cache that would keep the key a minute.
    const nodePool = openPostgres(url, { max: 2 });
    const nodeStore = new PostgresIdentityStore(nodePool, { fingerprintSecret: 'cli-fp-secret' });
    const auth = new CachedAuthenticator(nodeStore, { ttlMs: 60_000 });
    try {
      assert.equal(await c.run('accounts', ['create', '--email', 'pg@example.org', '--json']), 0);
      const acct = JSON.parse(c.text());
      c.reset();
      assert.equal(await c.run('keys', ['create', '--account', acct.id, '--name', 'ci']), 0);
      const secret = /^secret: (\S+)$/m.exec(c.text())![1];
      const keyId = /^id\s+(key_\S+)$/m.exec(c.text())![1];
      await nodeStore.listening();
      assert.equal((await auth.authenticate(secret)).key.id, keyId, 'cached on the node');

      c.reset();
      assert.equal(await c.run('keys', ['revoke', keyId, '--reason', 'leaked']), 0);
      let refused: unknown = null;
      for (const end = Date.now() + 3000; !refused && Date.now() < end;) {
        await auth.authenticate(secret).then(() => new Promise((r) => setTimeout(r, 20)), (e) => { refused = e; });
      }
      assert.equal((refused as { code?: string } | null)?.code, 'WARDEN_REVOKED_API_KEY', 'the node heard of the revocation');
    } finally {
      await auth.close();
      await nodeStore.close();
      await nodePool.end();
      await adminPool.query(`DROP SCHEMA ${schema} CASCADE`);
      await adminPool.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseDuration', () => {
  it('reads common units', () => {
    assert.equal(parseDuration('90d'), 90 * 86400);
    assert.equal(parseDuration('1h'), 3600);
    assert.equal(parseDuration('45s'), 45);
    assert.throws(() => parseDuration('45'), /45 has no unit/, 'a bare number is refused');
    assert.throws(() => parseDuration('soon'));
  });
});
