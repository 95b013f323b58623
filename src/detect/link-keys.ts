/**
 * The index of link keys (a link type times 2^32 plus a value's hash: a card, an address, a
 * system prompt...): per key a slot, and per slot its population and the accounts that represent
 * it when a new holder looks for whom it shares the key with. The index keeps a few holders per
 * key, not every holder, so its memory grows with the distinct keys only: the first and latest
 * holder, a member of a flagged cluster (a third representative, see DetectorEngine.markFlaggedKeys)
 * and, for a system prompt, an unaccountable holder (the fleet's representative, FLEET_WEIGHT).
 *
 * The field names are those a snapshot stores (the engine's snapshotState lists them in place).
 */
import { OWN_SOFTWARE_MIN_SHARE, POPULATION_COMMON_ESTABLISHED, POPULATION_COMMON_SHARE } from './linking.ts';

export class LinkKeyIndex {
  keyIndex = new Map<number, number>();
  /** Key slots handed out; slots of keys no account holds any more are reused first. */
  keySlots = 0;
  freeKeySlots: number[] = [];
  /** Accounts in memory holding each key (keyCount also counts forgotten ones: a key's popularity). */
  keyLive = new Int32Array(1024);
  keyFirst = new Int32Array(1024);
  keyLast = new Int32Array(1024);
  keyCount = new Int32Array(1024);
  /** Per key, a member of a cluster at throttle or above that holds it (-1: none): a third representative. */
  keyFlagged = new Int32Array(1024).fill(-1);
  /** Holders of each key that have been members of a flagged cluster (see OWN_SOFTWARE_MIN_SHARE). */
  keyFlaggedHolders = new Int32Array(1024);
  /** Holders of each system-prompt key that were accountable when they registered it (see FLEET_WEIGHT). */
  keyAccountable = new Int32Array(1024);
  /** Per system-prompt key, an unaccountable holder (-1: none), one that harvests once any does: the fleet's representative. */
  keyFleetRep = new Int32Array(1024).fill(-1);

  /** Account i now holds `key` (a new one for it): the key's slot, made when the key is new, with i as its latest holder. */
  register(key: number, i: number): number {
    let slot = this.keyIndex.get(key);
    if (slot === undefined) {
      slot = this.freeKeySlots.length > 0 ? this.freeKeySlots.pop()! : this.keySlots++;
      if (slot >= this.keyFirst.length) {
        const grow = (a: Int32Array) => { const b = new Int32Array(a.length * 2); b.set(a); return b; };
        this.keyFirst = grow(this.keyFirst); this.keyLast = grow(this.keyLast); this.keyCount = grow(this.keyCount);
        this.keyLive = grow(this.keyLive); this.keyAccountable = grow(this.keyAccountable); this.keyFlaggedHolders = grow(this.keyFlaggedHolders);
        const growReps = (a: Int32Array) => { const b = new Int32Array(a.length * 2).fill(-1); b.set(a); return b; };
        this.keyFlagged = growReps(this.keyFlagged); this.keyFleetRep = growReps(this.keyFleetRep);
      }
      // `| 0`: stored as a small integer whichever way the optimiser held it, so a snapshot's bytes
      // (v8 writes a boxed number as a double) do not depend on when this method was optimised.
      this.keyIndex.set(key, slot | 0);
      this.keyFirst[slot] = i; this.keyLast[slot] = i; this.keyCount[slot] = 1; this.keyLive[slot] = 1;
      this.keyAccountable[slot] = 0; this.keyFlagged[slot] = -1; this.keyFleetRep[slot] = -1; this.keyFlaggedHolders[slot] = 0;
    } else {
      // The first holder may have been forgotten (see release).
      if (this.keyFirst[slot] < 0) this.keyFirst[slot] = i;
      this.keyLast[slot] = i;
      this.keyCount[slot]++;
      this.keyLive[slot]++;
    }
    return slot;
  }

  /** Account i no longer holds `key`: its population drops, and another holder represents it. */
  release(i: number, key: number): void {
    const slot = this.keyIndex.get(key);
    if (slot === undefined) return;
    if (--this.keyLive[slot] <= 0) {
      this.keyIndex.delete(key);
      this.freeKeySlots.push(slot);
      return;
    }
    if (this.keyFirst[slot] === i) this.keyFirst[slot] = this.keyLast[slot] === i ? -1 : this.keyLast[slot];
    if (this.keyLast[slot] === i) this.keyLast[slot] = this.keyFirst[slot];
    if (this.keyFlagged[slot] === i) this.keyFlagged[slot] = -1;
    if (this.keyFleetRep[slot] === i) this.keyFleetRep[slot] = -1;
  }

  /** Whether a key is held by many established customers or by a large share of all `accounts` (POPULATION_COMMON_ESTABLISHED). */
  populationCommon(slot: number, accounts: number): boolean {
    return this.keyAccountable[slot] >= POPULATION_COMMON_ESTABLISHED || this.keyCount[slot] >= POPULATION_COMMON_SHARE * accounts;
  }

  /** Whether the key in `slot`, held by a member of a flagged cluster of `clusterSize` accounts, is that campaign's own software (OWN_SOFTWARE_MIN_SHARE). */
  ownSoftware(slot: number, clusterSize: number): boolean {
    const n = this.keyFlaggedHolders[slot];
    return n >= 2 && n >= OWN_SOFTWARE_MIN_SHARE * clusterSize;
  }
}
