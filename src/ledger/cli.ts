/**
 * `warden ledger ...` commands, as functions the CLI entry point calls:
 *
 *   warden ledger keygen [--name ORIGIN] [--out FILE] [--force]
 *   warden ledger key                          print the verifier key(s) to publish
 *   warden ledger verify [--key VKEY]... [--checkpoint FILE]... [--witness VKEY]... [--quorum N] [--json]
 *   warden ledger prove <id|index> [--tree-size N]
 *   warden ledger consistency <old> <new>
 *   warden ledger checkpoint
 *   warden ledger entries <start> <end>
 *   warden ledger query [--account A] [--org O] [--cluster C] [--key K] [--model M] [--ip IP]
 *                       [--network CIDR] [--subdivision CODES]... [--country CODES]... [--from T] [--to T] [--limit N]
 *                       [--format json|csv|jsonl | --json] [--openings]
 *   warden ledger query --settings [--from T] [--to T] [--format json|csv|jsonl | --json]
 *   warden ledger erase (--account A | --org O | --before T)
 *   warden ledger reconcile [--from T] [--to T | --start N] [--end N] [--lag SECONDS] [--examples N] [--json]
 *
 * Options are checked per command (node:util parseArgs, strict): an unknown option or an extra
 * argument is a usage error, never ignored. `-c/--config FILE` is taken by the caller (commands.ts).
 * Commands other than keygen and key need an existing log: they never create one, and verify,
 * entries and query open it read-only.
 *
 * Exit codes: 0 success, 1 verification failed or command error, 2 usage error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isoTimeProblem, normalizeIsoTime, parsePositiveInt } from '../store/iso-time.ts';
import { openPostgres, postgresUrlForDisplay } from '../store/postgres.ts';
import { NoEventStoreError, PostgresEventRows, SqliteEventRows, type EventRowReader } from '../store/event-rows.ts';
import type { LedgerConfig } from './config.ts';
import { hashLeaf } from './merkle.ts';
import { encodeBase64, generateSigner, parseVerifierKey, type NoteVerifier } from './note.ts';
import { loadSigners, openLedgerFromConfig, openLedgerStorageReadOnly, resolveLedgerSetup, trustedKeys, witnessPolicy, writeKeyFile, type LedgerSetup } from './open.ts';
import { parseCosignerKey, type CosignerVerifier } from './cosign.ts';
import { QueryError, exportQuery, queryLedger, type LedgerQuery, type RegionSummary } from './query.ts';
import { NoLedgerError, type LedgerStorage } from './storage.ts';
import { verifyLedger } from './verify.ts';
import { reconcileLedger, type ReconcileReport } from './reconcile.ts';
import type { Ledger } from './ledger.ts';
import { printable, printableJson } from '../admin/index.ts';

export interface LedgerCliDeps {
  /** The `ledger` section of the loaded config, and the `store` section for the driver. */
  config: LedgerSetup;
  stdout?: Writable;
  stderr?: Writable;
  env?: NodeJS.ProcessEnv;
  /** An already open ledger to use instead of opening one from config (tests, in-process admin). */
  ledger?: Ledger;
  /** The event store to reconcile against instead of the configured one. */
  events?: EventRowReader;
}

export const LEDGER_USAGE = `usage: warden ledger <command> [-c FILE | --config FILE] [options]
  keygen [--name ORIGIN] [--out FILE] [--force]   create a checkpoint signing key
  key                                             print the verifier key(s) to publish
  verify [--key VKEY]... [--checkpoint FILE]... [--witness VKEY]... [--quorum N] [--json]
                                                  verify the whole log (and that it still holds
                                                  the checkpoints you kept, each a signed note file;
                                                  with witnesses, that a checkpoint carries N of
                                                  their cosignatures: default ledger.witnesses)
  prove <id|index> [--tree-size N]                inclusion proof (JSON)
  consistency <old> <new>                         consistency proof (JSON)
  checkpoint                                      sign a checkpoint of the durable log now
  entries <start> <end>                           entries as stored (JSON)
  query [--account A] [--org O] [--cluster C] [--key K] [--model M] [--ip IP] [--network CIDR]
        [--subdivision UA-43[,..]]... [--country CC[,..]]...
        [--from T] [--to T] [--limit N] [--format json|csv|jsonl | --json] [--openings]
                                                  audit query; by region: the interactions whose
                                                  leaf records the subdivision or country, and a
                                                  summary (served, refused, accounts, those whose
                                                  region is unknown) on stderr and in \`regions\`
  query --settings [--from T] [--to T] [--format ...]
                                                  the detector settings in force over the window
                                                  and every verdict recorded in it, by settings
  erase (--account A | --org O | --before T)      erase personal data; proofs stay valid
  reconcile [--from T] [--to T] [--start N] [--end N] [--lag SECONDS] [--examples N] [--json]
                                                  check the event store against the leaves: rows
                                                  altered, missing or without a leaf (exit 1)
Times are ISO 8601: a date (2026-12-05, midnight UTC) or a date and time with its zone
(2026-12-05T10:00:00Z). Unknown options and extra arguments are refused (exit 2).
`;

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;

