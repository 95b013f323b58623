/**
 * Peer volumes: the distribution of windowed request counts per peer group (verification tier),
 * as a log-binned histogram that each account re-enters whenever it is scored. It answers "what
 * is a typical volume for accounts like this one" in constant memory, whatever the population.
 */

/** Bins per doubling of volume (quarter-octave resolution: medians within ~19%). */
const PER_OCTAVE = 4;
const BINS = 96; // up to 2^24 windowed requests
/** Below this many accounts in a group there is no meaningful median. */
export const MIN_PEERS = 50;

export class PeerVolumes {
  private readonly hist: Uint32Array;
  private readonly totals: Uint32Array;

  constructor(readonly groups: number) {
    this.hist = new Uint32Array(groups * BINS);
    this.totals = new Uint32Array(groups);
  }

  /** The bin of a windowed request count. */
  static bin(n: number): number {
    if (n <= 1) return 0;
    return Math.min(BINS - 1, Math.floor(Math.log2(n) * PER_OCTAVE));
  }

  /** Move one account of `group` from bin `from` (-1: not counted yet) to bin `to`. */
  move(group: number, from: number, to: number): void {
    if (from === to) return;
    const base = group * BINS;
    if (from >= 0) this.hist[base + from]--; else this.totals[group]++;
    this.hist[base + to]++;
  }

  /** Take one account of `group` out of bin `from` (-1: it was never counted). */
  remove(group: number, from: number): void {
    if (from < 0) return;
    this.hist[group * BINS + from]--;
    this.totals[group]--;
  }

  /** Median windowed requests of a group (geometric centre of its bin), or 0 with too few peers. */
  median(group: number): number {
    const total = this.totals[group];
    if (total < MIN_PEERS) return 0;
    const base = group * BINS;
    let seen = 0;
    for (let b = 0; b < BINS; b++) {
      seen += this.hist[base + b];
      if (seen * 2 >= total) return b === 0 ? 1 : 2 ** ((b + 0.5) / PER_OCTAVE);
    }
    return 0;
  }

  /** Median over every group together. */
  medianAll(): number {
    let total = 0;
    for (let g = 0; g < this.groups; g++) total += this.totals[g];
    if (total < MIN_PEERS) return 0;
    let seen = 0;
    for (let b = 0; b < BINS; b++) {
      for (let g = 0; g < this.groups; g++) seen += this.hist[g * BINS + b];
      if (seen * 2 >= total) return b === 0 ? 1 : 2 ** ((b + 0.5) / PER_OCTAVE);
    }
    return 0;
  }
}
