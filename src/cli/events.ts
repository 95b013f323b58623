/** `warden events export`: recorded interaction events as JSONL, filtered, in time order. */
import { parseArgs } from 'node:util';
import { createWriteStream, fchmodSync, openSync } from 'node:fs';
import { pipeline, type Writable } from 'node:stream';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { normaliseIp } from '../events/index.ts';
import { printableJson } from '../admin/index.ts';
import { loadConfig, type WardenConfig } from '../config/index.ts';
import { clusterAccounts } from '../ledger/index.ts';
import { openLedgerStorageReadOnly } from '../ledger/open.ts';
import { NoLedgerError } from '../ledger/storage.ts';
import { isoTimeProblem, normalizeIsoTime, parsePositiveInt } from '../store/iso-time.ts';
import { onBackend, openStores, type Stores } from './stores.ts';
import { SqliteCaseStore, PostgresCaseStore, type CaseStore } from '../cases/index.ts';
import { eraseUsageClientIps } from '../ui/usage.ts';

const ERASE_HELP = `usage: warden events erase --account ID [-c FILE | --config FILE]
Erases the personal data of the account's recorded events: client IP, user agent, prompt text, and
the account's email domain, email pattern, signup IP and payment fingerprint (docs/event-schema.md,
"Erasure and retention"). Time, model, token counts, status and enforcement stay. For a whole
deletion request (keys, account record, ledger, detector, cases, files) use
\`warden accounts erase ID\` on the running server. A usage error exits with 2.`;

const HELP = `usage: warden events export [--out FILE|-] [--from ISO] [--to ISO] [--account ID] [--org ID] [--key ID]
                            [--cluster ID | --case ID] [--model NAME] [--ip ADDR] [--request-id ID] [--limit N]
                            [-c FILE | --config FILE]
Writes one JSON object per line (schema warden.interaction/1, see docs/event-schema.md) to FILE or stdout
(no --out, or --out -); a FILE ending in .gz is gzip-compressed (\`warden scan\` and \`warden eval\` read it
as it is). --from (inclusive) and --to (exclusive) are ISO 8601: 2026-12-05 (midnight UTC) or
2026-12-05T10:00:00Z; --limit is a positive integer. --request-id finds the event of a request id an app
logged: Warden's (x-request-id on its own answers) or the upstream's (response.upstream_request_id); it
reads every event in the range, so narrow it with --from/--to. --cluster exports the events of a detector
cluster's accounts (a campaign's cluster_id), read from the ledger as \`warden ledger query --cluster\` reads
them (the accounts its verdicts name, and those of clusters merged into it); it needs the ledger. --case
exports the events of a case file's member accounts (\`warden cases show ID\` lists them), read from the
case store. Either merges the accounts' events in time order, in bounded memory however many accounts.
A usage error exits with 2; a case not in the store, with 1.`;

function usage(message: string): number {
  console.error(`warden events export: ${message}\n${HELP}`);
  return 2;
}

