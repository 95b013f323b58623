// The authenticator's stop while the key store fails slowly (a database that stopped answering):
// it writes the keys' last-use times once, and does not wait a second time on the same store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqlite } from '../store/index.ts';
import { SqliteIdentityStore } from './sqlite.ts';
import { CachedAuthenticator } from './cache.ts';
import { until } from '../../test/helpers/until.ts';

/** An in-memory key store with one account and one key of it. */
async function storeWithKey() {
  const db = openSqlite(':memory:');
  const store = new SqliteIdentityStore(db);
  const org = await store.createOrg({ name: 'o', tier: 'email_verified' });
  const account = await store.createAccount({ org_id: org.id, name: 'a', email: 'a@example.org', tier: 'email_verified' });
  const { secret, key } = await store.createKey(account.id, { name: 'k' });
  return { db, store, account, secret, key };
}

test('a stop with a store that does not answer waits for one last-use write, not two', async () => {
  const { db, store, secret } = await storeWithKey();
  let writes = 0;
  let failed = 0;
  // Each write fails after 300 ms, as one that times out does.
  store.touchKeys = async () => { writes++; await new Promise((r) => setTimeout(r, 300)); failed++; throw new Error('Query read timeout'); };
  const auth = new CachedAuthenticator(store, { flushMs: 60_000 });
  try {
    await auth.authenticate(secret);
    await auth.close();
    assert.equal(failed, 1, 'the stop waited for the write to end');
    // Long enough for a second attempt (and its 300 ms failure) to have started, had there been one.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(writes, 1, 'one attempt, not a second after the first failed');
  } finally {
    await store.close();
    db.close();
  }
});

