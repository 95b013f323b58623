// Several gateway nodes writing one ledger on PostgreSQL: each node's writer (its own pool, its own
// worker thread) appends to the same schema. Every interaction of every node must reach the log
// once, the log must verify, and every checkpoint must verify with the one published key; a node
// with another key is refused at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgres, type PgPool } from '../store/index.ts';
import { ledgerConfigSchema } from './config.ts';
import { Ledger } from './ledger.ts';
import { generateSigner, openCheckpoint, parseVerifierKey, type NoteSigner } from './note.ts';
import { openLedgerFromConfig } from './open.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { verifyConsistencyBundle, verifyInclusionBundle } from './standalone.ts';
import { AppendConflictError, type LedgerStorage } from './storage.ts';
import type { AppendReceipt } from './types.ts';
import { verifyLedger } from './verify.ts';
import { LedgerWriter, type WriteItem } from './writer.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const URL = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ORIGIN = 'warden.test/shared-ledger';

async function postgresUp(): Promise<boolean> {
  const pool = openPostgres(URL, { max: 1 });
  try { await pool.query('SELECT 1'); return true; } catch { return false; } finally { await pool.end().catch(() => {}); }
}
const skip = !(await postgresUp()) && `no PostgreSQL at ${URL}`;

/** A fresh ledger schema for `work`, dropped afterwards (with its migration record). */
async function withSchema(work: (schema: string, pool: PgPool) => Promise<void>): Promise<void> {
  const schema = `ledger_shared_${randomBytes(6).toString('hex')}`;
  const pool = openPostgres(URL, { max: 4 });
  try {
    await work(schema, pool);
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
    await pool.end();
  }
}

/** One gateway node's ledger: its own pool, its writer in a worker thread with a pool of its own (or, quicker to start, in this thread). */
function openNode(schema: string, signers: NoteSigner[], opts: { trustedKeys?: string[]; errors?: unknown[]; inline?: boolean; checkpointIntervalMs?: number } = {}): Promise<Ledger> {
  return Ledger.open({
    storage: new PostgresLedgerStorage(openPostgres(URL, { max: 4 }), schema, { ownsPool: true, url: opts.inline ? undefined : URL }),
    origin: ORIGIN, signers, trustedKeys: opts.trustedKeys?.map(parseVerifierKey), checkpointIntervalMs: opts.checkpointIntervalMs ?? 30, batchMax: 32, groupCommitMs: 2,
    onError: (e) => opts.errors?.push(e),
  });
}

