/**
 * How the ledger plugs into the gateway: an `onEvent` hook that queues each finished interaction
 * (O(1) on the request path; leaves are built and committed by the ledger's writer thread), and
 * a sink the detector calls with each verdict it reaches. An interaction that cannot be queued
 * (queue full, writer down) is counted in `ledger.stats.dropped` / warden_ledger_dropped_total
 * and reported to the ledger's onError; the request itself is never failed by the ledger.
 */
import type { Registry } from 'prom-client';
import type { GatewayHooks } from '../gateway/lifecycle.ts';
import type { Verdict, VerdictListener, VerdictView } from '../detect/verdict.ts';
import { MERGED_AWAY_MAX, type AllowListChange, type ClusterMerge } from '../detect/engine.ts';
import type { Ledger } from './ledger.ts';
import { registerLedgerMetrics } from './metrics.ts';

export interface LedgerHookOptions {
  /** Used to stamp each interaction with the account's cluster id at record time. */
  verdicts?: VerdictView;
  /** Close the ledger (final commit and checkpoint) when the gateway shuts down. Default true. */
  closeOnShutdown?: boolean;
  /** Register the ledger's metrics (warden_ledger_*) on this registry. */
  registry?: Registry;
}

/** Gateway hooks that record every interaction in the ledger. */
export function ledgerHooks(ledger: Ledger, opts: LedgerHookOptions = {}): GatewayHooks {
  if (opts.registry) registerLedgerMetrics(ledger, opts.registry);
  return {
    name: 'ledger',
    onEvent(event) {
      let clusterId: string | null = null;
      try {
        if (event.account_id && opts.verdicts) clusterId = opts.verdicts.forAccount(event.account_id).clusterId;
      } catch { clusterId = null; }
      ledger.submitInteraction(event, { clusterId });
    },
    async close() {
      if (opts.closeOnShutdown !== false) await ledger.close();
      else await ledger.flush();
    },
  };
}

/** Where the clusters merged into a cluster are remembered (the detector engine: `mergedFrom`). */
export interface ClusterMergeHistory {
  /**
   * The cluster (and campaign) ids merged into `clusterId`, followed through earlier merges (for
   * an id merged away since, those merged into it before).
   */
  mergedFrom(clusterId: string): string[];
}

/**
 * Record that `ids` are on record for a cluster. The set is bounded as the detector's memory of
 * merges is (MERGED_AWAY_MAX, oldest forgotten first): an id it forgot could not be named again.
 */
function noteMerged(rec: ClusterRecord, ids: readonly string[]): void {
  for (const id of ids) {
    rec.merged.delete(id);
    rec.merged.add(id);
  }
  while (rec.merged.size > MERGED_AWAY_MAX) rec.merged.delete(rec.merged.values().next().value!);
}

/**
 * What this process recorded about each cluster, shared by the verdict and merge sinks of one
 * ledger: whether the cluster is flagged as last recorded, and the merged-away ids already on
 * record for it (bounded: the clusters least recently touched are forgotten first; forgetting one
 * only means its history may be recorded once more).
 */
interface ClusterRecord { flagged: boolean; merged: Set<string> }
const CLUSTER_RECORDS_MAX = 20_000;
const HISTORY_PER_ENTRY = 200;
const clusterRecords = new WeakMap<Ledger, Map<string, ClusterRecord>>();
function clusterRecord(ledger: Ledger, clusterId: string): ClusterRecord {
  let all = clusterRecords.get(ledger);
  if (!all) { all = new Map(); clusterRecords.set(ledger, all); }
  let r = all.get(clusterId);
  if (r) all.delete(clusterId);
  else r = { flagged: false, merged: new Set() };
  all.set(clusterId, r);
  if (all.size > CLUSTER_RECORDS_MAX) all.delete(all.keys().next().value!);
  return r;
}

/**
 * A verdict sink for the detector: records each verdict (and the accounts a cluster verdict covers).
 *
 * With `history` (the detector engine), a cluster verdict that flags a cluster (any level but
 * `none`, where the last one recorded here was `none` or there was none) is followed by one entry
 * naming the clusters merged into it so far that are not on record yet (`clusters_merged`, one
 * reason per merged-away id, at the verdict's level, with the same accounts). Merges into a
 * cluster nobody flagged are not recorded as they happen (organic clusters merge all the time and
 * are never flagged); this is when they come to matter, so the audit query by cluster follows them.
 */
export function ledgerVerdictSink(ledger: Ledger, onError?: (err: unknown) => void, history?: ClusterMergeHistory): VerdictListener {
  return (verdict, accounts) => {
    ledger.appendVerdict(verdict, { accounts }).catch((err) => onError?.(err));
    if (!history || verdict.subject.kind !== 'cluster') return;
    const cluster = verdict.subject.id;
    const rec = clusterRecord(ledger, cluster);
    const wasFlagged = rec.flagged;
    rec.flagged = verdict.level !== 'none';
    if (!rec.flagged || wasFlagged) return;
    let merged: string[];
    try { merged = history.mergedFrom(cluster).filter((id) => id !== cluster && !rec.merged.has(id)); } catch { return; }
    if (!merged.length) return;
    noteMerged(rec, merged);
    // A campaign built of many merges is named in entries of at most HISTORY_PER_ENTRY ids each (a leaf stays small).
    for (let i = 0; i < merged.length; i += HISTORY_PER_ENTRY) {
      const record: Verdict = {
        // The detector's memory of merges, whoever flagged the cluster (an operator's verdict keeps its own reasons).
        subject: { kind: 'cluster', id: cluster }, level: verdict.level, score: null, source: 'detector', since: verdict.since,
        campaign_id: verdict.campaign_id ?? null,
        reasons: merged.slice(i, i + HISTORY_PER_ENTRY).map((id) => ({
          signal: 'clusters_merged', value: id, threshold: null,
          detail: `${id} merged into ${cluster} before it was flagged`,
        })),
      };
      ledger.appendVerdict(record, { accounts }).catch((err) => onError?.(err));
    }
  };
}

