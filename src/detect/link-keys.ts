/**
 * The index of link keys (a link type times 2^32 plus a value's hash: a card, an address, a
 * system prompt...): per key a slot, and per slot its population and the accounts that represent
 * it when a new holder looks for whom it shares the key with. The index keeps a few holders per
 * key, not every holder, so its memory grows with the distinct keys only: the first and latest
 * holder, a member of a flagged cluster (a third representative, see DetectorEngine.markFlaggedKeys)
 * and, for a system prompt, an unaccountable holder (the fleet's representative, FLEET_WEIGHT).
 *
 * The field names are those a snapshot stores (the engine's snapshotState lists them in place, with
 * the key index as one map: snapshotFields).
 */
import { NLINK, OWN_SOFTWARE_HOLDER_SHARE, OWN_SOFTWARE_MIN_SHARE, POPULATION_COMMON_ESTABLISHED, POPULATION_COMMON_SHARE, TWO32 } from './linking.ts';

/** The capacity after `cap` for at least `min` entries: half as many again (at least 1024 more). */
export function grownCapacity(cap: number, min: number): number {
  let next = cap;
  while (next < min) next += Math.max(1024, next >>> 1);
  return next;
}

export class LinkKeyIndex {
  /**
   * Per link type, its keys' slots by hash `| 0`: a small integer, which a Map finds several times
   * faster than the key itself (type * 2^32 + hash, a boxed double). A snapshot stores them as one
   * map by key, `keyIndex`, in the order the keys were indexed (see snapshotFields).
   */
  readonly #slotsByType: Map<number, number>[] = Array.from({ length: NLINK }, () => new Map<number, number>());
  /** Per slot, when its key was indexed (a count), so a snapshot lists the keys in that order. */
  #indexedAt = new Float64Array(1024);
  #indexed = 0;
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
    const type = Math.floor(key / TWO32);
    const byHash = this.#slotsByType[type];
    const hash = (key - type * TWO32) | 0;
    let slot = byHash.get(hash);
    if (slot === undefined) {
      slot = this.freeKeySlots.length > 0 ? this.freeKeySlots.pop()! : this.keySlots++;
      if (slot >= this.keyFirst.length) {
        // Grown by half (not doubled): eight columns of 4 bytes a key, with millions of keys at a
        // million accounts; doubling left up to half of them unused (on average a quarter).
        const cap = grownCapacity(this.keyFirst.length, slot + 1);
        const grow = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
        this.keyFirst = grow(this.keyFirst); this.keyLast = grow(this.keyLast); this.keyCount = grow(this.keyCount);
        this.keyLive = grow(this.keyLive); this.keyAccountable = grow(this.keyAccountable); this.keyFlaggedHolders = grow(this.keyFlaggedHolders);
        const growReps = (a: Int32Array) => { const b = new Int32Array(cap).fill(-1); b.set(a); return b; };
        this.keyFlagged = growReps(this.keyFlagged); this.keyFleetRep = growReps(this.keyFleetRep);
      }
      if (slot >= this.#indexedAt.length) { const b = new Float64Array(grownCapacity(this.#indexedAt.length, slot + 1)); b.set(this.#indexedAt); this.#indexedAt = b; }
      // `| 0`: stored as a small integer whichever way the optimiser held it, so a snapshot's bytes
      // (v8 writes a boxed number as a double) do not depend on when this method was optimised.
      byHash.set(hash, slot | 0);
      this.#indexedAt[slot] = this.#indexed++;
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
    const type = Math.floor(key / TWO32);
    const hash = (key - type * TWO32) | 0;
    const slot = this.#slotsByType[type].get(hash);
    if (slot === undefined) return;
    if (--this.keyLive[slot] <= 0) {
      this.#slotsByType[type].delete(hash);
      this.freeKeySlots.push(slot);
      return;
    }
    if (this.keyFirst[slot] === i) this.keyFirst[slot] = this.keyLast[slot] === i ? -1 : this.keyLast[slot];
    if (this.keyLast[slot] === i) this.keyLast[slot] = this.keyFirst[slot];
    if (this.keyFlagged[slot] === i) this.keyFlagged[slot] = -1;
    if (this.keyFleetRep[slot] === i) this.keyFleetRep[slot] = -1;
  }

  /** The slot of `key` (a link type times 2^32 plus a hash), when an account in memory holds it. */
  slotOf(key: number): number | undefined {
    const type = Math.floor(key / TWO32);
    return this.#slotsByType[type].get((key - type * TWO32) | 0);
  }

  /** Distinct keys held by accounts in memory. */
  get size(): number {
    let n = 0;
    for (const m of this.#slotsByType) n += m.size;
    return n;
  }

  /**
   * The fields a snapshot stores, in order: `keyIndex` (each key, type * 2^32 + its unsigned hash,
   * to its slot, in the order the keys were indexed) and then the per-slot columns.
   */
  snapshotFields(): Record<string, unknown> {
    const entries: [number, number][] = [];
    this.#slotsByType.forEach((byHash, type) => { for (const [hash, slot] of byHash) entries.push([type * TWO32 + (hash >>> 0), slot]); });
    entries.sort((a, b) => this.#indexedAt[a[1]] - this.#indexedAt[b[1]]);
    return { keyIndex: new Map(entries), ...(this as object) };
  }

  /** Take back one field of snapshotFields(). */
  restoreField(name: string, value: unknown): void {
    if (name !== 'keyIndex') { (this as unknown as Record<string, unknown>)[name] = value; return; }
    for (const byHash of this.#slotsByType) byHash.clear();
    this.#indexed = 0;
    for (const [key, slot] of value as Map<number, number>) {
      const type = Math.floor(key / TWO32);
      if (slot >= this.#indexedAt.length) { const b = new Float64Array(grownCapacity(this.#indexedAt.length, slot + 1)); b.set(this.#indexedAt); this.#indexedAt = b; }
      this.#slotsByType[type].set((key - type * TWO32) | 0, slot | 0);
      this.#indexedAt[slot] = this.#indexed++;
    }
  }

  /** Whether a key is held by many established customers or by a large share of all `accounts` (POPULATION_COMMON_ESTABLISHED). */
  populationCommon(slot: number, accounts: number): boolean {
    return this.keyAccountable[slot] >= POPULATION_COMMON_ESTABLISHED || this.keyCount[slot] >= POPULATION_COMMON_SHARE * accounts;
  }

  /**
   * Whether the key in `slot`, held by a member of a flagged cluster of `clusterSize` accounts, is
   * that campaign's own software: held by enough of the cluster (OWN_SOFTWARE_MIN_SHARE) and mostly
   * by flagged accounts (OWN_SOFTWARE_HOLDER_SHARE of its holders), not an application many others run.
   */
  ownSoftware(slot: number, clusterSize: number): boolean {
    const n = this.keyFlaggedHolders[slot];
    return n >= 2 && n >= OWN_SOFTWARE_MIN_SHARE * clusterSize && n >= OWN_SOFTWARE_HOLDER_SHARE * this.keyCount[slot];
  }
}
