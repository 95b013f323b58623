/**
 * Case files and threat-intel exchange in the composition: on the nodes that run the detector,
 * the stored indicators are loaded into it at start and the admin routes mounted (src/cases).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { resolveSecret, type WardenConfig } from '../config/index.ts';
import { SharedIndicators, type DetectorEngine } from '../detect/index.ts';
import { casesAdminRoutes, casesWithGoneIds, registerTaxiiServer, FeedPoller, isStale, loadApprovals, MIN_SHARING_KEY_CHARS, Partners, IntelSigner, parsePin, reloadPins, pinsReloadedLine, type PinsReloaded, SqliteCaseStore, PostgresCaseStore, type CaseStore, type CaseSources, type PublishTarget, type TaxiiCaller } from '../cases/index.ts';
import { intelMatched, feedChanged, type Notifier } from '../notify/index.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import { onBackend, type Stores } from './stores.ts';
import type { OperatorLog } from './capabilities.ts';


export interface CasesSetup {
  /** The case store and the sharing key (an erasure scrubs case files). */
  store: CaseStore;
  sharingKey: string | null;
  /** The partners, their keys and published collections (an erasure withdraws from each collection, hashed with its key). */
  partners: Partners;
  publishTargets(): PublishTarget[];
  /** The indicators the detector matches (give them to the engine before it replays events). */
  intel: SharedIndicators;
  /** The admin routes, once the engine exists. */
  adminRoutes(engine: DetectorEngine, ledger: CaseSources['ledger'], decisions?: CaseSources['decisions']): AdminRouteRegistrar;
  /** The TAXII 2.1 server for partners, mounted at /taxii2 (null: off). */
  taxiiPlugin: ((authenticate: (secret: string) => Promise<TaxiiCaller>) => (app: FastifyInstance) => void) | null;
  /**
   * Say how many live cases name a campaign and cluster the detector does not hold (once it has
   * read its snapshot or replayed): renamed by an upgrade or a rebuild; each needs a refresh.
   */
  reportGoneIds(engine: DetectorEngine): Promise<void>;
  /** Start polling partners' feeds (once the detector is running). */
  startFeeds(): void;
  /** Store the last sightings (after the detector has taken in its last events). */
  close(): Promise<void>;
  /**
   * Pin the partners' and feeds' signing keys the configuration read again gives (SIGHUP, POST
   * /admin/intel/pins/reload), logged; throws with the reason (the pins in force stay).
   */
  reloadPins(): PinsReloaded;
}

/** How often sightings of imported indicators are added to the store. */
const SIGHTINGS_EVERY_MS = 60_000;
/** How often new matches of imported indicators are looked for, to notify operators. */
const MATCHES_EVERY_MS = 5_000;

/** Operators hear of a partner's indicator the first time it matches here (ever: sightings persist). */
function watchFirstMatches(intel: SharedIndicators, notifier: Notifier): NodeJS.Timeout {
  const matched = new Set(intel.sightings().map((x) => x.indicator_id));
  const timer = setInterval(() => {
    for (const seen of intel.sightings()) {
      if (matched.has(seen.indicator_id)) continue;
      matched.add(seen.indicator_id);
      const ind = intel.list().find((i) => i.id === seen.indicator_id);
      if (ind) void notifier.emit(intelMatched(ind, seen));
    }
  }, MATCHES_EVERY_MS);
  timer.unref();
  return timer;
}

/** Where the intel signing key is kept when `cases.signing_key` is unset: beside the database, as the admin token. */
export function intelSigningKeyFile(config: WardenConfig): string {
  return join(dirname(resolve(config.store.sqlite_path)), 'intel-signing.key');
}

/**
 * This provider's key for signing what it shares: `cases.signing_key`, else the key file beside
 * the database, written (mode 0600) at first start. Throws with the setting's name when unreadable.
 */
function intelSigner(config: WardenConfig, say: (line: string) => void): IntelSigner | null {
  const kept = readIntelSigner(config);
  if (kept) return kept.signer;
  const file = intelSigningKeyFile(config);
  const signer = IntelSigner.generate();
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, signer.exportPrivate() + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // A read-only file system (a container on PostgreSQL): the node runs; what it shares is unsigned until a key is set.
    say(`cases: WARNING no intel signing key: cases.signing_key is unset and ${file} could not be written (${(err as Error).message}); what this provider shares goes out unsigned, and partners that pin its key refuse it: set cases.signing_key`);
    return null;
  }
  say(`cases: wrote a new intel signing key to ${file} (keep it with the database's secrets); partners pin its public key ${signer.publicKey.toString()}`);
  return signer;
}

/**
 * The signing key as `warden serve` reads it, without making one: `cases.signing_key`, else the
 * key file beside the database; null when neither is there. Throws with the setting's name when unreadable.
 */
