// Witnesses (C2SP tlog-witness, tlog-cosignature): a `warden witness serve` process cosigns a
// ledger's checkpoints over real HTTP; the ledger stores and serves the cosignatures; `verify` and
// the example verifier demand a quorum of them; and a log rewritten after the witness cosigned it
// (the split view an operator could show one auditor) is refused by the witness and fails verify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { generateCosigner, ledgerConfigSchema, registerLedgerRoutes, runWitnessCli, type Ledger } from '../../src/ledger/index.ts';
import { openLedgerFromConfig } from '../../src/ledger/open.ts';
import { registerLedgerMetrics } from '../../src/ledger/metrics.ts';
import { ledgerCliRunner } from '../helpers/ledger-cli.ts';
import { sampleEvent } from '../helpers/synthetic-events.ts';
import { WARDEN } from '../helpers/node-args.ts';

const ORIGIN = 'witnessed.warden.test/ledger';
const EXAMPLE = fileURLToPath(new URL('../../docs/ledger-verify-example.mjs', import.meta.url));

/** Independent check of one cosignature/v1 line on a note, from the spec with Node's crypto only. */
function independentCosignature(note: string, vkey: string): { timestamp: bigint } | null {
  const [name, idHex, keyB64] = [vkey.slice(0, vkey.indexOf('+')), vkey.split('+')[1], vkey.slice(vkey.indexOf('+', vkey.indexOf('+') + 1) + 1)];
  const raw = Buffer.from(keyB64, 'base64');
  assert.equal(raw[0], 0x04, 'a witness verifier key carries the cosignature/v1 type byte 0x04');
  const keyId = createHash('sha256').update(Buffer.from(`${name}\n`)).update(raw).digest().subarray(0, 4);
  assert.equal(keyId.toString('hex'), idHex, 'the key id is SHA-256(name || 0x0A || 0x04 || key)[:4]');
  const cut = note.lastIndexOf('\n\n');
  const text = note.slice(0, cut + 1);
  for (const line of note.slice(cut + 2).split('\n').filter(Boolean)) {
    const [dash, lname, b64] = line.split(' ');
    assert.equal(dash, '\u2014');
    if (lname !== name) continue;
    const sig = Buffer.from(b64, 'base64');
    if (!sig.subarray(0, 4).equals(keyId)) continue;
    assert.equal(sig.length, 4 + 8 + 64, 'key id, u64 timestamp, Ed25519 signature');
    const timestamp = sig.readBigUInt64BE(4);
    const pub = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw.subarray(1)]), format: 'der', type: 'spki' });
    const ok = cryptoVerify(null, Buffer.from(`cosignature/v1\ntime ${timestamp}\n${text}`), pub, sig.subarray(12));
    return ok ? { timestamp } : null;
  }
  return null;
}

/** `warden witness serve` as its own process on a free port; resolves with its URL and its output so far. */
async function startWitnessProcess(dir: string, logSpec: string): Promise<{ url: string; vkey: string; child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  const keyFile = join(dir, 'witness.key');
  let vkey = '';
  const out = { write: (s: string) => { vkey += s; return true; } };
  assert.equal(await runWitnessCli(['keygen', '--name', 'witness.test/w1', '--out', keyFile], { stdout: out as never }), 0);
  vkey = vkey.trim();
  const child = spawn(process.execPath, [...WARDEN, 'witness', 'serve', '--key', keyFile, '--db', join(dir, 'witness.db'), '--log', logSpec, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WARDEN_LOG_LEVEL: '' } });
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`witness did not start: ${output}`)), 60_000);
    const look = () => { const m = /listening on (http:\/\/\S+)/.exec(output); if (m) { clearTimeout(timer); resolve(m[1]); } };
    child.stdout!.on('data', look);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`witness exited ${code}: ${output}`)); });
  });
  return {
    url, vkey, child, output: () => output,
    stop: () => new Promise<void>((resolve) => { if (child.exitCode !== null) return resolve(); child.once('exit', () => resolve()); child.kill('SIGTERM'); }),
  };
}

function setup(dir: string, witnesses: { url: string; key: string }[], quorum: number | null = null) {
  return {
    ledger: ledgerConfigSchema.parse({ origin: ORIGIN, key: '', key_file: join(dir, 'ledger.key'), witnesses, witness_quorum: quorum, checkpoint_interval_ms: 60_000 }),
    store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'warden.db') },
  };
}

async function fill(ledger: Ledger, from: number, n: number, tag = '') {
  await Promise.all(Array.from({ length: n }, (_, i) => ledger.appendInteraction(sampleEvent(from + i, tag ? { model: `rewritten-${tag}` } : {}))));
}

function runExample(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [EXAMPLE, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr });
    });
  });
}

