/**
 * The packaged IP databases' range tables kept on disk once parsed, so that a restart reads them
 * back (tens of milliseconds) instead of parsing 54 MB of CSV again (seconds of CPU before the
 * node is ready). Keyed by the files' paths, sizes and modification times and by this format's
 * version: a package update makes a new entry. Kept in a folder of this user's own (mode 0700)
 * under the system's temporary folder, each file 0600; a folder or file another user could have
 * written is not read (the tables decide country and network rules), and the CSV are parsed.
 * Anything that does not read back whole (a cut file, another format) is parsed again and rewritten.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RangeTable } from './ip.ts';

/** Bumped when the layout below changes. */
const FORMAT = 'warden-geo-v1';

/** What is kept: the two tables, the country codes and the ASN names. */
export interface CachedGeo {
  countries: RangeTable;
  countryCodes: string[];
  asns: RangeTable;
  asnNames: Map<number, string>;
}

/** The default folder: this user's own under the system's temporary folder. */
export function defaultGeoCacheDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return join(tmpdir(), `warden-geo-cache-${uid}`);
}

/** The file for these source files (their paths, sizes and times), or null when one cannot be read. */
export function geoCacheFile(dir: string, files: readonly string[]): string | null {
  const h = createHash('sha256').update(FORMAT);
  try {
    for (const f of files) { const st = statSync(f); h.update(`\0${f}\0${st.size}\0${st.mtimeMs}`); }
  } catch {
    return null;
  }
  return join(dir, `geo-${h.digest('hex').slice(0, 32)}.bin`);
}

/** Only this user may have written it: owned by this user, not writable (nor, for a file, readable) by others. */
function private_(path: string, dir: boolean): boolean {
  const st = lstatSync(path);
  if (dir ? !st.isDirectory() : !st.isFile()) return false;
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return false;
  return (st.mode & (dir ? 0o022 : 0o077)) === 0;
}

/** The tables kept for these files, or null (none kept, not this user's own, not whole). */
export function readGeoCache(dir: string, files: readonly string[]): CachedGeo | null {
  const file = geoCacheFile(dir, files);
  if (!file) return null;
  try {
    if (!private_(dir, true) || !private_(file, false)) return null;
    const buf = readFileSync(file);
    const headerLen = buf.readUInt32LE(0);
    const header = JSON.parse(buf.subarray(4, 4 + headerLen).toString('utf8')) as { format: string; codes: string[]; names: [number, string][]; lengths: number[]; overlaps: [number, number] };
    if (header.format !== FORMAT || header.lengths.length !== 12) return null;
    let off = align4(4 + headerLen);
    const arrays: Uint32Array[] = [];
    // Copied into arrays of their own: the file's buffer is then freed, and nothing depends on its alignment.
    for (const n of header.lengths) {
      if (off + n * 4 > buf.length) return null;
      const a = new Uint32Array(n);
      new Uint8Array(a.buffer).set(buf.subarray(off, off + n * 4));
      arrays.push(a);
      off += n * 4;
    }
    if (off !== buf.length) return null;
    const [a, b] = [arrays.slice(0, 6), arrays.slice(6)];
    return {
      countries: new RangeTable(a[0], a[1], a[2], a[3], a[4], a[5], header.overlaps[0]),
      asns: new RangeTable(b[0], b[1], b[2], b[3], b[4], b[5], header.overlaps[1]),
      countryCodes: header.codes,
      asnNames: new Map(header.names),
    };
  } catch {
    return null;
  }
}

/** Keep the tables for these files (written whole, then renamed into place); false when it could not be. */
export function writeGeoCache(dir: string, files: readonly string[], t: CachedGeo): boolean {
  const file = geoCacheFile(dir, files);
  if (!file) return false;
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!private_(dir, true)) return false;
    const arrays = [...t.countries.arrays(), ...t.asns.arrays()];
    const header = Buffer.from(JSON.stringify({ format: FORMAT, codes: t.countryCodes, names: [...t.asnNames], lengths: arrays.map((x) => x.length), overlaps: [t.countries.overlapsResolved, t.asns.overlapsResolved] }), 'utf8');
    const head = Buffer.alloc(align4(4 + header.length));
    head.writeUInt32LE(header.length, 0);
    header.copy(head, 4);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeAll(fd, head);
      for (const x of arrays) writeAll(fd, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    return true;
  } catch {
    try { unlinkSync(tmp); } catch { /* not written */ }
    return false;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
}

const align4 = (n: number) => (n + 3) & ~3;
