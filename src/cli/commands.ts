/** The command table: name, one-line summary, and the function that runs it (loaded on demand). */
export interface Command {
  name: string;
  summary: string;
  run(argv: string[]): Promise<number | void>;
}

import { ADMIN_COMMANDS } from '../admin/commands.ts';

export const COMMANDS: Command[] = [
  { name: 'serve', summary: 'start the gateway (embedded default: SQLite + built-in mock model)', run: async (a) => (await import('./serve.ts')).runServe(a) },
  { name: 'events', summary: 'events export|erase: write recorded interaction events as JSONL, or erase an account\'s personal data in them', run: async (a) => (await import('./events.ts')).runEvents(a) },
  { name: 'usage', summary: 'usage export: billing usage per UTC month, day or hour, organisation, account and model (cache reads and writes, reasoning, batches; optionally priced) as CSV or JSONL', run: async (a) => (await import('./usage-export.ts')).runUsage(a) },
  { name: 'store', summary: 'store compact: rebuild the SQLite files (database, usage file, ledger) with 16 KB pages and without free pages, warden serve stopped; a file an older release created keeps 4 KB pages until then', run: async (a) => (await import('./store-cmd.ts')).runStore(a) },
  { name: 'config', summary: 'config check|defaults: validate the configuration, or print every key with its default', run: async (a) => (await import('./config-cmd.ts')).runConfig(a) },
  { name: 'ledger', summary: 'ledger verify|reconcile|prove|consistency|checkpoint|entries|query|erase|keygen|key: the tamper-evident log; query --subdivision UA-43 lists what was served and refused in a region (-c, --config FILE)', run: runLedger },
  { name: 'witness', summary: 'witness keygen|key|serve: a transparency-log witness that cosigns a ledger\'s checkpoints (C2SP tlog-witness), run apart from the gateway', run: async (a) => (await import('../ledger/index.ts')).runWitnessCli(a) },
  { name: 'mock-upstream', summary: 'run the built-in mock model (OpenAI + Anthropic wire formats) on its own', run: async (a) => (await import('../mock/index.ts')).runMockUpstreamCli(a) },
  { name: 'detect', summary: 'detect account|clusters|cluster|campaigns|campaign|stats|snapshot|verdicts|verdict|allow|changes: the running detector through the admin API (why a verdict, operator verdicts, allow-list, who changed them)', run: async (a) => (await import('./detect-cmd.ts')).runDetectCli(a) },
  { name: 'cases', summary: 'cases list|open|show|report|note|refresh|export|publish|withdraw: case files on campaigns, reports, STIX 2.1 export, publishing over TAXII (through the admin API)', run: async (a) => (await import('./cases-cmd.ts')).runCasesCli(a) },
  { name: 'intel', summary: 'intel list|import|remove|sightings|feeds|pull|partners|rotate|approve|rotate-key|pins-reload: indicators shared with other providers (STIX 2.1, keyed hashes, TAXII feeds, a key per partner, signed; the signing key rotated, the pinned keys of partners re-read)', run: async (a) => (await import('./cases-cmd.ts')).runIntelCli(a) },
  { name: 'notify', summary: 'notify list|test: operator notifications by webhook (through the admin API)', run: async (a) => (await import('./notify-cmd.ts')).runNotifyCli(a) },
  { name: 'limits', summary: 'limits explain|refusals: which limit refuses a customer (an account\'s or key\'s meters now, what refuses its next request, its refusals of the last hour and day by limit), through the admin API', run: async (a) => (await import('./limits-cmd.ts')).runLimitsCli(a) },
  { name: 'batches', summary: 'batches list|cancel|files|delete-file: customers\' batches (both APIs) and uploaded files, for operators (through the admin API)', run: async (a) => (await import('./batches-cmd.ts')).runBatchesCli(a) },
  { name: 'documents', summary: 'documents read FILE...: what the gateway reads of a PDF or an image (the text the detector gets, or why not), with the configured limits', run: async (a) => (await import('../documents/cli.ts')).runDocumentsCli(a) },
  { name: 'scan', summary: 'scan events.jsonl: run the detector offline over interaction logs, report verdicts and campaigns (--intel bundle.json: hunt a partner\'s campaign)', run: async (a) => (await import('./scan-cmd.ts')).runScan(a) },
  { name: 'policy', summary: 'policy check|explain|screen: validate a policy file, explain a request\'s capabilities, screen a signup', run: async (a) => (await import('../policy/index.ts')).runPolicyCli(a) },
  { name: 'watermark', summary: 'watermark embed|detect|subjects|vectors: mark text with an account/cluster key, test suspect text for a mark (z-score, p-value), list the keys recorded in a period, or ask a suspect embeddings API whether it was trained on marked vectors', run: runWatermark },
  { name: 'simulate', summary: 'simulate: generate organic users and distillation campaigns as events JSONL + ground-truth labels', run: async (a) => (await import('../traffic/index.ts')).runSimulateCli(a) },
  { name: 'redteam', summary: 'redteam --target URL: create accounts through the admin API, send simulated traffic to a live gateway, report what got through', run: async (a) => (await import('../traffic/index.ts')).runRedteamCli(a) },
  { name: 'eval', summary: 'eval: score a scan or redteam result against labels (per campaign and organic kind; JSON, table, SVG)', run: async (a) => (await import('../traffic/index.ts')).runEvalCli(a) },
  ...ADMIN_COMMANDS.map((c) => ({ name: c.name, summary: c.summary, run: async (a: string[]) => (await import('../admin/index.ts')).runAdminCommand(c.name, a, { detectorChanges, detectorAccount }) })),
];

