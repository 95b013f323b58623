/**
 * `warden serve`: the composition root. Loads the config, opens the store, starts the built-in
 * mock upstream when no upstream is configured, builds every capability's hooks, and starts the
 * gateway with the admin API on the same port.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkEnvSettings, loadConfig, resolveSecret, type WardenConfig } from '../config/index.ts';
import { checkListenAddresses, createGateway, type Gateway } from '../gateway/index.ts';
import { createMockUpstream } from '../mock/index.ts';
import { openStores, type Stores } from './stores.ts';
import { lockSqliteForServe, type ServeLock } from '../store/serve-lock.ts';
import { tightenFileModes } from '../store/sqlite.ts';
import { startEventRetention } from '../store/event-retention.ts';
import { resolveLedgerSetup } from '../ledger/open.ts';
import { adminTokensOf, buildCapabilities, type OperatorLog } from './capabilities.ts';
import { snapshotFile } from './detector.ts';
import { intelSigningKeyFile } from './cases.ts';
import { usageSidePath } from '../ui/usage-thread.ts';
import type { RescreenReport } from '../policy/index.ts';
import { keepsReasoningSealBesideDatabase } from '../policy/hooks.ts';

const HELP = `usage: warden serve [-c|--config FILE] [--host HOST] [--port PORT] [--db FILE] [--demo | --no-demo]
Starts the gateway. With no config file: SQLite at ./data/warden.db and the built-in mock model.
  --demo      create a demo organisation, account and key on an empty store (printed once), whatever the store and upstreams
  --no-demo   never create one
  (neither: created only in the demo configuration, the SQLite store with the built-in mock model and no \`upstreams\`)
Environment overrides: WARDEN_SERVER__PORT=9000, WARDEN_STORE__DRIVER=postgres with WARDEN_STORE__POSTGRES_URL=postgres://..., ... (every key: warden config defaults)`;

export interface RunningWarden {
  url: string;
  gateway: Gateway;
  stores: Stores;
  adminToken: string | null;
  demoKey: string | null;
  /** The screening of existing accounts started with the node (`policy.screening.rescreen_at_start`); settles when it ends. */
  startScreening: Promise<unknown>;
  /** Read the denied-party lists again and screen every account with them (what SIGHUP does); null when not reloaded. */
  reloadSanctions(): Promise<RescreenReport | null>;
  /** Read the network lists again (what SIGHUP does); false when a file was refused (logged) and the lists in force stay. */
  reloadNetworks(): boolean;
  /** Read the policy file and the subdivision range files again (what SIGHUP does); false when one was refused (logged) and the previous stay. */
  reloadPolicy(): boolean;
  /**
   * Read the configuration file again and pin the partners' and feeds' signing keys it gives
   * (what SIGHUP does); false when it could not be read or a pin is bad (logged) and the pins in force stay.
   */
  reloadIntelPins(): boolean;
  close(): Promise<void>;
  /** What the stop under way is waiting on now (null before close() or once it ended), for the log of a stop that gives up. */
  stopStep(): string | null;
}

