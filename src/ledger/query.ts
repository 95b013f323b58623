/**
 * Audit queries over the ledger's own records: who used the model, how much and from where
 * (by account, org, cluster, key, IP or network, model and time range), with the verdicts in the
 * log about those accounts and clusters and their reasons. Client IPs come from the erasable
 * side table, so an erased entry still counts but no longer says where it came from.
 */
import { BlockList, isIP } from 'node:net';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { isoTimeProblem, normalizeIsoTime } from '../store/iso-time.ts';
import { normaliseIp, statusOutcome, tally } from '../events/index.ts';
import { printable, printableJson } from '../admin/index.ts';
import { SETTINGS_SUBJECT, openOperatorReason, parseLeaf, regionColumns, type InteractionRecord, type LedgerRecord, type RegionColumns, type SettingsRecord, type VerdictRecord } from './records.ts';
import { ipv4ToInt, type EntryFilter, type EntryRow, type LedgerStorage, type PrivateRow } from './storage.ts';

export interface LedgerQuery {
  accountId?: string;
  orgId?: string;
  clusterId?: string;
  keyId?: string;
  model?: string;
  /** One client IP. */
  ip?: string;
  /** A client network in CIDR notation (IPv4 or IPv6), e.g. 203.0.113.0/24. */
  network?: string;
  /** ISO 8601 bounds: from inclusive, to exclusive. */
  from?: string;
  to?: string;
  /** Most interactions returned (default 100,000). */
  limit?: number;
  /**
   * Give each row the salts of its clear values (`openings`), so that a reader can check them
   * against the commitments in the signed leaves without the database. A prompt's text never.
   */
  openings?: boolean;
  /**
   * Only the detector settings in force over the window (`from`, `to`) and every verdict recorded
   * in it, whatever its subject: which verdicts were reached under which settings. No interactions.
   */
  settings?: boolean;
  /**
   * Only interactions whose leaf records one of these client regions: ISO 3166-2 subdivisions
   * (`UA-43`, as `client.subdivision`) or ISO 3166-1 countries (`UA`, as `client.country`); a
   * leaf matching either list matches. Given as lists or comma lists. Both are indexed (the
   * entry's region columns): the query reads the leaves of the matching interactions, and of those
   * stored before the columns existed until they are filled (see `regions` in the result).
   */
  subdivisions?: readonly string[];
  countries?: readonly string[];
  /**
   * Interaction rows read a page (default 2,000), with a turn of the event loop between pages: a
   * server answering the admin route passes a smaller one, so that a query reading much of the log
   * holds the gateway's thread one small page at a time.
   */
  pageSize?: number;
}

/**
 * What a query by region (`subdivisions`, `countries`) found, over every interaction the other
 * filters select (not only the returned ones when the limit cuts them short).
 */
export interface RegionSummary {
  subdivisions: string[];
  countries: string[];
  /** Interactions whose leaf records one of the regions asked for. */
  interactions: number;
  /** Of them: served (status below 400), refused by Warden (403, 429), failed (other 4xx, 5xx) and 401s. */
  served: number;
  refused: number;
  errors: number;
  unauthenticated: number;
  /** Distinct accounts among them (interactions without an account not counted). */
  accounts: number;
  first_ts: string | null;
  last_ts: string | null;
  /**
   * With `subdivisions`: interactions the other filters select whose region is not known, so they
   * can be neither counted in nor ruled out: leaves written before regions were recorded
   * (`warden.ledger/1`, `/2`; `region_unrecorded`, and of them those whose country is the country
   * of a subdivision asked for, `region_unrecorded_in_country`), and `/4` leaves for which no
   * subdivision data was read (`no_region_data`; `client.subdivision_data` null). A leaf matched by
   * `countries` is counted as matched, not here. 0 without `subdivisions`.
   */
  region_unrecorded: number;
  region_unrecorded_in_country: number;
  no_region_data: number;
  /**
   * Interaction leaves read to answer: those of the matching interactions, and those whose region
   * columns were not filled yet (read for their region). The other interactions the filters select
   * are counted through the region index, their leaves not read.
   */
  scanned: number;
}

/** The schema a query result names, so an exported file says what it is. */
export const QUERY_SCHEMA = 'warden.ledger-query/1';

/** A clear value and the salt of its commitment in the leaf: `hex(SHA-256(salt || UTF-8(value)))`. */
export type QueryOpenings = Record<string, { value: string | null; salt: string }>;