/** Each command's options and how many positional arguments it takes. */
const COMMANDS: Record<string, { options: Options; positionals: number }> = {
  keygen: { options: { name: str, out: str, force: bool }, positionals: 0 },
  key: { options: {}, positionals: 0 },
  verify: { options: { key: { type: 'string', multiple: true }, checkpoint: { type: 'string', multiple: true }, witness: { type: 'string', multiple: true }, quorum: str, json: bool }, positionals: 0 },
  prove: { options: { 'tree-size': str }, positionals: 1 },
  consistency: { options: {}, positionals: 2 },
  checkpoint: { options: {}, positionals: 0 },
  entries: { options: {}, positionals: 2 },
  query: {
    options: { account: str, org: str, cluster: str, key: str, model: str, ip: str, network: str, from: str, to: str, limit: str, format: str, json: bool, openings: bool, settings: bool, subdivision: { type: 'string', multiple: true }, country: { type: 'string', multiple: true } },
    positionals: 0,
  },
  erase: { options: { account: str, org: str, before: str }, positionals: 0 },
  reconcile: { options: { from: str, to: str, start: str, end: str, lag: str, examples: str, json: bool }, positionals: 0 },
};

/** The first sentence of node:util's parseArgs messages ("Unknown option '--acount'"). */
const parseMessage = (e: Error) => e.message.split(/\.\s/)[0].replace(/\.$/, '');

function parseCommand(cmd: string, argv: string[]) {
  const spec = COMMANDS[cmd];
  if (!spec) throw new UsageError(`unknown ledger command ${cmd}`);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`ledger ${cmd}: ${parseMessage(e as Error)}`);
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (!values.help && parsed.positionals.length > spec.positionals) {
    throw new UsageError(`ledger ${cmd}: unexpected argument${parsed.positionals.length - spec.positionals > 1 ? 's' : ''} ${parsed.positionals.slice(spec.positionals).join(' ')}`);
  }
  return { values, positionals: parsed.positionals };
}

/** An ISO 8601 time option, as stored times are written; a usage error otherwise. */
function isoOption(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const iso = normalizeIsoTime(value);
  if (iso === null) throw new UsageError(isoTimeProblem(`--${name}`, value));
  return iso;
}

function sizeArg(what: string, value: string): number {
  if (!/^\d{1,15}$/.test(value)) throw new UsageError(`${what} must be a non-negative integer (got ${JSON.stringify(value)})`);
  return Number(value);
}

