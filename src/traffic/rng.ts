/**
 * Seeded, splittable pseudo-random numbers for the traffic model. Same seed => same stream on
 * every platform (32-bit integer arithmetic only). Each account/lane derives its own stream from
 * the scenario seed and a stable name, so changing one campaign's knobs does not reshuffle the
 * rest of the population.
 */

/** 32-bit FNV-1a over a string, then avalanche-mixed. */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** Murmur3 finaliser: a good 32-bit mixer. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Counter-based uniform in [0,1) from integers: stateless randomness (e.g. shared wave schedules). */
export function hashUniform(a: number, b: number, c = 0): number {
  const h = fmix32((Math.imul(a | 0, 0x9e3779b1) ^ fmix32((b | 0) + 0x7f4a7c15) ^ Math.imul(c | 0, 0x85ebca77)) >>> 0);
  return h / 4294967296;
}

/** sfc32: small, fast, passes PractRand; 128-bit state. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number | string, ...path: (string | number)[]) {
    let h = typeof seed === 'number' ? fmix32(seed >>> 0 ^ 0x5bd1e995) : hashString(seed);
    for (const p of path) h = hashString(String(p), h);
    this.a = h;
    this.b = fmix32(h ^ 0x9e3779b9);
    this.c = fmix32(h ^ 0x243f6a88);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A child stream derived from this stream's current state and `path` (does not advance this stream). */
  fork(...path: (string | number)[]): Rng {
    const r = new Rng(this.a ^ this.c, ...path);
    return r;
  }

  u32(): number {
    const a = this.a, b = this.b, c = this.c, d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    const cr = (c << 21) | (c >>> 11);
    this.c = (cr + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi] inclusive. */
  intIn(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(arr: readonly T[]): T {
    return arr[Math.floor(this.next() * arr.length)];
  }

  /** Pick a key of a weight map (weights need not sum to 1; zero weights never chosen). */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    let total = 0;
    for (const k in weights) total += Math.max(0, weights[k]);
    let x = this.next() * total;
    let last: K | null = null;
    for (const k in weights) {
      const w = Math.max(0, weights[k]);
      if (w <= 0) continue;
      last = k;
      if (x < w) return k;
      x -= w;
    }
    if (last === null) throw new Error('weighted(): all weights are zero');
    return last;
  }

  /** Standard normal (Box-Muller, caching the spare). */
  normal(): number {
    if (this.spare !== null) { const s = this.spare; this.spare = null; return s; }
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median and log-space sigma. */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** Exponential with the given mean. */
  exp(mean: number): number {
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    return -Math.log(u) * mean;
  }

  /** Pareto (heavy tail): minimum xm, shape alpha; capped at `cap`. */
  pareto(xm: number, alpha: number, cap = Infinity): number {
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    return Math.min(cap, xm / Math.pow(u, 1 / alpha));
  }

  /** Geometric number of trials >= 1 with the given mean. */
  geometric(mean: number): number {
    if (mean <= 1) return 1;
    const p = 1 / mean;
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    return 1 + Math.floor(Math.log(u) / Math.log(1 - p));
  }

  /** Lower-case hex string of n characters. */
  hex(n: number): string {
    let s = '';
    while (s.length < n) s += this.u32().toString(16).padStart(8, '0');
    return s.slice(0, n);
  }

  /** Crockford base32 string of n characters. */
  base32(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += CROCKFORD[this.u32() & 31];
    return s;
  }
}

export const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID for simulated time, with the random part drawn from a seeded stream (reproducible). */
export function seededUlid(ms: number, rng: Rng): string {
  let t = Math.floor(ms);
  const chars = new Array<string>(10);
  for (let i = 9; i >= 0; i--) { chars[i] = CROCKFORD[t % 32]; t = Math.floor(t / 32); }
  return chars.join('') + rng.base32(16);
}
