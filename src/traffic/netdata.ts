/**
 * Real address space for simulated clients: IPv4 ranges and their ASNs from @ip-location-db/asn,
 * countries from @ip-location-db/geolite2-country. Ranges are grouped into network categories by
 * ASN (a curated list of residential ISPs, mobile carriers, universities, clouds, commercial proxy
 * and VPN hosts, enterprise egress providers) and by name (any ASN whose name says university or
 * college). Loaded lazily, once per process, keeping only the ASNs we use (~0.3 s).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Rng } from './rng.ts';

export type NetCategory = 'residential' | 'mobile' | 'university' | 'cloud' | 'proxy' | 'corporate';
export const NET_CATEGORIES: readonly NetCategory[] = ['residential', 'mobile', 'university', 'cloud', 'proxy', 'corporate'];

/** [asn, country the ASN mostly serves (for selection; the event country comes from GeoLite2), weight]. */
type AsnSpec = [number, string, number];

/** Curated ASNs per category. Weights are rough market shares within the category. */
export const CATEGORY_ASNS: Record<NetCategory, AsnSpec[]> = {
  residential: [
    [7922, 'US', 10], [7018, 'US', 6], [20115, 'US', 5], [22773, 'US', 3], [5650, 'US', 2], [7843, 'US', 2],
    [3320, 'DE', 4], [3209, 'DE', 2], [2856, 'GB', 3], [5089, 'GB', 2], [3215, 'FR', 3], [12322, 'FR', 2],
    [3352, 'ES', 2], [1136, 'NL', 1], [577, 'CA', 2], [812, 'CA', 2], [4713, 'JP', 2], [2516, 'JP', 2],
    [17676, 'JP', 2], [4766, 'KR', 2], [3462, 'TW', 1], [1221, 'AU', 2], [4134, 'CN', 3], [4837, 'CN', 2],
    [24560, 'IN', 3], [27699, 'BR', 2], [28573, 'BR', 1], [8151, 'MX', 2], [12389, 'RU', 1], [9121, 'TR', 1],
    [9506, 'SG', 1], [4771, 'NZ', 1],
  ],
  mobile: [
    [21928, 'US', 5], [22394, 'US', 4], [20057, 'US', 3], [55836, 'IN', 4], [6805, 'DE', 1], [5410, 'FR', 1],
    [9808, 'CN', 3], [9605, 'JP', 2], [9644, 'KR', 1],
  ],
  university: [
    [3, 'US', 2], [9, 'US', 2], [32, 'US', 2], [25, 'US', 2], [52, 'US', 2], [73, 'US', 2], [26, 'US', 1],
    [88, 'US', 1], [239, 'CA', 1], [786, 'GB', 3], [559, 'CH', 1], [680, 'DE', 2], [4538, 'CN', 2], [2907, 'JP', 1],
  ],
  cloud: [
    [16509, 'US', 8], [14618, 'US', 4], [396982, 'US', 5], [8075, 'US', 5], [14061, 'US', 2], [16276, 'FR', 2],
    [24940, 'DE', 2], [63949, 'US', 1], [20473, 'US', 1], [31898, 'US', 1], [45102, 'SG', 1], [132203, 'CN', 1],
    [12876, 'FR', 1], [36351, 'US', 1],
  ],
  // Hosting networks that commercial proxy / VPN providers rent exits from.
  proxy: [
    [9009, 'GB', 3], [212238, 'GB', 3], [60068, 'GB', 1], [136787, 'PA', 2], [62240, 'GB', 1], [40676, 'US', 1],
    [21859, 'US', 1], [60781, 'NL', 1], [206092, 'GB', 1],
  ],
  // Where enterprise NAT egress appears: security proxies and business ISP lines.
  corporate: [
    [53813, 'US', 4], [55256, 'US', 1], [174, 'US', 2], [3356, 'US', 2], [701, 'US', 2], [7018, 'US', 2],
  ],
};