test('three nodes append concurrently to one PostgreSQL ledger: every entry once, the log verifies, every checkpoint with the one key', { skip }, async () => {
  await withSchema(async (schema, pool) => {
    const signer = generateSigner(ORIGIN);
    const vkey = signer.verifier().toString();
    const errors: unknown[] = [];
    const nodes = await Promise.all([0, 1, 2].map(() => openNode(schema, [signer], { errors })));
    try {
      // 3 x 300 appends, interleaved, 16 producers per node: the writers' batches race for the same indices.
      const perNode = 300;
      const byNode: AppendReceipt[][] = [[], [], []];
      await Promise.all(nodes.flatMap((ledger, k) => Array.from({ length: 16 }, async (_, p) => {
        for (let i = p; i < perNode; i += 16) byNode[k].push(await ledger.appendInteraction(sampleEvent(k * 1000 + i)));
      })));
      assert.deepEqual(errors, [], 'no append failed and nothing was reported');
      assert.deepEqual(nodes.map((l) => l.stats.dropped), [0, 0, 0]);
      assert.deepEqual(nodes.map((l) => l.stats.appended), [perNode, perNode, perNode], 'each node counts its own entries');
      const all = byNode.flat();
      assert.equal(new Set(all.map((r) => r.index)).size, 3 * perNode, 'no two entries share an index');
      const { rows } = await pool.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids, max(idx)::int AS top FROM ${schema}.ledger_entries`);
      assert.deepEqual(rows[0], { n: 3 * perNode, ids: 3 * perNode, top: 3 * perNode - 1 }, 'every accepted entry is stored once, no gaps');
      for (const r of all.filter((_, i) => i % 37 === 0)) assert.equal((await nodes[0].entry(r.index)).id, r.id);

      // Node 1 proves an entry node 0 appended (it catches up with the log to sign a checkpoint covering it).
      const last0 = byNode[0].reduce((a, b) => (a.index > b.index ? a : b));
      const bundle = await nodes[1].proveInclusion(last0.id);
      verifyInclusionBundle(bundle, [vkey], ORIGIN);
      // Every node publishes the same verifier key.
      assert.deepEqual(nodes.map((l) => l.verifiers.map(String)), [[vkey], [vkey], [vkey]]);
      // Checkpoints signed by different nodes are consistent with each other.
      const cps = await Promise.all(nodes.map((l) => l.checkpoint()));
      const sizes = cps.map((c) => c.size).sort((a, b) => a - b);
      assert.equal(sizes[2], 3 * perNode);
      const first = (await pool.query(`SELECT min(size)::int AS s FROM ${schema}.ledger_checkpoints`)).rows[0].s as number;
      verifyConsistencyBundle(await nodes[2].proveConsistency(first, sizes[2]), [vkey], ORIGIN);
    } finally {
      await Promise.all(nodes.map((l) => l.close()));
    }
    // The whole log, checked with the published key only: every checkpoint of every node verifies with it.
    const storage = new PostgresLedgerStorage(pool, schema, { readOnly: true });
    const report = await verifyLedger(storage, { origin: ORIGIN, verifiers: [signer.verifier()] });
    assert.deepEqual(report.problems, []);
    assert.equal(report.size, 900);
    assert.ok(report.checkpoints >= 3);
    const notes = (await pool.query(`SELECT note FROM ${schema}.ledger_checkpoints`)).rows.map((r) => r.note as string);
    for (const note of notes) openCheckpoint(note, [signer.verifier()], ORIGIN);
    assert.deepEqual(await storage.keys(), [vkey], 'one key recorded');
  });
});

test('a node with another signing key is refused at start; rotation (old and new key, then the new) and a declared retired key are not', { skip }, async () => {
  await withSchema(async (schema) => {
    const key = generateSigner(ORIGIN);
    const first = await openNode(schema, [key], { inline: true });
    await first.appendInteraction(sampleEvent(1));
    await first.checkpoint();

    const stranger = generateSigner(ORIGIN);
    await assert.rejects(openNode(schema, [stranger], { inline: true }), (err: Error) => {
      assert.match(err.message, new RegExp(`signing key \\(${escape(stranger.verifier().toString())}\\) is not the key that signs the ledger at PostgreSQL schema ${schema} \\(${escape(key.verifier().toString())}\\)`));
      assert.match(err.message, /WARDEN_LEDGER_KEY/);
      assert.match(err.message, /ledger\.enabled: false/);
      return true;
    });
    // The one that writes goes on.
    await first.appendInteraction(sampleEvent(2));
    await first.close();

    // Rotation: old and new sign together, then the new alone.
    const next = generateSigner(ORIGIN);
    const both = await openNode(schema, [key, next], { inline: true });
    await both.appendInteraction(sampleEvent(3));
    await both.checkpoint();
    await both.close();
    const rotated = await openNode(schema, [next], { trustedKeys: [key.verifier().toString()], inline: true });
    await rotated.appendInteraction(sampleEvent(4));
    await rotated.checkpoint();
    await rotated.close();
    await assert.rejects(openNode(schema, [key], { inline: true }), /is not the key that signs/, 'the retired key no longer signs the log');

    // The log's key lost: declared retired, a new key takes over.
    const replacement = generateSigner(ORIGIN);
    const recovered = await openNode(schema, [replacement], { trustedKeys: [next.verifier().toString()], inline: true });
    await recovered.appendInteraction(sampleEvent(5));
    await recovered.close();
  });
});

test('the log\'s key lost: the first node given a new key takes the log over; a second node with a key of its own is refused, so every checkpoint since verifies with the one new key', { skip }, async () => {
  await withSchema(async (schema, pool) => {
    const lost = generateSigner(ORIGIN);
    const a = await openNode(schema, [lost], { inline: true });
    await a.appendInteraction(sampleEvent(1));
    await a.checkpoint();
    await a.close();

    // Two nodes each given a fresh key, both declaring the lost one retired: one key per node would split the log.
    const retired = [lost.verifier().toString()];
    const k1 = generateSigner(ORIGIN);
    const c1 = await openNode(schema, [k1], { trustedKeys: retired, inline: true });
    await assert.rejects(openNode(schema, [generateSigner(ORIGIN)], { trustedKeys: retired, inline: true }), (err: Error) => {
      assert.ok(err.message.includes(`${k1.verifier().toString()} taken up by another node since the latest checkpoint`), err.message);
      assert.match(err.message, /created once, with `warden ledger keygen`, and copied to every node/);
      return true;
    });
    // A node given the same new key joins.
    const c2 = await openNode(schema, [k1], { trustedKeys: retired, inline: true });
    await c1.appendInteraction(sampleEvent(2));
    await c1.checkpoint();
    await c2.appendInteraction(sampleEvent(3));
    await c2.checkpoint();
    // Once the new key signs, another key is refused still.
    await assert.rejects(openNode(schema, [generateSigner(ORIGIN)], { trustedKeys: retired, inline: true }), /is not the key that signs/);
    await c1.close();
    await c2.close();

    const notes = (await pool.query(`SELECT note FROM ${schema}.ledger_checkpoints WHERE size > 1 ORDER BY size`)).rows.map((r) => r.note as string);
    assert.ok(notes.length >= 2);
    for (const note of notes) openCheckpoint(note, [k1.verifier()], ORIGIN);
  });
});

test('rotation across nodes brings one new key: a node adding a different new key beside the old one is refused', { skip }, async () => {
  await withSchema(async (schema) => {
    const old = generateSigner(ORIGIN);
    const a = await openNode(schema, [old], { inline: true });
    await a.appendInteraction(sampleEvent(1));
    await a.checkpoint();
    const n1 = generateSigner(ORIGIN);
    const b = await openNode(schema, [old, n1], { inline: true });
    await assert.rejects(openNode(schema, [old, generateSigner(ORIGIN)], { inline: true }), (err: Error) => {
      assert.ok(err.message.includes(`${n1.verifier().toString()} taken up by another node since the latest checkpoint`), err.message);
      return true;
    });
    // The same new key on the next node is the rotation as documented.
    const c = await openNode(schema, [old, n1], { inline: true });
    await Promise.all([a, b, c].map((l) => l.close()));
  });
});

/**
 * Two rotations at odds on a shared log: node a signs with the old key alone, node b has taken up
 * a new key `n1` beside it and appended (its key pending: no checkpoint carries it yet), a signed
 * without n1, and node c started with another new key `n2`.
 */
async function pendingRotation(schema: string) {
  const old = generateSigner(ORIGIN);
  const a = await openNode(schema, [old], { inline: true, checkpointIntervalMs: 60_000 });
  await a.appendInteraction(sampleEvent(1));
  await a.checkpoint();
  const n1 = generateSigner(ORIGIN);
  const bErrors: unknown[] = [];
  const b = await openNode(schema, [old, n1], { inline: true, checkpointIntervalMs: 60_000, errors: bErrors });
  await b.appendInteraction(sampleEvent(2));
  // A node not given the new key yet signs a checkpoint without it: n1 is no longer counted as taken up since the latest checkpoint.
  await a.appendInteraction(sampleEvent(3));
  await a.checkpoint();
  // A node with a different new key `n2` beside the old one is accepted at start (the check there cannot see n1).
  const n2 = generateSigner(ORIGIN);
  const cErrors: unknown[] = [];
  const c = await openNode(schema, [old, n2], { inline: true, checkpointIntervalMs: 60_000, errors: cErrors });
  return { a, n1, b, bErrors, n2, c, cErrors };
}

test('rotation: a node started with a new key of its own after another node\'s checkpoint ended the first new key\'s window is reported at the next append of either node', { skip }, async () => {
  await withSchema(async (schema) => {
    const { a, n1, b, bErrors, n2, c, cErrors } = await pendingRotation(schema);
    assert.deepEqual(bErrors, [], 'one new key so far: nothing to report');
    // ... and the next append of the node holding n1 says the keys disagree, naming both.
    assert.equal((await b.appendInteraction(sampleEvent(4))).index, 3, 'the entry is appended all the same');
    const said = bErrors.map((e) => e as Error & { code?: string }).find((e) => e.code === 'LEDGER_KEY_MISMATCH');
    assert.ok(said, `reported: ${bErrors.map(String).join(' | ')}`);
    assert.ok(said.message.startsWith(`signing keys disagree: this node took up ${n1.verifier().toString()} beside the key of the ledger at PostgreSQL schema ${schema}, which another node also signs or took up with ${n2.verifier().toString()}`), said.message);
    // Once n1 signs (b's checkpoint), the node holding n2 sees it at its next append.
    await b.checkpoint();
    await c.appendInteraction(sampleEvent(5));
    assert.ok(cErrors.some((e) => String((e as Error).message).includes(`this node took up ${n2.verifier().toString()}`)), `reported: ${cErrors.map(String).join(' | ')}`);
    await Promise.all([a, b, c].map((l) => l.close()));
  });
});

test('rotation: a node whose new key is still pending checks the log\'s keys before its checkpoint ends the checks, so a mismatch is reported when it signs before appending again', { skip }, async () => {
  await withSchema(async (schema) => {
    const { a, n1, b, bErrors, n2, c, cErrors } = await pendingRotation(schema);
    // The node with n2 appends and signs: from where it stands, its key is the only new one.
    await c.appendInteraction(sampleEvent(4));
    await c.checkpoint();
    assert.deepEqual([...bErrors, ...cErrors], [], 'nothing either node could see so far');
    // Another entry (so the node holding n1 signs a checkpoint of its own rather than adopt c's), then that node signs before it
    // appends again: the log is signed with n2 now, which it must say before its own checkpoint ends its checks.
    await a.appendInteraction(sampleEvent(7));
    await b.checkpoint();
    await b.appendInteraction(sampleEvent(5));
    await c.appendInteraction(sampleEvent(6));
    const mismatches = [...bErrors, ...cErrors].map((e) => e as Error & { code?: string }).filter((e) => e.code === 'LEDGER_KEY_MISMATCH');
    assert.ok(mismatches.some((e) => e.message.includes(`this node took up ${n1.verifier().toString()}`) && e.message.includes(`with ${n2.verifier().toString()}`)),
      `the node holding n1 reports n2: ${[...bErrors, ...cErrors].map(String).join(' | ')}`);
    assert.ok(![...bErrors, ...cErrors].some((e) => (e as { code?: string }).code === 'LEDGER_INCONSISTENT'), 'a warning, not the fatal code');
    await Promise.all([a, b, c].map((l) => l.close()));
  });
});

test('a node still signing with a key the log was taken over from stops signing and says so; its entries are still appended', { skip }, async () => {
  await withSchema(async (schema, pool) => {
    const lost = generateSigner(ORIGIN);
    const errors: unknown[] = [];
    const stale = await Ledger.open({
      storage: new PostgresLedgerStorage(openPostgres(URL, { max: 2 }), schema, { ownsPool: true }),
      origin: ORIGIN, signers: [lost], checkpointIntervalMs: 60_000, onError: (e) => errors.push(e),
    });
    await stale.appendInteraction(sampleEvent(1));
    await stale.checkpoint();

    const fresh = generateSigner(ORIGIN);
    const takeover = await openNode(schema, [fresh], { trustedKeys: [lost.verifier().toString()], inline: true });
    await takeover.appendInteraction(sampleEvent(2));
    await takeover.checkpoint();

    const receipt = await stale.appendInteraction(sampleEvent(3));
    assert.equal(receipt.index, 2, 'appends go on');
    await assert.rejects(stale.checkpoint(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'LEDGER_INCONSISTENT');
      assert.ok(err.message.includes(`refusing to sign a checkpoint: this node's ledger signing key (${lost.verifier().toString()}) no longer signs the ledger at PostgreSQL schema ${schema}, which another node now signs with ${fresh.verifier().toString()}`), err.message);
      return true;
    });
    await stale.close();
    assert.ok(errors.some((e) => /refusing to sign a checkpoint/.test(String((e as Error).message))), 'the final checkpoint at close is refused and reported');
    // Nothing after the takeover is signed with the old key: the log from there verifies with the new key alone.
    const { rows } = await pool.query(`SELECT note FROM ${schema}.ledger_checkpoints WHERE size > 1 ORDER BY size`);
    assert.ok(rows.length >= 1);
    for (const { note } of rows) {
      openCheckpoint(note as string, [fresh.verifier()], ORIGIN);
      assert.throws(() => openCheckpoint(note as string, [lost.verifier()], ORIGIN));
    }
    await takeover.close();
  });
});

