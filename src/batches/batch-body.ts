/**
 * Reading the body of a Message Batch creation (`{"requests": [{custom_id, params}, ...]}`, up to
 * `batches.max_body_bytes`, 64 MiB by default) without holding the serving thread: gathered and
 * parsed whole, such a body took seconds of the event loop, and every other request waited. Its
 * bytes are kept as they arrive, in one buffer of the size announced, and then read a slice at a
 * time: the `requests` array is split into its elements (their bounds found by a scan of the
 * bytes), then each element is parsed and checked on its own, with a turn of the event loop
 * whenever a slice has taken `SLICE_MS`.
 */
import type { Readable } from 'node:stream';
import { WardenError } from '../errors/index.ts';
import { MAX_JSON_DEPTH, nestsDeeper } from '../gateway/json-depth.ts';
import type { NewItem } from './store.ts';

const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
/** Longest the reading runs between two turns of the event loop, ms. */
const SLICE_MS = 8;

const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d;
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A body that is not an object is refused anyway; up to this size it is parsed first, so that one that is not JSON is refused as such. */
const NON_OBJECT_PARSE_BYTES = 1024 * 1024;
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

const invalidJson = (detail: string) => new WardenError('WARDEN_INVALID_JSON', `The request body is not valid JSON: ${detail}`);

const tooLarge = () => new WardenError('WARDEN_BODY_TOO_LARGE', 'Request body is larger than the configured limit.');
const badLength = () => new WardenError('WARDEN_INVALID_JSON', 'The request body is empty or its length does not match Content-Length.');

/**
 * A request body's bytes, at most `limit`. With a Content-Length, each chunk is copied as it
 * arrives into one buffer of that size (gathered at the end, tens of megabytes were copied into
 * fresh memory at once: a quarter of a second of the serving thread); without one, the chunks are
 * joined at the end.
 */
export function collectBody(payload: Readable, contentLength: string | undefined, limit: number): Promise<Buffer> {
  const announced = contentLength === undefined ? null : Number(contentLength);
  if (announced !== null && !(Number.isSafeInteger(announced) && announced >= 0)) return Promise.reject(badLength());
  if (announced !== null && announced > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const buf = announced === null ? null : Buffer.allocUnsafe(announced);
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = (err: Error | null) => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onEnd);
      if (err) reject(err);
    };
    function onData(chunk: Buffer | string) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (received + bytes.length > limit) return stop(tooLarge());
      if (buf) {
        if (received + bytes.length > buf.length) return stop(badLength());
        bytes.copy(buf, received);
      } else chunks.push(bytes);
      received += bytes.length;
    }
    function onEnd(err?: Error) {
      if (err) return stop(Object.assign(err, { statusCode: (err as { statusCode?: number }).statusCode ?? 400 }));
      stop(null);
      if (buf && received !== buf.length) return reject(badLength());
      resolve(buf ?? Buffer.concat(chunks, received));
    }
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onEnd);
    payload.resume();
  });
}

/** Gives the event loop a turn when the current slice has run `SLICE_MS`. */
class Slices {
  private started = performance.now();
  async maybeYield(): Promise<void> {
    if (performance.now() - this.started < SLICE_MS) return;
    await new Promise((r) => setImmediate(r));
    this.started = performance.now();
  }
}

/** The end (exclusive) of the JSON string whose opening quote is at `i`, or -1. */
function endOfString(buf: Buffer, i: number): number {
  for (let j = buf.indexOf(QUOTE, i + 1); j !== -1; j = buf.indexOf(QUOTE, j + 1)) {
    let k = j - 1;
    while (buf[k] === BACKSLASH) k--;
    if ((j - 1 - k) % 2 === 0) return j + 1; // not escaped: an even number of backslashes before it
  }
  return -1;
}

/**
 * The end (exclusive) of the JSON value that starts at `i`, or -1: strings and brackets are
 * matched, nothing else is checked (parsing the value does that).
 */