const UNIVERSITY_NAME = /universit|college|institute of technology|polytechnic|hochschule/i;

interface AsnRanges {
  asn: number;
  name: string;
  country: string | null;
  weight: number;
  starts: Uint32Array;
  /** Cumulative address counts (usable hosts), for size-weighted range choice. */
  cum: Float64Array;
}

export interface ClientAddress {
  ip: string;
  asn: number;
  asnName: string;
  /** GeoLite2 country of the address (may differ from the ASN's home country). */
  country: string | null;
}

function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve(`${name}/package.json`));
}

let loaded: Map<NetCategory, AsnRanges[]> | null = null;
let countryStarts: Uint32Array | null = null;
let countryEnds: Uint32Array | null = null;
let countryCodes: Uint16Array | null = null;
let countryNames: string[] = [];

/**
 * Calls `line` with where each line of `text` starts and ends (before its newline). The CSVs hold
 * hundreds of thousands of lines: fields are found by offset, not split out of every line.
 */
function forEachLine(text: string, line: (start: number, end: number) => void): void {
  for (let pos = 0; pos < text.length;) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    line(pos, end);
    pos = end + 1;
  }
}

function loadAsns(): Map<NetCategory, AsnRanges[]> {
  if (loaded) return loaded;
  const wanted = new Map<number, { cat: NetCategory; country: string; weight: number }[]>();
  for (const cat of NET_CATEGORIES) {
    for (const [asn, country, weight] of CATEGORY_ASNS[cat]) {
      const list = wanted.get(asn) ?? [];
      list.push({ cat, country, weight });
      wanted.set(asn, list);
    }
  }
  const text = readFileSync(join(packageDir('@ip-location-db/asn'), 'asn-ipv4-num.csv'), 'utf8');
  const byAsn = new Map<number, { name: string; starts: number[]; ends: number[] }>();
  forEachLine(text, (pos, end) => {
    const c1 = text.indexOf(',', pos);
    const c2 = text.indexOf(',', c1 + 1);
    const c3 = text.indexOf(',', c2 + 1);
    if (c3 > 0 && c3 < end) {
      const asn = Number(text.slice(c2 + 1, c3));
      let keep = wanted.has(asn);
      let name = '';
      if (!keep) {
        name = text.slice(c3 + 1, end);
        keep = UNIVERSITY_NAME.test(name);
      }
      if (keep) {
        let entry = byAsn.get(asn);
        if (!entry) {
          if (!name) name = text.slice(c3 + 1, end);
          entry = { name: name.replace(/^"|"$/g, '').replace(/""/g, '"').trim(), starts: [], ends: [] };
          byAsn.set(asn, entry);
        }
        entry.starts.push(Number(text.slice(pos, c1)));
        entry.ends.push(Number(text.slice(c1 + 1, c2)));
      }
    }
  });
  const out = new Map<NetCategory, AsnRanges[]>();
  for (const cat of NET_CATEGORIES) out.set(cat, []);
  const build = (asn: number, country: string | null, weight: number): AsnRanges | null => {
    const e = byAsn.get(asn);
    if (!e || e.starts.length === 0) return null;
    const starts = new Uint32Array(e.starts.length);
    const cum = new Float64Array(e.starts.length);
    let total = 0;
    for (let i = 0; i < e.starts.length; i++) {
      starts[i] = e.starts[i];
      total += Math.max(1, e.ends[i] - e.starts[i] - 1);
      cum[i] = total;
    }
    return { asn, name: e.name, country, weight, starts, cum };
  };
  for (const [asn, specs] of wanted) {
    for (const s of specs) {
      const r = build(asn, s.country, s.weight);
      if (r) out.get(s.cat)!.push(r);
    }
  }
  // Universities found by name, beyond the curated list: each a small weight.
  for (const asn of [...byAsn.keys()].sort((a, b) => a - b)) {
    if (wanted.has(asn)) continue;
    const r = build(asn, null, 0.01);
    if (r) out.get('university')!.push(r);
  }
  loaded = out;
  return out;
}

