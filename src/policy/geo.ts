/**
 * IP -> country and ASN from offline CSV files (the @ip-location-db formats:
 * `start,end,country` and `start,end,asn,"organisation"`, addresses dotted/colon or decimal).
 * Loaded once into sorted typed-array range tables; a lookup is two binary searches.
 *
 * Update path: `npm update @ip-location-db/geolite2-country @ip-location-db/asn`, or point
 * `policy.geo.country_files` / `asn_files` at newer CSV files of the same format.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseCsvRecords } from './csv.ts';
import { defaultGeoCacheDir, readGeoCache, writeGeoCache } from './geo-cache.ts';
import { decimalToWords, parseCidr, parseIp, parseIPv4, parseIPv6, RangeTable, RangeTableBuilder, type ParsedIp } from './ip.ts';

/** A malformed IP database file, with file and line. */
export class IpDatabaseError extends Error {
  constructor(readonly file: string, readonly line: number, detail: string) {
    super(`invalid IP database ${file}${line > 0 ? `:${line}` : ''}: ${detail}`);
    this.name = 'IpDatabaseError';
  }
}

export interface GeoResult {
  country: string | null;
  asn: number | null;
  asnName: string | null;
}

export interface GeoStats {
  countryRanges: number;
  asnRanges: number;
  overlapsResolved: number;
  loadMs: number;
  /** Bytes held by the range tables (typed arrays), excluding the small name tables. */
  tableBytes: number;
  files: string[];
  /** Read back from the tables kept on disk (src/policy/geo-cache.ts), not parsed from the CSV. */
  fromCache?: boolean;
}

/** The loaded tables behind a GeoIndex. */
interface GeoTables {
  countries: RangeTable;
  countryCodes: string[];
  asns: RangeTable;
  asnNames: Map<number, string>;
  stats: GeoStats;
}

/**
 * Address blocks in which the packaged databases hold no range (test/policy: geo.test.ts checks
 * the installed files): unspecified, private, shared (carrier-grade NAT), loopback, link-local and
 * unique-local addresses. With the packaged files a lookup there answers "unknown" without loading
 * the tables, so a gateway whose clients are all local (development, tests, a proxy on the same
 * host passing no client address) never pays the seconds of CPU that parsing their 54 MB costs.
 */
export const PACKAGED_UNMAPPED_BLOCKS = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '::/127', 'fe80::/10', 'fc00::/7'] as const;

const UNMAPPED = PACKAGED_UNMAPPED_BLOCKS.map((b) => parseCidr(b)!);

function inUnmappedBlock(ip: ParsedIp): boolean {
  for (const b of UNMAPPED) {
    if (ip.v === 4 && b.v === 4) { if (ip.n >= b.start && ip.n <= b.end) return true; }
    else if (ip.v === 6 && b.v === 6 && compareWords(ip.w, b.start) >= 0 && compareWords(ip.w, b.end) <= 0) return true;
  }
  return false;
}

/**
 * IP -> country/ASN index. Operator files are loaded (and checked) when the index is made; the
 * packaged files on the first lookup of an address outside PACKAGED_UNMAPPED_BLOCKS.
 */
export class GeoIndex {
  private tables: GeoTables | null = null;

  constructor(private readonly loadTables: () => GeoTables, opts: { lazy?: boolean } = {}) {
    if (!opts.lazy) this.tables = loadTables();
  }

  /** Whether the tables are loaded (the packaged ones are loaded on first need). */
  get loaded(): boolean { return this.tables !== null; }

  /** Sizes and load time of the tables (loads them). */
  get stats(): GeoStats { return this.load().stats; }

  /** Load the tables now if they are not (a node about to serve public clients). */
  preload(): void { this.load(); }

  private load(): GeoTables { return (this.tables ??= this.loadTables()); }

  /** Look up an address (IPv4, IPv6, IPv4-mapped IPv6). Unknown or unparseable: nulls. */
  lookup(ip: string): GeoResult {
    return this.lookupParsed(parseIp(ip));
  }

  /** Look up an already parsed address (null: unknown). */
  lookupParsed(parsed: ParsedIp | null): GeoResult {
    if (!parsed || (!this.tables && inUnmappedBlock(parsed))) return { country: null, asn: null, asnName: null };
    const t = this.load();
    const c = t.countries.lookup(parsed);
    const a = t.asns.lookup(parsed);
    return { country: c >= 0 ? t.countryCodes[c] : null, asn: a >= 0 ? a : null, asnName: a >= 0 ? t.asnNames.get(a) ?? null : null };
  }

