// `warden serve` trusts the ledger signing keys its configuration names (ledger.key or key_file,
// extra_key_files, trusted_keys), never one because the ledger's own database records it
// (`ledger_keys`): whoever can write the database could record a key of their own there. Such a
// key is not served at GET /ledger/v1/key, a start on a log whose latest checkpoint only it signs
// is refused with the key and the setting to name, and the documented rotation, as well as a
// database whose old keys were recorded before `trusted_keys` existed, keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { generateSigner, openLedgerFromConfig, verifyLedger, SqliteLedgerStorage, type Ledger } from '../../src/ledger/index.ts';
import type { NoteSigner } from '../../src/ledger/note.ts';
import { signCheckpoint } from '../../src/ledger/note.ts';
import { sampleEvent } from '../helpers/synthetic-events.ts';
import { WARDEN } from '../helpers/node-args.ts';

const ORIGIN = 'warden.test/ledger';
const TOKEN = 'adm_untrusted_keys_token_0123456789';

function withDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-keys-'));
  return work(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** Configuration of a node on `dir` signing with `primary` (written to its key file), `extra` beside it, and `trusted` verifier keys. */
function nodeConfig(dir: string, primary: NoteSigner, opts: { extra?: NoteSigner[]; trusted?: NoteSigner[] } = {}) {
  writeFileSync(join(dir, 'ledger.key'), primary.exportPrivate() + '\n', { mode: 0o600 });
  const extraFiles = (opts.extra ?? []).map((s, i) => {
    const f = join(dir, `extra-${i}.key`);
    writeFileSync(f, s.exportPrivate() + '\n', { mode: 0o600 });
    return f;
  });
  const settings = {
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'warn' }, admin: { token: TOKEN },
    mock: { latency_ms: 0, tokens_per_second: 0 },
    ledger: { origin: ORIGIN, key: '', key_file: join(dir, 'ledger.key'), extra_key_files: extraFiles, trusted_keys: (opts.trusted ?? []).map((s) => s.verifier().toString()), checkpoint_interval_ms: 60_000 },
  };
  return Object.assign(parseConfig(settings), { settings, dir });
}

/** `warden serve` as an operator runs it, expected to refuse to start: its stderr. */
async function refusedServe(config: ReturnType<typeof nodeConfig>): Promise<string> {
  const file = join(config.dir, 'warden.yaml');
  writeFileSync(file, JSON.stringify(config.settings));
  const proc = spawn(process.execPath, [...WARDEN, 'serve', '--config', file, '--no-demo'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WARDEN_LOG_LEVEL: '' } });
  let stderr = '';
  // A server that starts instead (it prints where the admin API is) is stopped: the test fails, rather than waits.
  const started = (d: Buffer) => { if (/admin API: /.test(String(d))) proc.kill('SIGTERM'); };
  proc.stderr.on('data', (d) => { stderr += d; started(d); });
  proc.stdout.on('data', started);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  assert.equal(code, 1, `warden serve refuses to start (exit 1); stderr:\n${stderr}`);
  return stderr;
}

/** Open the node's ledger directly (no server), append `n` entries and sign a checkpoint over them. */
async function appendAndSign(config: ReturnType<typeof nodeConfig>, from: number, n: number): Promise<void> {
  const ledger: Ledger = await openLedgerFromConfig(config, { env: {}, writer: 'inline' });
  try {
    for (let i = 0; i < n; i++) await ledger.appendInteraction(sampleEvent(from + i));
    await ledger.checkpoint();
  } finally {
    await ledger.close();
  }
}

/** Start `warden serve` on the configuration; its operator lines are collected. */
async function serve(config: ReturnType<typeof nodeConfig>) {
  const lines: string[] = [];
  const w = await startWarden(config, { log: (line) => lines.push(line) });
  const get = (path: string) => fetch(`${w.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const publishedKeys = async () => (await (await get('/ledger/v1/key')).text()).trim().split('\n').filter(Boolean).sort();
  const unconfiguredGauge = async () => {
    const m = /^warden_ledger_unconfigured_keys (\S+)$/m.exec(await (await fetch(`${w.url}/metrics`)).text());
    assert.ok(m, 'the metric warden_ledger_unconfigured_keys is served');
    return Number(m[1]);
  };
  return { w, lines, publishedKeys, unconfiguredGauge };
}

const vkey = (s: NoteSigner) => s.verifier().toString();
const escape = (s: string) => s.replace(/[.+*?^$()[\]{}|\\/]/g, '\\$&');

test('a key recorded only in the ledger\'s database is not published at /ledger/v1/key; the start says so and the metric counts it', async () => {
  await withDir(async (dir) => {
    const own = generateSigner(ORIGIN);
    const config = nodeConfig(dir, own);
    await appendAndSign(config, 0, 3);
    // Someone who can write the database records a key of their own beside the log's.
    const intruder = generateSigner(ORIGIN);
    const storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    await storage.recordKeys([vkey(intruder)]);
    await storage.close();

    const { w, lines, publishedKeys, unconfiguredGauge } = await serve(config);
    try {
      assert.deepEqual(await publishedKeys(), [vkey(own)], 'only the configured key is published, not the one the database lists');
      assert.equal(await unconfiguredGauge(), 1, 'the recorded, unconfigured key is counted');
      const warning = lines.find((l) => l.includes(vkey(intruder)));
      assert.ok(warning, `the start names the unconfigured key:\n${lines.join('\n')}`);
      assert.match(warning, /not configured with; they are not trusted/);
      assert.match(warning, /ledger\.trusted_keys/, 'it names the setting for a key that is the operator\'s own');
    } finally {
      await w.close();
    }
  });
});

test('a start on a log whose latest checkpoint is signed only by a key the database records is refused, naming the key and ledger.trusted_keys', async () => {
  await withDir(async (dir) => {
    const own = generateSigner(ORIGIN);
    const config = nodeConfig(dir, own);
    await appendAndSign(config, 0, 3);
    // The intruder records their key and re-signs the latest checkpoint with it alone.
    const intruder = generateSigner(ORIGIN);
    const storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    const latest = (await storage.latestCheckpoint())!;
    await storage.recordKeys([vkey(intruder)]);
    const note = signCheckpoint({ origin: ORIGIN, size: latest.size, rootHash: latest.root, extensions: [] }, [intruder]);
    await storage.putCheckpoint({ size: latest.size, root: latest.root, note, created_at: new Date(Date.parse(latest.created_at) + 1000).toISOString() });
    await storage.close();

    const stderr = await refusedServe(config);
    assert.match(stderr, new RegExp(`is signed only by ${escape(vkey(intruder))}, a key recorded in the ledger's own database but not configured on this node`), stderr);
    assert.match(stderr, /add it to ledger\.trusted_keys/, stderr);
    assert.match(stderr, /warden ledger verify --key/, stderr);
  });
});

