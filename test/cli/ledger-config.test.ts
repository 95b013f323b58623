// `warden ledger ... -c FILE` checks the ledger FILE configures, as every other command reads -c:
// verifying "a copy" must never verify the live ledger in ./data instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerConfigSchema, openLedgerFromConfig, runLedgerCli } from '../../src/ledger/index.ts';
import { sampleEvent } from '../helpers/synthetic-events.ts';
import { PassThrough } from 'node:stream';
import { WARDEN } from '../helpers/node-args.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const warden = (args: string[], cwd: string) => runWarden(args, { cwd });

test('ledger -c FILE and --config FILE check the configured ledger, not ./data', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-c-'));
  try {
    // The live ledger, where the default configuration puts it (./data/ledger.db).
    const config = { ledger: ledgerConfigSchema.parse({}), store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'data', 'warden.db') } };
    assert.equal(await runLedgerCli(['keygen'], { config, stdout: new PassThrough(), stderr: new PassThrough(), env: {} }), 0);
    const ledger = await openLedgerFromConfig(config, { env: {} });
    await Promise.all([0, 1, 2].map((i) => ledger.appendInteraction(sampleEvent(i))));
    await ledger.close();
    const live = await warden(['ledger', 'verify'], dir);
    assert.equal(live.code, 0, live.stderr);
    assert.match(live.stdout, /log size 3/);

    // A configuration naming a ledger that is not there: the command says so, whichever spelling.
    writeFileSync(join(dir, 'copy.yaml'), 'store:\n  sqlite_path: ./copy/warden.db\n');
    for (const args of [['-c', 'copy.yaml'], ['--config', 'copy.yaml'], ['--config=copy.yaml']]) {
      const r = await warden(['ledger', 'verify', ...args], dir);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`);
      assert.doesNotMatch(r.stdout, /OK/);
      assert.match(r.stderr, /no ledger at copy\/ledger\.db/);
    }
    assert.equal(existsSync(join(dir, 'copy')), false);
    assert.equal((await warden(['ledger', 'verify', '-c'], dir)).code, 2);
    // An empty path is refused, not read as "no file given" (which would check ./data).
    for (const args of [['--config='], ['-c', ''], ['--config', '']]) {
      const r = await warden(['ledger', 'verify', ...args], dir);
      assert.equal(r.code, 2, `${JSON.stringify(args)}: ${r.stdout}`);
      assert.doesNotMatch(r.stdout, /OK/);
      assert.match(r.stderr, /--config needs a file/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('output piped to a reader that stops early (| head) ends the command quietly, without an EPIPE trace', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-pipe-'));
  try {
    const config = { ledger: ledgerConfigSchema.parse({}), store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'data', 'warden.db') } };
    assert.equal(await runLedgerCli(['keygen'], { config, stdout: new PassThrough(), stderr: new PassThrough(), env: {} }), 0);
    const ledger = await openLedgerFromConfig(config, { env: {} });
    await Promise.all(Array.from({ length: 600 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    await ledger.close();
    // A few hundred KB of JSON: far more than a pipe holds, so writes go on after the reader left.
    const child = spawn(process.execPath, [...WARDEN, 'ledger', 'query'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '' } });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((done) => child.on('close', done));
    assert.doesNotMatch(stderr, /EPIPE|Error|at /, stderr);
    assert.equal(code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