/** The detector's change log (allow-list, operator verdicts) in the configured store, for `warden accounts history`. */
async function detectorChanges(configPath: string | undefined, env: NodeJS.ProcessEnv) {
  const [{ loadConfig }, { openStores, onBackend }, detect] = await Promise.all([import('../config/index.ts'), import('./stores.ts'), import('../detect/index.ts')]);
  const stores = await openStores(loadConfig(configPath, env));
  try {
    const overrides = await onBackend<import('../detect/index.ts').DetectOverridesStore>(stores, (db) => new detect.SqliteDetectOverridesStore(db), (pool) => new detect.PostgresDetectOverridesStore(pool));
    return await overrides.changes(1000);
  } finally {
    await stores.close();
  }
}

/**
 * The detector's view of an account, for `warden accounts get` on the local store: the detector
 * runs in the Warden serving this configuration, so it is asked there (its port, the token file
 * beside the database, as `warden detect` finds them); `{ unreachable }` when it does not answer.
 */
async function detectorAccount(configPath: string | undefined, env: NodeJS.ProcessEnv, id: string) {
  const [{ openAdminClient }, { WardenError }] = await Promise.all([import('./admin-connection.ts'), import('../errors/index.ts')]);
  let c: ReturnType<typeof openAdminClient>;
  try { c = openAdminClient({ config: configPath }, env); } catch (err) { return { unreachable: (err as Error).message }; }
  try {
    return await c.call<import('../admin/index.ts').DetectorAccountView>('GET', `/detect/accounts/${encodeURIComponent(id)}`);
  } catch (err) {
    // Not seen by the detector, or no detector there: nothing holds the account.
    if (err instanceof WardenError && err.code === 'WARDEN_NOT_FOUND') return null;
    return { unreachable: (err as Error).message };
  }
}

/** `warden watermark ...`, reading the recorded events' keys from the configured store (subjects, detect without subjects). */
async function runWatermark(argv: string[]): Promise<number> {
  const [{ runWatermarkCli }, { openStores }, { existsSync }] = await Promise.all([import('../watermark/index.ts'), import('./stores.ts'), import('node:fs')]);
  return runWatermarkCli(argv, undefined, async (config) => {
    // Reading must not create an empty database where the deployment keeps none.
    if (config.store.driver === 'sqlite' && !existsSync(config.store.sqlite_path)) throw new Error(`no recorded events: store.sqlite_path ${config.store.sqlite_path} does not exist (run in the deployment's directory or pass -c FILE)`);
    const stores = await openStores(config);
    return { iterate: (query) => stores.events.iterate(query), close: () => stores.close() };
  });
}

/** `warden ledger <command> [-c FILE | --config FILE] ...`: the ledger CLI with the loaded configuration. */
async function runLedger(argv: string[]): Promise<number> {
  // `warden ledger --help`: the usage, on stdout, without loading the configuration.
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    console.log((await import('../ledger/index.ts')).LEDGER_USAGE);
    return 0;
  }
  const rest = [...argv];
  let configPath: string | undefined;
  const at = rest.findIndex((a) => a === '--config' || a === '-c' || a.startsWith('--config='));
  if (at >= 0) {
    if (rest[at].includes('=')) configPath = rest.splice(at, 1)[0].slice('--config='.length);
    else {
      if (at + 1 >= rest.length || rest[at + 1].startsWith('-')) { console.error(`warden ledger: ${rest[at]} needs a file`); return 2; }
      configPath = rest.splice(at, 2)[1];
    }
    // An empty path would silently fall back to the default configuration.
    if (!configPath) { console.error('warden ledger: --config needs a file (got an empty path)'); return 2; }
  }
  const [{ loadConfig }, { runLedgerCli }] = await Promise.all([import('../config/index.ts'), import('../ledger/index.ts')]);
  const config = loadConfig(configPath);
  return runLedgerCli(rest, { config: { ledger: config.ledger, store: config.store, events: config.events } });
}
