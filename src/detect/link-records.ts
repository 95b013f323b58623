/**
 * Per linked account, the link that brought it into its cluster (see AccountLink), kept in
 * columns of record slots: objects per record cost about 0.85 KB of heap each and lengthened the
 * snapshot's pause. Per account the slot of its record, then per slot the event time, the rule,
 * the other side's id (a string the cluster or account holds anyway), the software counted and
 * the total, and the heaviest LINK_RECORD_EVIDENCE kinds of evidence (type + 1, 0 for none) with
 * their weights. The AccountLink object is built only when asked for (read).
 *
 * The field names are those a snapshot stores (the engine's snapshotState lists them in place).
 */
import { round } from './scoring.ts';
import { LINK_TYPES, LT, NLINK } from './linking.ts';
import type { AccountLink } from './engine-types.ts';

const LINK_RULES: Array<AccountLink['rule']> = ['shared_evidence', 'replacement_head', 'fleet_software', 'declared_org'];
/** Kinds of evidence a link record keeps (the heaviest): a link rarely rests on more. */
const LINK_RECORD_EVIDENCE = 6;

export class LinkRecords {
  linkSlot = new Map<number, number>();
  linkFree: number[] = [];
  linkSlots = 0;
  linkAt = new Float64Array(64);
  linkRule = new Uint8Array(64);
  linkWith: string[] = [];
  linkSums = new Float32Array(64 * 2);
  linkKinds = new Uint8Array(64 * LINK_RECORD_EVIDENCE);
  linkWeights = new Float32Array(64 * LINK_RECORD_EVIDENCE);

  /** Record account j's link to `other` (a cluster or account id): evidence per link type, the rule, the software counted and the total. */
  write(j: number, other: string, ev: Float64Array, rule: AccountLink['rule'], software: number, total: number, tsS: number): void {
    let slot = this.linkSlot.get(j);
    if (slot === undefined) {
      slot = this.linkFree.length > 0 ? this.linkFree.pop()! : this.linkSlots++;
      if (slot >= this.linkAt.length) {
        const grow = <T extends Float64Array | Float32Array | Uint8Array>(x: T, per: number): T => {
          const y = new (x.constructor as new (n: number) => T)(x.length * 2);
          y.set(x);
          return y.length >= (slot! + 1) * per ? y : grow(y, per);
        };
        this.linkAt = grow(this.linkAt, 1); this.linkRule = grow(this.linkRule, 1); this.linkSums = grow(this.linkSums, 2);
        this.linkKinds = grow(this.linkKinds, LINK_RECORD_EVIDENCE); this.linkWeights = grow(this.linkWeights, LINK_RECORD_EVIDENCE);
      }
      this.linkSlot.set(j, slot);
    }
    this.linkAt[slot] = tsS;
    this.linkRule[slot] = LINK_RULES.indexOf(rule);
    this.linkWith[slot] = other;
    this.linkSums[slot * 2] = software; this.linkSums[slot * 2 + 1] = total;
    // The heaviest kinds, by insertion into a short sorted list.
    const base = slot * LINK_RECORD_EVIDENCE;
    this.linkKinds.fill(0, base, base + LINK_RECORD_EVIDENCE);
    this.linkWeights.fill(0, base, base + LINK_RECORD_EVIDENCE);
    for (let t = 0; t < NLINK; t++) {
      if (ev[t] <= 0 || t === LT.org) continue;
      let k = LINK_RECORD_EVIDENCE - 1;
      if (this.linkKinds[base + k] !== 0 && this.linkWeights[base + k] >= ev[t]) continue;
      while (k > 0 && (this.linkKinds[base + k - 1] === 0 || this.linkWeights[base + k - 1] < ev[t])) {
        this.linkKinds[base + k] = this.linkKinds[base + k - 1]; this.linkWeights[base + k] = this.linkWeights[base + k - 1]; k--;
      }
      this.linkKinds[base + k] = t + 1; this.linkWeights[base + k] = ev[t];
    }
  }

  /** Drop account j's link record (its account is forgotten). */
  drop(j: number): void {
    const slot = this.linkSlot.get(j);
    if (slot === undefined) return;
    this.linkSlot.delete(j);
    this.linkWith[slot] = '';
    this.linkFree.push(slot);
  }

  /** Account j's link as reported (threshold: the link threshold in force), or null when it has none. */
  read(j: number, threshold: number): AccountLink | null {
    const slot = this.linkSlot.get(j);
    if (slot === undefined) return null;
    const evidence: AccountLink['evidence'] = [];
    for (let k = 0; k < LINK_RECORD_EVIDENCE; k++) {
      const t = this.linkKinds[slot * LINK_RECORD_EVIDENCE + k];
      if (t === 0) break;
      evidence.push({ kind: LINK_TYPES[t - 1].name, weight: round(this.linkWeights[slot * LINK_RECORD_EVIDENCE + k]) });
    }
    return {
      at: new Date(this.linkAt[slot] * 1000).toISOString(), with: this.linkWith[slot], rule: LINK_RULES[this.linkRule[slot]], evidence,
      software_counted: round(this.linkSums[slot * 2]), total: round(this.linkSums[slot * 2 + 1]), threshold,
    };
  }
}
