/**
 * IP -> ISO 3166-2 subdivision (`UA-43` Crimea, `UA-40` Sevastopol, `UA-14` Donetsk, `UA-09`
 * Luhansk...) from operator-provided range files: `start,end,subdivision[,anything...]`, addresses
 * dotted/colon or decimal as in the country files, `#` comments. Warden ships no subdivision data
 * (the city-level databases are 45-135 MB and licensed separately): docs/policy.md, "Sub-national
 * regions", says where to get it and how to convert it.
 *
 * A range names one subdivision; an address in no range has no known subdivision. The countries
 * the files name at least once are the countries the data covers: a policy naming a subdivision
 * of a country the data does not cover is refused at load (unless
 * `policy.geo.require_subdivision_data` is false).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { IpDatabaseError, readCsvRanges } from './geo.ts';
import { RangeTableBuilder, type ParsedIp, type RangeTable } from './ip.ts';

/** An ISO 3166-2 subdivision code: the country's alpha-2 code, a hyphen, 1-3 letters or digits. */
export const SUBDIVISION_CODE = /^[A-Z]{2}-[A-Z0-9]{1,3}$/;

/** The files a subdivision index was loaded from: what a decision names as its data source. */
export interface SubdivisionDataVersion {
  files: Array<{ path: string; sha256: string; ranges: number }>;
  /** SHA-256 over the files' paths and hashes, in configuration order. */
  digest: string;
  /** Countries the files name at least once (sorted). */
  countries: string[];
  loaded_at: string;
}

/** IP -> subdivision, from range files. */
export class SubdivisionIndex {
  private readonly covered: Set<string>;
  constructor(private readonly table: RangeTable, private readonly codes: string[], readonly version: SubdivisionDataVersion) {
    this.covered = new Set(version.countries);
  }

  /** The subdivision of an address, or null (no range holds it). */
  lookupParsed(ip: ParsedIp | null): string | null {
    if (!ip) return null;
    const i = this.table.lookup(ip);
    return i >= 0 ? this.codes[i] : null;
  }

  /** Whether the data names any subdivision of this country. */
  covers(country: string): boolean { return this.covered.has(country); }

  get ranges(): number { return this.table.size; }
}

/**
 * Load subdivision range files. Throws IpDatabaseError (file and line) on the first malformed line;
 * nothing is half-loaded.
 *
 * @example loadSubdivisions(['/etc/warden/subdivisions-ua.csv']).lookupParsed(parseIp('91.207.56.1')) // 'UA-43'
 */
export function loadSubdivisions(files: string[]): SubdivisionIndex {
  const codes: string[] = [];
  const index = new Map<string, number>();
  const b = new RangeTableBuilder();
  const versions: SubdivisionDataVersion['files'] = [];
  for (const f of files) {
    const rows = readCsvRanges(f, 3, (start, end, rest, line) => {
      const code = rest.first().trim();
      if (!SUBDIVISION_CODE.test(code)) throw new IpDatabaseError(f, line, `subdivision must be an ISO 3166-2 code such as "UA-43", got "${code}"`);
      let v = index.get(code);
      if (v === undefined) { v = codes.length; codes.push(code); index.set(code, v); }
      if (typeof start === 'number') b.add4(start, end as number, v); else b.add6(start, end as Uint32Array, v);
    });
    versions.push({ path: f, sha256: createHash('sha256').update(readFileSync(f)).digest('hex'), ranges: rows });
  }
  const table = b.build();
  const digest = createHash('sha256').update(JSON.stringify(versions.map((v) => [v.path, v.sha256]))).digest('hex');
  const countries = [...new Set(codes.map((c) => c.slice(0, 2)))].sort();
  return new SubdivisionIndex(table, codes, { files: versions, digest, countries, loaded_at: new Date().toISOString() });
}