export interface InteractionRow {
  index: number;
  id: string;
  ts: string;
  account_id: string | null;
  org_id: string | null;
  key_id: string | null;
  cluster_id: string | null;
  model: string;
  flavour: string;
  status: number;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  /**
   * Of `input_tokens`: read from the provider's prompt cache, and written to it, as the leaf
   * records them; null for a leaf written before the split was recorded (`warden.ledger/1`).
   */
  cached_input_tokens: number | null;
  cache_write_tokens: number | null;
  /**
   * The service tier the upstream served the answer on, as the leaf records it (`warden.ledger/5`;
   * null: it named none, or the leaf was written before the tier was recorded: see `service_tier_recorded`).
   */
  service_tier: string | null;
  /** The leaf records the tier (`warden.ledger/5`); false for leaves written before, whose tier is unknown. */
  service_tier_recorded: boolean;
  tool_calls: number;
  /** Client IP while not erased. */
  client_ip: string | null;
  user_agent: string | null;
  country: string | null;
  asn: number | null;
  /**
   * The client's ISO 3166-2 subdivision as the policy's range data placed it (null: in none, or no
   * data read), and the hex digest of that data (null: none read); both null for a leaf written
   * before regions were recorded (`warden.ledger/1`, `/2`: see `region_recorded`).
   */
  subdivision: string | null;
  subdivision_data: string | null;
  /** The subdivision the customer declared, opened while not erased (null: none, erased, or not recorded). */
  claimed_subdivision: string | null;
  /** The leaf records the region (`warden.ledger/4`); false for leaves written before, whose region is unknown. */
  region_recorded: boolean;
  verdict_in_force: string | null;
  shaping: string[];
  /** The error code of a refusal or failure (`WARDEN_REGION_BLOCKED`...), null when served. */
  error_code: string | null;
  /** The policy's decision: rules matched (`rule:<id>`), networks (`network:vpn:<label>`), refusals (`refused:<kind>`). */
  policy: string[];
  erased: boolean;
  /** With `openings`: the salts of the clear values (none once erased). */
  openings?: QueryOpenings;
}

export interface VerdictRow {
  index: number;
  id: string;
  ts: string;
  subject_kind: 'account' | 'cluster' | 'org';
  subject_id: string;
  level: string;
  score: number | null;
  source: string;
  since: string;
  campaign_id: string | null;
  accounts: string[];
  reasons: unknown[];
  /** Digest of the detector settings it was reached under (a row of `settings`); null for other verdicts and for verdicts logged before verdicts named them. */
  settings_digest: string | null;
  /** When an operator verdict or an allow-list entry set for a time lapses; null when it does not, or when the leaf predates this (`warden.ledger/1`, `/2`). */
  expires_at: string | null;
  /** With `openings`: the operator's note and name with their salts (none once erased). */
  openings?: QueryOpenings;
}

/** A settings entry: the detector settings in force from its time on (on the node that recorded it). */
export interface SettingsRow {
  index: number;
  id: string;
  ts: string;
  component: string;
  /** hex(SHA-256(RFC 8785 JSON of `settings`)), as the verdicts name it. */
  digest: string;
  settings: Record<string, unknown>;
  /** The settings (dotted paths) that differ from the settings entry before it in the log; null for the log's first. */
  changed: string[] | null;
  /** Verdicts of this result reached under these settings. */
  verdicts: number;
}

export interface AccountUsage {
  account_id: string | null;
  org_id: string | null;
  requests: number;
  /** Of `requests`: refused by Warden (403 denied, 429 limited) and failed (other 4xx but 401, 5xx), as the dashboard counts them. */
  refused: number;
  errors: number;
  input_tokens: number;
  /** Of `input_tokens`: read from the prompt cache, and written to it, summed over the leaves that record them. */
  cached_input_tokens: number;
  cache_write_tokens: number;
  /** Of `requests`: those whose leaves predate the cache split (`warden.ledger/1`), whose input is not split; 0 for a period after the upgrade. */
  cache_unrecorded: number;
  output_tokens: number;
  reasoning_tokens: number;
  models: Record<string, number>;
  /** Distinct client IPs seen (unerased entries only). */
  ips: string[];
  countries: string[];
  /** Client subdivisions (ISO 3166-2) the leaves record, as the policy's range data placed the addresses. */
  subdivisions: string[];
  /** Of `requests`: those whose leaves predate the region (`warden.ledger/1`, `/2`): where in a country they came from is not recorded. */
  subdivision_unrecorded: number;
  asns: number[];
  first_ts: string;
  last_ts: string;
  /** Most recent verdict in the log about this account (or its cluster), with its reasons. */
  latest_verdict: { level: string; ts: string; subject: string; reasons: unknown[] } | null;
  /**
   * The level enforced on the account's last interaction (as recorded on it), and the logged
   * verdict that set it: among the latest verdict of each subject about the account (itself, its
   * clusters, cluster verdicts naming it) up to then, the most severe at that level, an operator's
   * first. The latest verdict can be a milder one of the account's own while its cluster's holds.
   */
  verdict_in_force: { level: string; ts: string; subject: string | null; source: string | null } | null;
}

