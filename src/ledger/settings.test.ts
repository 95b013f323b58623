// A detector verdict's entry names the detector settings it was reached under: a settings entry
// (the effective detect settings and the Warden version) recorded when a node starts with settings
// other than the log's latest, its digest in every detector verdict after it. An auditor lists the
// settings and which verdicts were reached under which (`warden ledger query --settings`), reads
// them from signed leaves, and `verify` refuses a digest that does not match or names nothing.
// On real ledgers: SQLite (the writer thread) and PostgreSQL; logs written before verify unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Ledger } from './ledger.ts';
import { SqliteLedgerStorage } from './sqlite.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { generateSigner, parseVerifierKey, type NoteSigner } from './note.ts';
import { verifyLedger } from './verify.ts';
import { queryLedger, type QueryResult } from './query.ts';
import { canonicalBytes, parseLeaf, prepareSettings, prepareVerdict, settingsDigest, type VerdictRecord } from './records.ts';
import { detectorSettings, unclassifiedDetectKeys } from './settings.ts';
import { ledgerConfigSchema } from './config.ts';
import type { LedgerStorage } from './storage.ts';
import { detectConfig } from '../detect/config.ts';
import { parseConfig } from '../config/index.ts';
import { sampleEvent, sampleVerdict } from '../../test/helpers/synthetic-events.ts';
import { ledgerCliRunner } from '../../test/helpers/ledger-cli.ts';
import { TEST_POSTGRES_URL, withPgSchema } from '../../test/helpers/postgres.ts';

const ORIGIN = 'warden.test/settings';

const settingsWith = (watch: number) => ({ ...detectorSettings(detectConfig({ thresholds: { watch } }), '9.9.9') });

const operatorVerdict = { subject: { kind: 'account' as const, id: 'acct_9' }, level: 'suspend' as const, score: null, source: 'operator' as const, since: '2026-06-01T12:00:00.000Z', reasons: [{ signal: 'operator_verdict', value: 'suspend', threshold: null, detail: 'chargebacks', by: 'dashboard:Jane' }] };

/** Three starts of a detector node: settings recorded, the same again (nothing added), a threshold changed. */
async function threeStarts(open: (settings: Record<string, unknown>) => Promise<Ledger>) {
  const first = await open(settingsWith(0.2));
  const a = await first.appendVerdict(sampleVerdict({ kind: 'account', id: 'acct_1' }, 'watch'));
  await first.appendVerdict(operatorVerdict);
  await first.appendInteraction(sampleEvent(1));
  const digestA = first.detectorSettingsDigest;
  await first.close();

  const second = await open(settingsWith(0.2));
  assert.equal(second.detectorSettingsDigest, digestA, 'a restart with the same settings keeps their digest');
  const b = await second.appendVerdict(sampleVerdict({ kind: 'account', id: 'acct_1' }, 'watch'));
  await second.close();

  const third = await open(settingsWith(0.25));
  const digestB = third.detectorSettingsDigest;
  assert.ok(digestB && digestB !== digestA, `a new threshold is a new digest (${digestA} then ${digestB})`);
  const c = await third.appendVerdict(sampleVerdict({ kind: 'cluster', id: 'cl_1' }, 'throttle'), { accounts: ['acct_1', 'acct_2'] });
  await third.checkpoint();
  return { ledger: third, digestA: digestA!, digestB, verdicts: [a, b, c] };
}

