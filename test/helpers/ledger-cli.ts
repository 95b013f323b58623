/** Run `warden ledger` in-process with a configuration, capturing its exit code and output. */
import { PassThrough } from 'node:stream';
import { runLedgerCli } from '../../src/ledger/index.ts';

export type LedgerCliRun = (...argv: string[]) => Promise<{ code: number; out: string; err: string }>;

export function ledgerCliRunner(config: Parameters<typeof runLedgerCli>[1]['config']): LedgerCliRun {
  return async (...argv) => {
    const out = new PassThrough();
    const err = new PassThrough();
    let o = ''; let e = '';
    out.on('data', (c) => (o += c)); err.on('data', (c) => (e += c));
    const code = await runLedgerCli(argv, { config, stdout: out, stderr: err, env: {} });
    return { code, out: o, err: e };
  };
}
