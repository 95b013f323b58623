/**
 * Network classification of a client IP: hosting/datacenter (curated ASN list and organisation
 * name patterns), VPN (ranges file) and Tor (exit list file). File formats in docs/policy.md.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { canonicalIp, parseCidr, parseIp, type ParsedIp, RangeTableBuilder, type RangeTable } from './ip.ts';
import type { NetworkKind } from './policy-file.ts';

/** A malformed network list file, with file and line. */
export class NetworkListError extends Error {
  constructor(readonly file: string, readonly line: number, detail: string) {
    super(`invalid network list ${file}${line > 0 ? `:${line}` : ''}: ${detail}`);
    this.name = 'NetworkListError';
  }
}

function readLines(file: string): string[] {
  return readList(file).lines;
}

/** The file's lines and the SHA-256 of the very bytes they were parsed from (a file replaced meanwhile cannot mismatch). */
function readList(file: string): { lines: string[]; sha256: string } {
  let bytes: Buffer;
  try { bytes = readFileSync(file); } catch (err) {
    throw new NetworkListError(file, 0, `cannot read: ${(err as Error).message}`);
  }
  return { lines: bytes.toString('utf8').split(/\r?\n/), sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Hosting/datacenter ASNs and organisation-name patterns. */
export interface HostingList {
  asns: Map<number, string>;
  patterns: RegExp[];
}

/**
 * Hosting list format, one entry per line, `#` comments:
 *   `AS16509 Amazon AWS`  (or a bare number)   an ASN, with an optional label
 *   `name: /regex/`                             a case-insensitive pattern on the ASN organisation name
 */
export function loadHostingList(file: string, lines: string[] = readLines(file)): HostingList {
  const asns = new Map<number, string>();
  const patterns: RegExp[] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const pat = /^name:\s*\/(.+)\/$/.exec(line);
    if (pat) {
      try { patterns.push(new RegExp(pat[1], 'i')); } catch (err) { throw new NetworkListError(file, i + 1, `bad pattern: ${(err as Error).message}`); }
      return;
    }
    const m = /^(?:AS)?([0-9]{1,10})(?:\s+(.*))?$/i.exec(line);
    if (!m || Number(m[1]) > 0xffffffff) throw new NetworkListError(file, i + 1, `expected "AS<number> [label]" or "name: /pattern/", got "${line}"`);
    asns.set(Number(m[1]), m[2] ?? '');
  });
  if (asns.size === 0 && patterns.length === 0) throw new NetworkListError(file, 0, 'no entries');
  return { asns, patterns };
}

/**
 * Tor exit list: the torbulkexitlist format (one IP per line) or the exit-addresses format
 * (`ExitAddress <ip> <date> <time>` lines; other lines ignored).
 */
export function loadTorExits(file: string, lines: string[] = readLines(file)): Set<string> {
  const out = new Set<string>();
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    let ipText = line;
    if (/^[A-Za-z]/.test(line) && !/^[0-9a-fA-F:]+$/.test(line.split(/\s/)[0])) {
      if (!line.startsWith('ExitAddress ')) return; // ExitNode / Published / LastStatus lines
      ipText = line.split(/\s+/)[1] ?? '';
    }
    const ip = parseIp(ipText);
    if (!ip) throw new NetworkListError(file, i + 1, `not an IP address: "${ipText}"`);
    out.add(canonicalIp(ip));
  });
  return out;
}

/** VPN ranges: one CIDR (or single address) per line, optional label after whitespace. */
export function loadVpnRanges(file: string, lines: string[] = readLines(file)): { table: RangeTable; labels: string[] } {
  const b = new RangeTableBuilder();
  const labels: string[] = [];
  const labelIndex = new Map<string, number>();
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const [cidr, ...rest] = line.split(/\s+/);
    const r = parseCidr(cidr);
    if (!r) throw new NetworkListError(file, i + 1, `not a CIDR range: "${cidr}"`);
    const label = rest.join(' ') || 'vpn';
    let li = labelIndex.get(label);
    if (li === undefined) { li = labels.length; labels.push(label); labelIndex.set(label, li); }
    if (r.v === 4) b.add4(r.start, r.end, li); else b.add6(r.start, r.end, li);
  });
  const table = b.build();
  if (table.size === 0) throw new NetworkListError(file, 0, 'no ranges');
  return { table, labels };
}

