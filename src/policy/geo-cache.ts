/**
 * The packaged IP databases' range tables kept on disk once parsed, so that a restart reads them
 * back (tens of milliseconds) instead of parsing 54 MB of CSV again (seconds of CPU before the
 * node is ready). Keyed by the files' paths, sizes and modification times and by this format's
 * version: a package update makes a new entry. Kept in a folder of this user's own (mode 0700)
 * under the system's temporary folder, each file 0600; a folder or file another user could have
 * written is not read (the tables decide country and network rules), and the CSV are parsed.
 * Anything that does not read back whole (a cut file, another format) is parsed again and rewritten.
 *
 * Each entry records the files it was made from (paths, sizes, times). Writing a new entry removes
 * the entries that can no longer be read back: those of files no longer there or changed since (a
 * package updated or removed), those that do not say their files (written by an earlier release),
 * and temporary files of writers no longer running. Only files of the names this cache writes,
 * regular files owned by this user, are removed; the entries of another installation whose files
 * are all still there as they were are kept.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
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

/** A source file as an entry records it: path, size, modification time (ms). */
type SourceFile = [path: string, size: number, mtimeMs: number];

function sourceFiles(files: readonly string[]): SourceFile[] | null {
  try {
    return files.map((f) => { const st = statSync(f); return [f, st.size, st.mtimeMs]; });
  } catch {
    return null;
  }
}

/** The file for these source files (their paths, sizes and times), or null when one cannot be read. */
export function geoCacheFile(dir: string, files: readonly string[]): string | null {
  const sources = sourceFiles(files);
  return sources && entryFile(dir, sources);
}

function entryFile(dir: string, sources: readonly SourceFile[]): string {
  const h = createHash('sha256').update(FORMAT);
  for (const [f, size, mtimeMs] of sources) h.update(`\0${f}\0${size}\0${mtimeMs}`);
  return join(dir, `geo-${h.digest('hex').slice(0, 32)}.bin`);
}

/** The names this cache writes: entries, and their temporary files (`<entry>.<pid>.tmp`). */
const ENTRY_NAME = /^geo-[0-9a-f]{32}\.bin$/;
const TEMP_NAME = /^geo-[0-9a-f]{32}\.bin\.([0-9]+)\.tmp$/;

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
  const sources = sourceFiles(files);
  if (!sources) return false;
  const file = entryFile(dir, sources);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!private_(dir, true)) return false;
    const arrays = [...t.countries.arrays(), ...t.asns.arrays()];
    // `files` first: what pruning reads of other entries.
    const header = Buffer.from(JSON.stringify({ format: FORMAT, files: sources, codes: t.countryCodes, names: [...t.asnNames], lengths: arrays.map((x) => x.length), overlaps: [t.countries.overlapsResolved, t.asns.overlapsResolved] }), 'utf8');
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
  } catch {
    try { unlinkSync(tmp); } catch { /* not written */ }
    return false;
  }
  pruneGeoCache(dir, file);
  return true;
}

/**
 * Remove the entries of `dir` other than `keep` that can no longer be read back (their files gone
 * or changed, or not recorded), and temporary files of writers no longer running. Only regular
 * files of this cache's names owned by this user are touched. Returns the names removed.
 */
export function pruneGeoCache(dir: string, keep: string | null): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    if (!private_(dir, true)) return removed;
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  const kept = keep === null ? null : basename(keep);
  for (const name of names) {
    if (name === kept) continue;
    const temp = TEMP_NAME.exec(name);
    if (!temp && !ENTRY_NAME.test(name)) continue;
    const path = join(dir, name);
    try {
      if (!ownFile(path)) continue;
      const stale = temp ? !running(Number(temp[1])) : !entryCurrent(dir, name, path);
      if (!stale) continue;
      unlinkSync(path);
      removed.push(name);
    } catch { /* gone meanwhile, or not removable: left */ }
  }
  return removed;
}

/** A regular file (not a link) owned by this user. */
function ownFile(path: string): boolean {
  const st = lstatSync(path);
  return st.isFile() && (typeof process.getuid !== 'function' || st.uid === process.getuid());
}

function running(pid: number): boolean {
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Whether the entry's recorded files are all there as they were (and it is named for them). */
function entryCurrent(dir: string, name: string, path: string): boolean {
  const header = readHeader(path);
  const files = (header as { files?: unknown } | null)?.files;
  if (!Array.isArray(files) || files.length === 0) return false;
  const sources: SourceFile[] = [];
  for (const f of files) {
    if (!Array.isArray(f) || f.length !== 3 || typeof f[0] !== 'string' || typeof f[1] !== 'number' || typeof f[2] !== 'number') return false;
    sources.push(f as SourceFile);
  }
  const now = sourceFiles(sources.map((f) => f[0]));
  if (!now || now.some((f, i) => f[1] !== sources[i][1] || f[2] !== sources[i][2])) return false;
  // Another release's format names its entries its own way: judged by its files alone.
  return (header as { format?: unknown }).format !== FORMAT || basename(entryFile(dir, now)) === name;
}

/** The JSON header of an entry, read without the tables; null when it cannot be. */
function readHeader(path: string): unknown {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(4);
    if (readSync(fd, len, 0, 4, 0) !== 4) return null;
    const n = len.readUInt32LE(0);
    if (n === 0 || n > 256 * 1024 * 1024) return null;
    const buf = Buffer.alloc(n);
    if (readSync(fd, buf, 0, n, 4) !== n) return null;
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
}

const align4 = (n: number) => (n + 3) & ~3;