export function readIntelSigner(config: WardenConfig, env: NodeJS.ProcessEnv = process.env): { signer: IntelSigner; file: string | null } | null {
  const configured = resolveSecret(config.cases.signing_key, env);
  if (configured) {
    try { return { signer: IntelSigner.parse(configured), file: null }; } catch (err) { throw new Error(`cases.signing_key: ${(err as Error).message}`); }
  }
  const file = intelSigningKeyFile(config);
  if (!existsSync(file)) return null;
  try { return { signer: IntelSigner.parse(readFileSync(file, 'utf8')), file }; } catch (err) { throw new Error(`${file}: ${(err as Error).message}`); }
}

/**
 * Stage a new signing key (POST /admin/intel/signing/rotate): written beside the key in force with
 * the time it starts signing (written whole, then renamed over the file: a crash leaves the old
 * file), then taken by the running signer. A key set in cases.signing_key is not written here.
 */
function rotateSigningKey(config: WardenConfig, signer: IntelSigner | null, say: OperatorLog, overlapDays: number): IntelSigner {
  if (!signer) throw new Error('no signing key: this node shares unsigned (see the start-up log); set cases.signing_key');
  if (resolveSecret(config.cases.signing_key)) throw new Error('the signing key is set in cases.signing_key: rotate it there (docs/cases.md, "Rotating this provider\'s signing key"); nothing was changed');
  const file = intelSigningKeyFile(config);
  const now = Date.now();
  const both = signer.rotated(IntelSigner.generate(), now + overlapDays * 86_400_000, now);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, both.exportText(now), { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(`${file} could not be written (${(err as Error).message}); nothing was changed`);
  }
  signer.adopt(both);
  const next = signer.staged(now);
  say(next
    ? `cases: new intel signing key ${next.signer.keyId} staged in ${file}: ${signer.keyId} signs until ${new Date(next.from).toISOString()}, then ${next.signer.keyId}; partners pin ${next.signer.publicKey.toString()} beside ${signer.publicKey.toString()} before then`
    : `cases: new intel signing key ${signer.keyId} in ${file}, signing now (no overlap): partners that pinned only the key before refuse what this provider shares until they pin ${signer.publicKey.toString()}`, { level: 'info', code: 'INTEL_SIGNING_KEY_ROTATED' });
  return signer;
}

