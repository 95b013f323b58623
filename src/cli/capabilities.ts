/**
 * Build each capability from the configuration: the authenticator, the lifecycle hooks in phase
 * order, the admin routes, and the demo bootstrap. The one place that knows every capability.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import { watchClockOffset, postgresClockMs } from '../store/index.ts';
import { resolveSecret, type WardenConfig } from '../config/index.ts';
import { acceptingAuthenticator, clientAddress, clientNetworkOf, refuseBarred, type Authenticator, type GatewayHooks } from '../gateway/index.ts';
import {
  openIdentityStore, createAuthenticator, PostgresIdentityStore, answerOwnershipHooks, SqliteAnswerOwnersStore, PostgresAnswerOwnersStore,
  type IdentityStore, type AnswerOwnersStore,
} from '../identity/index.ts';
import { adminPlugin, AdminAuthThrottle, AdminTokens, previousTokenReporter } from '../admin/index.ts';
import { subnetOf } from '../events/index.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import { limitsHooks, limitsAdminRoutes, registerUsageView, LimitsBackendUnreachable, BACKEND_FAILURE_MODE, SqliteLimitOverridesStore, PostgresLimitOverridesStore, type LimitOverridesStore } from '../limits/index.ts';
import { setUpDetector } from './detector.ts';
import { setUpCases } from './cases.ts';
import type { PinsReloaded } from '../cases/index.ts';
import { dashboardPlugin, usageAdminRoutes, usageStoreFor, RouteCatalog } from '../ui/index.ts';
import { packageVersion } from './version.ts';
import { detectorSettings, openLedgerFromConfig, ledgerHooks, ledgerVerdictSink, ledgerMergeSink, ledgerAllowListSink, ledgerErrorLog, registerLedgerRoutes, ledgerReadGate, ledgerAdminRoutes, type Ledger } from '../ledger/index.ts';
import { policyHooks, policyAdminRoutes, withAppealContact, Rescreener, rescreenSummary, screenedIdentity, type PolicyRuntime, type RescreenReport, type NetworkListsVersion } from '../policy/index.ts';
import { Notifier, ledgerFailed, notifyAdminRoutes } from '../notify/index.ts';
import { createBatches, SqliteBatchStore, PostgresBatchStore, SqliteFileStore, PostgresFileStore, type BatchStore, type FileStore } from '../batches/index.ts';
import { onBackend, type Stores } from './stores.ts';
import { SqliteEventRows, PostgresEventRows } from '../store/index.ts';
import { eraseAdminRoutes } from './erase.ts';
import { boundedCheck } from './bounded-check.ts';

/**
 * How long /readyz and a /metrics scrape wait for the store before answering from its last check:
 * well within a load balancer's probe timeout (Kubernetes: 1 s by default), where PostgreSQL's own
 * statement and connect timeouts are 5 s.
 */
const STORE_PROBE_WAIT_MS = 500;

export interface Capabilities {
  authenticator: Authenticator;
  identity: IdentityStore;
  hooks: GatewayHooks[];
  registry: Registry;
  register(app: FastifyInstance): Promise<void>;
  ready(): Promise<boolean>;
  /** The linked cluster an account belongs to, from the detector's verdicts (null: none known). */
  clusterOf(accountId: string): string | null;
  /** How to write the gateway's buffered events now (an erasure waits for them); set once the gateway exists. */
  flushEventsWith(flush: () => Promise<void>): void;
  /**
   * Screen every existing account against the denied-party lists, reading them again first with
   * `reload` (SIGHUP, POST /admin/policy/sanctions/reload); null when the policy is off or no list
   * is configured. A malformed list throws SanctionsListError and the lists in force stay.
   */
  screenAccounts(opts: { reload: boolean }): Promise<RescreenReport | null>;
  /**
   * Read the network lists (hosting ASNs, Tor exits, VPN ranges) again (SIGHUP, POST
   * /admin/policy/networks/reload); null when the policy is off. A malformed list throws
   * NetworkListError and the lists in force stay.
   */
  reloadNetworks(): NetworkListsVersion | null;
  /**
   * Read the policy file and the subdivision range files again (SIGHUP, POST /admin/policy/reload):
   * true when they are in force, false when one was refused (logged, POLICY_RELOAD_REJECTED) and
   * the previous stay; null when the policy is off.
   */
  reloadPolicy(): boolean | null;
  /**
   * Pin the partners' and feeds' signing keys the configuration read again gives (SIGHUP, POST
   * /admin/intel/pins/reload): null when cases are off on this node; throws with the reason (the pins in force stay).
   */
  reloadIntelPins(): PinsReloaded | null;
  /** First run on an empty store: create a demo organisation, account and key; returns the key. */
  bootstrapDemo(): Promise<string | null>;
  /** Stop every capability, last-built first; `onStep` is told which one is stopping. */
  close(onStep?: (step: string) => void): Promise<void>;
}