test('a cosignature is cosignature/v1 as the spec writes it: key id with type 0x04, timestamp, Ed25519 over the header, time line and checkpoint', () => {
  const w = generateCosigner('witness.test/unit');
  const text = `${ORIGIN}\n7\n${Buffer.alloc(32, 9).toString('base64')}\n`;
  const note = `${text}\n${w.cosign(text, 1_765_000_000)}`;
  const got = independentCosignature(note, String(w.verifier()));
  assert.ok(got, 'the cosignature verifies with Node crypto alone');
  assert.equal(got.timestamp, 1_765_000_000n, 'the timestamp is the one signed');
  // The same signature over another checkpoint (one more entry) does not verify.
  const other = `${ORIGIN}\n8\n${Buffer.alloc(32, 9).toString('base64')}\n`;
  const moved = `${other}\n${note.slice(note.lastIndexOf('\n\n') + 2)}`;
  assert.equal(independentCosignature(moved, String(w.verifier())), null, 'a cosignature is bound to its checkpoint');
});

test('a witness process cosigns the ledger\'s checkpoints over HTTP; verify and the example verifier demand its quorum; a rewritten log is refused and fails verify', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-witness-'));
  const logDir = join(dir, 'log');
  mkdirSync(logDir);
  // The ledger's key first: the witness is told which key signs the log.
  const base = setup(logDir, []);
  const keygen = await ledgerCliRunner(base)('keygen');
  assert.equal(keygen.code, 0, keygen.err);
  const ledgerVkey = (await ledgerCliRunner(base)('key')).out.trim();
  const witness = await startWitnessProcess(dir, `${ORIGIN}=${ledgerVkey}`);
  const bystander = String(generateCosigner('witness.test/never-asked').verifier());
  const errors: string[] = [];
  const config = setup(logDir, [{ url: witness.url, key: witness.vkey }]);
  let ledger: Ledger | null = null;
  let app: ReturnType<typeof Fastify> | null = null;
  try {
    // Protocol answers, straight from the witness: an unknown origin, a checkpoint not signed by the log's key.
    const post = (body: string) => fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body });
    const root = Buffer.alloc(32, 1).toString('base64');
    assert.equal((await post(`old 0\n\nother.test/log\n1\n${root}\n\n\u2014 other.test/log ${Buffer.alloc(68, 7).toString('base64')}\n`)).status, 404, 'unknown origin: 404');
    assert.equal((await post(`old 0\n\n${ORIGIN}\n1\n${root}\n\n\u2014 ${ORIGIN} ${Buffer.alloc(68, 7).toString('base64')}\n`)).status, 403, 'not signed by the log\'s key: 403');

    ledger = await openLedgerFromConfig(config, { env: {}, submitToWitnesses: true, onError: (e) => errors.push(String((e as Error).message)) });
    const registry = new Registry();
    registerLedgerMetrics(ledger, registry);
    await fill(ledger, 0, 10);
    await ledger.checkpoint();
    await ledger.witnessClient!.settled();
    assert.equal(errors.length, 0, `no witness error: ${errors.join(' | ')}`);
    let cp = ledger.witnessedCheckpoint();
    assert.ok(cp && cp.size === 10, `the checkpoint of size 10 is witnessed (got ${cp?.size})`);
    assert.ok(independentCosignature(cp.note, witness.vkey), 'the stored checkpoint carries a cosignature that verifies independently');

    // Growth: the witness checks a consistency proof from 10 to 25 against what it cosigned.
    await fill(ledger, 10, 15);
    await ledger.checkpoint();
    await ledger.witnessClient!.settled();
    cp = ledger.witnessedCheckpoint();
    assert.ok(cp && cp.size === 25, `the checkpoint of size 25 is witnessed (got ${cp?.size})`);
    assert.equal(errors.length, 0, `no witness error: ${errors.join(' | ')}`);

    // Served: GET /ledger/v1/checkpoint is one signed note with the log's signature and the cosignature.
    app = Fastify();
    registerLedgerRoutes(app, ledger, { routes: 'public' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const served = await (await fetch(`${url}/ledger/v1/checkpoint`)).text();
    assert.ok(served.startsWith(`${ORIGIN}\n25\n`), served);
    assert.ok(independentCosignature(served, witness.vkey), 'the served checkpoint carries the witness cosignature');
    const metrics = await registry.metrics();
    assert.match(metrics, /warden_ledger_witness_cosigned_total\{witness="witness.test\/w1"\} 2/, metrics);
    assert.match(metrics, /warden_ledger_witnessed_size 25/);

    const ex = await runExample(['--url', url, '--key', ledgerVkey, '--witness', witness.vkey]);
    assert.equal(ex.code, 0, ex.out);
    assert.match(ex.out, /carries 1 of the 1 witness cosignature/);
    const exQuorum = await runExample(['--url', url, '--key', ledgerVkey, '--witness', witness.vkey, '--witness', bystander, '--quorum', '2']);
    assert.equal(exQuorum.code, 1, `a quorum of 2 with one cosignature fails the example verifier: ${exQuorum.out}`);

    await app.close(); app = null;
    await ledger.close(); ledger = null;
    const run = ledgerCliRunner(config);
    const ok = await run('verify');
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /witnessed: checkpoint of size 25 cosigned by witness.test\/w1/);
    const two = await run('verify', '--witness', witness.vkey, '--witness', bystander, '--quorum', '2');
    assert.equal(two.code, 1, `verify with a quorum the log lacks fails: ${two.out}`);
    assert.match(two.out, /quorum of 2/);

    // The split view: the operator rewrites the log (same key, same origin, other entries) and
    // shows it as the log. The witness holds size 25 with another root: 409, no cosignature.
    const fakeDir = join(dir, 'rewritten');
    mkdirSync(fakeDir);
    copyFileSync(join(logDir, 'ledger.key'), join(fakeDir, 'ledger.key'));
    const fakeConfig = setup(fakeDir, [{ url: witness.url, key: witness.vkey }]);
    errors.length = 0;
    ledger = await openLedgerFromConfig(fakeConfig, { env: {}, submitToWitnesses: true, onError: (e) => errors.push(String((e as Error).message)) });
    await fill(ledger, 0, 25, 'a');
    await ledger.checkpoint();
    await ledger.witnessClient!.settled();
    assert.equal(ledger.witnessedCheckpoint(), null, 'the rewritten log got no cosignature');
    assert.ok(errors.some((e) => /refused checkpoint 25 \(409 Conflict\)/.test(e)), `the refusal is reported: ${errors.join(' | ')}`);
    // Grown further, its consistency proof from 25 does not hold against the witness's root: 422.
    await fill(ledger, 25, 5, 'b');
    await ledger.checkpoint();
    await ledger.witnessClient!.settled();
    assert.equal(ledger.witnessedCheckpoint(), null, 'still no cosignature');
    assert.ok(errors.some((e) => /refused checkpoint 30 \(422\)/.test(e)), `the bad proof is reported: ${errors.join(' | ')}`);
    assert.equal(ledger.witnessClient!.stats[0].refused, 2);
    await ledger.close(); ledger = null;
    assert.match(witness.output(), /REFUSED witnessed.warden.test\/ledger/, 'the witness logs the refusals');

    const fake = await ledgerCliRunner(fakeConfig)('verify');
    assert.equal(fake.code, 1, `verify of the rewritten log with the witness's key fails: ${fake.out}`);
    assert.match(fake.out, /no checkpoint of the log carries the quorum/);
    // Without witnesses, the rewritten log verifies: the log's key alone cannot tell the two apart.
    const blind = await ledgerCliRunner(setup(fakeDir, []))('verify');
    assert.equal(blind.code, 0, blind.out);

    // The witness's state is its own: it still holds the real log's size 25.
    const state = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: `old 0\n\n${served}` });
    assert.equal(state.status, 409);
    assert.equal(state.headers.get('content-type'), 'text/x.tlog.size');
    assert.equal(await state.text(), '25\n');
  } finally {
    await app?.close();
    await ledger?.close();
    await witness.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unreachable witness never holds the ledger: appends and checkpoints go on, the failure is counted and reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-witness-down-'));
  // A port nothing listens on.
  const port = await new Promise<number>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); }); });
  const w = generateCosigner('witness.test/down');
  const errors: unknown[] = [];
  const ledger = await openLedgerFromConfig(setup(dir, [{ url: `http://127.0.0.1:${port}`, key: String(w.verifier()) }]), { env: {}, createKey: true, submitToWitnesses: true, onError: (e) => errors.push(e) });
  try {
    const registry = new Registry();
    registerLedgerMetrics(ledger, registry);
    await fill(ledger, 0, 5);
    const cp = await ledger.checkpoint();
    assert.equal(cp.size, 5, 'the checkpoint is signed without the witness');
    for (let i = 0; i < 100 && ledger.witnessClient!.stats[0].unreachable === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(ledger.witnessClient!.stats[0].unreachable >= 1, 'the failed call is counted');
    assert.ok(errors.some((e) => (e as { code?: string }).code === 'LEDGER_WITNESS' && /unreachable/.test(String((e as Error).message))), 'and reported as LEDGER_WITNESS');
    assert.match(await registry.metrics(), /warden_ledger_witness_unreachable_total\{witness="witness.test\/down"\} [1-9]/);
    await fill(ledger, 5, 5);
    assert.equal((await ledger.checkpoint()).size, 10, 'appends and checkpoints go on');
    assert.equal(ledger.witnessedCheckpoint(), null);
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
