/**
 * Detector snapshots: the engine's whole state (windows, links, clusters, campaigns, verdicts) in
 * one file, so that `warden serve` restarts with what it knew, in seconds, and replays only the
 * events stored since. Without one, a restart rebuilds from `replay_hours` of stored events: that
 * takes minutes at a large provider's volume, and forgets a flagged campaign idle for longer.
 *
 * The file: one JSON header line (what it holds and what it was made with), then the state in
 * V8's serialisation format (typed arrays are copied as they are). It is written to a temporary
 * file and renamed, so a crash while writing leaves the previous snapshot. A snapshot is read only
 * into an engine of the same layout (or an older one it reads: `DetectorEngine.readsLayout`) and
 * detection settings; otherwise it is left unused and the caller replays instead, told why.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { DetectConfig } from './config.ts';
import type { DetectorEngine } from './engine.ts';

const MAGIC = 'warden.detector-snapshot/1';

export interface SnapshotHeader {
  magic: typeof MAGIC;
  /** Wall-clock time the snapshot was written. */
  saved_at: string;
  /** Event time of the latest event in it. */
  event_time: string;
  events: number;
  accounts: number;
  /** The engine's layout (fields, per-account widths, format number). */
  layout: string;
  /** Hash of the detection settings it ran with. */
  settings: string;
  /** Ids of the events it holds from `overlap_from` on are in the payload (to skip on replay). */
  overlap_from: string;
  bytes: number;
  /** How long copying the state took: the event loop is held that long (the write itself is not). */
  serialise_ms: number;
  /**
   * `warden scan --state` with an account table: the key raw emails and cards were hashed with, so
   * the next day's table hashes them alike. Secret like the state itself (mode 0600).
   */
  facts_key?: string;
}