function endOfValue(buf: Buffer, i: number): number {
  const c = buf[i];
  if (c === QUOTE) return endOfString(buf, i);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0;
    for (let j = i; j < buf.length; j++) {
      const b = buf[j];
      if (b === QUOTE) {
        const end = endOfString(buf, j);
        if (end < 0) return -1;
        j = end - 1;
      } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) depth++;
      else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  // a number, true, false or null: up to the next delimiter
  let j = i;
  while (j < buf.length && !isSpace(buf[j]) && buf[j] !== COMMA && buf[j] !== CLOSE_OBJECT && buf[j] !== CLOSE_ARRAY) j++;
  return j > i ? j : -1;
}

function skipSpace(buf: Buffer, i: number): number {
  while (i < buf.length && isSpace(buf[i])) i++;
  return i;
}

/** Parse the bytes `[start, end)` as JSON, refusing what nests deeper than `maxDepth` levels. */
function parseSlice(buf: Buffer, start: number, end: number, maxDepth: number): unknown {
  const text = buf.toString('utf8', start, end);
  let value: unknown;
  try { value = JSON.parse(text); } catch (err) { throw invalidJson((err as Error).message); }
  if (nestsDeeper(text, value, maxDepth)) {
    throw new WardenError('WARDEN_INVALID_REQUEST', `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`);
  }
  return value;
}

/**
 * The top-level object: its members other than `requests` parsed, and the bounds of the elements
 * of `requests` (null when it is not an array). A body that is not an object is checked only as
 * far as its extent: it is refused either way.
 */
async function split(buf: Buffer, slices: Slices): Promise<{ object: boolean; requests: [number, number][] | null }> {
  let i = skipSpace(buf, 0);
  if (buf[i] !== OPEN_OBJECT) {
    const end = i < buf.length ? endOfValue(buf, i) : -1;
    if (end < 0 || skipSpace(buf, end) !== buf.length) throw invalidJson(end < 0 ? 'Unexpected end of JSON input' : `Unexpected data after the JSON value at byte ${end}`);
    // Its extent alone takes any word for a value (`aaaa`): a value of modest size is parsed, a
    // longer bare word is checked to be a number (true, false and null are short).
    if (end - i <= NON_OBJECT_PARSE_BYTES) parseSlice(buf, i, end, MAX_JSON_DEPTH);
    else if (buf[i] !== QUOTE && buf[i] !== OPEN_ARRAY && !JSON_NUMBER.test(buf.toString('latin1', i, end))) throw invalidJson(`Unexpected token at byte ${i}`);
    return { object: false, requests: null };
  }
  let requests: [number, number][] | null = null;
  i = skipSpace(buf, i + 1);
  if (buf[i] === CLOSE_OBJECT) i++;
  else {
    for (;;) {
      if (buf[i] !== QUOTE) throw invalidJson(`Expected a property name at byte ${i}`);
      const keyEnd = endOfString(buf, i);
      if (keyEnd < 0) throw invalidJson('Unterminated string');
      const key = parseSlice(buf, i, keyEnd, MAX_JSON_DEPTH) as string;
      i = skipSpace(buf, keyEnd);
      if (buf[i] !== COLON) throw invalidJson(`Expected ':' after a property name at byte ${i}`);
      i = skipSpace(buf, i + 1);
      if (key === 'requests' && buf[i] === OPEN_ARRAY) {
        // (a key given twice: the last one counts, as in JSON.parse)
        requests = [];
        i = skipSpace(buf, i + 1);
        if (buf[i] === CLOSE_ARRAY) i++;
        else {
          for (;;) {
            const end = i < buf.length ? endOfValue(buf, i) : -1;
            if (end < 0) throw invalidJson('Unexpected end of JSON input');
            requests.push([i, end]);
            i = skipSpace(buf, end);
            await slices.maybeYield();
            if (buf[i] === COMMA) { i = skipSpace(buf, i + 1); continue; }
            if (buf[i] === CLOSE_ARRAY) { i++; break; }
            throw invalidJson(`Expected ',' or ']' after an element of requests at byte ${i}`);
          }
        }
      } else {
        const end = i < buf.length ? endOfValue(buf, i) : -1;
        if (end < 0) throw invalidJson('Unexpected end of JSON input');
        parseSlice(buf, i, end, MAX_JSON_DEPTH - 1);
        if (key === 'requests') requests = null;
        i = end;
        await slices.maybeYield();
      }
      i = skipSpace(buf, i);
      if (buf[i] === COMMA) { i = skipSpace(buf, i + 1); continue; }
      if (buf[i] === CLOSE_OBJECT) { i++; break; }
      throw invalidJson(`Expected ',' or '}' after a property value at byte ${i}`);
    }
  }
  if (skipSpace(buf, i) !== buf.length) throw invalidJson(`Unexpected data after the JSON value at byte ${i}`);
  return { object: true, requests };
}