function loadCountries(): void {
  if (countryStarts) return;
  const text = readFileSync(join(packageDir('@ip-location-db/geolite2-country'), 'geolite2-country-ipv4-num.csv'), 'utf8');
  const starts: number[] = [];
  const ends: number[] = [];
  const codes: number[] = [];
  const index = new Map<string, number>();
  forEachLine(text, (pos, end) => {
    const c1 = text.indexOf(',', pos);
    const c2 = text.indexOf(',', c1 + 1);
    if (c2 > 0 && c2 < end) {
      const cc = text.slice(c2 + 1, end).trim();
      let idx = index.get(cc);
      if (idx === undefined) { idx = countryNames.length; countryNames.push(cc); index.set(cc, idx); }
      starts.push(Number(text.slice(pos, c1)));
      ends.push(Number(text.slice(c1 + 1, c2)));
      codes.push(idx);
    }
  });
  countryStarts = Uint32Array.from(starts);
  countryEnds = Uint32Array.from(ends);
  countryCodes = Uint16Array.from(codes);
}

/** GeoLite2 country of an IPv4 address given as an unsigned 32-bit number (null if unknown). */
export function countryOfIpNum(ipNum: number): string | null {
  loadCountries();
  const s = countryStarts!;
  let lo = 0, hi = s.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (s[mid] <= ipNum) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  if (found < 0 || countryEnds![found] < ipNum) return null;
  return countryNames[countryCodes![found]];
}

export function ipToString(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function ipFromString(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) >>> 0) + (Number(p[1]) << 16) + (Number(p[2]) << 8) + Number(p[3]);
}

/** ASNs available for a category (optionally only those whose home country is in `countries`). */
export function categoryAsns(cat: NetCategory, countries?: readonly string[] | null): readonly { asn: number; name: string; country: string | null; weight: number }[] {
  const list = loadAsns().get(cat)!;
  if (!countries || countries.length === 0) return list;
  const filtered = list.filter((r) => r.country !== null && countries.includes(r.country));
  return filtered.length ? filtered : list;
}

/**
 * Draw a client address from a category: an ASN by weight (restricted to `countries` when given
 * and possible), a range by size, an address inside it. Network and broadcast-looking addresses
 * (.0, .255) are avoided.
 */
export function pickAddress(cat: NetCategory, rng: Rng, countries?: readonly string[] | null): ClientAddress {
  const list = categoryAsns(cat, countries) as AsnRanges[];
  let total = 0;
  for (const r of list) total += r.weight;
  let x = rng.next() * total;
  let chosen = list[list.length - 1];
  for (const r of list) { if (x < r.weight) { chosen = r; break; } x -= r.weight; }
  return addressInAsn(chosen, rng);
}

function addressInAsn(r: AsnRanges, rng: Rng): ClientAddress {
  const totalHosts = r.cum[r.cum.length - 1];
  const x = rng.next() * totalHosts;
  let lo = 0, hi = r.cum.length - 1;
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (r.cum[mid] > x) hi = mid; else lo = mid + 1; }
  const size = r.cum[lo] - (lo > 0 ? r.cum[lo - 1] : 0);
  let ipNum = r.starts[lo] + 1 + Math.floor(rng.next() * size);
  const last = ipNum & 255;
  if (last === 0) ipNum += 1;
  else if (last === 255) ipNum -= 1;
  ipNum >>>= 0;
  return { ip: ipToString(ipNum), asn: r.asn, asnName: r.name, country: countryOfIpNum(ipNum) };
}

/** An address in a specific ASN (must be one of the loaded ones), e.g. for a chosen ISP. */
export function pickAddressInAsn(asn: number, rng: Rng): ClientAddress {
  for (const list of loadAsns().values()) {
    const r = list.find((x) => x.asn === asn);
    if (r) return addressInAsn(r, rng);
  }
  throw new Error(`ASN ${asn} is not in the traffic model's address data`);
}