export interface QueryResult {
  schema: typeof QUERY_SCHEMA;
  /** The filters answered, as given (times normalised to UTC), by their query-string names. */
  query: Record<string, string | number | boolean>;
  /** Entries in the log when it was read, and its latest signed checkpoint then (null: none yet). */
  tree_size: number;
  checkpoint: { size: number; root_hash: string; note: string; created_at: string } | null;
  interactions: InteractionRow[];
  verdicts: VerdictRow[];
  /**
   * The detector settings in force over the window: the settings entry in force at `from` (the
   * log's latest before it), those recorded within it, and any a returned verdict names.
   */
  settings: SettingsRow[];
  usage: AccountUsage[];
  truncated: boolean;
  /**
   * What `usage` adds up: `all` matching interactions, or only the `returned` ones when the limit
   * cut them short (`truncated`): then the usage rows are not the accounts' totals.
   */
  usage_scope: 'all' | 'returned';
  /** With a region filter (`subdivision`, `country`): what it found; absent otherwise. */
  regions?: RegionSummary;
}

export class QueryError extends Error {
  /** The filter at fault (`network`, `from`, ...), for answers that name it. */
  readonly param: string | null;
  constructor(message: string, param: string | null = null) { super(message); this.name = 'QueryError'; this.param = param; }
}

/** Parse a CIDR into a matcher and, for IPv4, the integer range for the index. */
export function parseNetwork(cidr: string): { contains(ip: string): boolean; v4Range: [number, number] | null } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (!m) throw new QueryError(`network must be CIDR notation (got ${JSON.stringify(cidr)})`, 'network');
  const family = isIP(m[1]);
  const prefix = Number(m[2]);
  if (family === 0 || prefix > (family === 4 ? 32 : 128)) throw new QueryError(`invalid network ${cidr}`, 'network');
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(m[1], prefix, type);
  let v4Range: [number, number] | null = null;
  if (family === 4) {
    const base = ipv4ToInt(m[1])!;
    const size = 2 ** (32 - prefix);
    const lo = Math.floor(base / size) * size;
    v4Range = [lo, lo + size - 1];
  }
  return {
    contains: (ip) => { const f = isIP(ip); return f !== 0 && list.check(ip, f === 4 ? 'ipv4' : 'ipv6'); },
    v4Range,
  };
}

const PAGE = 2000;

function interactionRow(entry: EntryRow, rec: InteractionRecord, priv: PrivateRow | null, withOpenings = false): InteractionRow {
  const erased = !!priv?.erased_at;
  return {
    index: entry.index, id: rec.id, ts: rec.ts, account_id: rec.account_id, org_id: rec.org_id, key_id: rec.key_id,
    cluster_id: rec.cluster_id, model: rec.model, flavour: rec.flavour, status: rec.response.status,
    input_tokens: rec.response.input_tokens, output_tokens: rec.response.output_tokens, reasoning_tokens: rec.response.reasoning_tokens,
    cached_input_tokens: rec.response.cached_input_tokens ?? null, cache_write_tokens: rec.response.cache_write_tokens ?? null,
    service_tier: rec.response.service_tier ?? null, service_tier_recorded: rec.response.service_tier !== undefined,
    tool_calls: rec.response.tool_calls,
    client_ip: erased ? null : priv?.ip ?? null,
    user_agent: erased ? null : priv?.openings?.user_agent?.value ?? null,
    country: rec.client.country, asn: rec.client.asn,
    subdivision: rec.client.subdivision ?? null, subdivision_data: rec.client.subdivision_data ?? null,
    claimed_subdivision: erased ? null : priv?.openings?.claimed_subdivision?.value ?? null,
    region_recorded: rec.client.subdivision !== undefined,
    verdict_in_force: rec.enforcement.verdict, shaping: rec.enforcement.shaping,
    error_code: rec.response.error_code ?? null, policy: rec.enforcement.policy ?? [], erased,
    ...(withOpenings ? { openings: openingsOf(priv) } : {}),
  };
}

/** A row's openings for export: every field's value and salt, but a prompt's text (its salt only). */
function openingsOf(priv: PrivateRow | null): QueryOpenings {
  const out: QueryOpenings = {};
  if (!priv || priv.erased_at || !priv.openings) return out;
  for (const [field, o] of Object.entries(priv.openings)) if (o) out[field] = { value: field === 'prompt' ? null : o.value, salt: o.salt };
  return out;
}

/** A verdict as the audit query shows it: an operator's note and name opened while not erased. */
function verdictRow(entry: EntryRow, rec: VerdictRecord, priv: PrivateRow | null, withOpenings = false): VerdictRow {
  const reasons = priv ? openOperatorReason(rec, priv.erased_at ? null : priv.openings) : rec.reasons;
  return {
    index: entry.index, id: rec.id, ts: rec.ts, subject_kind: rec.subject.kind, subject_id: rec.subject.id, level: rec.level,
    score: rec.score, source: rec.source, since: rec.since, campaign_id: rec.campaign_id, accounts: rec.accounts, reasons,
    settings_digest: rec.settings_digest ?? null,
    expires_at: rec.expires_at ?? null,
    ...(withOpenings && priv ? { openings: openingsOf(priv) } : {}),
  };
}