/**
 * What a line to the operator may carry besides its text: its level, a stable code, and for a
 * structured logger a stable message and fields (the text then says the same for a person).
 */
export interface OperatorLineMeta { level: 'debug' | 'info' | 'warn' | 'error'; code: string; msg?: string; fields?: Record<string, unknown> }
export type OperatorLog = (line: string, meta?: OperatorLineMeta) => void;

/** A stable code for a policy log line: POLICY_RELOADED, POLICY_RELOAD_REJECTED, POLICY_WATCH_FAILED; POLICY_SETTING for the notes on a setting. */
function policyCode(msg: string): string {
  const head = msg.split(';')[0];
  return /^policy [a-z ]+$/.test(head) ? head.toUpperCase().replace(/ /g, '_') : 'POLICY_SETTING';
}

/** The admin tokens this node accepts: `current` (configured or generated), and `admin.previous_token` until its expiry. */
export function adminTokensOf(config: WardenConfig, current: string | null): AdminTokens {
  const previous = resolveSecret(config.admin.previous_token);
  const expiresAt = config.admin.previous_token_expires_at === null ? Number.NaN : Date.parse(config.admin.previous_token_expires_at);
  return new AdminTokens(current, previous && Number.isFinite(expiresAt) ? { token: previous, expiresAt } : null);
}