/**
 * A sink for operators' allow-list changes (`engine.onAllowListChange`): each is an operator
 * entry on the account or organisation, as operator verdicts are, with the note or reason and the
 * operator as commitments. An account's entry carries the level in force on it after the change
 * (`none` once allow-listed); an organisation's is `none` (its accounts keep their own).
 */
export function ledgerAllowListSink(ledger: Ledger, onError?: (err: unknown) => void): (c: AllowListChange) => void {
  return (c) => {
    const added = c.action === 'added';
    ledger.appendVerdict({
      subject: c.subject, level: c.level ?? 'none', score: null, source: 'operator', since: c.at,
      ...(c.expires_at ? { expires_at: c.expires_at } : {}),
      reasons: [{
        signal: added ? 'operator_allow_list_added' : 'operator_allow_list_removed', value: `${c.subject.kind}:${c.subject.id}`, threshold: null,
        detail: c.note || (added ? 'allow-listed' : 'removed from the allow-list'), ...(c.by ? { by: c.by } : {}),
      }],
    }, c.accounts ? { accounts: c.accounts } : undefined).catch((err) => onError?.(err));
  };
}

/**
 * An onError for the ledger that reports to a log without flooding it under overload: the first
 * error of each code at once, then at most one line per code per interval, with the count of
 * errors not reported in between. Counts are also in `ledger.stats` (metrics).
 */
export function ledgerErrorLog(write: (line: string, meta: { level: 'error'; code: string }) => void, intervalMs = 10_000): (err: unknown) => void {
  const seen = new Map<string, { at: number; suppressed: number }>();
  return (err) => {
    const code = (err as { code?: unknown })?.code;
    const key = typeof code === 'string' ? code : 'LEDGER_ERROR';
    const now = Date.now();
    const s = seen.get(key);
    if (s && now - s.at < intervalMs) {
      s.suppressed++;
      return;
    }
    const more = s?.suppressed ? ` (and ${s.suppressed} more since the last report)` : '';
    seen.set(key, { at: now, suppressed: 0 });
    write(`ledger: ${key}: ${(err as Error)?.message ?? String(err)}${more}`, { level: 'error', code: key });
  };
}

/**
 * A merge sink for the detector: a flagged cluster that absorbs another is recorded as a verdict
 * on it at its level, naming the cluster merged away (`clusters_merged`) and every member it holds
 * now. So a query by cluster finds the accounts that came in by merges, and a merged-away id maps
 * to the cluster it went into.
 */
export function ledgerMergeSink(ledger: Ledger, onError?: (err: unknown) => void, history?: ClusterMergeHistory): (m: ClusterMerge) => void {
  return (m) => {
    if (m.level === 'none') return;
    const rec = clusterRecord(ledger, m.cluster);
    const wasFlagged = rec.flagged;
    rec.flagged = true;
    // The clusters that had merged into the one merged away (or into this one) while nobody had
    // flagged them, not on record yet, are named with it. Only what this merge brings is read (the
    // merged-away side's history), not the whole history again at every merge of a campaign; the
    // whole history only when this process has not recorded the cluster as flagged yet.
    const direct = m.merged_campaign_id ? [m.merged, m.merged_campaign_id] : [m.merged];
    let earlier: string[] = [];
    try {
      const brought = wasFlagged ? direct.flatMap((id) => history?.mergedFrom(id) ?? []) : history?.mergedFrom(m.cluster) ?? [];
      earlier = [...new Set(brought)].filter((id) => id !== m.cluster && !direct.includes(id) && !rec.merged.has(id));
    } catch { earlier = []; }
    noteMerged(rec, direct);
    noteMerged(rec, earlier);
    const earlierReasons = earlier.map((id) => ({
      signal: 'clusters_merged', value: id, threshold: null,
      detail: `${id} had merged into ${m.cluster} or ${m.merged} before either was flagged`,
    }));
    // The merge, with the first of the earlier ones; more of them (a campaign built of many merges) in entries of their own.
    for (let i = 0; i === 0 || i < earlierReasons.length; i += HISTORY_PER_ENTRY) {
      const verdict: Verdict = {
        subject: { kind: 'cluster', id: m.cluster }, level: m.level, score: null, source: 'detector', since: m.at, campaign_id: m.campaign_id,
        reasons: [...(i === 0 ? [{
          signal: 'clusters_merged', value: m.merged, threshold: null,
          detail: `cluster ${m.merged}${m.merged_campaign_id ? ` (campaign ${m.merged_campaign_id})` : ''} merged into ${m.cluster}${m.campaign_id ? ` (campaign ${m.campaign_id})` : ''}: ${m.accounts.length} accounts now`,
        }] : []), ...earlierReasons.slice(i, i + HISTORY_PER_ENTRY)],
      };
      ledger.appendVerdict(verdict, { accounts: m.accounts }).catch((err) => onError?.(err));
    }
  };
}