/**
 * The rows of a filter, a page at a time (bounded memory: one page and the rows kept). `scanAll`:
 * past `max`, read on and pass the rest to `keep` (which counts them) without keeping them.
 */
async function allMatching(storage: LedgerStorage, filter: EntryFilter, max: number, keep: (e: EntryRow, p: PrivateRow | null) => boolean, scanAll = false, page = PAGE) {
  const out: { entry: EntryRow; priv: PrivateRow | null }[] = [];
  let after = -1;
  let truncated = false;
  for (let n = 0; ; n++) {
    if (n > 0 && page !== PAGE) await new Promise((r) => setImmediate(r));
    const rows = await storage.query({ ...filter, afterIndex: after, limit: page });
    for (const r of rows) {
      if (!keep(r.entry, r.priv)) continue;
      if (out.length >= max) { truncated = true; if (scanAll) continue; break; }
      out.push(r);
    }
    if ((truncated && !scanAll) || rows.length < page) break;
    after = rows[rows.length - 1].entry.index;
  }
  return { rows: out, truncated };
}

/**
 * Every settings entry of the log, ascending (read through the subject index: they are few, one
 * per start with changed settings). An entry whose leaf is not a settings record is skipped
 * (`verify` names it).
 */
export async function settingsEntries(storage: LedgerStorage): Promise<{ entry: EntryRow; record: SettingsRecord }[]> {
  const { rows } = await allMatching(storage, { kind: 'settings', anyOf: { subjectIds: [SETTINGS_SUBJECT] } }, 1_000_000, () => true);
  const out: { entry: EntryRow; record: SettingsRecord }[] = [];
  for (const { entry } of rows) {
    try {
      const record = parseLeaf(entry.leaf);
      if (record.kind === 'settings') out.push({ entry, record });
    } catch { /* not a record: verify names it */ }
  }
  return out;
}

/** Dotted paths of plain-object leaves that differ between two settings (arrays compared whole). */
export function changedSettings(before: unknown, after: unknown, prefix = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(before) || !isObj(after)) return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix || '(all)'];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((k) => changedSettings(before[k], after[k], prefix ? `${prefix}.${k}` : k));
}

/** The settings rows of a result: in force at `from`, recorded within the window, or named by a verdict. */
async function settingsRows(storage: LedgerStorage, q: LedgerQuery, verdicts: readonly VerdictRow[]): Promise<SettingsRow[]> {
  const all = await settingsEntries(storage);
  const named = new Set(verdicts.map((v) => v.settings_digest).filter((d): d is string => d !== null));
  const inForceAtFrom = q.from ? all.filter((s) => s.record.ts < q.from!).at(-1) : undefined;
  const rows: SettingsRow[] = [];
  all.forEach(({ entry, record }, k) => {
    const within = (!q.from || record.ts >= q.from) && (!q.to || record.ts < q.to);
    if (!within && !named.has(record.digest) && inForceAtFrom?.entry.index !== entry.index) return;
    rows.push({
      index: entry.index, id: record.id, ts: record.ts, component: record.component, digest: record.digest, settings: record.settings,
      changed: k === 0 ? null : changedSettings(all[k - 1].record.settings, record.settings),
      verdicts: verdicts.filter((v) => v.settings_digest === record.digest).length,
    });
  });
  return rows;
}

/** Run an audit query: the matching interactions, per-account usage, and the related verdicts. */
/**
 * The accounts of a cluster as the log records them. A cluster is its own id on interactions plus
 * its member accounts: those its verdicts name and those whose interactions carry its id (what
 * they sent before they were linked counts too); and so for every cluster its verdicts say merged
 * into it (`clusters_merged`), and further back. `warden ledger query --cluster` and
 * `warden events export --cluster` read a cluster's accounts this way.
 */
export async function clusterAccounts(storage: LedgerStorage, clusterId: string): Promise<string[]> {
  const members = new Set<string>();
  const clusters = [clusterId];
  for (let i = 0; i < clusters.length && i < 10_000; i++) {
    const { rows } = await allMatching(storage, { kind: 'verdict', anyOf: { subjectIds: [clusters[i]] } }, 1_000_000, () => true);
    for (const { entry } of rows) {
      const rec = parseLeaf(entry.leaf);
      if (rec.kind !== 'verdict' || rec.subject.kind !== 'cluster') continue;
      for (const a of rec.accounts) members.add(a);
      for (const r of rec.reasons as Array<{ signal?: unknown; value?: unknown }>) {
        if (r?.signal === 'clusters_merged' && typeof r.value === 'string' && !clusters.includes(r.value)) clusters.push(r.value);
      }
    }
    // (Nothing is kept from this pass but the account ids.)
    await allMatching(storage, { kind: 'interaction', anyOf: { clusterId: clusters[i] } }, 0, (entry) => {
      if (entry.account_id) members.add(entry.account_id);
      return false;
    });
  }
  return [...members];
}