/** Run one `warden ledger` command; resolves to the process exit code. */
export async function runLedgerCli(argv: string[], deps: LedgerCliDeps): Promise<number> {
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  const print = (s: string) => out.write(s.endsWith('\n') ? s : s + '\n');
  // JSON as the commands print it: model names, user agents and notes are clients' and partners'
  // text, and the controls JSON leaves raw are written as \u escapes (the same value read back).
  const printJson = (v: unknown) => print(printableJson(JSON.stringify(v, null, 2)));
  const setup = resolveLedgerSetup(deps.config);
  const cfg = setup.ledger;
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const asked = cmd !== undefined && rest.length === 0;
    (asked ? out : err).write(LEDGER_USAGE);
    return asked ? 0 : 2;
  }

  let opened: Ledger | null = null;
  // Commands that read or change an existing log never create one: a mistyped path says so.
  const mustExist = () => {
    const driver = cfg.driver ?? setup.store?.driver ?? 'sqlite';
    if (!deps.ledger && driver === 'sqlite' && !existsSync(cfg.sqlite_path)) {
      throw new UsageError(`no ledger at ${cfg.sqlite_path}: check ledger.sqlite_path or store.sqlite_path in the configuration (-c FILE)`);
    }
  };
  const ledger = async () => {
    if (deps.ledger) return deps.ledger;
    mustExist();
    opened ??= await openLedgerFromConfig(setup, { env: deps.env, createKey: false });
    return opened;
  };
  /** Storage opened read-only (verify, entries, query), or the open ledger's. */
  const readStorage = async (): Promise<LedgerStorage> => {
    if (deps.ledger) return deps.ledger.storage;
    mustExist();
    try {
      return await openLedgerStorageReadOnly(setup);
    } catch (e) {
      throw e instanceof NoLedgerError ? new UsageError(e.message) : e;
    }
  };
  /** The configured event store, read-only: a missing one is a usage error, never created. */
  const eventRows = async (): Promise<EventRowReader> => {
    if (deps.events) return deps.events;
    const store = setup.store;
    try {
      if ((store?.driver ?? 'sqlite') === 'postgres') {
        if (!store?.postgres_url) throw new UsageError('reconcile: store.postgres_url is not set: the event store is on PostgreSQL (store.driver)');
        return await PostgresEventRows.open(openPostgres(store.postgres_url, { max: 2 }), { ownsPool: true, where: `PostgreSQL ${postgresUrlForDisplay(store.postgres_url)}` });
      }
      return SqliteEventRows.openReadOnly(store?.sqlite_path ?? join('data', 'warden.db'));
    } catch (e) {
      throw e instanceof NoEventStoreError ? new UsageError(e.message) : e;
    }
  };
  try {
    const { values, positionals } = parseCommand(cmd, rest);
    if (values.help) { out.write(LEDGER_USAGE); return 0; }
    const flag = (n: string) => values[n] as string | undefined;
    switch (cmd) {
      case 'keygen': {
        const name = flag('name') ?? cfg.origin;
        const file = flag('out') ?? cfg.key_file;
        const signer = generateSigner(name);
        writeKeyFile(file, signer, values.force === true);
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
        const given = (values.key as string[] | undefined) ?? [];
        let verifiers: NoteVerifier[];
        if (given.length) verifiers = given.map(parseVerifierKey);
        else {
          verifiers = [...trustedKeys(cfg)];
          try { verifiers.push(...loadSigners(cfg, { env: deps.env }).map((s) => s.verifier())); } catch { /* verify may run without the private key */ }
        }
        // Checkpoints the auditor kept (signed notes, as GET /ledger/v1/checkpoint serves them).
        const keptCheckpoints = ((values.checkpoint as string[] | undefined) ?? []).map((file) => {
          try { return readFileSync(file, 'utf8'); } catch (e) { throw new UsageError(`--checkpoint ${file}: ${(e as Error).message}`); }
        });
        // Witnesses: --witness keys (cosignature/v1) and --quorum, else the configured ones.
        const givenWitnesses = (values.witness as string[] | undefined) ?? [];
        let witnesses: CosignerVerifier[] = [];
        let quorum: number | undefined;
        try {
          witnesses = givenWitnesses.length ? givenWitnesses.map(parseCosignerKey) : (witnessPolicy(cfg)?.witnesses.map((w) => w.key) ?? []);
        } catch (e) { throw new UsageError(`--witness: ${(e as Error).message}`); }
        if (flag('quorum') !== undefined) {
          quorum = sizeArg('--quorum', flag('quorum')!);
          if (!witnesses.length) throw new UsageError('--quorum needs witness keys (--witness <name>+<id>+<key>, or ledger.witnesses)');
          if (quorum < 1 || quorum > witnesses.length) throw new UsageError(`--quorum must be between 1 and the number of witnesses (${witnesses.length})`);
        } else if (!givenWitnesses.length && witnesses.length) quorum = witnessPolicy(cfg)!.quorum;
        const storage = await readStorage();
        try {
          // The keys the database records are not trusted: whoever can write it can record one and
          // sign a rewritten log with it. They only name the signer of a checkpoint refused.
          const recorded: NoteVerifier[] = [];
          if (!given.length) for (const k of await storage.keys()) {
            if (verifiers.some((x) => String(x) === k) || recorded.some((x) => String(x) === k)) continue;
            try { recorded.push(parseVerifierKey(k)); } catch { /* not a key: nothing to name */ }
          }
          if (!verifiers.length) {
            const listed = recorded.length ? ` (the ledger's database records ${recorded.map(String).join(', ')}: compare with the key published for this ledger; keys read from the database it vouches for prove nothing)` : '';
            throw new UsageError(`no verifier key: pass --key <name>+<id>+<key> with the ledger's published verifier key, or configure ledger.key_file or ledger.trusted_keys${listed}`);
          }
          const report = await verifyLedger(storage, { origin: cfg.origin, verifiers, recorded, keptCheckpoints, unsignedGraceMs: firstCheckpointGraceMs(cfg.checkpoint_interval_ms), witnesses, quorum });
          if (values.json === true) printJson(report);
          else {
            print(`log size ${report.size}, ${report.nodes} tree nodes, ${report.checkpoints} checkpoints, ${report.commitments} commitments opened, ${report.erased} entries erased`);
            if (report.settings > 0) print(`detector settings: ${report.settings} settings entries, each digest recomputed; ${report.verdictsWithSettings} verdicts name settings recorded before them`);
            if (report.latestCheckpoint) print(`latest checkpoint: size ${report.latestCheckpoint.size}, root ${report.latestCheckpoint.rootHash}`);
            for (const k of report.kept) if (k.ok) print(`kept checkpoint of size ${k.size}: the log still holds it`);
            if (report.witnessed) print(`witnessed: checkpoint of size ${report.witnessed.size} cosigned by ${report.witnessed.cosigners.join(', ')}${report.unwitnessed ? `; the last ${report.unwitnessed} entries are not witnessed yet` : ''}`);
            if (report.ok && report.unsigned > 0) {
              print(`WARNING: the last ${report.unsigned} entries (from #${report.size - report.unsigned}) are covered by no signed checkpoint yet: only the stored tree vouches for them (the server signs one every ledger.checkpoint_interval_ms; \`warden ledger checkpoint\` signs one now)`);
            }
            if (report.ok) print(`OK: every leaf, node, checkpoint signature and consistency proof verifies${report.unsigned > 0 ? ` (${report.size - report.unsigned} of ${report.size} entries signed)` : ''}`);
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
        if (positionals.length !== 1) throw new UsageError('prove needs one entry id or index');
        const treeSize = flag('tree-size') === undefined ? undefined : sizeArg('--tree-size', flag('tree-size')!);
        printJson(await (await ledger()).proveInclusion(positionals[0], { treeSize }));
        return 0;
      }
      case 'consistency': {
        if (positionals.length !== 2) throw new UsageError('consistency needs two tree sizes');
        const [oldSize, newSize] = positionals.map((p, i) => sizeArg(i ? '<new>' : '<old>', p));
        if (oldSize > newSize) throw new UsageError(`consistency: <old> (${oldSize}) must not be above <new> (${newSize})`);
        printJson(await (await ledger()).proveConsistency(oldSize, newSize));
        return 0;
      }
      case 'checkpoint': {
        const cp = await (await ledger()).checkpoint();
        out.write(cp.note);
        return 0;
      }
      case 'entries': {
        if (positionals.length !== 2) throw new UsageError('entries needs start and end');
        const [start, end] = positionals.map((p, i) => sizeArg(i ? '<end>' : '<start>', p));
        if (start > end) throw new UsageError(`entries: <start> (${start}) must not be above <end> (${end})`);
        if (deps.ledger) { printJson(await deps.ledger.entriesRange(start, end)); return 0; }
        const storage = await readStorage();
        try {
          printJson(await storedEntries(storage, start, end));
        } finally {
          await storage.close();
        }
        return 0;
      }
      case 'query': {
        const limit = flag('limit');
        const q: LedgerQuery = {
          accountId: flag('account'), orgId: flag('org'), clusterId: flag('cluster'), keyId: flag('key'), model: flag('model'),
          ip: flag('ip'), network: flag('network'), from: isoOption('from', flag('from')), to: isoOption('to', flag('to')),
          limit: limit === undefined ? undefined : parsePositiveInt(limit) ?? (() => { throw new UsageError(`--limit must be a positive integer (got ${JSON.stringify(limit)})`); })(),
          openings: values.openings === true, settings: values.settings === true,
          subdivisions: values.subdivision as string[] | undefined, countries: values.country as string[] | undefined,
        };
        if (q.settings) {
          // Settings and verdicts over a window: the filters of interactions do not apply.
          const other = (['account', 'org', 'cluster', 'key', 'model', 'ip', 'network', 'limit', 'subdivision', 'country'] as const).filter((n) => values[n] !== undefined);
          if (other.length) throw new UsageError(`--settings lists the settings and every verdict of a time window: it takes --from and --to, not ${other.map((n) => `--${n}`).join(', ')}`);
        }
        // --json as every other operator command takes it: --format json.
        if (values.json === true && (flag('format') ?? 'json') !== 'json') throw new UsageError('--json is --format json: give one or the other');
        const format = flag('format') ?? 'json';
        if (!['json', 'csv', 'jsonl'].includes(format)) throw new UsageError('--format must be json, csv or jsonl');
        const storage = await readStorage();
        let result;
        try {
          // One snapshot, as verify: the verdicts and interactions it pairs are read at one moment.
          result = await (storage.consistentRead ? storage.consistentRead((view) => queryLedger(view, q)) : queryLedger(storage, q));
        } catch (e) {
          if (e instanceof QueryError) throw new UsageError(e.message);
          throw e;
        } finally {
          if (!deps.ledger) await storage.close();
        }
        if (result.truncated) {
          const bound = q.limit === undefined ? 'the default limit' : `--limit ${q.limit}`;
          err.write(`warden ledger query: ${bound} cut the interactions short: the usage rows add up the ${result.interactions.length} returned, not the accounts' totals (usage_scope: returned)\n`);
        }
        if (result.regions) err.write(`warden ledger query: ${regionLine(result.regions)}\n`);
        if (format === 'json') printJson(result);
        else await exportQuery(result, format as 'csv' | 'jsonl', out, { terminal: (out as { isTTY?: boolean }).isTTY === true });
        return 0;
      }
      case 'erase': {
        // Exactly one selector, as the usage says: two would be ANDed and could erase nothing.
        const given = (['account', 'org', 'before'] as const).filter((n) => flag(n) !== undefined);
        if (given.length !== 1) throw new UsageError(given.length ? `erase takes one of --account, --org or --before, not ${given.map((n) => `--${n}`).join(' and ')}` : 'erase needs --account, --org or --before');
        const value = flag(given[0])!;
        if (!value.trim()) throw new UsageError(`--${given[0]} needs a value`);
        const filter = given[0] === 'account' ? { accountId: value } : given[0] === 'org' ? { orgId: value } : { before: isoOption('before', value) };
        const { erased } = await (await ledger()).erase(filter);
        print(`erased personal data of ${erased} entries; leaves, proofs and checkpoints are unchanged`);
        return 0;
      }
      case 'reconcile': {
        const from = isoOption('from', flag('from'));
        const to = isoOption('to', flag('to'));
        const start = flag('start') === undefined ? undefined : sizeArg('--start', flag('start')!);
        const end = flag('end') === undefined ? undefined : sizeArg('--end', flag('end')!);
        if ((from ?? to) !== undefined && (start ?? end) !== undefined) throw new UsageError('reconcile: give a time range (--from, --to) or an index range (--start, --end), not both');
        if (start !== undefined && end !== undefined && start > end) throw new UsageError(`reconcile: --start (${start}) must not be above --end (${end})`);
        const lag = flag('lag');
        if (lag !== undefined && !/^\d{1,9}$/.test(lag)) throw new UsageError(`--lag must be a whole number of seconds (got ${JSON.stringify(lag)})`);
        const examplesFlag = flag('examples');
        const examples = examplesFlag === undefined ? undefined : parsePositiveInt(examplesFlag) ?? (() => { throw new UsageError(`--examples must be a positive integer (got ${JSON.stringify(examplesFlag)})`); })();
        const events = await eventRows();
        let storage: LedgerStorage | null = null;
        try {
          storage = await readStorage();
          const report = await reconcileLedger(storage, events, {
            from, to, start, end, examples, lagMs: lag === undefined ? undefined : Number(lag) * 1000, retentionDays: setup.events?.retention_days ?? null,
          });
          if (values.json === true) printJson(report);
          else printReconcile(report, (line) => print(printable(line)));
          return report.ok ? 0 : 1;
        } finally {
          if (storage && !deps.ledger) await storage.close();
          if (!deps.events) await events.close();
        }
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

/** A region query's summary in one line (on stderr, beside the result on stdout). */
export function regionLine(r: RegionSummary): string {
  const asked = [...r.subdivisions, ...r.countries].join(', ');
  let line = `${asked}: ${r.interactions} interactions (${r.served} served, ${r.refused} refused, ${r.errors} failed, ${r.unauthenticated} unauthenticated) from ${r.accounts} accounts`;
  if (r.first_ts) line += `, ${r.first_ts} to ${r.last_ts}`;
  if (r.subdivisions.length) {
    line += `; region unknown: ${r.region_unrecorded} interactions written before regions were recorded (warden.ledger/1, /2; ${r.region_unrecorded_in_country} of them from ${[...new Set(r.subdivisions.map((s) => s.slice(0, 2)))].join(', ')})`;
    line += ` and ${r.no_region_data} with no subdivision data read`;
  }
  return `${line}; ${r.scanned} interaction leaves read`;
}

/** A reconciliation for a person: what was compared, each example, and the verdict. */
function printReconcile(r: ReconcileReport, print: (s: string) => void): void {
  const show = (v: unknown) => JSON.stringify(v);
  print(`compared ${r.leaves} interaction leaves with the event store and looked up ${r.events} stored events in the log (log size ${r.tree_size}; ${r.checkpoint ? `latest checkpoint at size ${r.checkpoint.size}` : 'no signed checkpoint yet'})`);
  for (const a of r.altered.examples) {
    const fields = a.fields.map((f) => (f.committed ? `${f.field}: differs from the commitment` : `${f.field}: leaf ${show(f.leaf)}, store ${show(f.store)}`));
    print(`  altered ${a.id} (#${a.index}, ${a.ts}, account ${a.account_id ?? '-'}): ${fields.join('; ')}`);
  }
  for (const m of r.missing.examples) print(`  missing ${m.id} (#${m.index}, ${m.ts}, account ${m.account_id ?? '-'}, ${m.model}): the leaf has no event in the store`);
  for (const u of r.unrecorded.examples) print(`  without a leaf ${u.id} (${u.ts}, account ${u.account_id ?? '-'}, ${u.model}, status ${u.status}, ${u.input_tokens}+${u.output_tokens} tokens): in the store, not in the log`);
  const shown = r.altered.examples.length + r.missing.examples.length + r.unrecorded.examples.length;
  const total = r.altered.count + r.missing.count + r.unrecorded.count;
  if (total > shown) print(`  ... and ${total - shown} more (--examples N shows more, --json gives them all by kind)`);
  const notes: string[] = [];
  if (r.pending.leaves || r.pending.events) notes.push(`${r.pending.leaves} leaves and ${r.pending.events} events ended within the last ${r.lag_ms / 1000} s and may not be in both stores yet`);
  if (r.expired) notes.push(`${r.expired} leaves whose events events.retention_days deleted`);
  if (r.before_ledger) notes.push(`${r.before_ledger} events older than the log's first entry (nothing vouches for them)`);
  if (r.unchecked.store_erased || r.unchecked.ledger_erased) notes.push(`personal fields not compared: ${r.unchecked.store_erased} events erased in the store, ${r.unchecked.ledger_erased} whose openings the ledger erased`);
  for (const n of notes) print(`note: ${n}`);
  if (r.ok) print(`OK: the ${r.matched} stored events match their leaves, and every leaf in range has its event`);
  else print(`FAILED: ${r.altered.count} altered, ${r.missing.count} missing from the store, ${r.unrecorded.count} without a leaf`);
}

/** Entries [start, end) as stored, read from storage alone (at most 1000, as the Ledger's). */
async function storedEntries(storage: LedgerStorage, start: number, end: number) {
  const rows = await storage.entries(start, Math.min(end, await storage.size()), 1000);
  return rows.map((r) => ({ index: r.index, id: r.id, leaf: new TextDecoder().decode(r.leaf), leaf_hash: encodeBase64(hashLeaf(r.leaf)) }));
}

export type { LedgerConfig };

/**
 * How recent the newest entry of a log without any signed checkpoint may be for `verify` to call
 * it a live log whose first checkpoint is not due yet (a warning) rather than an unsigned one (a
 * failure): a few checkpoint intervals, and at least a minute for a server just started.
 */
export function firstCheckpointGraceMs(checkpointIntervalMs: number): number {
  return Math.max(3 * checkpointIntervalMs, 60_000);
}