export interface NetworkClass {
  kinds: NetworkKind[];
  /** Why: e.g. `hosting:AS16509 Amazon AWS`, `vpn:ExampleVPN`, `tor:exit`. */
  reasons: string[];
}

const NONE: NetworkClass = Object.freeze({ kinds: [], reasons: [] }) as NetworkClass;

/** Classifies client IPs; each list is optional. */
export class NetworkClassifier {
  private readonly nameCache = new Map<number, boolean>();
  constructor(
    private readonly hosting: HostingList | null,
    private readonly tor: Set<string> | null,
    private readonly vpn: { table: RangeTable; labels: string[] } | null,
  ) {}

  /** Classify a parsed IP given its ASN and ASN organisation name (from the geo index). */
  classify(ip: ParsedIp | null, asn: number | null, asnName: string | null): NetworkClass {
    let out: NetworkClass | null = null;
    const add = (kind: NetworkKind, reason: string) => {
      out ??= { kinds: [], reasons: [] };
      if (!out.kinds.includes(kind)) out.kinds.push(kind);
      out.reasons.push(reason);
    };
    if (this.hosting && asn !== null) {
      const label = this.hosting.asns.get(asn);
      if (label !== undefined) add('hosting', `hosting:AS${asn}${label ? ` ${label}` : ''}`);
      else if (asnName && this.hostingByName(asn, asnName)) add('hosting', `hosting:AS${asn} ${asnName} (name pattern)`);
    }
    if (ip && this.vpn) {
      const v = this.vpn.table.lookup(ip);
      if (v >= 0) add('vpn', `vpn:${this.vpn.labels[v]}`);
    }
    if (ip && this.tor && this.tor.has(canonicalIp(ip))) add('tor', 'tor:exit');
    return out ?? NONE;
  }

  private hostingByName(asn: number, name: string): boolean {
    let hit = this.nameCache.get(asn);
    if (hit === undefined) {
      hit = this.hosting!.patterns.some((p) => p.test(name));
      if (this.nameCache.size < 200_000) this.nameCache.set(asn, hit);
    }
    return hit;
  }

  get sizes(): { hostingAsns: number; hostingPatterns: number; torExits: number; vpnRanges: number } {
    return {
      hostingAsns: this.hosting?.asns.size ?? 0, hostingPatterns: this.hosting?.patterns.length ?? 0,
      torExits: this.tor?.size ?? 0, vpnRanges: this.vpn?.table.size ?? 0,
    };
  }
}

/** Which network list a file is: the configuration key it comes from, without `_file`. */
export type NetworkListName = 'hosting_asns' | 'tor_exits' | 'vpn_ranges';

/** The files behind the lists in force: shown by the admin API and logged at each load. */
export interface NetworkListsVersion {
  loaded_at: string;
  files: { list: NetworkListName; path: string; sha256: string; entries: number }[];
}

/** The network list files to read; hosting is always read (the shipped list by default), Tor and VPN when configured. */
export interface NetworkListFiles { hostingAsns: string; torExits: string | null; vpnRanges: string | null }

/**
 * Read and parse every configured list file into a new classifier. Every file is parsed before
 * the result is returned, so a caller swaps all lists in at once or, on a NetworkListError
 * (file and line), none of them.
 */
export function loadNetworkLists(files: NetworkListFiles, now: () => Date = () => new Date()): { classifier: NetworkClassifier; version: NetworkListsVersion } {
  const shown: NetworkListsVersion['files'] = [];
  const hostingFile = readList(files.hostingAsns);
  const hosting = loadHostingList(files.hostingAsns, hostingFile.lines);
  shown.push({ list: 'hosting_asns', path: files.hostingAsns, sha256: hostingFile.sha256, entries: hosting.asns.size + hosting.patterns.length });
  let tor: Set<string> | null = null;
  if (files.torExits) {
    const f = readList(files.torExits);
    tor = loadTorExits(files.torExits, f.lines);
    shown.push({ list: 'tor_exits', path: files.torExits, sha256: f.sha256, entries: tor.size });
  }
  let vpn: { table: RangeTable; labels: string[] } | null = null;
  if (files.vpnRanges) {
    const f = readList(files.vpnRanges);
    vpn = loadVpnRanges(files.vpnRanges, f.lines);
    shown.push({ list: 'vpn_ranges', path: files.vpnRanges, sha256: f.sha256, entries: vpn.table.size });
  }
  return { classifier: new NetworkClassifier(hosting, tor, vpn), version: { loaded_at: now().toISOString(), files: shown } };
}
