/**
 * A multipart upload (an audio file to transcribe, images to edit) as the gateway holds it between
 * reading it and forwarding it: its fields as sent, in order, and its files' bytes in a spool that
 * keeps a little in memory and the rest in a temporary file, so a 25 MB recording costs the
 * process no more memory than a small one. The upstream gets the same parts again, streamed from
 * the spool with their exact length. The files' bytes are never recorded: an event keeps their
 * count, size and (audio) duration.
 */
import { createReadStream, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ApiFlavour, EventRequest } from '../events/index.ts';
import { wavSeconds } from './audio-length.ts';

/** Bytes of a request's files kept in memory before the rest goes to a temporary file. */
export const SPOOL_MEMORY_BYTES = 256 * 1024;
/** Bytes of each file's start kept aside (a WAV header's `fmt ` chunk is within its first few dozen). */
export const FILE_HEAD_BYTES = 4096;

/** The folder of a process's spooled uploads, under the system's temporary folder (a random suffix when the plain name was taken). */
const UPLOADS_DIR = /^warden-uploads-(\d+)(?:-[A-Za-z0-9]{6})?$/;
let spoolDir: string | null = null;
/** Spools not yet discarded, in this process (several gateways may share it: tests). */
let liveSpools = 0;

/** Whether `dir` is a real folder (not a link) of this process's user that no one else can enter. */
function privateFolder(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
    return st.isDirectory() && mine && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/**
 * The folder of spooled uploads (made when first needed, under the system's temporary folder):
 * `warden-uploads-PID`, made by this process, private (0700). The name is easy to guess, so a
 * folder of that name already there is used only when it is this user's and private (a restarted
 * process that reuses a PID); a link, or another user's or an open folder, is not written into:
 * the uploads then wait in a new folder of a random name (`warden-uploads-PID-XXXXXX`).
 */
function uploadsDir(): string {
  if (spoolDir === null) {
    const plain = join(tmpdir(), `warden-uploads-${process.pid}`);
    let made = true;
    try { mkdirSync(plain, { mode: 0o700 }); } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      made = false;
    }
    if (made || privateFolder(plain)) spoolDir = plain;
    else {
      spoolDir = mkdtempSync(`${plain}-`);
      process.emitWarning(`${plain} was there already and is not this user's private folder (a link, another user's, or open to others); uploads wait in ${spoolDir} instead`, { code: 'WARDEN_UPLOADS_DIR' });
    }
  }
  return spoolDir;
}

/**
 * Removes this process's folder of spooled uploads when no upload is held in it (the gateway's
 * shutdown): it would otherwise stay behind, empty, after every run. Made again if needed.
 */
export function removeUploadsDir(): void {
  if (spoolDir === null || liveSpools > 0) return;
  rmSync(spoolDir, { recursive: true, force: true });
  spoolDir = null;
}

/**
 * Removes the folders of spooled uploads left by Warden processes that are gone (stopped by a
 * signal or a crash before their shutdown removed them), with what they held: at start. A folder
 * whose process still runs, another user's folder and a link of that name are left alone. Returns the folders removed.
 */
export function removeStaleUploadDirs(dir = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try { names = readdirSync(dir); } catch { return removed; }
  for (const name of names) {
    const pid = Number(UPLOADS_DIR.exec(name)?.[1]);
    if (!pid || pid === process.pid || processRuns(pid) || !ownFolder(join(dir, name))) continue;
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch { /* another user's, or removed meanwhile */ }
  }
  return removed;
}

/** Whether `path` is a folder (not a link) of this process's user: another user's is not ours to remove, even for root. */
function ownFolder(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && (typeof process.getuid !== 'function' || st.uid === process.getuid());
  } catch {
    return false;
  }
}

/** Whether a process `pid` runs (signal 0 checks without sending; EPERM: it runs, as another user). */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Bytes written once, in order, then read back by range: in memory up to SPOOL_MEMORY_BYTES, then
 * in a temporary file (deleted by `discard`, which every path through the gateway calls).
 */
export class Spool {
  private memory: Buffer[] = [];
  private file: FileHandle | null = null;
  private path: string | null = null;
  private discarded = false;
  /** Bytes written so far. */
  size = 0;