test('the documented rotation (extra_key_files, then the new key primary and the old one in trusted_keys) starts and publishes both keys', async () => {
  await withDir(async (dir) => {
    const old = generateSigner(ORIGIN);
    const next = generateSigner(ORIGIN);
    await appendAndSign(nodeConfig(dir, old), 0, 2);
    // Step 2: the new key beside the old one.
    await appendAndSign(nodeConfig(dir, old, { extra: [next] }), 2, 2);
    // Step 4: the new key is the primary, the old one a trusted (retired) key.
    const config = nodeConfig(dir, next, { trusted: [old] });
    const { w, lines, publishedKeys, unconfiguredGauge } = await serve(config);
    try {
      assert.deepEqual(await publishedKeys(), [vkey(old), vkey(next)].sort(), 'both the signing key and the retired one are published');
      assert.equal(await unconfiguredGauge(), 0);
      assert.ok(!lines.some((l) => /LEDGER_UNCONFIGURED_KEYS|not configured with/.test(l)), `no warning:\n${lines.join('\n')}`);
    } finally {
      await w.close();
    }
    const storage = SqliteLedgerStorage.openReadOnly(join(dir, 'ledger.db'));
    try {
      const report = await verifyLedger(storage, { origin: ORIGIN, verifiers: [old.verifier(), next.verifier()] });
      assert.deepEqual(report.problems, [], 'the rotated log verifies with the published keys');
    } finally {
      await storage.close();
    }
  });
});

test('upgrade: a database whose rotated-out key was recorded before trusted_keys existed starts; the old key is published once listed in trusted_keys', async () => {
  await withDir(async (dir) => {
    const old = generateSigner(ORIGIN);
    const next = generateSigner(ORIGIN);
    // What an earlier Warden left: the old key signed, then both, then the new one alone, the old
    // key kept only in ledger_keys (its rotation had no trusted_keys step).
    await appendAndSign(nodeConfig(dir, old), 0, 2);
    await appendAndSign(nodeConfig(dir, old, { extra: [next] }), 2, 2);
    await appendAndSign(nodeConfig(dir, next, { trusted: [old] }), 4, 2);
    const db = new Database(join(dir, 'ledger.db'), { readonly: true });
    const recorded = (db.prepare('SELECT vkey FROM ledger_keys').pluck().all() as string[]).sort();
    db.close();
    assert.deepEqual(recorded, [vkey(old), vkey(next)].sort(), 'the database records both keys, as the earlier release did');

    // Upgraded, configured as it was then: the new key alone.
    {
      const { w, lines, publishedKeys, unconfiguredGauge } = await serve(nodeConfig(dir, next));
      try {
        assert.deepEqual(await publishedKeys(), [vkey(next)], 'the old key, recorded but not configured, is no longer published');
        assert.equal(await unconfiguredGauge(), 1);
        const warning = lines.find((l) => l.includes(vkey(old)));
        assert.ok(warning && /ledger\.trusted_keys/.test(warning), `the start names the old key and ledger.trusted_keys:\n${lines.join('\n')}`);
      } finally {
        await w.close();
      }
    }
    // The operator lists it as the warning says.
    {
      const { w, lines, publishedKeys, unconfiguredGauge } = await serve(nodeConfig(dir, next, { trusted: [old] }));
      try {
        assert.deepEqual(await publishedKeys(), [vkey(old), vkey(next)].sort(), 'the old key is published again, as a configured retired key');
        assert.equal(await unconfiguredGauge(), 0);
        assert.ok(!lines.some((l) => l.includes(vkey(old))), `no warning once configured:\n${lines.join('\n')}`);
      } finally {
        await w.close();
      }
    }
  });
});

test('upgrade: a key replaced without the rotation steps (the latest checkpoint signed by the old key alone) is refused until the old key is listed in trusted_keys', async () => {
  await withDir(async (dir) => {
    const old = generateSigner(ORIGIN);
    const replacement = generateSigner(ORIGIN);
    await appendAndSign(nodeConfig(dir, old), 0, 3);
    const stderr = await refusedServe(nodeConfig(dir, replacement));
    assert.match(stderr, new RegExp(`signed only by ${escape(vkey(old))}`), stderr);
    assert.match(stderr, /ledger\.trusted_keys/, stderr);
    const { w, publishedKeys } = await serve(nodeConfig(dir, replacement, { trusted: [old] }));
    try {
      assert.deepEqual(await publishedKeys(), [vkey(old), vkey(replacement)].sort());
    } finally {
      await w.close();
    }
  });
});
