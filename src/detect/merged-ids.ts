/**
 * Memory of merged-away cluster and campaign ids: those operators could have been handed
 * (clusters of two or more, campaigns) -> the id they merged into, oldest first, at most
 * MERGED_AWAY_MAX, so that an id in an alert or a case keeps resolving after its cluster merged.
 * In snapshots (the field names are those a snapshot stores); a replay rebuilds it.
 */

/** Merged-away cluster and campaign ids remembered. */
export const MERGED_AWAY_MAX = 20_000;

export class MergedIds {
  mergedAway = new Map<string, string>();
  /** mergedAway turned around: id -> the ids merged directly into it (so a history is read without scanning every merge). */
  mergedInto = new Map<string, Set<string>>();

  /** Remember a merged-away side's cluster and campaign ids (when they were visible) -> the surviving ones. */
  remember(cluster: string | null, campaign: string | null, intoCluster: string, intoCampaign: string | null): void {
    const forget = (from: string) => {
      const was = this.mergedAway.get(from);
      if (was === undefined) return;
      this.mergedAway.delete(from);
      const children = this.mergedInto.get(was);
      if (children) { children.delete(from); if (children.size === 0) this.mergedInto.delete(was); }
    };
    const put = (from: string, into: string) => {
      forget(from);
      this.mergedAway.set(from, into);
      let children = this.mergedInto.get(into);
      if (!children) { children = new Set(); this.mergedInto.set(into, children); }
      children.add(from);
      if (this.mergedAway.size > MERGED_AWAY_MAX) forget(this.mergedAway.keys().next().value!);
    };
    // A surviving id is live: it resolves to itself, whatever it was merged into before.
    forget(intoCluster);
    if (intoCampaign) forget(intoCampaign);
    if (cluster && cluster !== intoCluster) put(cluster, intoCluster);
    if (campaign && intoCampaign && campaign !== intoCampaign) put(campaign, intoCampaign);
  }

  /** The live id a merged-away id now names (followed through later merges), or null when `id` is live or unknown. */
  resolve(id: string): string | null {
    let at = id;
    for (let n = 0; n < 64; n++) {
      const next = this.mergedAway.get(at);
      if (next === undefined || next === at) break;
      at = next;
    }
    return at === id ? null : at;
  }

  /** Ids merged into `id` (directly or through earlier merges), read from the reverse index in time proportional to the history. */
  from(id: string): string[] {
    const out: string[] = [];
    const seen = new Set<string>([id]);
    const todo = [id];
    while (todo.length > 0) {
      for (const from of this.mergedInto.get(todo.pop()!) ?? []) {
        if (seen.has(from)) continue;
        seen.add(from);
        out.push(from);
        todo.push(from);
      }
    }
    return out;
  }
}