async function checkLog(storage: LedgerStorage, signer: NoteSigner, digestA: string, digestB: string, verdictIds: string[]): Promise<void> {
  // The leaves: two settings entries (not three), each verdict naming the digest in force.
  const size = await storage.size();
  const records = (await storage.entries(0, size, 1000)).map((e) => parseLeaf(e.leaf));
  const settings = records.filter((r) => r.kind === 'settings');
  assert.deepEqual(settings.map((s) => s.kind === 'settings' && s.digest), [digestA, digestB], 'one settings entry per change, none for a restart with the same settings');
  for (const s of settings) assert.ok(s.kind === 'settings' && s.schema === 'warden.ledger/2' && s.digest === settingsDigest(s.settings), 'the digest is the SHA-256 of the settings\' RFC 8785 JSON');
  const byId = new Map(records.map((r) => [r.id, r]));
  const named = verdictIds.map((id) => (byId.get(id) as VerdictRecord).settings_digest);
  assert.deepEqual(named, [digestA, digestA, digestB], 'each detector verdict names the settings in force when it was reached');
  const op = records.find((r) => r.kind === 'verdict' && r.source === 'operator') as VerdictRecord;
  assert.equal(op.settings_digest, null, 'an operator\'s verdict is not the detector\'s: it names no settings');
  const interaction = records.find((r) => r.kind === 'interaction')!;
  assert.equal(interaction.schema, 'warden.ledger/5', 'interaction leaves are /5 (the prompt cache\'s split since /2, the region since /4, the service tier since /5)');
  assert.ok(!('settings_digest' in interaction), 'interaction leaves name no settings');

  const report = await verifyLedger(storage, { origin: ORIGIN, verifiers: [signer.verifier()] });
  assert.ok(report.ok, `the log verifies: ${report.problems.map((p) => p.message).join('; ')}`);
  assert.equal(report.settings, 2);
  assert.equal(report.verdictsWithSettings, 3);

  // The auditor's listing: the settings in force, what changed, and the verdicts under each.
  const q = await queryLedger(storage, { settings: true });
  assert.deepEqual(q.settings.map((s) => [s.digest, s.changed, s.verdicts]), [[digestA, null, 2], [digestB, ['detect.thresholds.watch'], 1]]);
  assert.equal((q.settings[1].settings as { detect: { thresholds: { watch: number } } }).detect.thresholds.watch, 0.25, 'the settings themselves, from the signed leaf');
  assert.equal(q.verdicts.length, 4, 'every verdict of the window, operator\'s included');
  assert.deepEqual(q.interactions, []);
  // A cluster's query carries the settings its verdicts were reached under.
  const byCluster = await queryLedger(storage, { clusterId: 'cl_1' });
  assert.ok(byCluster.verdicts.some((v) => v.settings_digest === digestB) && byCluster.settings.some((s) => s.digest === digestB), `the cluster verdict and the settings it names (${JSON.stringify(byCluster.settings.map((s) => s.digest))})`);
}