  constructor() { liveSpools++; }

  async write(chunk: Buffer): Promise<void> {
    if (this.discarded) throw new Error('upload discarded');
    if (this.file === null && this.size + chunk.length <= SPOOL_MEMORY_BYTES) {
      this.memory.push(chunk);
      this.size += chunk.length;
      return;
    }
    if (this.file === null) {
      this.path = join(uploadsDir(), randomBytes(12).toString('hex'));
      this.file = await open(this.path, 'w+', 0o600);
      if (this.discarded) { await this.discard(); throw new Error('upload discarded'); }
      const held = Buffer.concat(this.memory);
      this.memory = [];
      if (held.length) await this.file.write(held, 0, held.length, 0);
    }
    await this.file.write(chunk, 0, chunk.length, this.size);
    this.size += chunk.length;
  }

  /** The bytes from `start`, `length` of them, a chunk at a time. */
  async *read(start: number, length: number): AsyncIterable<Buffer> {
    if (length === 0) return;
    if (this.path === null) {
      yield Buffer.concat(this.memory).subarray(start, start + length);
      return;
    }
    yield* createReadStream(this.path, { start, end: start + length - 1, highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>;
  }

  /** Frees the memory and deletes the temporary file. Safe to call more than once. */
  async discard(): Promise<void> {
    if (!this.discarded) liveSpools--;
    this.discarded = true;
    this.memory = [];
    const file = this.file;
    const path = this.path;
    this.file = null;
    if (file) await file.close().catch(() => {});
    // A read still under way (a file being forwarded) keeps its own descriptor: unlinking is safe.
    if (path) await unlink(path).catch(() => {});
  }
}

/** One part of the upload, as sent: a field, or a file whose bytes are in the spool. */
export type UploadPart =
  | { kind: 'field'; name: string; value: string }
  | { kind: 'file'; name: string; filename: string; contentType: string; offset: number; bytes: number; head: Buffer; seconds?: number | null };

/** What an event and the limits know of the files: how many, how large, and each one's start. */
export interface UploadSummary {
  files: number;
  /** Bytes of the files. */
  bytes: number;
  /** Bytes of the whole request body as received. */
  bodyBytes: number;
  /** Each file's name (the form field), size and first bytes. */
  list: Array<{ name: string; bytes: number; head: Buffer }>;
}

/** Fields whose values are numbers, as the JSON APIs have them (the form sends text). */
const NUMERIC = /^-?\d+(\.\d+)?$/;

export class UploadBody {
  readonly parts: UploadPart[] = [];
  readonly spool = new Spool();
  /** Bytes of the request body as received. */
  bodyBytes = 0;

  /** The files of the upload. */
  get files(): Extract<UploadPart, { kind: 'file' }>[] {
    return this.parts.filter((p): p is Extract<UploadPart, { kind: 'file' }> => p.kind === 'file');
  }

  /**
   * The fields as the JSON APIs' body would hold them, for the pipeline (model, prompt, policy,
   * the event): `a[]` a list, `a[b]` an object, numbers and booleans as such. Files are not in it.
   */
  fields(): Record<string, unknown> {
    const body: Record<string, unknown> = {};
    for (const p of this.parts) {
      if (p.kind !== 'field') continue;
      const value: unknown = p.value === 'true' ? true : p.value === 'false' ? false : NUMERIC.test(p.value) ? Number(p.value) : p.value;
      const list = /^(.+)\[\]$/.exec(p.name);
      const keyed = /^(.+)\[([^\]]+)\]$/.exec(p.name);
      if (list) {
        const prev = body[list[1]];
        if (Array.isArray(prev)) prev.push(value); else body[list[1]] = [value];
      } else if (keyed) {
        const prev = body[keyed[1]];
        const obj = prev && typeof prev === 'object' && !Array.isArray(prev) ? prev as Record<string, unknown> : (body[keyed[1]] = {}) as Record<string, unknown>;
        obj[keyed[2]] = value;
      } else {
        // Text fields keep their text (a prompt of digits is still a prompt).
        body[p.name] = p.name === 'prompt' || p.name === 'model' || p.name === 'language' ? p.value : value;
      }
    }
    return body;
  }

  summary(): UploadSummary {
    const files = this.files;
    return {
      files: files.length, bytes: files.reduce((n, f) => n + f.bytes, 0), bodyBytes: this.bodyBytes,
      list: files.map((f) => ({ name: f.name, bytes: f.bytes, head: f.head })),
    };
  }

  /**
   * The upload as a multipart body again, its parts in the order sent: its content type, exact
   * length and bytes. With `shaped` (the fields as policy left them, see `fields`), a field it no
   * longer holds is left out (policy only removes from an upload: `include[]=logprobs`).
   */
  encode(shaped?: Record<string, unknown>): { contentType: string; length: number; body: AsyncIterable<Buffer> } {
    const boundary = `----WardenUpload${randomBytes(12).toString('hex')}`;
    const parts = shaped ? this.parts.filter((p) => p.kind === 'file' || stillHeld(shaped, p.name, p.value)) : this.parts;
    const heads = parts.map((p, i) => Buffer.from(`${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(p.name)}"`
      + (p.kind === 'file' ? `; filename="${escapeName(p.filename)}"\r\nContent-Type: ${p.contentType.replace(/[\r\n]/g, '')}` : '') + '\r\n\r\n'));
    const values = parts.map((p) => (p.kind === 'field' ? Buffer.from(p.value) : null));
    const tail = Buffer.from(`${parts.length ? '\r\n' : ''}--${boundary}--\r\n`);
    let length = tail.length;
    parts.forEach((p, i) => { length += heads[i].length + (p.kind === 'file' ? p.bytes : values[i]!.length); });
    const spool = this.spool;
    async function* body(): AsyncIterable<Buffer> {
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i];
        yield heads[i];
        if (p.kind === 'field') yield values[i]!;
        else yield* spool.read(p.offset, p.bytes);
      }
      yield tail;
    }
    return { contentType: `multipart/form-data; boundary=${boundary}`, length, body: body() };
  }

  discard(): Promise<void> {
    return this.spool.discard();
  }
}