// A PostgreSQL restart or failover of a few seconds: keys this node has cached keep working past
// their ttl while the store cannot be reached (bounded by staleIfErrorMs); keys it never saw get 503.
async function outageFixture(opts: { staleIfErrorMs?: number } = {}) {
  const { db, store, account, secret, key } = await storeWithKey();
  const { secret: unseen } = await store.createKey(account.id, { name: 'never used on this node' });
  const clock = { t: 1_000_000 };
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const log = { warn: (obj: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', obj, msg }), info: (obj: Record<string, unknown>, msg: string) => lines.push({ level: 'info', obj, msg }) };
  const auth = new CachedAuthenticator(store, { ttlMs: 5_000, flushMs: 3_600_000, now: () => clock.t, staleIfErrorMs: opts.staleIfErrorMs, log });
  const lookup = store.lookupKey.bind(store);
  let down = false;
  store.lookupKey = async (id) => {
    if (down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    return lookup(id);
  };
  return {
    store, auth, secret, key, unseen, account, clock, lines,
    setDown(v: boolean) { down = v; },
    async close() { await auth.close(); await store.close(); db.close(); },
  };
}

test('a cached key keeps working past its ttl while the key store is unreachable; an uncached one gets 503', async () => {
  const f = await outageFixture();
  try {
    assert.equal((await f.auth.authenticate(f.secret)).account.id, f.account.id);
    f.setDown(true);
    f.clock.t += 30_000; // well past ttl_ms: a 30 s failover
    const during = await f.auth.authenticate(f.secret).catch((e: unknown) => e);
    assert.ok(!(during instanceof Error), `the cached key is served during the outage (got ${(during as Error)?.message})`);
    await assert.rejects(f.auth.authenticate(f.unseen), (e: { code?: string }) => e.code === 'WARDEN_STORE_UNAVAILABLE', 'a key this node never cached cannot be checked: 503');
    f.clock.t += 1_000;
    await f.auth.authenticate(f.secret);
    assert.ok(f.auth.servesStale(), 'the node can still serve keys: it stays ready');
    assert.ok(f.auth.stats().staleHits >= 2, `stale answers are counted (${f.auth.stats().staleHits})`);
    const warned = f.lines.filter((l) => l.obj.code === 'IDENTITY_STALE_AUTH');
    assert.equal(warned.length, 1, `one warning per outage: ${JSON.stringify(f.lines)}`);
    assert.equal(warned[0]!.obj.component, 'identity', 'the line names its component');
    f.setDown(false);
    f.clock.t += 6_000;
    await f.auth.authenticate(f.secret);
    assert.ok(f.lines.some((l) => l.obj.code === 'IDENTITY_STORE_RECOVERED' && l.level === 'info'), `a recovery line: ${JSON.stringify(f.lines)}`);
  } finally {
    await f.close();
  }
});

test('stale entries are bounded by staleIfErrorMs, and a revocation notice still wins during the outage', async () => {
  const f = await outageFixture({ staleIfErrorMs: 60_000 });
  try {
    await f.auth.authenticate(f.secret);
    f.setDown(true);
    f.clock.t += 5_000 + 61_000; // past ttl + stale bound
    await assert.rejects(f.auth.authenticate(f.secret), (e: { code?: string }) => e.code === 'WARDEN_STORE_UNAVAILABLE', 'past the stale bound: 503');

    f.setDown(false);
    await f.auth.authenticate(f.secret);
    f.setDown(true);
    f.clock.t += 10_000;
    await f.auth.authenticate(f.secret); // stale, served
    // A change notice (another node's revoke, through NOTIFY) drops the entry: not served stale.
    (f.store as unknown as { emitLocal(n: unknown): void }).emitLocal({ type: 'key', id: f.key.id, lookup_id: 'elsewhere' });
    await assert.rejects(f.auth.authenticate(f.secret), (e: { code?: string }) => e.code === 'WARDEN_STORE_UNAVAILABLE', 'a dropped entry is not served stale');
  } finally {
    await f.close();
  }
});

test('staleIfErrorMs 0 keeps the old behaviour: 503 once the ttl is past', async () => {
  const f = await outageFixture({ staleIfErrorMs: 0 });
  try {
    await f.auth.authenticate(f.secret);
    f.setDown(true);
    f.clock.t += 6_000;
    await assert.rejects(f.auth.authenticate(f.secret), (e: { code?: string }) => e.code === 'WARDEN_STORE_UNAVAILABLE');
  } finally {
    await f.close();
  }
});

test('the recovery is said when the store answers again, not at the next request, and with the time it took', async () => {
  const f = await outageFixture();
  try {
    await f.auth.authenticate(f.secret);
    f.setDown(true);
    f.clock.t += 6_000;
    await f.auth.authenticate(f.secret); // served stale: the outage is noticed here
    f.clock.t += 61_000; // a 61 s outage
    f.setDown(false);
    // No request comes: a quiet node. The line comes anyway, with the outage as this node saw it.
    const back = await until('a recovery line without a request', () => f.lines.find((l) => l.obj.code === 'IDENTITY_STORE_RECOVERED'), 10_000);
    assert.equal(back.obj.seconds, 61, `the figure runs to the store answering: ${back.msg}`);
    assert.match(back.msg, /answers again, 61\.0 s after the first key served from the cache past its ttl; 1 requests were authenticated that way/);
    // Thirty seconds later a request comes: its key is read afresh, and no second outage is reported.
    f.clock.t += 30_000;
    const staleBefore = f.auth.stats().staleHits;
    assert.equal((await f.auth.authenticate(f.secret)).account.id, f.account.id);
    assert.equal(f.auth.stats().staleHits, staleBefore, 'a key is not served stale once the store answers');
    assert.equal(f.lines.filter((l) => l.obj.code === 'IDENTITY_STALE_AUTH').length, 1, `one outage, one warning: ${JSON.stringify(f.lines)}`);
    assert.equal(f.lines.filter((l) => l.obj.code === 'IDENTITY_STORE_RECOVERED').length, 1, 'one recovery line');
  } finally {
    await f.close();
  }
});

test('a key served stale is read afresh once the store answers, not served stale again until its retry time', async () => {
  const f = await outageFixture();
  try {
    const { secret: other } = await f.store.createKey(f.account.id, { name: 'second key' });
    await f.auth.authenticate(f.secret);
    await f.auth.authenticate(other);
    f.setDown(true);
    f.clock.t += 6_000;
    await f.auth.authenticate(f.secret); // served stale, its store read retried 5 s later
    f.clock.t += 3_000;
    await f.auth.authenticate(other); // served stale, retried 3 s after the first
    f.setDown(false);
    f.clock.t += 2_500; // the first key is due for a store read, the second is not
    await f.auth.authenticate(f.secret);
    assert.equal(f.lines.filter((l) => l.obj.code === 'IDENTITY_STORE_RECOVERED').length, 1, 'the store is back');
    const staleBefore = f.auth.stats().staleHits;
    await f.auth.authenticate(other);
    assert.equal(f.auth.stats().staleHits, staleBefore, 'the second key is read from the store, not served stale');
    assert.equal(f.lines.filter((l) => l.obj.code === 'IDENTITY_STALE_AUTH').length, 1, `no second outage reported while the store answers: ${JSON.stringify(f.lines)}`);
  } finally {
    await f.close();
  }
});
