/**
 * Operator verdicts the detector holds (set through the admin API or the CLI, put back from the
 * overrides store at start): per account, per cluster by the id they were set on, and the one in
 * force for each live cluster id once clusters that carried one merged (aliases). Wall-clock
 * expiry: operators set them in real time. Not in snapshots (they have their own store).
 */
import { verdictRank, type Verdict } from './verdict.ts';

export type OperatorSubject = { kind: 'account' | 'cluster'; id: string };

export class OperatorVerdicts {
  readonly account = new Map<string, Verdict>();
  /** Operator cluster verdicts by the id they were set on (a merged-away cluster's kept under its own). */
  readonly cluster = new Map<string, Verdict>();
  /** The operator cluster verdict in force for each live cluster id: the strictest carried (see rebuild). */
  live = new Map<string, Verdict>();
  /** Cluster ids that carried an operator verdict and merged away -> the cluster they merged into. */
  readonly alias = new Map<string, string>();
  /** Wall-clock ms at which the first operator verdict set for a time lapses (Infinity: none). */
  nextExpiry = Infinity;

  /** The live cluster an id names: itself, or the cluster it merged into (followed through later merges). */
  liveClusterId(id: string): string {
    for (let n = 0; n < 64; n++) {
      const next = this.alias.get(id);
      if (next === undefined || next === id) break;
      id = next;
    }
    return id;
  }

  /**
   * Recompute the operator cluster verdict in force for each live cluster: the strictest of those
   * set on it and on the clusters merged into it (a tie: the one set on it by name). Run on every
   * change of operator cluster verdicts or aliases (rare); the request path reads the result.
   */
  rebuild(): void {
    const live = new Map<string, Verdict>();
    for (const [id, v] of this.cluster) {
      const at = this.liveClusterId(id);
      const cur = live.get(at);
      const d = cur ? verdictRank(v.level) - verdictRank(cur.level) : 1;
      if (d > 0 || (d === 0 && id === at)) live.set(at, v);
    }
    this.live = live;
  }

  /** Keep verdict `v` on `subject` (replacing one there). */
  set(subject: OperatorSubject, v: Verdict): void {
    if (v.expires_at) {
      const ms = Date.parse(v.expires_at);
      if (ms < this.nextExpiry) this.nextExpiry = ms;
    }
    (subject.kind === 'account' ? this.account : this.cluster).set(subject.id, v);
    if (subject.kind === 'cluster') this.rebuild();
  }

  /** Remove the verdict on `subject`, returning it; `clusterHeld` tells a cluster id the engine holds. */
  remove(subject: OperatorSubject, clusterHeld: (id: string) => boolean): Verdict | undefined {
    const map = subject.kind === 'account' ? this.account : this.cluster;
    const had = map.get(subject.id);
    map.delete(subject.id);
    if (subject.kind === 'cluster') {
      this.rebuild();
      // An alias no verdict resolves through any more is dropped.
      if (!clusterHeld(subject.id) && ![...this.alias.values()].includes(subject.id)) this.alias.delete(subject.id);
    }
    return had;
  }

  /** Drop the verdicts whose time has run out, when one is due (a number compare otherwise: the request path calls this). */
  lapse(): void {
    if (this.nextExpiry === Infinity || this.nextExpiry > Date.now()) return;
    const now = Date.now();
    let next = Infinity;
    for (const map of [this.account, this.cluster]) {
      for (const [id, v] of map) {
        if (!v.expires_at) continue;
        const ms = Date.parse(v.expires_at);
        if (ms <= now) map.delete(id);
        else if (ms < next) next = ms;
      }
    }
    this.rebuild();
    this.nextExpiry = next;
  }
}
