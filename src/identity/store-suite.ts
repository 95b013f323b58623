/**
 * The behaviour every IdentityStore must have, run against SQLite and PostgreSQL alike
 * (sqlite.test.ts, postgres.test.ts). Includes the cached authenticator on top of each store.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { WardenError } from '../errors/index.ts';
import type { IdentityStore } from './store.ts';
import { hasScope, requireScope, keyStatus, eventAccountFacts } from './store.ts';
import { CachedAuthenticator } from './cache.ts';

export interface SuiteHarness {
  store: IdentityStore;
  /** Every identity row as text, to prove what is (not) stored. */
  dump(): Promise<string>;
  /** Another store instance over the same database (another node), when the backend has one. */
  second?: () => Promise<IdentityStore>;
}

export interface SuiteClock {
  t: number;
}

export const FINGERPRINT_SECRET = 'test-fingerprint-secret-0123456789';

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

const admin = { by: 'alice', reason: 'test' };

/** Run the shared suite. `make` builds a fresh store (empty database) using the given clock. */
export function identityStoreSuite(name: string, make: (clock: SuiteClock, opts: { fingerprintSecret: string | null }) => Promise<SuiteHarness & { cleanup(): Promise<void> }>): void {
  describe(`identity store (${name})`, () => {
    const clock: SuiteClock = { t: Date.parse('2026-03-01T10:00:00.000Z') };
    let h: SuiteHarness & { cleanup(): Promise<void> };
    let store: IdentityStore;

    before(async () => {
      h = await make(clock, { fingerprintSecret: FINGERPRINT_SECRET });
      store = h.store;
    });
    after(async () => { await h.cleanup(); });

    it('accounts are named in one read: name, email and organisation of those that exist, unknown ids left out', async () => {
      const org = await store.createOrg({ name: 'Names <b>Org</b>' });
      const inOrg = await store.createAccount({ org_id: org.id, name: 'Ada <script>x</script>', email: 'ada@names.example' });
      const alone = await store.createAccount({ email: 'solo@names.example' });
      const names = await store.accountNames([inOrg.id, alone.id, 'acct_01ZZZZZZZZZZZZZZZZZZZZZZZZ', inOrg.id]);
      assert.equal(names.size, 2, 'the two accounts that exist, once each');
      assert.deepEqual(names.get(inOrg.id), { id: inOrg.id, name: 'Ada <script>x</script>', email: 'ada@names.example', org_id: org.id, org_name: 'Names <b>Org</b>' }, 'name, email and the organisation by its name, as stored');
      assert.deepEqual(names.get(alone.id), { id: alone.id, name: null, email: 'solo@names.example', org_id: null, org_name: null }, 'no organisation: none named');
      assert.equal((await store.accountNames([])).size, 0, 'no ids: nothing read');
    });

    it('a created key authenticates, with the effective tier and programme', async () => {
      const org = await store.createOrg({ name: 'Acme Labs', tier: 'identity_verified', programme: 'research' });
      const acct = await store.createAccount({ org_id: org.id, email: 'Dev@Acme.EXAMPLE', tier: 'email_verified' });
      const { key, secret } = await store.createKey(acct.id, { name: 'ci', scopes: ['inference'] });
      assert.match(secret, /^wk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{40}$/);
      assert.ok(secret.startsWith(`${key.prefix}_`));
      const auth = await store.authenticate(secret);
      assert.equal(auth.key.id, key.id);
      assert.equal(auth.account.id, acct.id);
      assert.equal(auth.org?.id, org.id);
      assert.equal(auth.tier, 'identity_verified', 'org tier is higher than the account tier');
      assert.equal(auth.programme, 'research', 'account programme none: the org programme applies');
      assert.equal(auth.account.email_domain, 'acme.example');
    });

    it('stores no secret: only a hash and the public lookup prefix', async () => {
      const acct = await store.createAccount({ email: 'a@b.example' });
      const { secret, key } = await store.createKey(acct.id);
      const dump = await h.dump();
      const randomPart = secret.slice(secret.lastIndexOf('_') + 1);
      assert.ok(!dump.includes(secret), 'full secret stored');
      assert.ok(!dump.includes(randomPart), 'secret part stored');
      assert.ok(dump.includes(key.prefix), 'prefix is kept for lookup');
      const listed = await store.listKeys({ account_id: acct.id });
      assert.ok(!JSON.stringify(listed).includes(randomPart), 'listing leaks the secret');
      assert.ok(!('secret_hash' in listed.data[0]), 'listing exposes the hash');
    });

    it('refuses unknown, malformed and tampered keys with WARDEN_INVALID_API_KEY', async () => {
      const acct = await store.createAccount({});
      const { secret } = await store.createKey(acct.id);
      const tampered = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
      await rejectsWith(store.authenticate(tampered), 'WARDEN_INVALID_API_KEY');
      await rejectsWith(store.authenticate('sk-not-a-warden-key'), 'WARDEN_INVALID_API_KEY');
      await rejectsWith(store.authenticate(''), 'WARDEN_INVALID_API_KEY');
      await rejectsWith(store.authenticate('wk_live_AAAAAAAAAAAA_' + 'x'.repeat(40)), 'WARDEN_INVALID_API_KEY');
    });

    it('revoked keys fail with WARDEN_REVOKED_API_KEY (only to holders of the full secret)', async () => {
      const acct = await store.createAccount({});
      const { key, secret } = await store.createKey(acct.id);
      const revoked = await store.revokeKey(key.id, admin);
      assert.ok(revoked.revoked_at);
      assert.equal(keyStatus(revoked, clock.t), 'revoked');
      await rejectsWith(store.authenticate(secret), 'WARDEN_REVOKED_API_KEY');
      const tampered = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
      await rejectsWith(store.authenticate(tampered), 'WARDEN_INVALID_API_KEY');
      const again = await store.revokeKey(key.id, admin);
      assert.equal(again.revoked_at, revoked.revoked_at, 'revoking twice keeps the first time');
      const active = await store.listKeys({ account_id: acct.id });
      assert.equal(active.data.length, 0, 'revoked keys are not listed by default');
      const all = await store.listKeys({ account_id: acct.id, include_revoked: true });
      assert.equal(all.data.length, 1);
    });

    it('expired keys fail with WARDEN_EXPIRED_API_KEY', async () => {
      const acct = await store.createAccount({});
      const { secret, key } = await store.createKey(acct.id, { expires_in_s: 60 });
      assert.equal(key.expires_at, new Date(clock.t + 60_000).toISOString());
      await store.authenticate(secret);
      clock.t += 61_000;
      await rejectsWith(store.authenticate(secret), 'WARDEN_EXPIRED_API_KEY');
      await rejectsWith(store.createKey(acct.id, { expires_at: new Date(clock.t - 1000).toISOString() }), 'WARDEN_INVALID_REQUEST');
    });

    it('rotation issues a new secret and revokes the old one, at once or after a grace period', async () => {
      const acct = await store.createAccount({});
      const first = await store.createKey(acct.id, { name: 'prod', scopes: ['models:read'] });
      const r1 = await store.rotateKey(first.key.id, {}, admin);
      assert.notEqual(r1.secret, first.secret);
      assert.equal(r1.key.name, 'prod');
      assert.deepEqual(r1.key.scopes, ['models:read']);
      assert.equal(r1.previous.replaced_by, r1.key.id);
      await rejectsWith(store.authenticate(first.secret), 'WARDEN_REVOKED_API_KEY');
      assert.equal((await store.authenticate(r1.secret)).key.id, r1.key.id);

      const r2 = await store.rotateKey(r1.key.id, { grace_seconds: 300 }, admin);
      assert.equal(keyStatus(r2.previous, clock.t), 'rotating');
      assert.equal((await store.authenticate(r1.secret)).key.id, r1.key.id, 'old key works during the grace period');
      assert.equal((await store.authenticate(r2.secret)).key.id, r2.key.id);
      await rejectsWith(store.rotateKey(r1.key.id, {}, admin), 'WARDEN_CONFLICT');
      clock.t += 301_000;
      await rejectsWith(store.authenticate(r1.secret), 'WARDEN_REVOKED_API_KEY');
      await store.authenticate(r2.secret);
      await rejectsWith(store.rotateKey(first.key.id, {}, admin), 'WARDEN_CONFLICT');
      await rejectsWith(store.rotateKey('key_missing', {}, admin), 'WARDEN_NOT_FOUND');
    });

    it('scopes: models:read keys cannot run inference; inference keys may list models', async () => {
      const acct = await store.createAccount({});
      const reader = await store.createKey(acct.id, { scopes: ['models:read'] });
      const infer = await store.createKey(acct.id, {});
      assert.deepEqual(infer.key.scopes, ['inference'], 'default scope');
      const ra = await store.authenticate(reader.secret);
      const ia = await store.authenticate(infer.secret);
      assert.equal(hasScope(ra.key, 'inference'), false);
      assert.equal(hasScope(ra.key, 'models:read'), true);
      assert.equal(hasScope(ia.key, 'models:read'), true);
      assert.throws(() => requireScope(ra, 'inference'), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_INSUFFICIENT_SCOPE');
      await rejectsWith(store.createKey(acct.id, { scopes: ['admin' as never] }), 'WARDEN_INVALID_REQUEST');
    });

    it('suspended accounts are refused with WARDEN_ACCOUNT_SUSPENDED until reactivated', async () => {
      const acct = await store.createAccount({});
      const { secret } = await store.createKey(acct.id);
      await rejectsWith(store.setAccountStatus(acct.id, 'suspended', { by: 'alice' }), 'WARDEN_INVALID_REQUEST');
      const s = await store.setAccountStatus(acct.id, 'suspended', { by: 'alice', reason: 'shared payment fingerprint with campaign 7' });
      assert.equal(s.status, 'suspended');
      await rejectsWith(store.authenticate(secret), 'WARDEN_ACCOUNT_SUSPENDED');
      await store.setAccountStatus(acct.id, 'active', { by: 'bob', reason: 'appeal upheld' });
      await store.authenticate(secret);
      const history = await store.listChanges({ subject_id: acct.id });
      const statusChanges = history.data.filter((c) => c.action === 'status');
      assert.deepEqual(statusChanges.map((c) => [c.old_value, c.new_value, c.actor]), [['suspended', 'active', 'bob'], ['active', 'suspended', 'alice']]);
      assert.equal(statusChanges[1].reason, 'shared payment fingerprint with campaign 7');
    });

    it('signup facts: normalised, payment instrument kept only as a keyed HMAC', async () => {
      const instrument = '4242 4242 4242 4242';
      const a = await store.createAccount({
        email: 'Student@Uni.Example', signup_ip: '::ffff:203.0.113.9', claimed_country: 'de', payment_instrument: instrument,
        user_agent: 'curl/8', programme: 'education', created_at: '2026-01-15T08:00:00Z',
      });
      const b = await store.createAccount({ email: 'x@other.example', payment_instrument: '4242-4242-4242-4242', signup_ip: '2001:DB8::1' });
      const expected = createHmac('sha256', FINGERPRINT_SECRET).update('4242424242424242').digest('hex');
      assert.equal(a.payment_fp, expected);
      assert.equal(b.payment_fp, a.payment_fp, 'same instrument, different formatting: same fingerprint');
      assert.equal(a.email_domain, 'uni.example');
      assert.equal(a.signup_ip, '203.0.113.9');
      assert.equal(b.signup_ip, '2001:db8::1');
      assert.equal(a.claimed_country, 'DE');
      assert.equal(a.created_at, '2026-01-15T08:00:00.000Z');
      assert.equal(a.user_agent, 'curl/8');
      const dump = await h.dump();
      assert.ok(!dump.includes('4242424242424242') && !dump.includes(instrument), 'raw instrument stored');
      const linked = await store.listAccounts({ payment_fp: expected });
      assert.deepEqual(linked.data.map((x) => x.id).sort(), [a.id, b.id].sort());
      const got = await store.getAccount(a.id);
      assert.deepEqual(got, a);
      await rejectsWith(store.createAccount({ email: 'not-an-email' }), 'WARDEN_INVALID_REQUEST');
      await rejectsWith(store.createAccount({ claimed_country: 'Germany' }), 'WARDEN_INVALID_REQUEST');
      await rejectsWith(store.createAccount({ signup_ip: '999.1.1.1' }), 'WARDEN_INVALID_REQUEST');
      await rejectsWith(store.createAccount({ org_id: 'org_missing' }), 'WARDEN_INVALID_REQUEST');
    });

    it('email pattern: accounts numbered in sequence share a keyed pattern; the gateway copies it into events', async () => {
      const a = await store.createAccount({ email: 'alex.dev1041@gmail.com' });
      const b = await store.createAccount({ email: 'AlexDev1042+x@Gmail.com' });
      const other = await store.createAccount({ email: 'alexdev1043@outlook.com' });
      const plain = await store.createAccount({ email: 'alex.dev@gmail.com' });
      assert.match(a.email_pattern ?? '', /^[0-9a-f]{32}$/);
      assert.equal(b.email_pattern, a.email_pattern, 'separators, case, +tag and the number do not matter');
      assert.notEqual(other.email_pattern, a.email_pattern, 'the domain does');
      assert.equal(plain.email_pattern, null, 'no trailing number: no pattern');
      const dump = await h.dump();
      assert.ok(!dump.includes('alexdev@gmail.com'), 'the pattern itself is not stored in clear');
      const linked = await store.listAccounts({ email_pattern: a.email_pattern! });
      assert.deepEqual(linked.data.map((x) => x.id).sort(), [a.id, b.id].sort());
      const key = await store.createKey(b.id, {});
      const auth = await store.authenticate(key.secret);
      assert.equal(eventAccountFacts(auth).email_pattern, a.email_pattern);
    });

    it('an account is found by its whole email address whatever its case, and only by the whole address', async () => {
      const ada = await store.createAccount({ email: 'Ada.Lovelace@Engines.example' });
      const other = await store.createAccount({ email: 'ada.lovelace@engines.example.org' });
      const found = await store.listAccounts({ email: '  ADA.LOVELACE@engines.EXAMPLE ' });
      assert.deepEqual(found.data.map((x) => x.id), [ada.id], 'the address in other case and with spaces around finds it, and no longer address');
      assert.deepEqual((await store.listAccounts({ email: 'ada.lovelace@engines.example.org' })).data.map((x) => x.id), [other.id], 'the other address finds only its own account');
      assert.equal((await store.listAccounts({ email: 'lovelace@engines.example' })).data.length, 0, 'a part of an address is not the address');
      assert.equal((await store.listAccounts({ email: 'ada.lovelace@engines.example', status: 'suspended' })).data.length, 0, 'the other filters still apply');
    });

    it('tier changes are recorded with who and why, and raise the effective tier', async () => {
      const org = await store.createOrg({ name: 'Tiered' });
      const acct = await store.createAccount({ org_id: org.id });
      const { secret } = await store.createKey(acct.id);
      assert.equal((await store.authenticate(secret)).tier, 'unverified');
      await rejectsWith(store.setAccountTier(acct.id, 'enterprise', { by: 'alice' }), 'WARDEN_INVALID_REQUEST');
      await rejectsWith(store.setAccountTier(acct.id, 'gold' as never, admin), 'WARDEN_INVALID_REQUEST');
      await store.setAccountTier(acct.id, 'email_verified', { by: 'signup-flow', reason: 'email link clicked' });
      await store.setOrgTier(org.id, 'enterprise', { by: 'alice', reason: 'contract signed' });
      const auth = await store.authenticate(secret);
      assert.equal(auth.tier, 'enterprise');
      assert.equal(auth.account.tier, 'email_verified');
      const orgHistory = await store.listChanges({ subject_id: org.id });
      const tierChange = orgHistory.data.find((c) => c.action === 'tier')!;
      assert.deepEqual([tierChange.old_value, tierChange.new_value, tierChange.actor, tierChange.reason], ['unverified', 'enterprise', 'alice', 'contract signed']);
      await rejectsWith(store.setOrgTier('org_missing', 'enterprise', admin), 'WARDEN_NOT_FOUND');
    });

    it('updates programmes and org membership; unchanged fields are not recorded', async () => {
      const org = await store.createOrg({ name: 'Before' });
      const acct = await store.createAccount({});
      const upd = await store.updateAccount(acct.id, { org_id: org.id, programme: 'startup' }, { by: 'alice' });
      assert.equal(upd.org_id, org.id);
      assert.equal(upd.programme, 'startup');
      const before = (await store.listChanges({ subject_id: acct.id })).data.length;
      await store.updateAccount(acct.id, { programme: 'startup' }, { by: 'alice' });
      assert.equal((await store.listChanges({ subject_id: acct.id })).data.length, before);
      const renamed = await store.updateOrg(org.id, { name: 'After', programme: 'education' });
      assert.equal(renamed.name, 'After');
      assert.equal((await store.getOrg(org.id))?.programme, 'education');
      await rejectsWith(store.updateAccount('acct_missing', { programme: 'none' }), 'WARDEN_NOT_FOUND');
      assert.equal(await store.getAccount('acct_missing'), null);
    });

    it('pages through listings newest first without gaps or repeats', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.createOrg({ name: `page-${i}`, programme: 'startup' })).id);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const p = await store.listOrgs({ programme: 'startup', limit: 2, cursor });
        seen.push(...p.data.map((o) => o.id));
        pages++;
        if (!p.next_cursor) break;
        cursor = p.next_cursor;
      }
      const mine = seen.filter((id) => ids.includes(id));
      assert.deepEqual(mine, [...ids].reverse());
      assert.equal(new Set(seen).size, seen.length);
      assert.ok(pages >= 3);
      await rejectsWith(store.listOrgs({ limit: 0 }), 'WARDEN_INVALID_REQUEST');
    });

    it('touchKeys records last use, never moving backwards', async () => {
      const acct = await store.createAccount({});
      const { key } = await store.createKey(acct.id);
      const t1 = Date.parse('2026-03-02T00:00:00.000Z');
      await store.touchKeys(new Map([[key.id, t1]]));
      assert.equal((await store.getKey(key.id))?.last_used_at, new Date(t1).toISOString());
      await store.touchKeys(new Map([[key.id, t1 - 5000]]));
      assert.equal((await store.getKey(key.id))?.last_used_at, new Date(t1).toISOString());
    });

    it('the first use of any of its keys is recorded on the account, once', async () => {
      const acct = await store.createAccount({});
      assert.equal((await store.getAccount(acct.id))?.first_used_at ?? null, null, 'never used');
      const a = await store.createKey(acct.id);
      const b = await store.createKey(acct.id);
      const t1 = Date.parse('2026-03-02T00:00:00.000Z');
      await store.touchKeys(new Map([[a.key.id, t1]]));
      await store.touchKeys(new Map([[a.key.id, t1 + 60_000], [b.key.id, t1 + 120_000]]));
      assert.equal((await store.getAccount(acct.id))?.first_used_at, new Date(t1).toISOString());
    });

    it('refuses payment instruments when no fingerprint secret is configured', async () => {
      const bare = await make(clock, { fingerprintSecret: null });
      try {
        await rejectsWith(bare.store.createAccount({ payment_instrument: 'tok_abc' }), 'WARDEN_INVALID_REQUEST');
      } finally { await bare.cleanup(); }
    });

    describe('cached authenticator', () => {
      let lookups = 0;
      let cached: CachedAuthenticator;
      let counting: IdentityStore;

      before(() => {
        // Count store reads to prove hits do not reach the database.
        counting = new Proxy(store, {
          get(target, prop, receiver) {
            if (prop === 'lookupKey') return (id: string) => { lookups++; return target.lookupKey(id); };
            const v = Reflect.get(target, prop, receiver);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        });
        cached = new CachedAuthenticator(counting, { ttlMs: 5000, negativeTtlMs: 1000, flushMs: 3_600_000, now: () => clock.t });
      });
      after(async () => { await cached.close(); });

      it('serves repeat requests from memory and still checks the secret', async () => {
        const acct = await store.createAccount({});
        const { secret, key } = await store.createKey(acct.id);
        const before = lookups;
        for (let i = 0; i < 50; i++) assert.equal((await cached.authenticate(secret)).key.id, key.id);
        assert.equal(lookups - before, 1);
        const tampered = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
        await rejectsWith(cached.authenticate(tampered), 'WARDEN_INVALID_API_KEY');
        assert.equal(lookups - before, 1, 'a wrong secret for a cached id is refused without a read');
      });

      it('keeps the keys in use when it is full, dropping the one used least recently', async () => {
        const small = new CachedAuthenticator(counting, { ttlMs: 60_000, flushMs: 3_600_000, maxEntries: 2, now: () => clock.t });
        try {
          const acct = await store.createAccount({});
          const [a, b, c] = [await store.createKey(acct.id), await store.createKey(acct.id), await store.createKey(acct.id)];
          await small.authenticate(a.secret);
          await small.authenticate(b.secret);
          clock.t += 2_000;
          await small.authenticate(a.secret); // a is now the most recently used
          await small.authenticate(c.secret); // full: b goes
          const before = lookups;
          await small.authenticate(a.secret);
          await small.authenticate(c.secret);
          assert.equal(lookups - before, 0, 'a and c are still cached');
          await small.authenticate(b.secret);
          assert.equal(lookups - before, 1, 'b was dropped and is read again');
        } finally {
          await small.close();
        }
      });

      it('drops a key at once when it is revoked or rotated through the store', async () => {
        const acct = await store.createAccount({});
        const a = await store.createKey(acct.id);
        const b = await store.createKey(acct.id);
        await cached.authenticate(a.secret);
        await cached.authenticate(b.secret);
        await store.revokeKey(a.key.id, admin);
        await rejectsWith(cached.authenticate(a.secret), 'WARDEN_REVOKED_API_KEY');
        const r = await store.rotateKey(b.key.id, {}, admin);
        await rejectsWith(cached.authenticate(b.secret), 'WARDEN_REVOKED_API_KEY');
        await cached.authenticate(r.secret);
      });

      it('drops an account\'s keys at once when it is suspended, and an org\'s when its tier changes', async () => {
        const org = await store.createOrg({ name: 'cache-org' });
        const acct = await store.createAccount({ org_id: org.id });
        const k = await store.createKey(acct.id);
        assert.equal((await cached.authenticate(k.secret)).tier, 'unverified');
        await store.setOrgTier(org.id, 'enterprise', admin);
        assert.equal((await cached.authenticate(k.secret)).tier, 'enterprise');
        await store.setAccountStatus(acct.id, 'suspended', admin);
        await rejectsWith(cached.authenticate(k.secret), 'WARDEN_ACCOUNT_SUSPENDED');
        await store.setAccountStatus(acct.id, 'active', admin);
        await cached.authenticate(k.secret);
      });

      it('checks expiry against the clock on every hit, and re-reads after the TTL', async () => {
        const acct = await store.createAccount({});
        const k = await store.createKey(acct.id, { expires_in_s: 2 });
        await cached.authenticate(k.secret);
        clock.t += 2500;
        await rejectsWith(cached.authenticate(k.secret), 'WARDEN_EXPIRED_API_KEY');
        const k2 = await store.createKey(acct.id);
        await cached.authenticate(k2.secret);
        const before = lookups;
        clock.t += 5001;
        await cached.authenticate(k2.secret);
        assert.equal(lookups - before, 1, 'entry expired after its TTL and was re-read');
      });

      it('remembers unknown key ids briefly, and enforces scopes', async () => {
        const ghost = 'wk_live_ZZZZZZZZZZZZ_' + 'Q'.repeat(40);
        const before = lookups;
        await rejectsWith(cached.authenticate(ghost), 'WARDEN_INVALID_API_KEY');
        await rejectsWith(cached.authenticate(ghost), 'WARDEN_INVALID_API_KEY');
        assert.equal(lookups - before, 1);
        const acct = await store.createAccount({});
        const k = await store.createKey(acct.id, { scopes: ['models:read'] });
        await cached.authenticate(k.secret, 'models:read');
        await rejectsWith(cached.authenticate(k.secret, 'inference'), 'WARDEN_INSUFFICIENT_SCOPE');
      });

      it('writes last use in one batch on flush, not per request', async () => {
        const acct = await store.createAccount({});
        const k = await store.createKey(acct.id);
        let touches = 0;
        const spy = new Proxy(store, {
          get(target, prop, receiver) {
            if (prop === 'touchKeys') return (m: ReadonlyMap<string, number>) => { touches++; return target.touchKeys(m); };
            const v = Reflect.get(target, prop, receiver);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        });
        const auth = new CachedAuthenticator(spy, { flushMs: 3_600_000, now: () => clock.t });
        const first = new Date(clock.t).toISOString();
        for (let i = 0; i < 20; i++) {
          const ctx = await auth.authenticate(k.secret);
          // Events carry the first use before the batch lands.
          assert.equal(eventAccountFacts(ctx).first_used_at, first);
        }
        assert.equal(touches, 0);
        assert.equal((await store.getKey(k.key.id))?.last_used_at, null);
        await auth.close();
        assert.equal(touches, 1);
        assert.equal((await store.getKey(k.key.id))?.last_used_at, new Date(clock.t).toISOString());
        assert.equal((await store.getAccount(k.key.account_id))?.first_used_at, first);
      });
    });

    it('another node drops a revoked key or suspended account at once', async (t) => {
      if (!h.second) { t.skip('single-node backend'); return; }
      const other = await h.second();
      const remote = new CachedAuthenticator(other, { ttlMs: 60_000, flushMs: 3_600_000, now: () => clock.t });
      try {
        await (other as { listening?: () => Promise<void> }).listening?.();
        const acct = await store.createAccount({});
        const k = await store.createKey(acct.id);
        const k2 = await store.createKey(acct.id);
        await remote.authenticate(k.secret);
        await store.revokeKey(k.key.id, admin);
        await eventually(() => rejectsWith(remote.authenticate(k.secret), 'WARDEN_REVOKED_API_KEY'));
        await remote.authenticate(k2.secret);
        await store.setAccountStatus(acct.id, 'suspended', admin);
        await eventually(() => rejectsWith(remote.authenticate(k2.secret), 'WARDEN_ACCOUNT_SUSPENDED'));
      } finally {
        await remote.close();
        await other.close();
      }
    });
  });
}

/** Retry an assertion for up to 2 s (cross-node notifications are asynchronous). */
async function eventually(fn: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    try { await fn(); return; } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