/** The admin token: from config/env, or generated once and kept beside the database (0600). */
function adminToken(config: WardenConfig): { token: string | null; file: string | null } {
  const configured = resolveSecret(config.admin.token);
  if (configured) return { token: configured, file: null };
  if (config.store.driver !== 'sqlite') return { token: null, file: null };
  const file = adminTokenFile(config);
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), file };
  mkdirSync(dirname(file), { recursive: true });
  const token = `wadm_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return { token, file };
}

function adminTokenFile(config: WardenConfig): string {
  return join(dirname(resolve(config.store.sqlite_path)), 'admin-token');
}

/**
 * The key of the thinking blocks Warden seals for accounts that may not read them: from
 * config/env, or, for one SQLite server, generated once and kept beside the database (0600). A
 * client's tool-use loop hands those blocks back on its next turn, which may come after a restart;
 * a per-process key would refuse it as altered. PostgreSQL nodes must share one configured secret.
 */
function withReasoningSealSecret(config: WardenConfig): { config: WardenConfig; file: string | null } {
  if (resolveSecret(config.policy.reasoning_seal_secret) || !config.policy.enabled) return { config, file: null };
  if (!keepsReasoningSealBesideDatabase(config)) return { config, file: null };
  const file = reasoningSealFile(config);
  let secret = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (!secret) {
    mkdirSync(dirname(file), { recursive: true });
    secret = randomBytes(32).toString('base64url');
    writeFileSync(file, secret + '\n', { mode: 0o600 });
  }
  return { config: { ...config, policy: { ...config.policy, reasoning_seal_secret: secret } }, file };
}

function reasoningSealFile(config: WardenConfig): string {
  return join(dirname(resolve(config.store.sqlite_path)), 'reasoning-seal-secret');
}

/**
 * The files this server writes that hold private data (prompts, emails, IPs, ledger openings,
 * secrets), whichever release created them: the databases with their -wal, -shm and usage side
 * file, the detector snapshot, the admin token and the ledger's key.
 */
function privateFiles(config: WardenConfig): string[] {
  const files: string[] = [];
  for (const db of sqliteFilesServed(config)) {
    for (const f of [db, usageSidePath(db)]) files.push(f, `${f}-wal`, `${f}-shm`);
  }
  const snapshot = snapshotFile(config);
  if (snapshot) files.push(resolve(snapshot));
  if (config.store.driver === 'sqlite') files.push(adminTokenFile(config), reasoningSealFile(config));
  files.push(intelSigningKeyFile(config));
  if (config.ledger.enabled) files.push(resolve(resolveLedgerSetup(config).ledger.key_file));
  return [...new Set(files)];
}

/**
 * Make the private files an older release left readable by other local users 0600, before they
 * are opened (SQLite would give a new -wal the database's mode), and say which: the operator may
 * have copies elsewhere (backups) made with the old mode.
 */
function tightenPrivateFiles(config: WardenConfig, log: (line: string) => void): void {
  const octal = (m: number) => m.toString(8).padStart(4, '0');
  for (const c of tightenFileModes(privateFiles(config))) {
    if (c.to !== null) log(`files: ${c.path} was mode ${octal(c.from)}, readable by other local users; made ${octal(c.to)} (it holds private data)`);
    else log(`files: WARNING ${c.path} is mode ${octal(c.from)}, readable by other local users, and could not be made 0600 (${c.error}): change its mode by hand`);
  }
}

/**
 * Turn off V8's allocation-site pretenuring unless `server.v8_pretenuring` keeps it (it is a
 * process-wide setting, read by V8 whenever it decides). Once objects from one allocation site have
 * survived collections, V8 allocates the next ones straight into the old generation. On a gateway
 * those are request-scoped objects: they die there, freed only by a full collection, and until then
 * each keeps the young objects it points to alive through every scavenge. Off, Warden core keeps
 * 144-219 KB per scavenge instead of 414-511 KB and spends half the time in scavenge pauses
 * (BENCHMARKS.md, gateway, `bench/gateway-gc.ts`).
 */
export function applyV8Settings(config: WardenConfig): void {
  if (!config.server.v8_pretenuring) setFlagsFromString('--no-allocation-site-pretenuring');
}

/** The SQLite files this server writes (the store's, the ledger's): one server each. */
function sqliteFilesServed(config: WardenConfig): string[] {
  // An in-memory database is this process's alone: nothing to guard.
  const onDisk = (path: string) => path !== '' && path !== ':memory:';
  const files: string[] = [];
  if (config.store.driver === 'sqlite' && onDisk(config.store.sqlite_path)) files.push(resolve(config.store.sqlite_path));
  if (config.ledger.enabled && (config.ledger.driver ?? config.store.driver) === 'sqlite') {
    const ledgerPath = resolveLedgerSetup(config).ledger.sqlite_path;
    if (onDisk(ledgerPath)) files.push(resolve(ledgerPath));
  }
  return [...new Set(files)];
}

/**
 * Whether this start creates the demo organisation and key (on an empty store), and why, for the
 * start log. Only the demo configuration does unless asked (`--demo`): a PostgreSQL store or a real
 * upstream is a deployment, where a working key printed in the logs would be a leaked credential.
 */
export function demoDecision(config: WardenConfig, asked: boolean | undefined): { create: boolean; why: string } {
  if (asked === true) return { create: true, why: 'asked for (--demo)' };
  if (asked === false) return { create: false, why: 'not asked for (--no-demo)' };
  const reasons: string[] = [];
  if (config.store.driver !== 'sqlite') reasons.push(`the store is ${config.store.driver}`);
  if (config.upstreams.length > 0) reasons.push('upstreams are configured');
  if (reasons.length === 0) return { create: true, why: 'demo configuration: embedded SQLite store and the built-in mock model; --no-demo skips it' };
  return { create: false, why: `${reasons.join(' and ')}; --demo creates one anyway` };
}

/**
 * The detector's part on this node, for the listening line: an operator checking that a replica
 * is one (or that the worker is the worker) reads it in the start log.
 */
export function detectorRole(config: WardenConfig): string {
  if (!config.detect.enabled) return 'off';
  switch (config.detect.mode) {
    case 'worker': return 'worker, runs the detector and publishes its verdicts through Redis';
    case 'replica': return 'replica, enforces the worker\'s verdicts read from Redis';
    default: return 'inline, runs a detector of its own on this node\'s traffic';
  }
}

/** Start everything; used by the CLI and by end-to-end tests. `demo`: see demoDecision (unset: only in the demo configuration). */
export async function startWarden(config: WardenConfig, opts: { demo?: boolean; log?: (line: string) => void; readConfig?: () => WardenConfig } = {}): Promise<RunningWarden> {
  // Before anything is created or opened: a setting that names an unset variable, and a second
  // server on the same SQLite files, are refused.
  checkEnvSettings(config);
  const locks: ServeLock[] = [];
  const releaseLocks = () => { for (const l of locks.splice(0)) l.release(); };
  try {
    const served = sqliteFilesServed(config);
    // Files a server used before: their lock first, so that a second server on them (most
    // likely on the same port too) is told which one holds them rather than that the port is taken.
    const usedBefore = served.filter((file) => existsSync(`${file}.lock`));
    for (const file of usedBefore) locks.push(lockSqliteForServe(file));
    // Then, before a file is created (the lock markers, the database, the keys, the admin token):
    // a port or host this server cannot listen on is said now, leaving nothing behind.
    try {
      await checkListenAddresses(config);
    } catch (err) {
      throw listenError(err, config);
    }
    for (const file of served) if (!usedBefore.includes(file)) locks.push(lockSqliteForServe(file));
    const running = await startLocked(config, opts);
    return { ...running, async close() { try { await running.close(); } finally { releaseLocks(); } }, stopStep: () => running.stopStep() };
  } catch (err) {
    releaseLocks();
    throw err;
  }
}

async function startLocked(config: WardenConfig, opts: { demo?: boolean; log?: (line: string) => void; readConfig?: () => WardenConfig }): Promise<RunningWarden> {
  // Start-up lines go to stderr: stdout is the JSON log alone, which log shippers parse line by line.
  const log = opts.log ?? ((l: string) => { if (config.log.level !== 'silent') console.error(l); });
  applyV8Settings(config);
  // Decided on the configuration as written, before the built-in mock fills in `upstreams`.
  const demo = demoDecision(config, opts.demo);
  const cleanups: (() => Promise<void>)[] = [];
  let mockUrl: string | null = null;
  if (config.upstreams.length === 0) {
    if (!config.mock.enabled) throw new Error('no upstreams configured and the built-in mock is disabled');
    const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: config.mock.latency_ms, tokensPerSecond: config.mock.tokens_per_second });
    cleanups.push(() => mock.close());
    mockUrl = mock.url;
    config = { ...config, upstreams: [{ name: 'mock', base_url: mock.url, flavours: ['openai', 'anthropic'], api_key: null, models: ['*'], connections: 128, headers_timeout_ms: 600_000, body_timeout_ms: 600_000 }] };
  }
  tightenPrivateFiles(config, log);
  // An upgrade's fill of the usage rollup reports its progress here, before serving.
  const stores = await openStores(config, { log });
  const admin = adminToken(config);
  const seal = withReasoningSealSecret(config);
  config = seal.config;
  // The capabilities' notes to the operator: start-up lines on stderr (or to the caller's `log`);
  // once the gateway's logger exists, what they report while serving (outages, a rejected policy
  // reload) goes to it, JSON lines on stdout with a level and a stable code, where operators alert.
  let serving: Gateway['app']['log'] | null = null;
  const say: OperatorLog = opts.log ?? ((line, meta) => {
    if (serving) {
      const component = /^([a-z ]+):/.exec(line)?.[1] ?? 'warden';
      serving[meta?.level ?? 'warn']({ component, ...(meta?.code ? { code: meta.code } : {}), ...meta?.fields }, meta?.msg ?? line);
    } else if (config.log.level !== 'silent' && meta?.level !== 'debug') console.error(line);
  });
  const caps = await buildCapabilities(config, stores, { adminToken: admin.token, say, readConfig: opts.readConfig ?? null });
  const gateway = await createGateway({
    config,
    authenticator: caps.authenticator,
    eventStore: stores.events,
    hooks: caps.hooks,
    registry: caps.registry,
    register: caps.register,
    ready: caps.ready,
    clusterOf: caps.clusterOf,
    builtinMockUrl: mockUrl,
  });
  caps.flushEventsWith(() => gateway.recorder.flush());
  let url: string;
  try {
    url = await gateway.listen();
  } catch (err) {
    // Checked at start (startWarden); another process may have taken the port since.
    throw listenError(err, config);
  }
  serving = gateway.app.log;
  const retention = config.events.retention_days === null ? null : startEventRetention(stores.events, config.events.retention_days, { log: say });

  const demoKey = demo.create ? await caps.bootstrapDemo() : null;
  // The lists were just loaded: existing customers are screened with them, in the background.
  const startScreening = config.policy.screening.rescreen_at_start
    ? caps.screenAccounts({ reload: false }).catch((err) => say(`screening: the start-up screening of existing accounts failed: ${(err as Error).message}`, { level: 'error', code: 'SCREENING_FAILED' }))
    : Promise.resolve();

  log(`Warden listening on ${url}  (store: ${config.store.driver}${config.store.driver === 'sqlite' ? ` ${config.store.sqlite_path}` : ''}; detector: ${detectorRole(config)})`);
  if (gateway.healthUrl) log(`probes and metrics: ${gateway.healthUrl}/healthz, /readyz, /metrics (server.health_listen; not counted toward server.max_connections)`);
  if (mockUrl) log(`upstream: built-in mock model at ${mockUrl} (all models); configure \`upstreams\` to use a real provider`);
  if (admin.file) log(`admin API: ${url}/admin (token in ${admin.file})`);
  else if (admin.token) log(`admin API: ${url}/admin (token from configuration)`);
  else log('admin API: disabled (set admin.token or WARDEN_ADMIN_TOKEN)');
  if (seal.file) log(`policy: withheld thinking blocks sealed with the key in ${seal.file} (kept across restarts)`);
  const previous = adminTokensOf(config, admin.token).previous;
  if (previous) {
    const until = new Date(previous.expiresAt).toISOString();
    if (previous.expiresAt > Date.now()) log(`admin API: the previous token (admin.previous_token) is also accepted until ${until}; each caller still using it is logged (ADMIN_PREVIOUS_TOKEN_USED)`);
    else log(`admin API: admin.previous_token expired at ${until} and is refused; remove it from the configuration`);
  }
  if (!demo.create) log(`demo: no demo key (${demo.why})`);
  else if (!demoKey) log('demo: no demo key created (the store already holds accounts)');
  if (demoKey) {
    log(`demo: created a demo organisation and account with a working key (${demo.why}); revoke it before real use`);
    log(`demo API key (shown once, stored hashed): ${demoKey}`);
    log(`try: curl -s ${url}/v1/chat/completions -H "Authorization: Bearer ${demoKey}" -H "content-type: application/json" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`);
  }

  let step: string | null = null;
  return {
    url, gateway, stores, adminToken: admin.token, demoKey,
    startScreening,
    /** SIGHUP: read the denied-party lists again and screen every account with them (a bad file is logged; the lists in force stay). */
    async reloadSanctions() {
      try {
        return await caps.screenAccounts({ reload: true });
      } catch (err) {
        say(`screening: lists not reloaded: ${(err as Error).message}; the lists in force stay`, { level: 'error', code: 'SCREENING_FAILED' });
        return null;
      }
    },
    /** SIGHUP: read the network lists again (a bad file is logged with file and line; the lists in force stay). */
    reloadNetworks() {
      try {
        caps.reloadNetworks();
        return true;
      } catch (err) {
        say(`policy: network lists not reloaded: ${(err as Error).message}; the lists in force stay`, { level: 'error', code: 'POLICY_NETWORK_LISTS_REJECTED' });
        return false;
      }
    },
    /** SIGHUP: read the policy file and the subdivision range files again (a bad one is logged, POLICY_RELOAD_REJECTED; the previous stay). */
    reloadPolicy() {
      return caps.reloadPolicy() !== false;
    },
    /** SIGHUP: pin the signing keys the configuration now gives partners and feeds (a bad file is logged, INTEL_PINS_RELOAD_REJECTED; the pins in force stay). */
    reloadIntelPins() {
      try {
        caps.reloadIntelPins();
        return true;
      } catch (err) {
        say(`cases: signing keys not pinned again: ${(err as Error).message}; the pins in force stay`, { level: 'error', code: 'INTEL_PINS_RELOAD_REJECTED' });
        return false;
      }
    },
    async close() {
      step = 'event retention';
      await retention?.stop();
      step = 'gateway (requests under way, event writes, record hooks)';
      await gateway.close();
      await caps.close((name) => { step = name; });
      step = `${config.store.driver === 'postgres' ? 'PostgreSQL' : 'SQLite'} store`;
      await stores.close();
      step = 'built-in mock model';
      for (const c of cleanups.reverse()) await c();
      step = null;
    },
    stopStep: () => step,
  };
}

