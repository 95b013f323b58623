/**
 * How the ledger plugs into the gateway: an `onEvent` hook that queues each finished interaction
 * (O(1) on the request path; the commit happens in the ledger's group-commit writer), and a sink
 * the detector calls with each verdict it reaches.
 */
import type { GatewayHooks } from '../gateway/lifecycle.ts';
import type { Verdict, VerdictView } from '../detect/verdict.ts';
import type { Ledger } from './ledger.ts';

export interface LedgerHookOptions {
  /** Used to stamp each interaction with the account's cluster id at record time. */
  verdicts?: VerdictView;
  /** Close the ledger (final commit and checkpoint) when the gateway shuts down. Default true. */
  closeOnShutdown?: boolean;
}

/** Gateway hooks that record every interaction in the ledger. */
export function ledgerHooks(ledger: Ledger, opts: LedgerHookOptions = {}): GatewayHooks {
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

/** A verdict sink for the detector: records each verdict (and the cluster members it covers). */
export function ledgerVerdictSink(ledger: Ledger, onError?: (err: unknown) => void): (verdict: Verdict, accounts?: readonly string[]) => void {
  return (verdict, accounts) => {
    ledger.appendVerdict(verdict, { accounts }).catch((err) => onError?.(err));
  };
}