/** Open the case store and load the stored indicators (before the detector starts, so its replay matches them). */
export async function setUpCases(config: WardenConfig, stores: Stores, say: OperatorLog, notifier?: Notifier, readConfig?: (() => WardenConfig) | null): Promise<CasesSetup | null> {
  const cfg = config.cases;
  if (!cfg.enabled) return null;
  let key = resolveSecret(cfg.sharing_key);
  if (key && key.length < MIN_SHARING_KEY_CHARS) {
    say(`cases: the sharing key is shorter than ${MIN_SHARING_KEY_CHARS} characters; indicator exchange is off until a longer one is set`);
    key = null;
  }
  const signer = intelSigner(config, say);
  const staged = signer?.staged();
  if (signer && staged) say(`cases: intel signing key ${signer.keyId} signs until ${new Date(staged.from).toISOString()}, then the staged key ${staged.signer.keyId} (${staged.signer.publicKey.toString()}): partners pin both before then`);
  const store = await onBackend<CaseStore>(stores, (db) => new SqliteCaseStore(db), (pool) => new PostgresCaseStore(pool));
  const intel = new SharedIndicators(key, { maxLocalAccounts: cfg.max_indicator_accounts });
  const partners = new Partners({
    store, intel, sharedKey: key, provider: cfg.provider, validDays: cfg.export_valid_days,
    partners: cfg.partners.map((p) => {
      let own = p.key === undefined ? null : resolveSecret(p.key) || null;
      if (own && own.length < MIN_SHARING_KEY_CHARS) {
        say(`cases: the key of partner ${p.name} is shorter than ${MIN_SHARING_KEY_CHARS} characters; it is not used (the partner stays on the shared key)`);
        own = null;
      }
      return { name: p.name, key: own, trust: p.trust, hold: p.hold, publicKeys: parsePin(p.public_key) };
    }),
  });
  await partners.load();
  const keyIds = intel.keyIds();
  // Indicators hashed under a key not agreed here (any more) can never match: kept, reported, not loaded.
  const all = await store.listIndicators();
  const stored = all.filter((i) => !isStale(i, keyIds));
  const stale = all.length - stored.length;
  if (stale) say(`cases: ${stale} stored indicators were hashed with another sharing key than ${keyIds.join(', ')}: they cannot match and are not loaded; ask their partners to share them again under the current key, and remove them (warden intel remove --stale)`);
  if (stored.length) {
    intel.add(stored);
    await loadApprovals(store, intel);
    if (!keyIds.length) say(`cases: ${stored.length} imported indicators are stored but no sharing key is set (cases.sharing_key): none is matched`);
    else {
      const own = keyIds.filter((id) => id !== intel.keyId);
      say(`cases: ${stored.length} indicators shared by other providers are matched (${intel.keyId ? `sharing key ${intel.keyId}` : 'no sharing key'}${own.length ? `; partners' own keys ${own.join(', ')}` : ''})`);
    }
  }
  // A partner given a key of its own (in the configuration) reads what was published, hashed with it.
  const republished = await partners.syncCollections((id) => store.getCase(id)).catch((err) => { say(`cases: partners' collections not published again: ${(err as Error).message}`); return 0; });
  if (republished) say(`cases: ${republished} published cases were published again to partners' own collections, under the key agreed with each`);
  // Sightings add up across restarts: read back, then stored as they grow.
  intel.restoreSightings(await store.listSightings());
  const saveSightings = async () => {
    const deltas = intel.drainSightings();
    if (deltas.length) await store.addSightings(deltas).catch((err) => say(`cases: sightings not stored: ${(err as Error).message}`));
  };
  // A key whose grace period ended stops matching within a minute.
  const timer = setInterval(() => { void saveSightings(); partners.apply(); }, SIGHTINGS_EVERY_MS);
  timer.unref();
  const matches = notifier?.enabled ? watchFirstMatches(intel, notifier) : null;
  // Partners' feeds: polled only with a sharing key (their keyed hashes cannot be matched without it).
  const feeds = partners.anyKey && cfg.feeds.length ? new FeedPoller({ store, intel, sharingKey: key, keysFor: (source) => partners.keysFor(source), maxPerSource: cfg.max_indicators_per_source, maxValidDays: cfg.max_indicator_days }, cfg.feeds.map((f) => ({
    name: f.name, url: f.url, token: resolveSecret(f.token), username: f.username, level: f.level ?? cfg.import_level,
    everyMs: f.every_seconds * 1000, timeoutMs: f.timeout_seconds * 1000, publicKey: f.public_key ? parsePin(f.public_key) : partners.publicKeysFor(f.name),
  })), say, (state, wasFailing) => {
    // Only changes are news: a feed that starts failing, and one that works again.
    if (notifier && !!state.last_error !== wasFailing) void notifier.emit(feedChanged(state));
  }) : null;
  const pins = (): PinsReloaded => {
    if (!readConfig) throw new Error('this node cannot read its configuration again (not started by warden serve from a configuration file)');
    const fresh = readConfig().cases;
    const r = reloadPins(partners, feeds, { partners: fresh.partners, feeds: fresh.feeds });
    say(pinsReloadedLine(r), { level: 'info', code: 'INTEL_PINS_RELOADED' });
    return r;
  };
  if (!partners.anyKey && cfg.feeds.length) say(`cases: ${cfg.feeds.length} intel feeds are configured but no sharing key is set (cases.sharing_key): none is polled`);
  return {
    async reportGoneIds(engine) {
      const gone = await casesWithGoneIds(store, engine).catch((err) => { say(`cases: could not check the cases' campaign ids: ${(err as Error).message}`); return []; });
      if (gone.length) say(`cases: ${gone.length} open or confirmed cases name a campaign the detector does not hold (renamed by an upgrade or a rebuild, or no longer active): ${gone.slice(0, 10).join(', ')}${gone.length > 10 ? ', ...' : ''}; warden cases refresh ID finds each one's campaign again by its accounts`);
    },
    intel,
    store,
    sharingKey: key || null,
    partners,
    publishTargets: () => partners.targets(),
    startFeeds: () => feeds?.start(),
    reloadPins: pins,
    close: async () => { clearInterval(timer); if (matches) clearInterval(matches); await feeds?.stop(); await saveSightings(); },
    taxiiPlugin: cfg.taxii.enabled ? (authenticate) => (app) => registerTaxiiServer(app, {
      store, intel, sharingKey: key, partners, authenticate, provider: cfg.provider, importLevel: cfg.import_level, maxContentLength: cfg.taxii.max_content_length, requestsPerMinute: cfg.taxii.requests_per_minute,
      maxPerSource: cfg.max_indicators_per_source, maxValidDays: cfg.max_indicator_days, signer, say, publicUrl: config.server.public_url,
    }) : null,
    adminRoutes: (engine, ledger, decisions) => casesAdminRoutes({
      store, intel, feeds, sharingKey: key, partners, provider: cfg.provider, importLevel: cfg.import_level, exportValidDays: cfg.export_valid_days, signer, reloadPins: readConfig ? pins : null,
      rotateSigningKey: (days) => rotateSigningKey(config, signer, say, days),
      sources: { engine, events: stores.events, ledger, decisions },
      limits: { maxMembers: cfg.max_members, maxEventsPerMember: cfg.max_events_per_member, maxEvents: cfg.max_events, maxWindowEvents: cfg.max_window_events },
    }),
  };
}
