/**
 * `warden ledger ...` commands, as functions the CLI entry point calls:
 *
 *   warden ledger keygen [--name ORIGIN] [--out FILE] [--force]
 *   warden ledger key                          print the verifier key(s) to publish
 *   warden ledger verify [--key VKEY]... [--json]
 *   warden ledger prove <id|index> [--tree-size N]
 *   warden ledger consistency <old> <new>
 *   warden ledger checkpoint
 *   warden ledger entries <start> <end>
 *   warden ledger query [--account A] [--org O] [--cluster C] [--key K] [--model M] [--ip IP]
 *                       [--network CIDR] [--from T] [--to T] [--limit N] [--format json|csv|jsonl]
 *   warden ledger erase (--account A | --org O | --before T)
 *
 * Exit codes: 0 success, 1 verification failed or command error, 2 usage error.
 */
import type { Writable } from 'node:stream';
import type { LedgerConfig } from './config.ts';
import { generateSigner, parseVerifierKey, type NoteVerifier } from './note.ts';
import { loadSigners, openLedgerFromConfig, openLedgerStorage, resolveLedgerSetup, trustedKeys, writeKeyFile, type LedgerSetup } from './open.ts';
import { exportQuery, queryLedger, type LedgerQuery } from './query.ts';
import { verifyLedger } from './verify.ts';
import type { Ledger } from './ledger.ts';

export interface LedgerCliDeps {
  /** The `ledger` section of the loaded config, and the `store` section for the driver. */
  config: LedgerSetup;
  stdout?: Writable;
  stderr?: Writable;
  env?: NodeJS.ProcessEnv;
  /** An already open ledger to use instead of opening one from config (tests, in-process admin). */
  ledger?: Ledger;
}

export const LEDGER_USAGE = `usage: warden ledger <command>
  keygen [--name ORIGIN] [--out FILE] [--force]   create a checkpoint signing key
  key                                             print the verifier key(s) to publish
  verify [--key VKEY]... [--json]                 verify the whole log
  prove <id|index> [--tree-size N]                inclusion proof (JSON)
  consistency <old> <new>                         consistency proof (JSON)
  checkpoint                                      sign a checkpoint of the durable log now
  entries <start> <end>                           entries as stored (JSON)
  query [--account A] [--org O] [--cluster C] [--key K] [--model M] [--ip IP] [--network CIDR]
        [--from T] [--to T] [--limit N] [--format json|csv|jsonl]
  erase (--account A | --org O | --before T)      erase personal data; proofs stay valid
`;

class UsageError extends Error {}

function parseArgs(argv: string[]): { positional: string[]; flags: Map<string, string[]> } {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  const bool = new Set(['json', 'force', 'help']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      let value: string;
      if (eq >= 0) value = a.slice(eq + 1);
      else if (bool.has(name)) value = 'true';
      else {
        if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
        value = argv[++i];
      }
      flags.set(name, [...(flags.get(name) ?? []), value]);
    } else positional.push(a);
  }
  return { positional, flags };
}

