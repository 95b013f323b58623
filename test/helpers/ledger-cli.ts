/** Run `warden ledger` in-process with a configuration, capturing its exit code and output. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ledgerConfigSchema, runLedgerCli } from '../../src/ledger/index.ts';
import { openLedgerFromConfig } from '../../src/ledger/open.ts';
import { sampleEvent } from './synthetic-events.ts';

export type LedgerCliRun = (...argv: string[]) => Promise<{ code: number; out: string; err: string }>;
export type LedgerCliConfig = Parameters<typeof openLedgerFromConfig>[0];

/** `terminal`: standard output is a terminal (`isTTY`), as when an operator runs the command by hand. */
export function ledgerCliRunner(config: Parameters<typeof runLedgerCli>[1]['config'], opts: { terminal?: boolean } = {}): LedgerCliRun {
  return async (...argv) => {
    const out = Object.assign(new PassThrough(), opts.terminal ? { isTTY: true } : {});
    const err = new PassThrough();
    let o = ''; let e = '';
    out.on('data', (c) => (o += c)); err.on('data', (c) => (e += c));
    const code = await runLedgerCli(argv, { config, stdout: out, stderr: err, env: {} });
    return { code, out: o, err: e };
  };
}

/**
 * A ledger of 30 interactions (one a second from 2026-06-01T12:00:00Z) signed with a key made by
 * `keygen`, on SQLite in a fresh folder, and a CLI runner over it; the folder is removed after.
 */
export async function withLedgerCli(origin: string, fn: (run: LedgerCliRun, dir: string, config: LedgerCliConfig) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-cli-'));
  const config = { ledger: ledgerConfigSchema.parse({ origin, key: '' }), store: { driver: 'sqlite' as const, postgres_url: '', sqlite_path: join(dir, 'warden.db') } };
  const run = ledgerCliRunner(config);
  try {
    assert.equal((await run('keygen')).code, 0, 'keygen makes a signing key');
    const ledger = await openLedgerFromConfig(config, { env: {} });
    await Promise.all(Array.from({ length: 30 }, (_, i) => ledger.appendInteraction(sampleEvent(i))));
    await ledger.close();
    await fn(run, dir, config);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
