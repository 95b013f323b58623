import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAscii } from 'node:buffer';
import { Readable, pipeline, type Writable } from 'node:stream';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import { parseEvent, type InteractionEvent } from './schema.ts';
import { readableEvent } from './readable.ts';

export interface ReadJsonlOptions {
  /**
   * `false` skips schema validation for fast offline scans: JSON.parse and a cheap check of the
   * fields readers dereference, which completes missing ones (see readableEvent). Default true.
   */
  validate?: boolean;
  /**
   * Skip lines that are not readable events, reporting each here (line number from 1, problem),
   * instead of throwing at the first.
   */
  onSkip?: (line: number, problem: string) => void;
  /**
   * Longest line accepted, in bytes (default 64 MiB): a file without newlines must not fill memory.
   * A longer line is an error, or with `onSkip` is skipped (its bytes dropped up to its newline).
   */
  maxLineBytes?: number;
  /** Bytes read from a file at a time (default 1 MiB). */
  chunkBytes?: number;
}

/** Events parsed before they are handed to the consumer. */
const YIELD_EVERY = 64;

/**
 * The bytes of `input`, decompressed if they are gzip (recognised by their first two bytes, so a
 * `.jsonl.gz` file, a gzip stream on stdin or a plain file all read the same way).
 */
async function* gunzipIfNeeded(input: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer | string> {
  const it = input[Symbol.asyncIterator]();
  let head: Buffer | string | null = null;
  // Enough bytes to see the magic number (a stream may hand them over one at a time).
  while (head === null || (typeof head !== 'string' && head.length < 2)) {
    const r = await it.next();
    if (r.done) break;
    head = head === null ? r.value : typeof r.value === 'string' ? (head as Buffer).toString('utf8') + r.value : Buffer.concat([head as Buffer, r.value]);
  }
  if (head === null) return;
  const rest = async function* () { for (let r = await it.next(); !r.done; r = await it.next()) yield r.value; };
  if (typeof head === 'string' || head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) {
    yield head;
    yield* rest();
    return;
  }
  const first = head;
  const compressed = Readable.from((async function* () { yield first; yield* rest(); })(), { objectMode: false });
  try {
    // Output in 1 MiB pieces, not zlib's 16 KiB: a callback per piece on this thread cost a third
    // more scan time than the decompression itself (BENCHMARKS.md, offline scan, gzip input).
    yield* pipeline(compressed, createGunzip({ chunkSize: 1 << 20 }), () => {});
  } catch (err) {
    throw new Error(`gzip input: ${(err as Error).message} (the archive is truncated or corrupt)`);
  }
}

/**
 * The bytes of a file, read into one buffer over and over: each chunk is valid only until the next
 * is asked for. A fresh buffer a read (as a read stream allocates) costs the kernel a page fault
 * per 4 KiB to map it in, about as much CPU as splitting and decoding the lines (BENCHMARKS.md,
 * offline scan). A gzip file is handed to the stream reader instead: zlib may hold on to its input.
 */
async function* fileChunks(path: string, chunkBytes: number): AsyncGenerator<Buffer | string> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(Math.max(2, chunkBytes));
    let { bytesRead } = await file.read(buf, 0, buf.length, null);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
      yield* gunzipIfNeeded(createReadStream(path, { highWaterMark: 1 << 20 }));
      return;
    }
    while (bytesRead > 0) {
      yield buf.subarray(0, bytesRead);
      ({ bytesRead } = await file.read(buf, 0, buf.length, null));
    }
  } finally { await file.close(); }
}

/** JSON.parse and the readable-event check, without schema validation. */
function parseReadable(line: string): InteractionEvent {
  const ev = JSON.parse(line) as unknown;
  const problem = readableEvent(ev);
  if (problem !== null) throw new Error(problem);
  return ev as InteractionEvent;
}

/**
 * Stream events from a JSONL file (path, "-" for stdin) or stream, gzip-compressed or not, in bounded memory, in batches of
 * up to YIELD_EVERY parsed events (one await per batch, not per event: the scan's hot loop).
 *
 * Lines are split on the bytes and each is decoded on its own: decoding a whole chunk would turn
 * it into a two-byte string as soon as one prompt holds a non-ASCII character, and both decoding
 * and JSON.parse are several times slower on those. Blank lines and a trailing CR are skipped;
 * a malformed line, or one longer than `maxLineBytes`, throws an error naming its line number, or is
 * skipped and reported to `onSkip`. A UTF-8 byte-order mark before the first line is dropped.
 */