export async function queryLedger(storage: LedgerStorage, q: LedgerQuery): Promise<QueryResult> {
  // A query by region reads the indexed entries and counts the others in separate statements:
  // one snapshot of the log, so that an entry appended or filled meanwhile is counted once.
  const byRegion = !q.settings && (!!q.subdivisions?.length || !!q.countries?.length);
  if (byRegion && storage.consistentRead) return storage.consistentRead((view) => answerQuery(view, q));
  return answerQuery(storage, q);
}

async function answerQuery(storage: LedgerStorage, q: LedgerQuery): Promise<QueryResult> {
  if (q.limit !== undefined && !(Number.isSafeInteger(q.limit) && q.limit >= 1)) throw new QueryError(`limit must be a positive integer (got ${q.limit})`, 'limit');
  const limit = q.limit ?? 100_000;
  // Stored times are compared as text: a bound that is not an ISO time would match all or nothing.
  const time = (name: string, v: string | undefined) => {
    if (v === undefined || v === '') return undefined;
    const iso = normalizeIsoTime(v);
    if (iso === null) throw new QueryError(isoTimeProblem(name, v), name);
    return iso;
  };
  q = { ...q, from: time('from', q.from), to: time('to', q.to) };
  if (q.settings) {
    if (q.subdivisions?.length || q.countries?.length) throw new QueryError('settings lists the settings and verdicts of a time window: the region filters (subdivision, country) select interactions', q.subdivisions?.length ? 'subdivision' : 'country');
    // The settings over the window and every verdict in it: no interactions, no usage.
    const { rows: vrows } = await allMatching(storage, { kind: 'verdict', from: q.from, to: q.to }, 1_000_000, () => true);
    const verdicts: VerdictRow[] = [];
    for (const { entry, priv } of vrows) {
      const rec = parseLeaf(entry.leaf);
      if (rec.kind === 'verdict') verdicts.push(verdictRow(entry, rec, priv, q.openings === true));
    }
    const [treeSize, latest] = await Promise.all([storage.size(), storage.latestCheckpoint()]);
    return {
      schema: QUERY_SCHEMA, query: queryEcho(q), tree_size: treeSize,
      checkpoint: latest && { size: latest.size, root_hash: Buffer.from(latest.root).toString('base64'), note: latest.note, created_at: latest.created_at },
      interactions: [], verdicts, settings: await settingsRows(storage, q, verdicts), usage: [], truncated: false, usage_scope: 'all',
    };
  }
  const filter: EntryFilter = { kind: 'interaction', orgId: q.orgId, keyId: q.keyId, model: q.model, from: q.from, to: q.to };
  let ipFilter: ((ip: string | null) => boolean) | null = null;
  if (q.ip) {
    // Stored addresses are canonical (IPv4-mapped IPv6 as IPv4): the one asked for is spelt the same way.
    const ip = normaliseIp(q.ip);
    if (ip === null) throw new QueryError(`invalid IP ${q.ip}`, 'ip');
    filter.ip = ip;
  }
  if (q.network) {
    const net = parseNetwork(q.network);
    if (net.v4Range) filter.ipv4Range = net.v4Range;
    else filter.hasIp = true;
    ipFilter = (ip) => ip !== null && net.contains(ip);
  }
  let clusterMembers: string[] = [];
  if (q.clusterId) {
    clusterMembers = await clusterAccounts(storage, q.clusterId);
    filter.anyOf = { clusterId: q.clusterId, accountIds: clusterMembers };
  }
  if (q.accountId) filter.anyOf = q.clusterId ? { accountIds: clusterMembers.includes(q.accountId) ? [q.accountId] : [] } : { accountIds: [q.accountId] };

  const subdivisions = regionList(q.subdivisions, 'subdivision');
  const countries = regionList(q.countries, 'country');
  const byRegion = subdivisions.length > 0 || countries.length > 0;
  const summary: RegionSummary | undefined = byRegion ? {
    subdivisions, countries, interactions: 0, served: 0, refused: 0, errors: 0, unauthenticated: 0, accounts: 0, first_ts: null, last_ts: null,
    region_unrecorded: 0, region_unrecorded_in_country: 0, no_region_data: 0, scanned: 0,
  } : undefined;
  const accounts = new Set<string>();
  const subdivisionCountries = new Set(subdivisions.map((s) => s.slice(0, 2)));
  // The region columns are indexed (records.ts regionColumns): the database returns the entries of
  // the regions asked for, and those whose columns are not filled yet (stored before they existed),
  // whose leaves say; it counts the rest whose region is not known without reading them. An IPv6
  // network is matched here, on the rows the other filters select: then every such row is read,
  // but only the leaves of matching and unfilled ones are parsed. Either way `scanned` counts the
  // leaves read for their region or their counts.
  const indexed = byRegion && !ipFilter;
  const regionFilter: EntryFilter = indexed ? { ...filter, regions: { subdivisions, countries } } : filter;
  const regionMatch = (entry: EntryRow): boolean => {
    const s = summary!;
    let rec: LedgerRecord | null = null;
    let cols: RegionColumns;
    if (entry.region_state != null) {
      cols = { region_state: entry.region_state, client_country: entry.client_country ?? null, client_subdivision: entry.client_subdivision ?? null };
    } else {
      s.scanned++;
      try { rec = parseLeaf(entry.leaf); } catch { /* not a record: verify names it */ }
      cols = regionColumns(entry.kind, rec);
    }
    const sub = cols.client_subdivision;
    const country = cols.client_country;
    const matched = (sub !== null && subdivisions.includes(sub)) || (country !== null && countries.includes(country));
    if (!matched) {
      if (subdivisions.length) {
        if (cols.region_state === 'unrecorded') { s.region_unrecorded++; if (country !== null && subdivisionCountries.has(country)) s.region_unrecorded_in_country++; }
        else if (cols.region_state === 'no_data') s.no_region_data++;
      }
      return false;
    }
    if (!rec) {
      s.scanned++;
      try { rec = parseLeaf(entry.leaf); } catch { return false; /* the columns disagree with the leaf: verify names it */ }
    }
    if (rec.kind !== 'interaction') return false;
    s.interactions++;
    const outcome = statusOutcome(rec.response.status);
    if (outcome === 'served') s.served++;
    else if (outcome === 'refused') s.refused++;
    else if (outcome === 'unauthenticated') s.unauthenticated++;
    else s.errors++;
    if (rec.account_id) accounts.add(rec.account_id);
    if (s.first_ts === null || rec.ts < s.first_ts) s.first_ts = rec.ts;
    if (s.last_ts === null || rec.ts > s.last_ts) s.last_ts = rec.ts;
    return true;
  };
  const { rows, truncated } = await allMatching(storage, regionFilter, limit,
    (e, p) => (!ipFilter || ipFilter(p && !p.erased_at ? p.ip : null)) && (!byRegion || regionMatch(e)), byRegion, q.pageSize ?? PAGE);
  if (summary && indexed && subdivisions.length) {
    // The indexed entries of other regions whose region is not known, counted by the database.
    const unknown = await storage.regionUnknown(filter, { subdivisions, countries, subdivisionCountries: [...subdivisionCountries] });
    summary.region_unrecorded += unknown.unrecorded;
    summary.region_unrecorded_in_country += unknown.unrecordedInCountry;
    summary.no_region_data += unknown.noData;
  }
  if (summary) summary.accounts = accounts.size;
  const interactions: InteractionRow[] = [];
  for (const { entry, priv } of rows) {
    const rec = parseLeaf(entry.leaf);
    if (rec.kind === 'interaction') interactions.push(interactionRow(entry, rec, priv, q.openings === true));
  }

  // Verdicts about the accounts and clusters involved, up to the end of the window, and their
  // organisations' allow-list entries (which exempt every account of the organisation).
  const subjects = new Set<string>();
  for (const r of interactions) { if (r.account_id) subjects.add(r.account_id); if (r.cluster_id) subjects.add(r.cluster_id); if (r.org_id) subjects.add(r.org_id); }
  if (q.accountId) subjects.add(q.accountId);
  if (q.orgId) subjects.add(q.orgId);
  if (q.clusterId) subjects.add(q.clusterId);
  const verdicts: VerdictRow[] = [];
  const subjectList = [...subjects];
  for (let i = 0; i < subjectList.length; i += 500) {
    const { rows: vrows } = await allMatching(storage, { kind: 'verdict', to: q.to, anyOf: { subjectIds: subjectList.slice(i, i + 500) } }, 1_000_000, () => true);
    for (const { entry, priv } of vrows) {
      const rec = parseLeaf(entry.leaf);
      if (rec.kind === 'verdict') verdicts.push(verdictRow(entry, rec, priv, q.openings === true));
    }
  }
  // Cluster verdicts also apply to the accounts they name.
  verdicts.sort((a, b) => a.index - b.index);
  const [treeSize, latest] = await Promise.all([storage.size(), storage.latestCheckpoint()]);
  return {
    schema: QUERY_SCHEMA, query: queryEcho(q), tree_size: treeSize,
    checkpoint: latest && { size: latest.size, root_hash: Buffer.from(latest.root).toString('base64'), note: latest.note, created_at: latest.created_at },
    interactions, verdicts, settings: await settingsRows(storage, q, verdicts), usage: summarise(interactions, verdicts), truncated, usage_scope: truncated ? 'returned' : 'all',
    ...(summary ? { regions: summary } : {}),
  };
}