/**
 * The end of a stop, once the events, the ledger and the detector's snapshot are written: how long
 * it took and what this process recorded and lost since it started (from the same counters as
 * `warden_events_written_total`, `warden_events_dropped`, `warden_ledger_dropped_total`), so that
 * an operator rolling a fleet reads in the log that a node stopped and whether it lost anything.
 */
async function logStopped(gateway: Gateway, signal: string, began: number): Promise<void> {
  const seconds = Math.round((performance.now() - began) / 100) / 10;
  const written = gateway.recorder.written;
  const dropped = gateway.recorder.dropped;
  const ledgerMetric = gateway.metrics.registry.getSingleMetric('warden_ledger_dropped_total');
  const ledgerDropped = ledgerMetric ? ((await ledgerMetric.get()).values[0]?.value ?? 0) : null;
  const lost = (n: number) => (n === 0 ? 'none lost' : `${n} lost`);
  const ledger = ledgerDropped === null ? '' : `; ledger: ${lost(ledgerDropped)}`;
  const level = dropped > 0 || (ledgerDropped ?? 0) > 0 ? 'warn' : 'info';
  gateway.app.log[level](
    { component: 'warden', code: 'STOPPED', signal, seconds, events_written: written, events_dropped: dropped, ledger_dropped: ledgerDropped },
    `${signal}: stopped after ${seconds.toFixed(1)} s; ${written} events recorded, ${lost(dropped)}${ledger}`,
  );
}