/**
 * The upload as its event describes it: its files as parts of the user message, their count and
 * bytes, and the audio's length when a WAV header or an MP3's frames give it (the upstream's own
 * figure replaces it once the answer says: see interaction-record.ts). Images have no length: null.
 */
export function describeUpload(request: EventRequest, upload: UploadBody, flavour: ApiFlavour): void {
  const files = upload.files;
  // The files are parts of the user message, as a chat message's images and audio are.
  const kind = flavour === 'openai.transcriptions' || flavour === 'openai.translations' ? 'audio_file' : 'image_file';
  const user = request.messages.find((m) => m.role === 'user');
  if (user && files.length) user.parts = { ...user.parts, [kind]: files.length };
  request.uploads = uploadsOfEvent(files);
}

function uploadsOfEvent(files: ReadonlyArray<Extract<UploadPart, { kind: 'file' }>>): NonNullable<EventRequest['uploads']> {
  let seconds: number | null = 0;
  for (const f of files) {
    const s = f.seconds ?? wavSeconds(f.head, f.bytes);
    seconds = s === null || seconds === null ? null : seconds + s;
  }
  return { files: files.length, bytes: files.reduce((n, f) => n + f.bytes, 0), audio_seconds: files.length ? seconds : null };
}

/** Whether the fields `body` (as `UploadBody.fields` makes them) still hold the form field `name` with `value`. */
function stillHeld(body: Record<string, unknown>, name: string, value: string): boolean {
  const list = /^(.+)\[\]$/.exec(name);
  if (list) {
    const held = body[list[1]];
    return Array.isArray(held) && held.some((v) => String(v) === value);
  }
  const keyed = /^(.+)\[([^\]]+)\]$/.exec(name);
  if (keyed) {
    const held = body[keyed[1]];
    return !!held && typeof held === 'object' && (held as Record<string, unknown>)[keyed[2]] !== undefined;
  }
  return body[name] !== undefined;
}

/** A form name or file name in a part's header, escaped as browsers and undici escape them. */
function escapeName(s: string): string {
  return s.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
}
