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
import type { ClusterMerge } from '../detect/engine.ts';
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

/** A verdict sink for the detector: records each verdict (and the accounts a cluster verdict covers). */
export function ledgerVerdictSink(ledger: Ledger, onError?: (err: unknown) => void): VerdictListener {
  return (verdict, accounts) => {
    ledger.appendVerdict(verdict, { accounts }).catch((err) => onError?.(err));
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
export function ledgerMergeSink(ledger: Ledger, onError?: (err: unknown) => void): (m: ClusterMerge) => void {
  return (m) => {
    if (m.level === 'none') return;
    const verdict: Verdict = {
      subject: { kind: 'cluster', id: m.cluster }, level: m.level, score: null, source: 'detector', since: m.at, campaign_id: m.campaign_id,
      reasons: [{
        signal: 'clusters_merged', value: m.merged, threshold: null,
        detail: `cluster ${m.merged}${m.merged_campaign_id ? ` (campaign ${m.merged_campaign_id})` : ''} merged into ${m.cluster}${m.campaign_id ? ` (campaign ${m.campaign_id})` : ''}: ${m.accounts.length} accounts now`,
      }],
    };
    ledger.appendVerdict(verdict, { accounts: m.accounts }).catch((err) => onError?.(err));
  };
}