/**
 * A stop that gave up: which step it was waiting on, and what this process recorded and lost so
 * far (the steps after that one did not run: what they save, e.g. the detector snapshot, is not saved).
 */
function logGaveUp(gateway: Gateway, signal: string, began: number, step: string | null, limitMs: number, graceMs: number): void {
  const seconds = Math.round((performance.now() - began) / 100) / 10;
  gateway.app.log.error(
    { component: 'warden', code: 'STOP_GAVE_UP', signal, seconds, step, events_written: gateway.recorder.written, events_dropped: gateway.recorder.dropped },
    `${signal}: the stop gave up after ${seconds.toFixed(1)} s (limit ${limitMs / 1000} s: server.shutdown_delay_ms + server.shutdown_timeout_ms + server.shutdown_grace_ms, ${graceMs / 1000} s) waiting on: ${step ?? 'unknown'}; `
      + 'what that step and the later ones save (ledger entries, the detector snapshot, the last verdict publication) may not be saved; '
      + `${gateway.recorder.written} events recorded, ${gateway.recorder.dropped} lost; exiting with status 1`,
  );
}

/** `--port` as a port number, or null: digits only (`0x1F90`, `80.5` and `-1` are not ports), 0 to 65535. */
export function portFlag(value: string): number | null {
  return /^\d{1,5}$/.test(value) && Number(value) <= 65535 ? Number(value) : null;
}