/**
 * The requests of a Message Batch creation body, checked as a whole (each request's own
 * parameters are checked when it runs, as Anthropic does). A body that is not valid JSON, or
 * nests too deep, is refused as such before anything else is said about it.
 */
export async function readBatchBody(buf: Buffer | undefined, max: number): Promise<NewItem[]> {
  if (buf === undefined) throw new WardenError('WARDEN_INVALID_REQUEST', 'requests: Field required', { param: 'requests' });
  if (buf.length === 0) throw new WardenError('WARDEN_INVALID_JSON', 'The request body is empty; expected a JSON object.');
  const slices = new Slices();
  const { object, requests } = await split(buf, slices);
  if (!object || requests === null) throw new WardenError('WARDEN_INVALID_REQUEST', 'requests: Field required', { param: 'requests' });
  if (requests.length === 0) throw new WardenError('WARDEN_INVALID_REQUEST', 'requests: List should have at least 1 item', { param: 'requests' });
  if (requests.length > max) throw new WardenError('WARDEN_INVALID_REQUEST', `requests: a batch holds at most ${max} requests here; send ${requests.length} as several batches.`, { param: 'requests' });
  const seen = new Set<string>();
  const items: NewItem[] = [];
  // The first request with a problem is named, once every request has been read: a body that is
  // not valid JSON further on is refused as such.
  let problem: WardenError | null = null;
  for (let i = 0; i < requests.length; i++) {
    // Each request sits three levels down (the body, `requests`, the request).
    const r = parseSlice(buf, requests[i][0], requests[i][1], MAX_JSON_DEPTH - 2);
    await slices.maybeYield();
    if (problem) continue;
    const checked = checkRequest(r, i, seen);
    if (checked instanceof WardenError) problem = checked;
    else items.push(checked);
  }
  if (problem) throw problem;
  return items;
}

function checkRequest(r: unknown, i: number, seen: Set<string>): NewItem | WardenError {
  if (!isObject(r)) return new WardenError('WARDEN_INVALID_REQUEST', `requests.${i}: Input should be an object`, { param: `requests.${i}` });
  const id = r.custom_id;
  if (typeof id !== 'string' || !CUSTOM_ID.test(id)) {
    return new WardenError('WARDEN_INVALID_REQUEST', `requests.${i}.custom_id: 1 to 64 letters, digits, hyphens or underscores`, { param: `requests.${i}.custom_id` });
  }
  if (seen.has(id)) return new WardenError('WARDEN_INVALID_REQUEST', `requests.${i}.custom_id: '${id}' is used by another request of this batch`, { param: `requests.${i}.custom_id` });
  seen.add(id);
  if (!isObject(r.params)) return new WardenError('WARDEN_INVALID_REQUEST', `requests.${i}.params: Field required`, { param: `requests.${i}.params` });
  if (r.params.stream === true) return new WardenError('WARDEN_INVALID_REQUEST', `requests.${i}.params.stream: batches do not stream`, { param: `requests.${i}.params.stream` });
  return { custom_id: id, params: JSON.stringify(r.params) };
}
