/**
 * The nesting depth and the number of values of request bodies. V8 parses JSON of any depth, but re-serialising it
 * (`JSON.stringify` when the body is forwarded) and walking it recursively overflow the stack at
 * a few thousand levels; real requests nest a few tens deep (tool JSON schemas, content parts).
 * Bodies deeper than `MAX_JSON_DEPTH` are refused when they are parsed, before any limit is charged.
 * Parsing costs the serving thread per value, not per byte: 4 MiB of empty objects (1.4 M values)
 * took seconds of `JSON.parse`, against tens of milliseconds for 4 MiB of text in one string; a
 * body holding more values than `server.max_json_values` is refused from a scan of its bytes,
 * before it is parsed.
 */

/** Deepest nesting of arrays and objects accepted in a request body (the body itself is level 1). */
export const MAX_JSON_DEPTH = 128;

/**
 * Whether the parsed JSON `value`, whose text is `raw`, nests deeper than `max` levels. Most bodies
 * hold fewer than `max` opening brackets in all (long texts and base64 hold none), which bounds
 * their depth without looking at the parsed value: that is counted natively, stopping past `max`.
 * The others are walked, no deeper than `max + 1` levels.
 */
export function nestsDeeper(raw: string, value: unknown, max = MAX_JSON_DEPTH): boolean {
  let opens = 0;
  for (let i = raw.indexOf('['); i !== -1 && opens <= max; i = raw.indexOf('[', i + 1)) opens++;
  for (let i = raw.indexOf('{'); i !== -1 && opens <= max; i = raw.indexOf('{', i + 1)) opens++;
  return opens > max && deeper(value, 1, max);
}

/** Whether `v`, at level `depth`, holds arrays or objects deeper than `max`. */
function deeper(v: unknown, depth: number, max: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (depth > max) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'object' && x !== null && deeper(x, depth + 1, max)) return true;
    }
    return false;
  }
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null && deeper(x, depth + 1, max)) return true;
  }
  return false;
}

/**
 * Default of `server.max_json_values`: OpenAI's limit of 300,000 tokens in one embeddings request,
 * sent as token ids in up to 2,048 lists (4,096 more brackets and commas), and room for its fields.
 */
export const MAX_JSON_VALUES = 310_000;

const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, OPEN_ARRAY = 0x5b, OPEN_OBJECT = 0x7b;

/**
 * Whether the JSON text `bytes` holds more than `max` values, counted as its commas and opening
 * brackets outside strings (a value in an array or object follows a comma or opens it; a container
 * counts once more for its own allocation). Strings are skipped with `indexOf`, so a body that is
 * mostly text costs little; the scan stops once past `max`. A body of at most `max` bytes cannot
 * hold more and is not scanned.
 */
export function holdsMoreValues(bytes: Uint8Array, max: number): boolean {
  if (bytes.length <= max) return false;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let count = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b === QUOTE) {
      // The string's end: the next quote not escaped (preceded by an even number of backslashes).
      for (;;) {
        const end = buf.indexOf(QUOTE, i + 1);
        if (end === -1) return false; // not JSON: the parser says so
        let slashes = 0;
        while (buf[end - 1 - slashes] === BACKSLASH) slashes++;
        i = end;
        if (slashes % 2 === 0) break;
      }
    } else if (b === COMMA || b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++count > max) return true;
    }
  }
  return false;
}