/** A failure to listen as the operator reads it: server.health_listen's is named by the gateway already. */
function listenError(err: unknown, config: WardenConfig): Error {
  return (err as Error).message.startsWith('server.health_listen') ? err as Error : listenFailure(err, config.server.host, config.server.port);
}

/**
 * Why the gateway could not listen, in words that say what to do: Node's own message
 * (`listen EADDRINUSE: address already in use`) names neither the cause nor the setting.
 */
export function listenFailure(err: unknown, host: string, port: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const at = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const choosePort = 'warden serve --port N, server.port in the configuration, or WARDEN_SERVER__PORT';
  const why = code === 'EADDRINUSE'
    ? `another process is already listening there (a warden serve still running?): stop it, or give this server another port (${choosePort})`
    : code === 'EADDRNOTAVAIL'
      ? `${host} is not an address of this machine: set server.host (or --host) to one of its addresses, 127.0.0.1 for this machine only or 0.0.0.0 for every interface`
      : code === 'EACCES'
        ? `permission denied (ports below 1024 need privileges): use a port from 1024 up (${choosePort})`
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `the host name ${host} does not resolve: set server.host (or --host) to an address of this machine`
          : (err as Error).message;
  return new Error(`cannot listen on ${at}: ${why}`, { cause: err });
}