/** A region filter's codes: lists or comma lists, upper-cased, each checked (ISO 3166-2 `UA-43`, ISO 3166-1 `UA`). */
export function regionList(values: readonly string[] | string | undefined, param: 'subdivision' | 'country'): string[] {
  if (values === undefined || (typeof values !== 'string' && values.length === 0)) return [];
  const codes = (typeof values === 'string' ? [values] : values).flatMap((v) => v.split(',')).map((v) => v.trim().toUpperCase()).filter((v) => v !== '');
  const shape = param === 'subdivision' ? /^[A-Z]{2}-[A-Z0-9]{1,3}$/ : /^[A-Z]{2}$/;
  for (const c of codes) {
    if (!shape.test(c)) throw new QueryError(param === 'subdivision' ? `subdivision must be ISO 3166-2 codes such as UA-43 (got ${JSON.stringify(c)})` : `country must be ISO 3166-1 alpha-2 codes such as UA (got ${JSON.stringify(c)})`, param);
  }
  if (!codes.length) throw new QueryError(`${param} needs a code`, param);
  return [...new Set(codes)];
}

/** The filters a query answered, by the names the admin route and the CLI take them. */
function queryEcho(q: LedgerQuery): QueryResult['query'] {
  const names: [keyof LedgerQuery, string][] = [['accountId', 'account'], ['orgId', 'org'], ['clusterId', 'cluster'], ['keyId', 'key'], ['model', 'model'],
    ['ip', 'ip'], ['network', 'network'], ['from', 'from'], ['to', 'to'], ['limit', 'limit'], ['openings', 'openings'], ['settings', 'settings']];
  const out: QueryResult['query'] = {};
  for (const [k, name] of names) { const v = q[k]; if (v !== undefined && v !== '' && v !== false) out[name] = v as string | number | boolean; }
  if (q.subdivisions?.length) out.subdivision = regionList(q.subdivisions, 'subdivision').join(',');
  if (q.countries?.length) out.country = regionList(q.countries, 'country').join(',');
  return out;
}

