/**
 * The nesting depth of request bodies. V8 parses JSON of any depth, but re-serialising it
 * (`JSON.stringify` when the body is forwarded) and walking it recursively overflow the stack at
 * a few thousand levels; real requests nest a few tens deep (tool JSON schemas, content parts).
 * Bodies deeper than `MAX_JSON_DEPTH` are refused when they are parsed, before any limit is charged.
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