test('a detector node records its settings, once per change, and each detector verdict names them (SQLite, writer thread)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-settings-'));
  const path = join(dir, 'ledger.db');
  const signer = generateSigner(ORIGIN);
  try {
    const open = (detectorSettings: Record<string, unknown>) => Ledger.open({ storage: SqliteLedgerStorage.open(path), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 60_000, detectorSettings });
    const { ledger, digestA, digestB, verdicts } = await threeStarts(open);
    assert.equal(ledger.writerMode, 'worker', 'the leaves are built by the writer thread');
    await ledger.close();
    const storage = SqliteLedgerStorage.openReadOnly(path);
    try {
      await checkLog(storage, signer, digestA, digestB, verdicts.map((v) => v.id));
    } finally {
      await storage.close();
    }

    // The CLI: `query --settings` and `verify`, read-only.
    const setup = { ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: signer.exportPrivate(), sqlite_path: path, key_file: join(dir, 'ledger.key') }), store: { driver: 'sqlite' as const, postgres_url: null, sqlite_path: join(dir, 'warden.db') } };
    const run = ledgerCliRunner(setup);
    const listed = await run('query', '--settings');
    assert.equal(listed.code, 0, listed.err);
    const result = JSON.parse(listed.out) as QueryResult;
    assert.deepEqual(result.settings.map((s) => s.digest), [digestA, digestB]);
    assert.deepEqual(result.query, { settings: true });
    const refused = await run('query', '--settings', '--account', 'acct_1');
    assert.equal(refused.code, 2, 'the interaction filters do not apply to the settings listing');
    const verified = await run('verify');
    assert.equal(verified.code, 0, verified.out + verified.err);
    assert.match(verified.out, /detector settings: 2 settings entries, each digest recomputed; 3 verdicts name settings recorded before them/);
    const jsonl = await run('query', '--settings', '--format', 'jsonl');
    assert.equal(jsonl.out.split('\n').filter((l) => l.includes('"type":"settings"')).length, 2, 'JSONL exports carry the settings rows');

    // A tampered digest: the verdict's leaf rewritten in the database no longer hashes to the tree.
    const db = new Database(path);
    let tampered: number;
    try {
      const row = db.prepare("SELECT idx, leaf FROM ledger_entries WHERE id = ?").get(verdicts[2].id) as { idx: number; leaf: Buffer };
      tampered = row.idx;
      const leaf = JSON.parse(row.leaf.toString('utf8'));
      leaf.settings_digest = digestA;
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(Buffer.from(canonicalBytes(leaf)), row.idx);
    } finally {
      db.close();
    }
    const after = await run('verify');
    assert.equal(after.code, 1, 'verify fails on a rewritten digest');
    assert.match(after.out, new RegExp(`first bad entry is ${tampered}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('verify names a settings entry whose digest is not that of its settings, and a verdict naming settings never recorded, though signed', async () => {
  const signer = generateSigner(ORIGIN);
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(':memory:'), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 60_000 });
  try {
    // A writer that recorded one threshold and claimed another's digest, then signed over it.
    const honest = prepareSettings(settingsWith(0.2));
    const lying = prepareSettings(settingsWith(0.3));
    const forged = { ...lying.record, digest: settingsDigest(settingsWith(0.2)) };
    const bad = await ledger.appendPrepared({ record: forged, leaf: canonicalBytes(forged), openings: {} });
    const good = await ledger.appendPrepared(honest);
    const orphan = await ledger.appendPrepared(prepareVerdict(sampleVerdict({ kind: 'account', id: 'acct_3' }), { settingsDigest: 'ab'.repeat(32) }));
    const fine = await ledger.appendPrepared(prepareVerdict(sampleVerdict({ kind: 'account', id: 'acct_3' }), { settingsDigest: honest.record.kind === 'settings' ? honest.record.digest : null }));
    await ledger.checkpoint();
    const report = await verifyLedger(ledger.storage, { origin: ORIGIN, verifiers: ledger.verifiers });
    assert.equal(report.ok, false);
    const at = (i: number) => report.problems.filter((p) => p.index === i).map((p) => p.message).join('; ');
    assert.match(at(bad.index), /settings do not hash to the digest it states/, 'the forged settings entry is named');
    assert.match(at(orphan.index), /names detector settings abababababababab\.\.\. that no settings entry before it records/);
    assert.equal(at(good.index) + at(fine.index), '', 'the honest entries are not blamed');
    assert.equal(report.firstBadEntry, bad.index);
  } finally {
    await ledger.close();
  }
});

test('a log written before verdicts named their settings verifies unchanged, and grows with settings entries that verify too', async () => {
  const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/ledger-v1.json', import.meta.url), 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'warden-settings-v1-'));
  const path = join(dir, 'ledger.db');
  const b = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
  try {
    const storage = SqliteLedgerStorage.open(path);
    await storage.appendBatch(
      fixture.entries.map((e: { leaf: string }) => ({ ...e, leaf: b(e.leaf) })),
      fixture.privates,
      fixture.nodes.map((n: { hash: string }) => ({ ...n, hash: b(n.hash) })),
    );
    for (const c of fixture.checkpoints) await storage.putCheckpoint({ ...c, root: b(c.root) });
    await storage.recordKeys(fixture.keys);
    const verifier = parseVerifierKey(fixture.verifier_key);
    const old = await verifyLedger(storage, { origin: fixture.origin, verifiers: [verifier] });
    assert.ok(old.ok, `the old log verifies: ${old.problems.map((p) => p.message).join('; ')}`);
    assert.equal(old.size, fixture.entries.length);
    const oldVerdicts = (await queryLedger(storage, { settings: true })).verdicts;
    assert.equal(oldVerdicts.length, 2);
    assert.ok(oldVerdicts.every((v) => v.settings_digest === null), 'old verdicts name no settings');
    assert.ok(fixture.entries.every((e: { leaf: string }) => JSON.parse(Buffer.from(e.leaf, 'base64').toString()).schema === 'warden.ledger/1'));

    // This release carries the log on: a settings entry, a verdict naming it, the whole log verifying.
    const signer = generateSigner(fixture.origin);
    const ledger = await Ledger.open({ storage, origin: fixture.origin, signers: [signer], trustedKeys: [verifier], checkpointIntervalMs: 60_000, detectorSettings: settingsWith(0.2), writer: 'inline' });
    await ledger.appendVerdict(sampleVerdict({ kind: 'account', id: 'acct_1' }));
    await ledger.checkpoint();
    const grown = await verifyLedger(storage, { origin: fixture.origin, verifiers: [verifier, signer.verifier()] });
    assert.ok(grown.ok && grown.size === fixture.entries.length + 2 && grown.settings === 1 && grown.verdictsWithSettings === 1, `old and new leaves verify together: ${JSON.stringify({ ...grown, problems: grown.problems.map((p) => p.message) })}`);
    await ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the recorded settings are the detect settings that decide verdicts, with the version; every detect key is classified', () => {
  const config = parseConfig({ detect: { thresholds: { suspend: 0.8 }, snapshot: { path: '/var/lib/warden/secret-place.detector' }, shared: { key_prefix: 'tenant-a:' } } });
  const s = detectorSettings(config.detect, '1.2.3');
  assert.equal(s.warden_version, '1.2.3');
  assert.equal((s.detect.thresholds as { suspend: number }).suspend, 0.8);
  const text = JSON.stringify(s);
  assert.ok(!text.includes('secret-place') && !text.includes('tenant-a'), `local paths and Redis plumbing are not recorded: ${text}`);
  // A key added to the detect configuration must be classified in settings.ts before it reaches the signed log.
  assert.deepEqual(unclassifiedDetectKeys(config.detect), []);
  assert.deepEqual(unclassifiedDetectKeys({ ...config.detect, api_token: 'x' } as typeof config.detect), ['api_token']);
});

async function postgresUp(): Promise<boolean> {
  const { openPostgres } = await import('../store/index.ts');
  const pool = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  try { await pool.query('SELECT 1'); return true; } catch { return false; } finally { await pool.end().catch(() => {}); }
}

test('PostgreSQL: settings once per change, verdicts naming them, the listing, and a tampered digest caught', { skip: !(await postgresUp()) && `no PostgreSQL at ${TEST_POSTGRES_URL}` }, async () => {
  await withPgSchema('ledger_settings', async (pool) => {
    const schema = (await pool.query('SELECT current_schema() AS s')).rows[0].s as string;
    const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const signer = generateSigner(ORIGIN);
    const open = (detectorSettings: Record<string, unknown>) => Ledger.open({ storage: new PostgresLedgerStorage(pool, schema, { url }), origin: ORIGIN, signers: [signer], checkpointIntervalMs: 60_000, detectorSettings });
    const { ledger, digestA, digestB, verdicts } = await threeStarts(open);
    await ledger.close();
    await checkLog(new PostgresLedgerStorage(pool, schema), signer, digestA, digestB, verdicts.map((v) => v.id));
    const { rows } = await pool.query(`SELECT idx, leaf FROM ${schema}.ledger_entries WHERE id = $1`, [verdicts[0].id]);
    const leaf = JSON.parse(Buffer.from(rows[0].leaf).toString('utf8'));
    leaf.settings_digest = digestB;
    await pool.query(`UPDATE ${schema}.ledger_entries SET leaf = $1 WHERE idx = $2`, [Buffer.from(canonicalBytes(leaf)), rows[0].idx]);
    const report = await verifyLedger(new PostgresLedgerStorage(pool, schema), { origin: ORIGIN, verifiers: [signer.verifier()] });
    assert.equal(report.firstBadEntry, Number(rows[0].idx), 'the rewritten digest is caught');
  });
});