function summarise(rows: readonly InteractionRow[], verdicts: readonly VerdictRow[]): AccountUsage[] {
  const by = new Map<string, AccountUsage & { ipSet: Set<string>; cSet: Set<string>; sSet: Set<string>; aSet: Set<number>; clusters: Set<string> }>();
  for (const r of rows) {
    const key = r.account_id ?? '(none)';
    let u = by.get(key);
    if (!u) {
      u = {
        account_id: r.account_id, org_id: r.org_id, requests: 0, refused: 0, errors: 0, input_tokens: 0,
        cached_input_tokens: 0, cache_write_tokens: 0, cache_unrecorded: 0, output_tokens: 0, reasoning_tokens: 0,
        models: {}, ips: [], countries: [], subdivisions: [], subdivision_unrecorded: 0, asns: [], first_ts: r.ts, last_ts: r.ts, latest_verdict: null, verdict_in_force: null,
        ipSet: new Set(), cSet: new Set(), sSet: new Set(), aSet: new Set(), clusters: new Set(),
      };
      by.set(key, u);
    }
    u.requests++;
    const outcome = statusOutcome(r.status);
    if (outcome === 'refused') u.refused++;
    else if (outcome === 'error') u.errors++;
    if (!u.verdict_in_force || r.ts >= u.verdict_in_force.ts) u.verdict_in_force = { level: r.verdict_in_force ?? 'none', ts: r.ts, subject: null, source: null };
    u.input_tokens += r.input_tokens;
    if (r.cached_input_tokens === null || r.cache_write_tokens === null) u.cache_unrecorded++;
    u.cached_input_tokens += r.cached_input_tokens ?? 0;
    u.cache_write_tokens += r.cache_write_tokens ?? 0;
    u.output_tokens += r.output_tokens;
    u.reasoning_tokens += r.reasoning_tokens;
    tally(u.models, r.model);
    if (r.client_ip) u.ipSet.add(r.client_ip);
    if (r.country) u.cSet.add(r.country);
    if (r.subdivision) u.sSet.add(r.subdivision);
    if (!r.region_recorded) u.subdivision_unrecorded++;
    if (r.asn !== null) u.aSet.add(r.asn);
    if (r.cluster_id) u.clusters.add(r.cluster_id);
    if (r.ts < u.first_ts) u.first_ts = r.ts;
    if (r.ts > u.last_ts) u.last_ts = r.ts;
  }
  const out: AccountUsage[] = [];
  for (const u of by.values()) {
    const about = verdicts.filter((v) => v.subject_id === u.account_id || u.clusters.has(v.subject_id) || (v.subject_kind === 'org' && v.subject_id === u.org_id) || (u.account_id !== null && v.accounts.includes(u.account_id)));
    const last = about.at(-1);
    const inForce = u.verdict_in_force;
    if (inForce) {
      const atLevel = (rows: readonly VerdictRow[]) => {
        const latestPer = new Map<string, VerdictRow>();
        for (const v of rows) latestPer.set(`${v.subject_kind}:${v.subject_id}`, v);
        return [...latestPer.values()].filter((v) => v.level === inForce.level)
          .sort((a, b) => Number(b.source === 'operator') - Number(a.source === 'operator') || (a.ts < b.ts ? 1 : -1))[0];
      };
      // Those logged by the time of the last interaction; else any (events replayed into a ledger carry older times).
      const at = atLevel(about.filter((v) => v.ts <= inForce.ts)) ?? atLevel(about);
      if (at) { inForce.subject = `${at.subject_kind}:${at.subject_id}`; inForce.source = at.source; }
    }
    const { ipSet, cSet, sSet, aSet, clusters: _c, ...rest } = u;
    out.push({
      ...rest,
      ips: [...ipSet].sort(), countries: [...cSet].sort(), subdivisions: [...sSet].sort(), asns: [...aSet].sort((a, b) => a - b),
      latest_verdict: last ? { level: last.level, ts: last.ts, subject: `${last.subject_kind}:${last.subject_id}`, reasons: last.reasons } : null,
    });
  }
  return out.sort((a, b) => b.requests - a.requests);
}