export async function* readEventBatches(source: string | Readable, opts: ReadJsonlOptions = {}): AsyncGenerator<InteractionEvent[]> {
  const chunks = typeof source === 'string' && source !== '-'
    ? fileChunks(source, opts.chunkBytes ?? 1 << 20)
    : gunzipIfNeeded(source === '-' ? process.stdin : source as Readable);
  const parse = opts.validate === false ? parseReadable : parseEvent;
  const onSkip = opts.onSkip;
  const maxLine = opts.maxLineBytes ?? 64 * 2 ** 20;
  // The start of a line that has not ended yet: its pieces, joined once when its newline arrives.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  // Set while the rest of an over-long line is skipped, up to its newline (with onSkip only).
  let discarding = false;
  const tooLong = () => {
    if (!onSkip) return new Error(`events line ${lineNo + 1}: longer than ${maxLine} bytes`);
    // Skipped like any unreadable line; its bytes are dropped, not kept, so memory stays bounded.
    lineNo++;
    onSkip(lineNo, `longer than ${maxLine} bytes`);
    pending = []; pendingBytes = 0;
    return null;
  };
  const parseLine = (buf: Buffer, start: number, end: number, out: InteractionEvent[]) => {
    lineNo++;
    // A byte-order mark (Windows tools write one) is not part of the first event.
    if (lineNo === 1 && end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3;
    if (end > start && buf[end - 1] === 13) end--;
    if (end <= start) return;
    const line = isAscii(buf.subarray(start, end)) ? buf.toString('latin1', start, end) : buf.toString('utf8', start, end);
    if (end - start < 64 && line.trim() === '') return;
    try { out.push(parse(line)); } catch (err) {
      const problem = err instanceof SyntaxError ? `not JSON (${err.message})` : (err as Error).message;
      if (onSkip) onSkip(lineNo, problem);
      else throw new Error(`events line ${lineNo}: ${problem}`);
    }
  };
  // A chunk may be overwritten once the next is read: what outlives it is copied.
  for await (const chunk of chunks) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    let batch: InteractionEvent[] = [];
    let start = 0;
    let nl = buf.indexOf(10);
    if (discarding) {
      if (nl < 0) continue;
      discarding = false;
      start = nl + 1;
      nl = buf.indexOf(10, start);
    } else if (pendingBytes > 0) {
      // Only the line that straddles chunks is copied, not the whole chunk.
      if (nl < 0) {
        if (pendingBytes + buf.length > maxLine) {
          const e = tooLong(); if (e) throw e;
          discarding = true;
        } else { pending.push(Buffer.from(buf)); pendingBytes += buf.length; }
        continue;
      }
      if (pendingBytes + nl > maxLine) {
        const e = tooLong(); if (e) throw e;
      } else {
        pending.push(buf.subarray(0, nl));
        const joined = Buffer.concat(pending);
        pending = []; pendingBytes = 0;
        parseLine(joined, 0, joined.length, batch);
      }
      start = nl + 1;
      nl = buf.indexOf(10, start);
    }
    for (; nl >= 0; nl = buf.indexOf(10, start)) {
      if (nl - start > maxLine) { const e = tooLong(); if (e) throw e; }
      else parseLine(buf, start, nl, batch);
      start = nl + 1;
      // Handed over a few at a time, not a whole chunk's worth (~700 events per MiB): parsed events
      // wait in the young generation until they are used, and a scavenge copies every one alive.
      if (batch.length === YIELD_EVERY) { yield batch; batch = []; }
    }
    if (start < buf.length) {
      if (buf.length - start > maxLine) {
        const e = tooLong(); if (e) throw e;
        discarding = true;
      } else {
        // Copy the tail: a file's chunk is read into again, and a subarray would pin a stream's.
        pending.push(Buffer.from(buf.subarray(start))); pendingBytes = buf.length - start;
      }
    }
    if (batch.length) yield batch;
  }
  if (pendingBytes > 0) {
    const rest = Buffer.concat(pending);
    const batch: InteractionEvent[] = [];
    parseLine(rest, 0, rest.length, batch);
    if (batch.length) yield batch;
  }
}

/** Stream events one at a time; see readEventBatches (prefer it in hot loops). */
export async function* readEventsJsonl(source: string | Readable, opts: ReadJsonlOptions = {}): AsyncGenerator<InteractionEvent> {
  for await (const batch of readEventBatches(source, opts)) yield* batch;
}

/** Write one JSON line, honouring backpressure. */
export async function writeJsonlLine(out: Writable, obj: unknown): Promise<void> {
  if (!out.write(JSON.stringify(obj) + '\n')) await once(out, 'drain');
}