  /** Whether either table has a range sharing an address with the block `cidr` (loads them). */
  mapsAnyOf(cidr: string): boolean {
    const b = parseCidr(cidr);
    if (!b) throw new Error(`not an address block: ${cidr}`);
    const t = this.load();
    const [from, to]: ParsedIp[] = b.v === 4 ? [{ v: 4, n: b.start }, { v: 4, n: b.end }] : [{ v: 6, w: b.start }, { v: 6, w: b.end }];
    return t.countries.overlaps(from, to) || t.asns.overlaps(from, to);
  }
}

/** Paths of the CSV files shipped in the installed @ip-location-db packages. */
export function packagedGeoFiles(): { country: string[]; asn: string[] } {
  const require = createRequire(import.meta.url);
  const countryDir = dirname(require.resolve('@ip-location-db/geolite2-country/package.json'));
  const asnDir = dirname(require.resolve('@ip-location-db/asn/package.json'));
  return {
    country: [join(countryDir, 'geolite2-country-ipv4-num.csv'), join(countryDir, 'geolite2-country-ipv6.csv')],
    asn: [join(asnDir, 'asn-ipv4-num.csv'), join(asnDir, 'asn-ipv6.csv')],
  };
}

const cache = new Map<string, GeoIndex>();

/**
 * Load (once per process per file set) the country and ASN tables. Throws IpDatabaseError on the
 * first malformed line; nothing is half-loaded. The packaged files (no files given) are trusted and
 * loaded on the first lookup that needs them (see PACKAGED_UNMAPPED_BLOCKS).
 *
 * @example const geo = loadGeoIndex(); geo.lookup('8.8.8.8') // { country: 'US', asn: 15169, ... }
 */
export function loadGeoIndex(opts: { countryFiles?: string[]; asnFiles?: string[]; cacheDir?: string | null } = {}): GeoIndex {
  const packaged = (opts.countryFiles?.length && opts.asnFiles?.length) ? null : packagedGeoFiles();
  const countryFiles = opts.countryFiles?.length ? opts.countryFiles : packaged!.country;
  const asnFiles = opts.asnFiles?.length ? opts.asnFiles : packaged!.asn;
  const key = JSON.stringify([countryFiles, asnFiles]);
  const hit = cache.get(key);
  if (hit) return hit;
  const onlyPackaged = !opts.countryFiles?.length && !opts.asnFiles?.length;
  // The packaged files (trusted, checked by the tests) are kept parsed on disk; operator files are
  // parsed, and so checked line by line, at every start.
  const cacheDir = opts.cacheDir === undefined ? (onlyPackaged ? defaultGeoCacheDir() : null) : opts.cacheDir;
  const index = new GeoIndex(() => (cacheDir ? loadGeoTablesCached(countryFiles, asnFiles, cacheDir) : loadGeoTables(countryFiles, asnFiles)), { lazy: onlyPackaged });
  cache.set(key, index);
  return index;
}

/** The tables kept in `cacheDir` for these files, else parsed from them and kept there. */
export function loadGeoTablesCached(countryFiles: string[], asnFiles: string[], cacheDir: string): GeoTables {
  const t0 = performance.now();
  const files = [...countryFiles, ...asnFiles];
  const kept = readGeoCache(cacheDir, files);
  if (kept) {
    return {
      ...kept,
      stats: {
        countryRanges: kept.countries.size, asnRanges: kept.asns.size,
        overlapsResolved: kept.countries.overlapsResolved + kept.asns.overlapsResolved,
        loadMs: performance.now() - t0, tableBytes: kept.countries.bytes + kept.asns.bytes, files, fromCache: true,
      },
    };
  }
  const parsed = loadGeoTables(countryFiles, asnFiles);
  writeGeoCache(cacheDir, files, parsed);
  return parsed;
}

function loadGeoTables(countryFiles: string[], asnFiles: string[]): GeoTables {
  const t0 = performance.now();
  const codes: string[] = [];
  const codeIndex = new Map<string, number>();
  const cb = new RangeTableBuilder();
  for (const f of countryFiles) {
    readCsvRanges(f, 3, (start, end, rest, line) => {
      const cc = rest.first();
      if (!/^[A-Z]{2}$/.test(cc)) throw new IpDatabaseError(f, line, `country must be a two-letter code, got "${cc}"`);
      let idx = codeIndex.get(cc);
      if (idx === undefined) { idx = codes.length; codes.push(cc); codeIndex.set(cc, idx); }
      if (typeof start === 'number') cb.add4(start, end as number, idx); else cb.add6(start, end as Uint32Array, idx);
    });
  }
  const ab = new RangeTableBuilder();
  const names = new Map<number, string>();
  for (const f of asnFiles) {
    readCsvRanges(f, 4, (start, end, rest, line) => {
      const asnText = rest.first();
      const asn = Number(asnText);
      if (!/^[0-9]{1,10}$/.test(asnText) || asn > 0xffffffff) throw new IpDatabaseError(f, line, `ASN must be an unsigned integer, got "${asnText}"`);
      if (!names.has(asn)) {
        const fields = rest.all();
        if (fields.length < 2) throw new IpDatabaseError(f, line, 'expected start,end,asn,organisation');
        names.set(asn, fields[1]);
      }
      if (typeof start === 'number') ab.add4(start, end as number, asn); else ab.add6(start, end as Uint32Array, asn);
    });
  }
  const countries = cb.build();
  const asns = ab.build();
  const stats: GeoStats = {
    countryRanges: countries.size, asnRanges: asns.size,
    overlapsResolved: countries.overlapsResolved + asns.overlapsResolved,
    loadMs: performance.now() - t0, tableBytes: countries.bytes + asns.bytes,
    files: [...countryFiles, ...asnFiles],
  };
  return { countries, countryCodes: codes, asns, asnNames: names, stats };
}