export async function runServe(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, host: { type: 'string' }, port: { type: 'string' }, db: { type: 'string' }, demo: { type: 'boolean' }, 'no-demo': { type: 'boolean' }, help: { type: 'boolean' } },
    }));
  } catch (err) {
    if (!(err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw err;
    console.error(`warden serve: ${(err as Error).message}\n${HELP}`);
    return 2;
  }
  if (values.help) { console.log(HELP); return 0; }
  if (values.demo && values['no-demo']) { console.error('warden serve: --demo and --no-demo contradict each other: give one'); return 2; }
  // Checked here, before anything is opened or written: the schema that checks server.port in the
  // file and the environment does not see the flag.
  const port = values.port === undefined ? null : portFlag(values.port);
  if (values.port !== undefined && port === null) { console.error(`warden serve: --port ${values.port} is not a port number: give 0 to 65535 (0 picks a free one)`); return 2; }
  let config = loadConfig(values.config);
  if (values.host) config = { ...config, server: { ...config.server, host: values.host } };
  if (port !== null) config = { ...config, server: { ...config.server, port } };
  if (values.db) config = { ...config, store: { ...config.store, sqlite_path: values.db } };
  // Read again on SIGHUP and POST /admin/intel/pins/reload (partners' signing keys); the flags above do not touch what it gives.
  const readConfig = () => loadConfig(values.config);
  const running = await startWarden(config, { demo: values.demo ? true : values['no-demo'] ? false : undefined, readConfig });
  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      running.gateway.app.log.info({ component: 'warden', code: 'SHUTTING_DOWN', signal }, `${signal}: draining and stopping`);
      const began = performance.now();
      // Each step of the stop has its own bound; this one is the last resort, for a step that
      // waits on something with none: the process ends rather than waits for a SIGKILL. Its
      // margin (server.shutdown_grace_ms, 45 s) leaves room for the steps' own bounds: the
      // events' retry 10 s, the ledger's close 10 s, the detector's Redis
      // (server.shutdown_step_timeout_ms, 5 s), PostgreSQL statements 5 s; a PostgreSQL
      // black-holed at the stop took 29 s of it in a test.
      const graceMs = config.server.shutdown_grace_ms;
      const limitMs = config.server.shutdown_delay_ms + config.server.shutdown_timeout_ms + graceMs;
      const giveUp = setTimeout(() => {
        logGaveUp(running.gateway, signal, began, running.stopStep(), limitMs, graceMs);
        // The step still holds its connections and timers: the process would not end by itself.
        process.stdout.write('', () => process.exit(1));
      }, limitMs);
      giveUp.unref();
      running.close().then(() => logStopped(running.gateway, signal, began), (err) => { console.error(err); }).finally(() => { clearTimeout(giveUp); resolveStop(); });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    // SIGHUP reloads the policy with its subdivision data, the network and denied-party lists, and
    // the signing keys pinned for partners (by default it would end the process).
    process.on('SIGHUP', () => {
      if (stopping) return;
      running.reloadPolicy();
      running.reloadNetworks();
      void running.reloadSanctions();
      running.reloadIntelPins();
    });
  });
  return 0;
}
