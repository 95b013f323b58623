/**
 * IP address parsing and compact sorted range tables (IPv4 and IPv6) with binary search.
 * IPv4 addresses are numbers; IPv6 addresses are four 32-bit words, most significant first.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up as IPv4.
 */

export type ParsedIp = { v: 4; n: number } | { v: 6; w: Uint32Array };

/** Dotted-quad to a 32-bit number, or -1. Strict: four decimal parts 0..255, no leading '+', no spaces. */
export function parseIPv4(s: string, start = 0, end = s.length): number {
  let value = 0, part = 0, digits = 0, dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part; part = 0; digits = 0;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/** Colon-hex IPv6 (with `::`, optional embedded IPv4 tail, optional %zone) to four words, or null. */
export function parseIPv6(input: string, from = 0, to = input.length): Uint32Array | null {
  const groups = new Array<number>(8);
  let n = 0, gap = -1, value = 0, digits = 0;
  let i = from;
  for (let k = from; k < to; k++) if (input.charCodeAt(k) === 37 /* % */) { to = k; break; }
  if (to - from < 2 || to - from > 45) return null;
  if (input.charCodeAt(i) === 58) { // leading "::"
    if (input.charCodeAt(i + 1) !== 58) return null;
    gap = 0; i += 2;
    if (i === to) { const w = new Uint32Array(4); return w; }
  }
  for (; i < to; i++) {
    const c = input.charCodeAt(i);
    let d = -1;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    if (d >= 0) {
      if (++digits > 4) return null;
      value = value * 16 + d;
    } else if (c === 58) {
      if (digits === 0) return null;
      if (n >= 8) return null;
      groups[n++] = value; value = 0; digits = 0;
      if (input.charCodeAt(i + 1) === 58) {
        if (gap >= 0) return null;
        gap = n; i++;
        if (i + 1 === to) { digits = -1; break; }
      }
    } else if (c === 46) {
      // Embedded IPv4 tail: re-parse the last group's text as dotted quad.
      let j = i; while (j > from && input.charCodeAt(j - 1) !== 58) j--;
      const v4 = parseIPv4(input, j, to);
      if (v4 < 0 || n > 6) return null;
      groups[n++] = Math.floor(v4 / 65536); groups[n++] = v4 & 0xffff;
      digits = -1;
      break;
    } else return null;
  }
  if (digits > 0) { if (n >= 8) return null; groups[n++] = value; }
  else if (digits === 0) return null; // trailing single ":"
  if (gap >= 0) {
    if (n > 7) return null;
    const fill = 8 - n;
    for (let k = n - 1; k >= gap; k--) groups[k + fill] = groups[k];
    for (let k = gap; k < gap + fill; k++) groups[k] = 0;
  } else if (n !== 8) return null;
  const w = new Uint32Array(4);
  for (let k = 0; k < 4; k++) w[k] = ((groups[2 * k] << 16) | groups[2 * k + 1]) >>> 0;
  return w;
}

/** Parse an IPv4 or IPv6 address; IPv4-mapped IPv6 becomes IPv4. Null when not an address. */
export function parseIp(s: string): ParsedIp | null {
  if (s.includes(':')) {
    const w = parseIPv6(s);
    if (!w) return null;
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) return { v: 4, n: w[3] };
    return { v: 6, w };
  }
  const n = parseIPv4(s);
  return n < 0 ? null : { v: 4, n };
}

/** A 128-bit decimal string to four words (the *-ipv6-num.csv format). */
export function decimalToWords(s: string): Uint32Array | null {
  if (!/^[0-9]{1,39}$/.test(s)) return null;
  let v = BigInt(s);
  if (v >> 128n !== 0n) return null;
  const w = new Uint32Array(4);
  for (let i = 3; i >= 0; i--) { w[i] = Number(v & 0xffffffffn); v >>= 32n; }
  return w;
}