/** Settings that change what the engine computes; the rest (allow-list, replay, snapshots, sharing) do not. */
export function detectionSettingsHash(config: DetectConfig): string {
  // Another size of the record of served answers leaves the snapshot usable: it starts a fresh record (restoreState).
  const { allow: _allow, replay_hours: _replay, snapshot: _snapshot, mode: _mode, shared: _shared, served_answers_mib: _served, ...rest } = config;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/**
 * Write the engine's state to `path` (through `path.tmp` and a rename). The ids of the events it
 * ingested within `overlapSeconds` of its latest event time are kept with it (the engine must
 * remember them: `rememberEventIdsSeconds`), so a replay can start a little before the snapshot
 * and read each event once. Copying the state is synchronous (it is the engine's state at one
 * instant: 2-4 ms per 1,000 accounts on the benchmark machine); writing it is not.
 */
export async function writeSnapshot(engine: DetectorEngine, path: string, overlapSeconds: number, opts: { factsKey?: string | null } = {}): Promise<SnapshotHeader> {
  const eventTimeS = engine.eventTimeMs / 1000;
  const overlapFrom = eventTimeS - overlapSeconds;
  const t0 = performance.now();
  const payload = serialize({ state: engine.snapshotState(), recentIds: engine.recentEventIds(overlapFrom) });
  const serialiseMs = performance.now() - t0;
  const stats = engine.stats();
  const header: SnapshotHeader = {
    magic: MAGIC, saved_at: new Date().toISOString(), event_time: new Date(engine.eventTimeMs).toISOString(),
    events: stats.events, accounts: stats.accounts, layout: engine.snapshotLayout(), settings: detectionSettingsHash(engine.config),
    overlap_from: new Date(Math.max(0, overlapFrom * 1000)).toISOString(), bytes: payload.length, serialise_ms: Math.round(serialiseMs),
    ...(opts.factsKey ? { facts_key: opts.factsKey } : {}),
  };
  const tmp = `${path}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  const file = await open(tmp, 'w', 0o600);
  try {
    await file.write(JSON.stringify(header) + '\n');
    await file.write(payload);
    await file.sync();
  } finally { await file.close(); }
  await rename(tmp, path);
  return header;
}

/** The header of the snapshot at `path` (its first line), or null when there is none or it is not a snapshot. */
export async function readSnapshotHeader(path: string): Promise<SnapshotHeader | null> {
  let file;
  try { file = await open(path, 'r'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
    const eol = buffer.subarray(0, bytesRead).indexOf(10);
    if (eol < 0) return null;
    const header = JSON.parse(buffer.subarray(0, eol).toString('utf8')) as SnapshotHeader;
    return header.magic === MAGIC ? header : null;
  } catch { return null; } finally { await file.close(); }
}

export type SnapshotRead =
  | { restored: true; header: SnapshotHeader; eventTimeMs: number; overlapFromMs: number; seen: Set<string> }
  | { restored: false; reason: string; otherVersion?: true };

/**
 * Read the snapshot at `path` into `engine` (a new one, before any event) if it was made by an
 * engine of the same layout and detection settings. Returns what to replay after it, or why it
 * was not used (no file, another layout or settings, unreadable).
 */
export async function readSnapshot(engine: DetectorEngine, path: string): Promise<SnapshotRead> {
  let data: Buffer;
  try { data = await readFile(path); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { restored: false, reason: 'no snapshot yet' };
    return { restored: false, reason: `cannot read ${path}: ${(e as Error).message}` };
  }
  const eol = data.indexOf(10);
  let header: SnapshotHeader;
  try { header = JSON.parse(data.subarray(0, eol < 0 ? 0 : eol).toString('utf8')) as SnapshotHeader; } catch { return { restored: false, reason: `${path} is not a detector snapshot` }; }
  if (header.magic !== MAGIC) return { restored: false, reason: `${path} is not a detector snapshot` };
  const layout = engine.snapshotLayout();
  if (!engine.readsLayout(String(header.layout))) return { restored: false, otherVersion: true, reason: `it was written by another version of the detector (${layoutDifference(String(header.layout), layout)})` };
  if (header.settings !== detectionSettingsHash(engine.config)) return { restored: false, reason: 'the detection settings (detect: in the configuration) changed since it was written' };
  if (data.length - eol - 1 !== header.bytes) return { restored: false, reason: `${path} is truncated` };
  let body: { state: Record<string, unknown>; recentIds: string[] };
  try { body = deserialize(data.subarray(eol + 1)) as typeof body; } catch (e) { return { restored: false, reason: `${path} is corrupt (${(e as Error).message})` }; }
  engine.restoreState(body.state);
  // The events it held are this engine's now: the next snapshot must list them as held, or a
  // restart from that one (before the overlap has passed) would replay them a second time.
  const eventTimeMs = Date.parse(header.event_time);
  engine.rememberEventIds(body.recentIds, eventTimeMs / 1000);
  return { restored: true, header, eventTimeMs, overlapFromMs: Date.parse(header.overlap_from), seen: new Set(body.recentIds) };
}

/**
 * How a snapshot's layout differs from this engine's, for the operator: the format numbers, and
 * the fields one has and the other lacks (a layout depends on the build only, never on the
 * configuration or the traffic: src/detect/snapshot.test.ts).
 */
function layoutDifference(theirs: string, ours: string): string {
  const split = (layout: string) => { const at = layout.indexOf(';'); return { format: at < 0 ? layout : layout.slice(0, at), fields: at < 0 ? [] : layout.slice(at + 1).split(',') }; };
  const a = split(theirs); const b = split(ours);
  const parts = [a.format === b.format ? `format ${a.format}` : `format ${a.format}, this one ${b.format}`];
  const onlyTheirs = a.fields.filter((f) => !b.fields.includes(f));
  const onlyOurs = b.fields.filter((f) => !a.fields.includes(f));
  if (onlyTheirs.length) parts.push(`fields this one lacks: ${onlyTheirs.join(', ')}`);
  if (onlyOurs.length) parts.push(`fields it lacks: ${onlyOurs.join(', ')}`);
  return parts.join('; ');
}

export interface PeriodicSnapshots {
  /** Write one now (or wait for the one being written); a failure is counted and told, not thrown. */
  save(): Promise<void>;
  /** Write one now, after any being written, and say what it holds; a failure is counted and thrown. */
  saveNow(): Promise<SnapshotHeader>;
  /** Stop the timer and write a last one. */
  stop(): Promise<void>;
  /** The last one written (null before the first), and how many failed. */
  last(): { serialiseMs: number; bytes: number; atMs: number } | null;
  failures(): number;
}

/** Write a snapshot of `engine` to `path` every `everyMs` (0: only on `save`/`stop`); failures are counted and told. */
export function periodicSnapshots(engine: DetectorEngine, path: string, opts: { everyMs: number; overlapSeconds: number; onError: (e: Error) => void }): PeriodicSnapshots {
  let writing: Promise<void> | null = null;
  let last: { serialiseMs: number; bytes: number; atMs: number } | null = null;
  let failures = 0;
  const write = () => writeSnapshot(engine, path, opts.overlapSeconds).then(
    (h) => { last = { serialiseMs: h.serialise_ms, bytes: h.bytes, atMs: Date.now() }; return h; },
    (e: Error) => { failures++; throw e; },
  );
  const save = () => {
    writing ??= write().then(() => undefined, (e: Error) => opts.onError(e)).finally(() => { writing = null; });
    return writing;
  };
  const timer = opts.everyMs > 0 ? setInterval(save, opts.everyMs).unref() : null;
  return {
    save,
    async saveNow() { await writing; return write(); },
    async stop() { if (timer) clearInterval(timer); await writing; await save(); },
    last: () => last,
    failures: () => failures,
  };
}