/** Run one `warden ledger` command; resolves to the process exit code. */
export async function runLedgerCli(argv: string[], deps: LedgerCliDeps): Promise<number> {
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  const print = (s: string) => out.write(s.endsWith('\n') ? s : s + '\n');
  const setup = resolveLedgerSetup(deps.config);
  const cfg = setup.ledger;
  let args: ReturnType<typeof parseArgs>;
  try { args = parseArgs(argv); } catch (e) { err.write(`${(e as Error).message}\n${LEDGER_USAGE}`); return 2; }
  const [cmd, ...rest] = args.positional;
  const flag = (n: string) => args.flags.get(n)?.at(-1);
  if (!cmd || args.flags.has('help')) { (cmd ? out : err).write(LEDGER_USAGE); return cmd ? 0 : 2; }

  let opened: Ledger | null = null;
  const ledger = async () => {
    if (deps.ledger) return deps.ledger;
    opened ??= await openLedgerFromConfig(setup, { env: deps.env, createKey: false });
    return opened;
  };
  try {
    switch (cmd) {
      case 'keygen': {
        const name = flag('name') ?? cfg.origin;
        const file = flag('out') ?? cfg.key_file;
        const signer = generateSigner(name);
        writeKeyFile(file, signer, flag('force') === 'true');
        print(`wrote signing key to ${file} (mode 0600); keep it secret and backed up`);
        print(`verifier key (publish this): ${signer.verifier().toString()}`);
        if (name !== cfg.origin) print(`note: set ledger.origin to ${name} to sign with this key`);
        return 0;
      }
      case 'key': {
        const keys = deps.ledger ? deps.ledger.verifiers.map(String) : loadSigners(cfg, { env: deps.env }).map((s) => s.verifier().toString());
        for (const k of keys) print(k);
        return 0;
      }
      case 'verify': {
        const given = args.flags.get('key') ?? [];
        let verifiers: NoteVerifier[];
        if (given.length) verifiers = given.map(parseVerifierKey);
        else {
          verifiers = [...trustedKeys(cfg)];
          try { verifiers.push(...loadSigners(cfg, { env: deps.env }).map((s) => s.verifier())); } catch { /* verify may run without the private key */ }
        }
        const storage = deps.ledger?.storage ?? openLedgerStorage(setup);
        try {
          if (!given.length) for (const k of await storage.keys()) { const v = parseVerifierKey(k); if (!verifiers.some((x) => String(x) === k)) verifiers.push(v); }
          if (!verifiers.length) throw new UsageError('no verifier key: pass --key <name>+<id>+<key>');
          const report = await verifyLedger(storage, { origin: cfg.origin, verifiers });
          if (flag('json') === 'true') print(JSON.stringify(report, null, 2));
          else {
            print(`log size ${report.size}, ${report.nodes} tree nodes, ${report.checkpoints} checkpoints, ${report.commitments} commitments opened, ${report.erased} entries erased`);
            if (report.latestCheckpoint) print(`latest checkpoint: size ${report.latestCheckpoint.size}, root ${report.latestCheckpoint.rootHash}`);
            if (report.ok) print('OK: every leaf, node, checkpoint signature and consistency proof verifies');
            else {
              if (report.firstBadEntry !== null) print(`FAILED: first bad entry is ${report.firstBadEntry}`);
              else print('FAILED');
              for (const p of report.problems.slice(0, 50)) print(`  ${p.kind}${p.level !== undefined ? ` level ${p.level}` : ''}${p.index !== undefined ? ` #${p.index}` : ''}: ${p.message}`);
              if (report.problems.length > 50) print(`  ... and ${report.problems.length - 50} more`);
            }
          }
          return report.ok ? 0 : 1;
        } finally {
          if (!deps.ledger) await storage.close();
        }
      }
      case 'prove': {
        if (rest.length !== 1) throw new UsageError('prove needs one entry id or index');
        const treeSize = flag('tree-size');
        print(JSON.stringify(await (await ledger()).proveInclusion(rest[0], { treeSize: treeSize === undefined ? undefined : Number(treeSize) }), null, 2));
        return 0;
      }
      case 'consistency': {
        if (rest.length !== 2 || !rest.every((x) => /^\d+$/.test(x))) throw new UsageError('consistency needs two tree sizes');
        print(JSON.stringify(await (await ledger()).proveConsistency(Number(rest[0]), Number(rest[1])), null, 2));
        return 0;
      }
      case 'checkpoint': {
        const cp = await (await ledger()).checkpoint();
        out.write(cp.note);
        return 0;
      }
      case 'entries': {
        if (rest.length !== 2 || !rest.every((x) => /^\d+$/.test(x))) throw new UsageError('entries needs start and end');
        print(JSON.stringify(await (await ledger()).entriesRange(Number(rest[0]), Number(rest[1])), null, 2));
        return 0;
      }
      case 'query': {
        const q: LedgerQuery = {
          accountId: flag('account'), orgId: flag('org'), clusterId: flag('cluster'), keyId: flag('key'), model: flag('model'),
          ip: flag('ip'), network: flag('network'), from: flag('from'), to: flag('to'),
          limit: flag('limit') === undefined ? undefined : Number(flag('limit')),
        };
        const format = flag('format') ?? 'json';
        if (!['json', 'csv', 'jsonl'].includes(format)) throw new UsageError('--format must be json, csv or jsonl');
        const result = await queryLedger((await ledger()).storage, q);
        if (format === 'json') print(JSON.stringify(result, null, 2));
        else await exportQuery(result, format as 'csv' | 'jsonl', out);
        return 0;
      }
      case 'erase': {
        const filter = { accountId: flag('account'), orgId: flag('org'), before: flag('before') };
        if (!filter.accountId && !filter.orgId && !filter.before) throw new UsageError('erase needs --account, --org or --before');
        const { erased } = await (await ledger()).erase(filter);
        print(`erased personal data of ${erased} entries; leaves, proofs and checkpoints are unchanged`);
        return 0;
      }
      default:
        throw new UsageError(`unknown ledger command ${cmd}`);
    }
  } catch (e) {
    if (e instanceof UsageError) { err.write(`${e.message}\n${LEDGER_USAGE}`); return 2; }
    err.write(`warden ledger ${cmd}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    if (opened) await (opened as Ledger).close();
  }
}

export type { LedgerConfig };