test('two nodes with their own new keys starting at once on an empty ledger: one takes it, the other is refused', { skip }, async () => {
  await withSchema(async (schema) => {
    const outcomes = await Promise.allSettled([openNode(schema, [generateSigner(ORIGIN)]), openNode(schema, [generateSigner(ORIGIN)])]);
    const opened = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(opened.length, 1);
    assert.match(String((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason), /is not the key that signs/);
    await (opened[0] as PromiseFulfilledResult<Ledger>).value.close();
  });
});

test('warden serve on a node without a key, on a PostgreSQL ledger another node signs: refused, no key file created', { skip }, async () => {
  await withSchema(async (schema) => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-shared-ledger-'));
    try {
      const key = generateSigner(ORIGIN);
      const setup = (k: string) => ({
        ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: k, driver: 'postgres', postgres_schema: schema, key_file: join(dir, 'ledger.key') }),
        store: { driver: 'postgres' as const, postgres_url: URL },
      });
      const first = await openLedgerFromConfig(setup(key.exportPrivate()), { env: {}, createKey: true });
      await first.appendInteraction(sampleEvent(1));
      await first.checkpoint();
      await first.close();

      await assert.rejects(openLedgerFromConfig(setup('env:WARDEN_LEDGER_KEY'), { env: {}, createKey: true }), (err: Error) => {
        assert.match(err.message, /no ledger signing key on this node \(WARDEN_LEDGER_KEY is not set and .*ledger\.key does not exist\)/);
        assert.ok(err.message.includes(`signed with ${key.verifier().toString()}`));
        assert.match(err.message, /Copy the key file of a node that writes it/);
        return true;
      });
      assert.equal(existsSync(join(dir, 'ledger.key')), false, 'no key of its own was made');
      // The log's key declared lost (retired) on a node without a key: no node can copy it, so the way is one new key for every node.
      const lostSetup = { ...setup('env:WARDEN_LEDGER_KEY'), ledger: { ...setup('env:WARDEN_LEDGER_KEY').ledger, trusted_keys: [key.verifier().toString()] } };
      await assert.rejects(openLedgerFromConfig(lostSetup, { env: {}, createKey: true }), (err: Error) => {
        assert.ok(err.message.includes(`signed with ${key.verifier().toString()}, which ledger.trusted_keys declares retired (a lost key)`), err.message);
        assert.match(err.message, /stop every node still holding the lost key, create the new key once with `warden ledger keygen`, and give that one key to every node/);
        assert.doesNotMatch(err.message, /Copy the key file of a node that writes it/);
        return true;
      });
      assert.equal(existsSync(join(dir, 'ledger.key')), false);
      // Given the key, the node joins.
      const second = await openLedgerFromConfig(setup('env:WARDEN_LEDGER_KEY'), { env: { WARDEN_LEDGER_KEY: key.exportPrivate() }, createKey: true });
      assert.equal((await second.appendInteraction(sampleEvent(2))).index, 1);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('a batch that loses a race with a writer taking no lock is retried after catching up, not dropped; endless conflicts are refused, said', { skip }, async () => {
  await withSchema(async (schema, pool) => {
    const signer = generateSigner(ORIGIN);
    const storage = new PostgresLedgerStorage(pool, schema);
    const writer = await LedgerWriter.open({ storage, origin: ORIGIN, signers: [signer] });
    const item = (n: number): WriteItem => ({ kind: 'interaction', event: sampleEvent(n) });
    assert.ok('index' in (await writer.commit([item(0)]))[0]);

    // A writer that appends without the lock (as one of an older Warden would) takes index 1 while `writer` lays out its batch.
    const lockless: LedgerStorage = Object.assign(Object.create(storage) as PostgresLedgerStorage, { appendLocked: undefined, joinKeys: undefined });
    const rogue = await LedgerWriter.open({ storage: lockless, origin: ORIGIN, signers: [signer] });
    let raced = false;
    const racing: LedgerStorage = Object.assign(Object.create(storage) as PostgresLedgerStorage, {
      appendLocked: (build: Parameters<NonNullable<LedgerStorage['appendLocked']>>[0]) => storage.appendLocked(async (size, view) => {
        const rows = await build(size, view);
        if (!raced) { raced = true; assert.ok('index' in (await rogue.commit([item(1)]))[0]); }
        return rows;
      }),
    });
    const racer = await LedgerWriter.open({ storage: racing, origin: ORIGIN, signers: [signer] });
    const results = await racer.commit([item(2), item(3)]);
    assert.ok(raced);
    assert.deepEqual(results.map((r) => ('index' in r ? r.index : r.error.message)), [2, 3], 'retried after the other writer\'s entry');
    assert.equal(await storage.size(), 4);
    await racer.signCheckpoint();
    assert.deepEqual((await verifyLedger(storage, { origin: ORIGIN, verifiers: [signer.verifier()] })).problems, []);

    // Conflicts every time: refused after a bounded number of attempts, with the reason.
    const hopeless: LedgerStorage = Object.assign(Object.create(storage) as PostgresLedgerStorage, {
      appendLocked: async () => { throw new AppendConflictError('duplicate key value violates unique constraint "ledger_entries_pkey"'); },
    });
    const loser = await LedgerWriter.open({ storage: hopeless, origin: ORIGIN, signers: [signer] });
    const lost = await loser.commit([item(4)]);
    assert.ok('error' in lost[0] && lost[0].error.code === 'LEDGER_UNAVAILABLE' && /lost 5 races with other writers/.test(lost[0].error.message));
    assert.equal(await storage.size(), 4);
  });
});

test('a writer waiting for the append lock that another session holds gives up the wait, tries again and goes on once it is free; held for good, the batch is refused, said', { skip }, async () => {
  await withSchema(async (schema, pool) => {
    const signer = generateSigner(ORIGIN);
    const storage = new PostgresLedgerStorage(pool, schema, { lockTimeoutMs: 100 });
    const waits: unknown[] = [];
    const counting: LedgerStorage = Object.assign(Object.create(storage) as PostgresLedgerStorage, {
      appendLocked: (build: Parameters<NonNullable<LedgerStorage['appendLocked']>>[0]) => storage.appendLocked(build).catch((err) => { waits.push(err); throw err; }),
    });
    const writer = await LedgerWriter.open({ storage: counting, origin: ORIGIN, signers: [signer] });
    const item = (n: number): WriteItem => ({ kind: 'interaction', event: sampleEvent(n) });
    // Another session takes the log's append lock inside its transaction and keeps it (a node stalled there).
    const holder = await pool.connect();
    const hold = async () => { await holder.query('BEGIN'); await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`warden.ledger:${schema}`]); };
    try {
      await hold();
      const pending = writer.commit([item(0)]);
      await new Promise((r) => setTimeout(r, 450));
      assert.ok(waits.length >= 2, `the wait timed out and was tried again (${waits.length} attempts ended)`);
      assert.ok(waits.every((e) => e instanceof AppendConflictError && e.reason === 'lock'));
      await holder.query('COMMIT');
      const [done] = await pending;
      assert.ok('index' in done && done.index === 0, 'committed once the lock was free');

      // Held for good: refused after a bounded number of waits, saying why.
      await hold();
      const [refused] = await writer.commit([item(1)]);
      assert.ok('error' in refused && refused.error.code === 'LEDGER_UNAVAILABLE', JSON.stringify(refused));
      assert.match(refused.error.message, /the log's append lock was still held by another writer after 5 waits \(canceling statement due to lock timeout\)/);
      await holder.query('COMMIT');
      assert.equal(await storage.size(), 1);
      assert.ok('index' in (await writer.commit([item(1)]))[0], 'appends go on');
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
    }
  });
});

test('a writer frozen while it holds the append lock does not stall the others: the server ends its transaction, the others go on, it catches up and appends after them', { skip }, async () => {
  await withSchema(async (schema, pool) => {
    const signer = generateSigner(ORIGIN);
    const item = (n: number): WriteItem => ({ kind: 'interaction', event: sampleEvent(n) });
    const frozenStorage = new PostgresLedgerStorage(openPostgres(URL, { max: 2 }), schema, { ownsPool: true, idleInLockTimeoutMs: 300 });
    let holding!: () => void;
    const holds = new Promise<void>((r) => { holding = r; });
    let froze = false;
    const freezing: LedgerStorage = Object.assign(Object.create(frozenStorage) as PostgresLedgerStorage, {
      appendLocked: (build: Parameters<NonNullable<LedgerStorage['appendLocked']>>[0]) => frozenStorage.appendLocked(async (size, view) => {
        const rows = await build(size, view);
        if (!froze) {
          // Stopped between two statements of its transaction, the lock held (SIGSTOP, a dead host).
          froze = true;
          holding();
          await new Promise((r) => setTimeout(r, 1500));
        }
        return rows;
      }),
    });
    try {
      const frozen = await LedgerWriter.open({ storage: freezing, origin: ORIGIN, signers: [signer] });
      const other = await LedgerWriter.open({ storage: new PostgresLedgerStorage(pool, schema), origin: ORIGIN, signers: [signer] });
      const stalled = frozen.commit([item(0)]);
      await holds;
      const started = Date.now();
      const [mine] = await other.commit([item(1)]);
      const waited = Date.now() - started;
      assert.ok(waited < 1200, `the other writer waited ${waited} ms, not until the frozen one resumed`);
      assert.ok('index' in mine && mine.index === 0);
      // Resumed, the frozen writer finds its transaction ended: nothing of it was stored; it catches up and tries again.
      const [late] = await stalled;
      assert.ok('index' in late && late.index === 1, JSON.stringify(late));
      await other.signCheckpoint();
      assert.deepEqual((await verifyLedger(new PostgresLedgerStorage(pool, schema, { readOnly: true }), { origin: ORIGIN, verifiers: [signer.verifier()] })).problems, []);
    } finally {
      await frozenStorage.close();
    }
  });
});

test('an idle node answers a consistency proof and entries up to a size another node just signed', { skip }, async () => {
  await withSchema(async (schema) => {
    const signer = generateSigner(ORIGIN);
    const vkey = signer.verifier().toString();
    const busy = await openNode(schema, [signer], { inline: true });
    await busy.appendInteraction(sampleEvent(0));
    await busy.checkpoint();
    // The idle node has not followed the log since it started (its interval is long).
    const idle = await openNode(schema, [signer], { inline: true, checkpointIntervalMs: 60_000 });
    try {
      for (let i = 1; i < 6; i++) await busy.appendInteraction(sampleEvent(i));
      const cp = await busy.checkpoint();
      assert.equal(cp.size, 6);
      const bundle = await idle.proveConsistency(1, cp.size);
      assert.equal(bundle.new_checkpoint, cp.note);
      verifyConsistencyBundle(bundle, [vkey], ORIGIN);
      assert.deepEqual((await idle.entriesRange(0, cp.size)).map((e) => e.index), [0, 1, 2, 3, 4, 5]);
      await assert.rejects(idle.proveConsistency(1, 7), /new size 7 is beyond the log size 6/);
    } finally {
      await idle.close();
      await busy.close();
    }
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