/**
 * Read the lines of a range CSV: `start,end,field[,field...]`. Calls `row` with parsed bounds
 * (a number for IPv4, four words for IPv6) and a reader for the remaining fields.
 */
export function readCsvRanges(
  file: string,
  minFields: number,
  row: (start: number | Uint32Array, end: number | Uint32Array, rest: CsvRest, line: number) => void,
): number {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (err) { throw new IpDatabaseError(file, 0, `cannot read: ${(err as Error).message}`); }
  let pos = 0, line = 0, rows = 0;
  const rest = new CsvRest(text);
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    line++;
    let endOfLine = nl;
    if (endOfLine > pos && text.charCodeAt(endOfLine - 1) === 13) endOfLine--;
    const lineStart = pos;
    pos = nl + 1;
    if (endOfLine === lineStart || text.charCodeAt(lineStart) === 35 /* # */) continue;
    const c1 = text.indexOf(',', lineStart);
    const c2 = c1 < 0 || c1 >= endOfLine ? -1 : text.indexOf(',', c1 + 1);
    if (c1 < 0 || c1 >= endOfLine || c2 < 0 || c2 >= endOfLine) throw new IpDatabaseError(file, line, `expected at least ${minFields} comma-separated fields`);
    rest.reset(c2 + 1, endOfLine);
    let start: number | Uint32Array | null = null, end: number | Uint32Array | null = null;
    const first = text.charCodeAt(lineStart);
    let colon = false, dot = false;
    for (let i = lineStart; i < c1; i++) { const c = text.charCodeAt(i); if (c === 58) { colon = true; break; } if (c === 46) dot = true; }
    if (colon) {
      start = parseIPv6(text, lineStart, c1); end = parseIPv6(text, c1 + 1, c2);
    } else if (dot) {
      const s = parseIPv4(text, lineStart, c1), e = parseIPv4(text, c1 + 1, c2);
      if (s >= 0 && e >= 0) { start = s; end = e; }
    } else if (first >= 48 && first <= 57) {
      const a = text.slice(lineStart, c1), b = text.slice(c1 + 1, c2);
      if (/^[0-9]{1,10}$/.test(a) && /^[0-9]{1,10}$/.test(b) && Number(a) <= 0xffffffff && Number(b) <= 0xffffffff) { start = Number(a); end = Number(b); }
      else { start = decimalToWords(a); end = decimalToWords(b); }
    }
    if (start === null || end === null) throw new IpDatabaseError(file, line, `bad address range "${clip(text.slice(lineStart, c2))}"`);
    if (typeof start === 'number' ? start > (end as number) : compareWords(start, end as Uint32Array) > 0) {
      throw new IpDatabaseError(file, line, `range start is after its end ("${text.slice(lineStart, c2)}")`);
    }
    row(start, end, rest, line);
    rows++;
  }
  if (rows === 0) throw new IpDatabaseError(file, 0, 'no ranges in file');
  return rows;
}

/** The fields after `start,end` on one CSV line, read lazily (most rows need only the first). */
export class CsvRest {
  private from = 0;
  private to = 0;
  constructor(private readonly text: string) {}
  reset(from: number, to: number): void { this.from = from; this.to = to; }
  /** The first field, unquoted. */
  first(): string {
    const c = this.text.indexOf(',', this.from);
    return this.text.slice(this.from, c < 0 || c > this.to ? this.to : c);
  }
  /** Every field, honouring "quoted, fields" with "" escapes. */
  all(): string[] { return parseCsvRecords(this.text.slice(this.from, this.to))[0]?.fields ?? []; }
}

function clip(s: string): string { return s.length > 80 ? s.slice(0, 77) + '...' : s; }

function compareWords(a: Uint32Array, b: Uint32Array): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}