const CSV_COLUMNS: (keyof InteractionRow)[] = [
  'index', 'id', 'ts', 'account_id', 'org_id', 'key_id', 'cluster_id', 'model', 'flavour', 'status', 'input_tokens', 'cached_input_tokens',
  'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'service_tier', 'service_tier_recorded', 'tool_calls', 'client_ip', 'country', 'subdivision', 'subdivision_data', 'claimed_subdivision', 'region_recorded', 'asn', 'user_agent', 'verdict_in_force', 'shaping', 'error_code', 'policy', 'erased',
];

/**
 * RFC 4180 field: quoted when it holds a comma, quote or newline; formula-looking cells are
 * prefixed. `terminal`: the text is shown inert (control and bidirectional-control characters as
 * escapes, so a line break is `\n` and no row is forged), for a person reading it on a terminal.
 */
export function csvField(v: unknown, terminal = false): string {
  if (v === null || v === undefined) return '';
  let s = Array.isArray(v) ? v.join(';') : typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (terminal) s = printable(s);
  // Spreadsheet formula injection: text that starts with = + - @ is neutralised, "-2+3+cmd|..."
  // too. Numbers come from numeric columns and are written as they are.
  if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

/**
 * Export a query's result. `csv`: one row per interaction (header first), then verdict rows in a
 * second section; `jsonl`: one object per line with a `type` of interaction, verdict or usage.
 * Model names and user agents are the clients' text: JSONL writes the characters JSON leaves raw
 * (C1 controls, bidirectional controls) as `\u` escapes, which read back the same; CSV keeps the
 * values exact for a spreadsheet, unless `terminal` (a person reads it): then they show as escapes.
 */
export async function exportQuery(result: QueryResult, format: 'csv' | 'jsonl', out: Writable, opts: { terminal?: boolean } = {}): Promise<void> {
  if (format === 'jsonl') {
    const line = (o: unknown) => write(out, printableJson(JSON.stringify(o)) + '\n');
    const { schema, query, tree_size, checkpoint, truncated, usage_scope, regions } = result;
    await line({ type: 'query', schema, query, tree_size, checkpoint, truncated, usage_scope, ...(regions ? { regions } : {}) });
    for (const r of result.interactions) await line({ type: 'interaction', ...r });
    for (const v of result.verdicts) await line({ type: 'verdict', ...v });
    for (const st of result.settings) await line({ type: 'settings', ...st });
    for (const u of result.usage) await line({ type: 'usage', scope: result.usage_scope, ...u });
    return;
  }
  const field = (v: unknown) => csvField(v, opts.terminal === true);
  await write(out, CSV_COLUMNS.join(',') + '\n');
  for (const r of result.interactions) await write(out, CSV_COLUMNS.map((c) => field(r[c])).join(',') + '\n');
  if (result.verdicts.length) {
    const cols: (keyof VerdictRow)[] = ['index', 'id', 'ts', 'subject_kind', 'subject_id', 'level', 'score', 'source', 'since', 'campaign_id', 'accounts', 'reasons', 'settings_digest'];
    await write(out, '\n' + cols.join(',') + '\n');
    for (const v of result.verdicts) await write(out, cols.map((c) => field(v[c])).join(',') + '\n');
  }
  if (result.settings.length) {
    const cols: (keyof SettingsRow)[] = ['index', 'id', 'ts', 'component', 'digest', 'changed', 'verdicts', 'settings'];
    await write(out, '\n' + cols.join(',') + '\n');
    for (const st of result.settings) await write(out, cols.map((c) => field(st[c])).join(',') + '\n');
  }
}