/** Canonical text of an IP (for set membership): IPv4 dotted, IPv6 as 8 zero-padded groups. */
export function canonicalIp(ip: ParsedIp): string {
  if (ip.v === 4) return `${ip.n >>> 24}.${(ip.n >>> 16) & 255}.${(ip.n >>> 8) & 255}.${ip.n & 255}`;
  const g: string[] = [];
  for (const x of ip.w) g.push((x >>> 16).toString(16).padStart(4, '0'), (x & 0xffff).toString(16).padStart(4, '0'));
  return g.join(':');
}

/** Parse `addr/prefix` into an inclusive range. */
export function parseCidr(s: string): { v: 4; start: number; end: number } | { v: 6; start: Uint32Array; end: Uint32Array } | null {
  const slash = s.indexOf('/');
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const ip = parseIp(addr);
  if (!ip) return null;
  const max = ip.v === 4 && !addr.includes(':') ? 32 : 128;
  const prefixText = slash >= 0 ? s.slice(slash + 1) : String(max);
  if (!/^[0-9]{1,3}$/.test(prefixText)) return null;
  let prefix = Number(prefixText);
  if (prefix > max) return null;
  if (ip.v === 4) {
    if (max === 128) { if (prefix < 96) return null; prefix -= 96; }
    const size = 2 ** (32 - prefix);
    const start = Math.floor(ip.n / size) * size;
    return { v: 4, start, end: start + size - 1 };
  }
  const start = new Uint32Array(4), end = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, prefix - 32 * i));
    const mask = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    start[i] = (ip.w[i] & mask) >>> 0;
    end[i] = (start[i] | (~mask >>> 0)) >>> 0;
  }
  return { v: 6, start, end };
}