export async function runEvents(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'erase') return runEventsErase(rest);
  if (sub !== 'export') {
    console.error(`${HELP}\n\n${ERASE_HELP}`);
    return sub === '--help' ? 0 : 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        out: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, account: { type: 'string' },
        org: { type: 'string' }, key: { type: 'string' }, model: { type: 'string' }, ip: { type: 'string' },
        limit: { type: 'string' }, 'request-id': { type: 'string' }, cluster: { type: 'string' }, case: { type: 'string' }, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return usage(`${(err as Error).message.split(/\.\s/)[0]}`);
  }
  if (values.help) { console.log(HELP); return 0; }
  // Checked before anything is opened: times are compared as stored text, the limit is a count.
  const from = values.from === undefined ? undefined : normalizeIsoTime(values.from);
  const to = values.to === undefined ? undefined : normalizeIsoTime(values.to);
  if (from === null) return usage(isoTimeProblem('--from', values.from));
  if (to === null) return usage(isoTimeProblem('--to', values.to));
  // Stored addresses are canonical: `::ffff:127.0.0.1` is asked as `127.0.0.1`; a non-address would match nothing.
  const ip = values.ip === undefined ? undefined : normaliseIp(values.ip);
  if (ip === null) return usage(`--ip must be an IP address, e.g. 203.0.113.7 or 2001:db8::1 (got ${JSON.stringify(values.ip)})`);
  const limit = values.limit === undefined ? undefined : parsePositiveInt(values.limit);
  if (limit === null) return usage(`--limit must be a positive integer (got ${JSON.stringify(values.limit)})`);
  // An empty path would silently fall back to the default configuration.
  if (values.config === '') return usage('--config needs a file (got an empty path)');
  if (values['request-id'] !== undefined && !values['request-id'].trim()) return usage('--request-id needs an id (got an empty one)');
  if (values.cluster !== undefined && !values.cluster.trim()) return usage('--cluster needs a cluster id (got an empty one)');
  if (values.case !== undefined && !values.case.trim()) return usage('--case needs a case id (got an empty one)');
  if (values.case !== undefined && values.cluster !== undefined) return usage('--cluster and --case each name a set of accounts: give one');
  const toStdout = values.out === undefined || values.out === '-';
  const config = loadConfig(values.config);
  // A cluster's accounts, from the ledger (the event store does not record clusters); before the output is opened.
  let accounts: string[] | undefined = values.account === undefined ? undefined : [values.account];
  const within = (what: string, members: string[], where: string) => {
    const set = new Set(members);
    accounts = accounts ? accounts.filter((a) => set.has(a)) : [...set].sort();
    console.error(`${what}: ${set.size} accounts ${where}${values.account === undefined ? '' : `; --account ${values.account} is ${accounts.length ? '' : 'not '}one of them`}`);
  };
  if (values.cluster !== undefined) {
    const members = await clusterAccountsFromLedger(config, values.cluster);
    if (typeof members === 'string') return usage(members);
    within(`cluster ${values.cluster}`, members, 'in the ledger');
  }
  const stores = await openStores(config);
  // A case's members, from the case store (on the same database as the events).
  if (values.case !== undefined) {
    const found = await caseMembers(stores, values.case).catch(async (err: unknown) => { await stores.close(); throw err; });
    if (found === null) {
      await stores.close();
      console.error(`warden events export: no case ${values.case} in the case store (warden cases list names them)`);
      return 1;
    }
    within(`case ${values.case}`, found, 'in its case file');
  }
  // A .gz file: events go through gzip; `written` settles once the file is complete on disk.
  let out: Writable = process.stdout;
  let written: Promise<void> = Promise.resolve();
  if (values.out && !toStdout) {
    // Readable by its owner only, as the data files are (prompts, emails' domains, IPs); a file
    // replaced keeps no wider mode it had.
    const fd = openSync(values.out, 'w', 0o600);
    fchmodSync(fd, 0o600);
    const file = createWriteStream('', { fd });
    if (values.out.endsWith('.gz')) {
      const gz = createGzip();
      written = new Promise<void>((res, rej) => pipeline(gz, file, (err) => (err ? rej(err) : res())));
      out = gz;
    } else {
      written = new Promise<void>((res, rej) => file.once('finish', () => res()).once('error', rej));
      out = file;
    }
  }
  const requestId = values['request-id'];
  let n = 0;
  try {
    // The stores index no request ids: a request id is matched here, and the limit counted after it.
    const query = { from, to, orgId: values.org, keyId: values.key, model: values.model, clientIp: ip, limit: requestId === undefined ? limit : undefined };
    // Several accounts (a cluster, a case): merged in time order, with bounded memory and reads at once.
    const events = accounts === undefined ? stores.events.iterate(query)
      : accounts.length === 1 ? stores.events.iterate({ ...query, accountId: accounts[0] })
        : stores.events.iterateAccounts(accounts, query);
    for await (const e of events) {
      if (requestId !== undefined && e.id !== requestId && e.response.upstream_request_id !== requestId) continue;
      // Prompts, model names and user agents are the clients' text: the controls JSON leaves raw
      // (C1, bidirectional) are written as \u escapes, which read back the same, for whoever prints it.
      if (!out.write(printableJson(JSON.stringify(e)) + '\n')) await once(out, 'drain');
      n++;
      if ((requestId !== undefined || accounts !== undefined) && limit !== undefined && n >= limit) break;
    }
  } finally {
    if (out !== process.stdout) { out.end(); await written; }
    await stores.close();
  }
  if (!toStdout) console.error(`wrote ${n} events to ${values.out}`);
  return 0;
}

/** The accounts of a cluster as the ledger records them, or why they cannot be read (a usage error). */
async function clusterAccountsFromLedger(config: WardenConfig, clusterId: string): Promise<string[] | string> {
  if (!config.ledger.enabled) return '--cluster reads the cluster\'s accounts from the ledger, and ledger.enabled is false in this configuration: export by --account';
  let storage;
  try {
    storage = await openLedgerStorageReadOnly(config);
  } catch (e) {
    if (e instanceof NoLedgerError) return `--cluster reads the cluster's accounts from the ledger: ${e.message}`;
    throw e;
  }
  try {
    return await clusterAccounts(storage, clusterId);
  } finally {
    await storage.close();
  }
}

/** A case's member accounts as its case file lists them, or null when the store holds no such case. */
async function caseMembers(stores: Stores, caseId: string): Promise<string[] | null> {
  const cases = await onBackend<CaseStore>(stores, (db) => new SqliteCaseStore(db), (pool) => new PostgresCaseStore(pool));
  const found = await cases.getCase(caseId);
  return found === null ? null : found.members.map((m) => m.account_id);
}

async function runEventsErase(argv: string[]): Promise<number> {
  const usageError = (message: string) => { console.error(`warden events erase: ${message}\n${ERASE_HELP}`); return 2; };
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { account: { type: 'string' }, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    return usageError(`${(err as Error).message.split(/\.\s/)[0]}`);
  }
  if (values.help) { console.log(ERASE_HELP); return 0; }
  if (values.account === undefined || !values.account.trim()) return usageError('--account needs an account id');
  if (values.config === '') return usageError('--config needs a file (got an empty path)');
  const config = loadConfig(values.config);
  const stores = await openStores(config);
  try {
    const erased = await stores.events.eraseAccount(values.account);
    const usageRows = await eraseUsageClientIps(stores.pg ? { pg: stores.pg } : { sqlitePath: config.store.sqlite_path }, values.account);
    console.log(`erased personal data of ${erased} events of ${values.account}${usageRows ? ` (and the client IP of ${usageRows} dashboard usage rows)` : ''}`);
  } finally {
    await stores.close();
  }
  return 0;
}