export async function buildCapabilities(config: WardenConfig, stores: Stores, opts: { adminToken: string | null; say?: OperatorLog; readConfig?: (() => WardenConfig) | null }): Promise<Capabilities> {
  const registry = new Registry();
  const identity: IdentityStore = openIdentityStore(config, { sqlite: stores.sqlite ?? undefined, pool: stores.pg ?? undefined });
  // On PostgreSQL its migration runs in the background: awaited here, so that a schema newer than
  // this Warden knows stops the start instead of failing the first request.
  if (identity instanceof PostgresIdentityStore) await identity.ready();
  const hooks: GatewayHooks[] = [];
  // Every admin route goes through the admin API's route table: validated, one error format, and in the OpenAPI document.
  const adminRegistrars: AdminRouteRegistrar[] = [];
  // Each with what it is stopping, named in the log by a stop that has to give up on it.
  const closers: [string, () => Promise<void> | void][] = [];
  let flushEvents: (() => Promise<void>) | null = null;
  // Notes for the operator: at start (keys created, per-process secrets, detector state read) and
  // while serving (outages, a rejected policy reload). On stderr unless silent, or where the caller
  // wants them (`warden serve`: once listening, its JSON log).
  const say: OperatorLog = opts.say ?? ((line: string) => { if (config.log.level !== 'silent') console.error(line); });
  // Keys served from the cache while the store is away are said once per outage (start and end).
  const identityLine = (level: 'warn' | 'info') => (obj: Record<string, unknown>, msg: string) => {
    const { code, component: _component, ...fields } = obj;
    say(msg, { level, code: String(code), fields });
  };
  const authenticator = createAuthenticator(identity, config, { log: { warn: identityLine('warn'), info: identityLine('info') } });
  // Whether the identity store answers, for /readyz: one query at a time, waited for briefly.
  const identityAnswers = boundedCheck(() => identity.listOrgs({ limit: 1 }).then(() => true, () => false), { waitMs: STORE_PROBE_WAIT_MS, initial: true });
  // An admin token rotation: who still presents the old token, counted and logged (never the token).
  const adminTokens = adminTokensOf(config, opts.adminToken);
  const previousTokenUses = new Counter({
    name: 'warden_admin_previous_token_requests_total',
    help: 'Admin requests that presented admin.previous_token, by result (accepted before its expiry, refused after)',
    labelNames: ['result'], registers: [registry],
  });
  const onPreviousToken = previousTokenReporter({
    count: (use) => previousTokenUses.inc({ result: use.match === 'previous' ? 'accepted' : 'refused' }),
    log: (use, repeats) => {
      const { match, ...fields } = use;
      const who = `${use.actor ?? 'no x-warden-actor'} from ${use.ip}`;
      if (match === 'previous') {
        say(`admin: the previous admin token was used by ${who} (${use.method} ${use.path}); it stops being accepted at ${use.expires_at}`, { level: 'warn', code: 'ADMIN_PREVIOUS_TOKEN_USED', msg: 'the previous admin token was used; move this caller to the current one before it expires', fields: { ...fields, repeats } });
      } else {
        say(`admin: the previous admin token, expired at ${use.expires_at}, was refused for ${who} (${use.method} ${use.path})`, { level: 'warn', code: 'ADMIN_PREVIOUS_TOKEN_EXPIRED', msg: 'the previous admin token was presented after its expiry and refused', fields: { ...fields, repeats } });
      }
    },
  });
  // Wrong admin tokens, throttled per client address (IPv6 by /64), per node: logged once per block, counted (never the token).
  const adminThrottle = new AdminAuthThrottle(
    { limit: config.admin.failed_auth_limit, windowS: config.admin.failed_auth_window_s, blockS: config.admin.failed_auth_block_s },
    { onBlock: (b) => say(`admin: ${b.failures} wrong admin tokens from ${b.address} within ${b.window_s}s; its admin requests get 429 until ${b.until}, whatever token they carry`, { level: 'warn', code: 'ADMIN_AUTH_THROTTLED', msg: 'too many wrong admin tokens from one address; its admin requests are refused for admin.failed_auth_block_s', fields: { ...b } }) },
  );
  new Counter({
    name: 'warden_admin_auth_failures_total',
    help: 'Admin requests (API, dashboard) refused for a wrong admin token (401; requests with no token are not counted)',
    registers: [registry], collect() { this.reset(); this.inc(adminThrottle.stats.failures); },
  });
  new Counter({
    name: 'warden_admin_auth_throttled_total',
    help: 'Admin requests refused with 429 before their token was checked: their address is blocked for too many wrong tokens (admin.failed_auth_limit)',
    registers: [registry], collect() { this.reset(); this.inc(adminThrottle.stats.refused); },
  });
  new Gauge({
    name: 'warden_admin_auth_blocked_addresses',
    help: 'Client addresses (IPv6 by /64) whose admin requests are refused now for too many wrong admin tokens',
    registers: [registry], collect() { this.set(adminThrottle.blockedCount()); },
  });
  new Counter({
    name: 'warden_identity_stale_auth_total',
    help: 'Requests authenticated from a cached key past its ttl because the key store was unreachable (identity.auth_cache.stale_if_error_ms)',
    registers: [registry], collect() { this.reset(); this.inc(authenticator.stats().staleHits); },
  });
  // Several nodes on one PostgreSQL: each node's clock against the database's (src/store/clock-offset.ts).
  if (stores.pg) {
    const pool = stores.pg;
    const clock = watchClockOffset({ read: () => postgresClockMs(pool), log: (line, meta) => say(line, meta) });
    void clock.check();
    closers.push(['clock offset watch', () => clock.stop()]);
    new Gauge({
      name: 'warden_clock_offset_seconds',
      help: 'This node\'s clock minus the PostgreSQL server\'s, measured every minute (positive: ahead; NaN: not measured yet)',
      registers: [registry], collect() { this.set(clock.offsetSeconds() ?? Number.NaN); },
    });
  }
  // Operator notifications (webhooks): closed last, so that what the other capabilities report while
  // stopping still goes out within its deadline.
  const notifier = new Notifier(config.notify, { log: say, registry });
  closers.push(['notifications (webhooks)', () => notifier.close()]);
  adminRegistrars.push(notifyAdminRoutes(notifier));

  // The detector: fed by every finished interaction (record phase), read by enforcement as the
  // verdict view (limits' cluster scope and throttling, policy's shaping); see ./detector.ts.
  // Case files and indicators shared by other providers: loaded first, so that the detector's
  // replay of stored events matches them (replicas hold no engine, and no cases).
  const cases = config.detect.enabled && config.detect.mode !== 'replica' ? await setUpCases(config, stores, say, notifier, opts.readConfig) : null;
  // Closers run last-first: the last sightings are stored after the detector's last events.
  if (cases) closers.push(['cases (last sightings)', () => cases.close()]);
  // Operator overrides name accounts and organisations that exist (the detector need not have seen them yet).
  const detect = await setUpDetector(config, stores, registry, say, {
    intel: cases?.intel,
    exists: async (kind, id) => (kind === 'org' ? await identity.getOrg(id) : await identity.getAccount(id)) !== null,
    // The detector's listings of accounts name each one (name, email, organisation), a page in one read.
    accountNames: (ids) => identity.accountNames(ids),
    // An org's allow-list entry covers the accounts it holds when the entry is made.
    orgAccounts: async (org) => {
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await identity.listAccounts({ org_id: org, limit: 500, ...(cursor ? { cursor } : {}) });
        for (const a of page.data) ids.push(a.id);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      return ids;
    },
  });
  const detector = detect.engine;
  if (cases && detector) await cases.reportGoneIds(detector);
  const verdicts = detect.verdicts;
  closers.push(['detector (last publication, snapshot)', () => detect.close()]);
  if (detect.adminRoutes) adminRegistrars.push(detect.adminRoutes);
  if (detector && notifier.enabled) {
    const notify = notifier.watchVerdicts((id) => detector.campaign(id), (accountId) => detector.campaignIdOf(accountId));
    // Off the detector's tick: describing a campaign lists its members.
    detector.onVerdict((v) => { setImmediate(() => notify(v)); });
    const merged = notifier.watchMerges();
    detector.onClusterMerge((m) => { setImmediate(() => merged(m)); });
  }

  // Message batches: stored, then each request run through this gateway's own pipeline as the
  // batch's key (one-use credentials the gateway's authenticator accepts). Its hook comes first in
  // the policy phase: it marks those requests, so that a refusal by any later hook is marked too.
  const batchStores = config.batches.enabled
    ? {
      batches: await onBackend<BatchStore>(stores, (db) => new SqliteBatchStore(db), (pool) => new PostgresBatchStore(pool)),
      files: await onBackend<FileStore>(stores, (db) => new SqliteFileStore(db), (pool) => new PostgresFileStore(pool)),
    }
    : null;
  const batches = batchStores
    ? createBatches(batchStores.batches, batchStores.files, identity, config.batches, { log: say, registry, sharedFiles: config.identity.shared_objects.files, publicUrl: config.server.public_url })
    : null;
  if (batches) {
    hooks.push(batches.hooks);
    adminRegistrars.push(batches.adminRoutes);
  }

  // policy phase: a stored response, its items and a code-execution container are named only by
  // their owner (identity's record of each answer, written when the interaction ends); the
  // operator's prompts, vector stores and files only when shared.
  const shared = config.identity.shared_objects;
  const answerOwners = answerOwnershipHooks(
    await onBackend<AnswerOwnersStore>(stores, (db) => new SqliteAnswerOwnersStore(db), (pool) => new PostgresAnswerOwnersStore(pool)),
    {
      retentionDays: config.identity.answer_retention_days, retryMs: stores.pg ? 400 : 0, log: say,
      shared: { prompts: shared.prompts, vectorStores: shared.vector_stores, files: shared.files, skills: shared.skills },
      orgOfAccount: async (accountId) => (await identity.getAccount(accountId))?.org_id ?? null,
    },
  );
  hooks.push(answerOwners);

  // policy phase, before limits: a request the policy refuses (region, tier, verdict) spends no
  // quota; its output phase shapes and watermarks the answer.
  let policyRuntime: PolicyRuntime | null = null;
  let rescreener: Rescreener | null = null;
  if (config.policy.enabled) {
    const line = (level: OperatorLineMeta['level']) => (obj: object, msg: string) =>
      say(`policy: ${msg} ${JSON.stringify(obj)}`, { level, code: policyCode(msg), msg, fields: { ...obj } });
    const policy = policyHooks({ config, verdicts, log: { info: line('info'), warn: line('warn'), error: line('error') } });
    policyRuntime = policy.runtime;
    hooks.push(policy);
    // Existing customers are screened again whenever the lists are (re)loaded: a new entry that
    // names a customer who signed up long ago must hold them, not only new signups.
    const screening = config.policy.screening;
    rescreener = new Rescreener({ identity, runtime: policy.runtime, threshold: screening.sanctions_threshold, action: screening.on_match });
    adminRegistrars.push(policyAdminRoutes(policy.runtime, { identity, verdicts, rescreener, log: (line) => say(line, { level: 'info', code: 'SCREENING_RUN' }) }));
    closers.push(['policy', () => policy.runtime.close()]);
    const stopScreening = rescreener;
    closers.push(['screening', () => stopScreening.close()]);
  }

  // limits phase
  const overrides = await onBackend<LimitOverridesStore>(stores, (db) => new SqliteLimitOverridesStore(db), (pool) => new PostgresLimitOverridesStore(pool));
  const limits = limitsHooks({ config: config.limits, redisUrl: config.redis.url, verdicts, overrides, registry, log: say, stopWaitMs: config.server.shutdown_step_timeout_ms });
  try {
    await limits.limiter.ready();
  } catch (err) {
    if (!(err instanceof LimitsBackendUnreachable)) throw err;
    // A node (re)started during a Redis outage serves in the configured failure mode, as one that
    // lost Redis while running does; its client keeps reconnecting, and decisions return to Redis then.
    say(`limits: ${err.message}; ${BACKEND_FAILURE_MODE[config.limits.on_backend_failure]} until it is (limits.on_backend_failure: ${config.limits.on_backend_failure})`, { level: 'warn', code: 'LIMITS_BACKEND_UNREACHABLE' });
  }
  hooks.push(limits);
  // An account's limits explained from its id: its latest request's address and model from the event store.
  const eventRows = stores.sqlite ? new SqliteEventRows(stores.sqlite) : new PostgresEventRows(stores.pg!);
  const lastRequest = async (accountId: string) => {
    const row = await eventRows.latestOfAccount(accountId);
    return row ? { ts: row.ts, ip: row.client_ip || null, asn: row.event?.client?.asn ?? null, model: row.model, key_id: row.key_id } : null;
  };
  adminRegistrars.push(limitsAdminRoutes({ limiter: limits.limiter, overrides, identity, verdicts, lastRequest }));

  // record phase: the detector learns from each finished interaction, off the request path
  hooks.push(...detect.recordHooks);

  // record phase, last: the ledger queues each finished interaction and each verdict (its writer
  // thread commits and signs checkpoints); checkpoints and proofs are read with the admin token or
  // a `ledger:read` key (public with ledger.public_reads), the audit query behind the admin token.
  let ledger: Ledger | null = null;
  let ledgerNotReady = false;
  if (config.ledger.enabled) {
    // Errors go to the log (at most one line per kind every 10 s) and to operators' webhooks (one per kind every 10 min).
    const logError = ledgerErrorLog(say);
    const notifyError = ledgerErrorLog((line) => { void notifier.emit(ledgerFailed(line)); }, 10 * 60_000);
    const opened = await openLedgerFromConfig(config, {
      createKey: true,
      // Each new checkpoint goes to ledger.witnesses in the background (never on the request path).
      submitToWitnesses: true,
      onKeyCreated: (vkey, path) => say(`ledger: created signing key ${path} (keep it secret); publish the verifier key: ${vkey}`),
      onError: (err) => { logError(err); notifyError(err); },
      // The outage's start was logged once (LEDGER_UNAVAILABLE); its end is, once, with what waited.
      // A node that runs the detector records the settings its verdicts are reached under (a settings entry when they changed).
      detectorSettings: detector ? { ...detectorSettings(config.detect, await packageVersion(import.meta.url)) } : undefined,
      // Entries stored before the region columns existed get them in the background (a query by region reads their leaves until then).
      regionFill: { log: (line) => say(line, { level: 'info', code: 'LEDGER_REGION_FILL' }) },
      onStorageBack: ({ outageMs, waited }) => say(`ledger: writer back: the ledger's storage answers again after ${(outageMs / 1000).toFixed(1)} s; ${waited} entries waited for it and are being written`, { level: 'info', code: 'LEDGER_RECOVERED' }),
    });
    ledger = opened;
    // Keys only the log's database records are not trusted (not served at /ledger/v1/key): said at
    // start, and counted at every scrape (a key recorded while serving shows there too).
    const unconfigured = await opened.unconfiguredKeys();
    if (unconfigured.length > 0) {
      say(`ledger: the ledger's database records signing key(s) ${unconfigured.join(', ')} that this node is not configured with; they are not trusted and GET /ledger/v1/key does not serve them. ` +
        'If one is this ledger\'s own earlier key (rotated out, or a node\'s key from an earlier Warden), compare it with the verifier key you published and list it in ledger.trusted_keys, so that the checkpoints it signed verify; ' +
        'if it is not, someone who could write the database recorded it: check the log with `warden ledger verify --key <the published verifier key>`',
      { level: 'warn', code: 'LEDGER_UNCONFIGURED_KEYS', msg: 'the ledger\'s database records signing keys this node is not configured with; they are not trusted', fields: { keys: unconfigured } });
    }
    const unconfiguredCount = boundedCheck(async () => (await opened.unconfiguredKeys()).length, { waitMs: STORE_PROBE_WAIT_MS, initial: unconfigured.length });
    new Gauge({
      name: 'warden_ledger_unconfigured_keys',
      help: 'Signing keys the ledger\'s database records that this node is not configured with (ledger.key, key_file, extra_key_files, trusted_keys): not trusted, not served at /ledger/v1/key',
      registers: [registry],
      // A scrape waits for the storage briefly: stalled, the last figure stays (bounded-check.ts).
      async collect() { this.set(await unconfiguredCount()); },
    });
    hooks.push(ledgerHooks(opened, { verdicts, registry }));
    detector?.onVerdict(ledgerVerdictSink(opened, (err) => { logError(err); notifyError(err); }, detector));
    detector?.onClusterMerge(ledgerMergeSink(opened, (err) => { logError(err); notifyError(err); }, detector));
    detector?.onAllowListChange(ledgerAllowListSink(opened, (err) => { logError(err); notifyError(err); }));
    // Denied-party holds and their clearances go into the signed log: an auditor checks who was held, on which entry and lists, and who cleared them.
    if (rescreener) {
      const threshold = config.policy.screening.sanctions_threshold;
      rescreener.onHold = (h) => {
        opened.appendVerdict({
          subject: { kind: 'account', id: h.account_id }, level: 'suspend', score: Math.max(...h.matches.map((m) => m.score)), source: 'screening', since: h.at,
          reasons: h.matches.map((m) => ({
            signal: 'denied_party_match', value: `${m.entry}@${m.entry_digest}`, threshold,
            detail: `the ${m.field === 'name' ? "account's name" : "organisation's name"} is similar (${m.score.toFixed(2)}) to "${m.matched_name}" on the ${m.source.toUpperCase()} list${m.programs.length ? ` (${m.programs.join(', ')})` : ''}; lists sha256 ${h.lists ?? 'none'}`,
          })),
        }).catch((err) => { logError(err); notifyError(err); });
      };
      rescreener.onClear = (c) => {
        opened.appendVerdict({
          subject: { kind: 'account', id: c.account_id }, level: 'none', score: null, source: 'screening', since: c.at,
          reasons: [{ signal: 'operator_screening_cleared', value: c.tags.join(' '), threshold: null, detail: c.reason ?? 'cleared', by: c.by }],
        }).catch((err) => { logError(err); notifyError(err); });
      };
    }
    adminRegistrars.push(ledgerAdminRoutes(opened, {
      events: stores.sqlite ? new SqliteEventRows(stores.sqlite) : new PostgresEventRows(stores.pg!),
      retentionDays: config.events.retention_days,
    }));
    // What it cannot write while stopping is counted and logged through onError.
    closers.push(['ledger (entries and checkpoint)', async () => { await opened.close(); }]);
  }

  // A deletion request reaches every store above (src/cli/erase.ts); on a detector replica it is
  // the worker's (it holds the detector's state and the case files): the path names the worker.
  if (!(config.detect.enabled && config.detect.mode === 'replica')) {
    adminRegistrars.push(eraseAdminRoutes({
      identity, stores, sqlitePath: config.store.sqlite_path, verdicts, ledger, engine: detector, saveSnapshot: detect.saveSnapshot,
      eraseFromStream: detect.eraseFromStream, intel: cases?.intel ?? null,
      flushEvents: async () => { await flushEvents?.(); }, detectorDrained: detect.drained,
      cases: cases ? { store: cases.store, sharingKey: cases.sharingKey, publishTargets: cases.publishTargets } : null, batches: batchStores,
    }));
  }

  // Cases read the detector's campaigns, the stored events and the ledger.
  if (detector && cases) adminRegistrars.push(cases.adminRoutes(detector, ledger, detect.overrides && (() => detect.overrides!.list())));

  // A suspension in identity names the appeal contact, as a suspending verdict's refusal does
  // (batch requests, run with one-use credentials, too).
  const appealing = (a: Authenticator) => (policyRuntime ? withAppealContact(a, policyRuntime) : a);
  const callerAuthenticator = appealing(authenticator);
  return {
    authenticator: appealing(batches ? batches.authenticator(authenticator) : authenticator),
    identity,
    hooks,
    registry,
    clusterOf: (accountId) => verdicts.forAccount(accountId).clusterId,
    flushEventsWith(flush) { flushEvents = flush; },
    async register(app) {
      // The dashboard first: its route catalog records the admin and ledger routes registered after it.
      const catalog = new RouteCatalog();
      await app.register(dashboardPlugin, { catalog });
      // Usage queries: on SQLite in a worker thread (the dashboard must not block the gateway), stopped on close.
      const usage = usageStoreFor(stores, {
        onExit: (err) => { if (config.log.level !== 'silent') console.error(`dashboard: usage query thread stopped (${err.message}); the next query starts a new one`); },
      });
      closers.push(['usage queries', () => usage.close?.()]);
      // Its table is migrated now: one newer than this Warden knows stops the start, as the others do.
      await usage.migrate?.();
      const registrars = [usageAdminRoutes({ usage, identity, catalog, replicaNotice: detect.replicaNotice }), ...adminRegistrars];
      // A customer's own usage and limits, read with its own key (src/limits/usage-view.ts).
      registerUsageView(app, {
        authenticator: acceptingAuthenticator(app, callerAuthenticator), hooks, limiter: limits.limiter, identity, verdicts, lastRequest,
        daily: (filter) => usage.daily(filter), requestsPerMinute: config.limits.usage_view.requests_per_minute,
      });
      // Accounts created, renamed or moved through the admin API are screened at once (rescreener: lists configured).
      const screenedStore = rescreener && config.policy.screening.sanctions.length > 0
        ? screenedIdentity(identity, rescreener, (err) => say(`screening: an account change could not be screened: ${err.message}`, { level: 'error', code: 'SCREENING_FAILED' }))
        : identity;
      await app.register(adminPlugin, {
        prefix: '/admin', store: screenedStore, token: adminTokens, onPreviousToken, registrars, misdirected: detect.adminMisdirected ?? undefined,
        throttle: adminThrottle, clientKey: (req) => subnetOf(clientAddress(req), 32, 64),
      });
      // The transparency reads tell who was flagged and why: behind the admin token or a
      // `ledger:read` key unless the operator publishes them (ledger.public_reads).
      if (ledger) {
        const authorizeRead = config.ledger.public_reads ? undefined : ledgerReadGate({
          adminToken: adminTokens, authenticate: (secret) => authenticator.authenticate(secret),
          throttle: adminThrottle, clientKey: (req) => subnetOf(clientAddress(req), 32, 64),
        });
        registerLedgerRoutes(app, ledger, { routes: 'public', authorizeRead });
        // Said once at start: readers of an earlier release (auditors, archivers) read anonymously.
        if (!config.ledger.public_reads) say('ledger: /ledger/v1 reads need the admin token or a ledger:read key (ledger.public_reads: false); set it to true to publish them');
      }
      // Partner providers: TAXII 2.1 with their own API keys (intel scopes), not the admin token.
      const taxii = cases?.taxiiPlugin;
      if (taxii) await app.register(async (scope) => taxii((secret) => authenticator.authenticate(secret))(scope), { prefix: '/taxii2' });
      cases?.startFeeds();
      // The batch and files routes refuse an account a verdict bars, as every model route does.
      // Uploads and batch creations are charged to the caller's request limits, as a request.
      batches?.register(app, acceptingAuthenticator(app, callerAuthenticator), (auth) => refuseBarred({ hooks }, auth), async (auth, ip, wire) => {
        const network = clientNetworkOf({ hooks }, ip);
        for (const h of hooks) if (h.chargeRequest) await h.chargeRequest(auth, ip, wire, network);
      });
    },
    async ready() {
      // `limits.on_backend_failure: closed` with Redis away: every request would be refused.
      if (limits.limiter.refusingAll) return false;
      // With ledger.required, a node that cannot record what it serves takes no new traffic.
      if (ledger && config.ledger.required) {
        const recording = ledger.recording();
        if (!recording.ok) {
          if (!ledgerNotReady) say(`ledger: not ready (ledger.required): ${recording.reason}`, { level: 'error', code: 'LEDGER_NOT_READY' });
          ledgerNotReady = true;
          return false;
        }
        if (ledgerNotReady) say('ledger: ready again (ledger.required): the ledger records again', { level: 'info', code: 'LEDGER_READY' });
        ledgerNotReady = false;
      }
      // The store is away: a node holding cached keys still serves them (stale-if-error), so it
      // stays in the load balancer; one with nothing to serve says not ready. A store that does not
      // answer at once is not waited for (its timeouts are longer than a probe's): the last check
      // that ended says whether it answers.
      return (await identityAnswers()) || authenticator.servesStale();
    },
    async screenAccounts({ reload }) {
      if (!rescreener || config.policy.screening.sanctions.length === 0) return null;
      const report = await rescreener.run({ reload });
      say(rescreenSummary(report), { level: 'info', code: 'SCREENING_RUN' });
      return report;
    },
    reloadNetworks() {
      return policyRuntime ? policyRuntime.reloadNetworks() : null;
    },
    reloadPolicy() {
      return policyRuntime ? policyRuntime.store.reload() : null;
    },
    reloadIntelPins() {
      return cases ? cases.reloadPins() : null;
    },
    async bootstrapDemo() {
      const existing = await identity.listAccounts({ limit: 1 });
      if (existing.data.length > 0) return null;
      const org = await identity.createOrg({ name: 'Demo organisation', tier: 'email_verified' });
      const account = await identity.createAccount({ org_id: org.id, name: 'demo', email: 'demo@example.com', tier: 'email_verified' });
      const created = await identity.createKey(account.id, { name: 'demo key' });
      return created.secret;
    },
    async close(onStep) {
      for (const [name, c] of closers.reverse()) { onStep?.(name); await c(); }
      onStep?.('identity store');
      await authenticator.close();
      await identity.close();
    },
  };
}