/** Compare two IPv6 word arrays at offsets. */
function cmp6(a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  for (let k = 0; k < 4; k++) {
    const x = a[ai + k], y = b[bi + k];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** A growable Uint32Array. */
class U32List {
  data = new Uint32Array(1024);
  length = 0;
  push(x: number): void {
    if (this.length === this.data.length) { const d = new Uint32Array(this.data.length * 2); d.set(this.data); this.data = d; }
    this.data[this.length++] = x;
  }
  push4(w: Uint32Array): void { for (let k = 0; k < 4; k++) this.push(w[k]); }
}

/**
 * Builds a range table from possibly unsorted, possibly overlapping inclusive ranges. Overlaps are
 * resolved first-listed-wins (the later range is clipped or dropped) and counted.
 */
export class RangeTableBuilder {
  private s4 = new U32List(); private e4 = new U32List(); private v4 = new U32List();
  private s6 = new U32List(); private e6 = new U32List(); private v6 = new U32List();
  add4(start: number, end: number, value: number): void { this.s4.push(start); this.e4.push(end); this.v4.push(value); }
  add6(start: Uint32Array, end: Uint32Array, value: number): void { this.s6.push4(start); this.e6.push4(end); this.v6.push(value); }

  build(): RangeTable {
    let overlaps = 0;
    const n4 = this.v4.length, S4 = this.s4.data, E4 = this.e4.data, V4 = this.v4.data;
    const order4 = sortedOrder(n4, (a, b) => S4[a] - S4[b] || a - b);
    const s4 = new U32List(), e4 = new U32List(), val4 = new U32List();
    let lastEnd = -1;
    for (let k = 0; k < n4; k++) {
      const i = order4 ? order4[k] : k;
      let s = S4[i];
      const e = E4[i];
      if (s <= lastEnd) { overlaps++; if (e <= lastEnd) continue; s = lastEnd + 1; }
      s4.push(s); e4.push(e); val4.push(V4[i]); lastEnd = e;
    }
    const n6 = this.v6.length, S6 = this.s6.data, E6 = this.e6.data, V6 = this.v6.data;
    const order6 = sortedOrder(n6, (a, b) => cmp6(S6, a * 4, S6, b * 4) || a - b);
    const s6 = new U32List(), e6 = new U32List(), val6 = new U32List();
    let last6: Uint32Array | null = null;
    for (let k = 0; k < n6; k++) {
      const i = order6 ? order6[k] : k;
      let s: Uint32Array = S6.subarray(i * 4, i * 4 + 4);
      const e = E6.subarray(i * 4, i * 4 + 4);
      if (last6 && cmp6(s, 0, last6, 0) <= 0) {
        overlaps++;
        if (cmp6(e, 0, last6, 0) <= 0) continue;
        s = increment(last6);
      }
      s6.push4(s); e6.push4(e); val6.push(V6[i]); last6 = e;
    }
    this.s4 = this.e4 = this.v4 = this.s6 = this.e6 = this.v6 = new U32List();
    const fit = (l: U32List) => l.data.slice(0, l.length);
    return new RangeTable(fit(s4), fit(e4), fit(val4), fit(s6), fit(e6), fit(val6), overlaps);
  }
}

/** Null when already in order (the common case for published files), else the sorted index order. */
function sortedOrder(n: number, compare: (a: number, b: number) => number): Uint32Array | null {
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) if (compare(i - 1, i) > 0) sorted = false;
  if (sorted) return null;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  return Uint32Array.from(Array.from(idx).sort(compare));
}

function increment(w: Uint32Array): Uint32Array {
  const out = Uint32Array.from(w);
  for (let i = 3; i >= 0; i--) { out[i] = (out[i] + 1) >>> 0; if (out[i] !== 0) break; }
  return out;
}

/** Sorted, non-overlapping inclusive ranges, each mapped to a numeric value. */
export class RangeTable {
  constructor(
    private readonly s4: Uint32Array, private readonly e4: Uint32Array, private readonly val4: Uint32Array,
    private readonly s6: Uint32Array, private readonly e6: Uint32Array, private readonly val6: Uint32Array,
    /** Overlapping input ranges resolved while building. */
    readonly overlapsResolved: number,
  ) {}

  /** Its arrays, in the constructor's order (to keep the table on disk: src/policy/geo-cache.ts). */
  arrays(): Uint32Array[] { return [this.s4, this.e4, this.val4, this.s6, this.e6, this.val6]; }

  get size(): number { return this.s4.length + this.val6.length; }
  get bytes(): number { return this.s4.byteLength + this.e4.byteLength + this.val4.byteLength + this.s6.byteLength + this.e6.byteLength + this.val6.byteLength; }

  /** Whether any range shares an address with `from`..`to` (inclusive; both IPv4 or both IPv6). */
  overlaps(from: ParsedIp, to: ParsedIp): boolean {
    if (from.v === 4 && to.v === 4) {
      // The last range starting at or before `to` is the only one that can reach back to `from`.
      let lo = 0, hi = this.s4.length - 1, found = -1;
      while (lo <= hi) { const mid = (lo + hi) >>> 1; if (this.s4[mid] <= to.n) { found = mid; lo = mid + 1; } else hi = mid - 1; }
      return found >= 0 && this.e4[found] >= from.n;
    }
    if (from.v !== 6 || to.v !== 6) throw new Error('overlaps: both ends must be of one family');
    let lo = 0, hi = this.val6.length - 1, found = -1;
    while (lo <= hi) { const mid = (lo + hi) >>> 1; if (cmp6(this.s6, mid * 4, to.w, 0) <= 0) { found = mid; lo = mid + 1; } else hi = mid - 1; }
    return found >= 0 && cmp6(from.w, 0, this.e6, found * 4) <= 0;
  }

  /** The value of the range containing `ip`, or -1. */
  lookup(ip: ParsedIp): number {
    if (ip.v === 4) {
      const n = ip.n, s = this.s4;
      let lo = 0, hi = s.length - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (s[mid] <= n) { found = mid; lo = mid + 1; } else hi = mid - 1;
      }
      return found >= 0 && n <= this.e4[found] ? this.val4[found] : -1;
    }
    const w = ip.w, s = this.s6;
    let lo = 0, hi = this.val6.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp6(s, mid * 4, w, 0) <= 0) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found >= 0 && cmp6(w, 0, this.e6, found * 4) <= 0 ? this.val6[found] : -1;
  }
}
