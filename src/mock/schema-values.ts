/**
 * Values for a JSON Schema: what the mock writes for tool arguments and structured outputs
 * (OpenAI `response_format`/`text.format` json_schema, Anthropic `output_config.format`). The
 * real APIs decode under the schema, so every answer is valid: the mock honours type, enum/const,
 * required, nested objects and arrays, `$ref`/`$defs`, allOf/anyOf/oneOf, numeric bounds
 * (inclusive, exclusive, multipleOf), string lengths, common formats and simple patterns; and it
 * picks values by property name so they read like real data (a `summary` is prose, a `title` is
 * a title, an `email` an address). Deterministic for a given seed.
 */
import { Rng, WORDS, answerPieces } from './text.ts';

const CITIES = ['Paris', 'London', 'Tokyo', 'Berlin', 'Lisbon', 'Toronto', 'Nairobi', 'Sydney', 'Lima', 'Seoul'];
const COUNTRIES = ['France', 'United Kingdom', 'Japan', 'Germany', 'Portugal', 'Canada', 'Kenya', 'Australia', 'Peru', 'South Korea'];
const FIRST_NAMES = ['Alex', 'Sam', 'Jordan', 'Taylor', 'Morgan', 'Riley', 'Priya', 'Mateo', 'Amara', 'Lena'];
const LAST_NAMES = ['Smith', 'Garcia', 'Chen', 'Okafor', 'Novak', 'Silva', 'Kim', 'Patel', 'Muller', 'Rossi'];
const STREETS = ['Garden', 'River', 'Station', 'Market', 'Bridge', 'Forest', 'Church', 'Mill', 'Park', 'Harbour'];
const STREET_KINDS = ['Street', 'Road', 'Avenue', 'Lane'];
const COLOURS = ['red', 'blue', 'green', 'amber', 'teal', 'violet', 'black', 'white'];
const CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY', 'CAD'];
const LANGUAGES = ['English', 'French', 'Spanish', 'German', 'Japanese'];

/** Deeper than this, objects keep only required keys and arrays their minimum length (recursive schemas end). */
const MAX_DEPTH = 8;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function cap(word: string): string {
  return word.length === 0 ? word : word[0].toUpperCase() + word.slice(1);
}

function phrase(rng: Rng, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(rng.pick(i === count - 1 ? WORDS.noun : i % 2 === 0 ? WORDS.adj : WORDS.noun));
  return out.join(' ');
}

/** One or more sentences of about `tokens` tokens. */
function prose(rng: Rng, tokens: number): string {
  return answerPieces(tokens, rng).join('').replace(/\s*\n+\s*/g, ' ').trim();
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function dateParts(rng: Rng): { y: number; m: number; d: number } {
  return { y: rng.range(2023, 2026), m: rng.range(1, 12), d: rng.range(1, 28) };
}

function hex(rng: Rng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += '0123456789abcdef'[rng.int(16)];
  return s;
}

function uuid(rng: Rng): string {
  const variant = '89ab'[rng.int(4)];
  return `${hex(rng, 8)}-${hex(rng, 4)}-4${hex(rng, 3)}-${variant}${hex(rng, 3)}-${hex(rng, 12)}`;
}

function formatted(format: string, rng: Rng, name: string): string | null {
  const { y, m, d } = dateParts(rng);
  const time = `${pad(rng.range(7, 19))}:${pad(rng.pick([0, 15, 30, 45]))}:00`;
  switch (format) {
    case 'date':
      return `${y}-${pad(m)}-${pad(d)}`;
    case 'date-time':
      return `${y}-${pad(m)}-${pad(d)}T${time}Z`;
    case 'time':
      return `${time}Z`;
    case 'duration':
      return `PT${rng.range(1, 12) * 5}M`;
    case 'email':
    case 'idn-email':
      return `${rng.pick(FIRST_NAMES).toLowerCase()}.${rng.pick(LAST_NAMES).toLowerCase()}@example.com`;
    case 'uri':
    case 'url':
    case 'iri':
      return `https://example.com/${/image|photo|avatar/.test(name) ? 'images' : 'docs'}/${rng.pick(WORDS.noun)}-${rng.range(1, 999)}`;
    case 'uri-reference':
    case 'iri-reference':
      return `/docs/${rng.pick(WORDS.noun)}`;
    case 'uuid':
      return uuid(rng);
    case 'hostname':
    case 'idn-hostname':
      return `${rng.pick(WORDS.noun)}.example.com`;
    case 'ipv4':
      return `192.0.2.${rng.range(1, 254)}`;
    case 'ipv6':
      return `2001:db8::${hex(rng, 4)}`;
    default:
      return null;
  }
}

/** A string by what its property is called; null when the name says nothing. */
function namedString(name: string, rng: Rng): string | null {
  const n = name.toLowerCase().replace(/[^a-z0-9]+/g, '_');
  const has = (re: RegExp) => re.test(n);
  if (has(/email/)) return formatted('email', rng, n);
  if (has(/(^|_)(url|uri|link|website|homepage|href)($|_)/)) return formatted('uri', rng, n);
  if (has(/uuid|guid/)) return uuid(rng);
  if (has(/(^|_)id$|_id$|^id_/)) return `${n.replace(/_?id$/, '').slice(0, 4) || 'id'}_${hex(rng, 10)}`;
  if (has(/phone|mobile|tel($|_)/)) return `+1-555-01${pad(rng.range(0, 99))}`;
  if (has(/(^|_)(street|address_line|line1|address)($|_)/)) return `${rng.range(1, 240)} ${rng.pick(STREETS)} ${rng.pick(STREET_KINDS)}`;
  if (has(/postal|zip|postcode/)) return String(rng.range(10000, 99999));
  if (has(/country/)) return rng.pick(COUNTRIES);
  if (has(/city|location|place|town|destination|origin/)) return rng.pick(CITIES);
  if (has(/(^|_)unit($|s$)/)) return 'celsius';
  if (has(/currency/)) return rng.pick(CURRENCIES);
  if (has(/colou?r/)) return rng.pick(COLOURS);
  if (has(/language|locale/)) return rng.pick(LANGUAGES);
  if (has(/(^|_)(date|day|deadline|due|birthday|dob)($|_)/)) return formatted('date', rng, n);
  if (has(/(_at|_time|timestamp)$/)) return formatted('date-time', rng, n);
  if (has(/first_?name|given/)) return rng.pick(FIRST_NAMES);
  if (has(/last_?name|surname|family/)) return rng.pick(LAST_NAMES);
  if (has(/(^|_)(name|author|user|username|person|owner|assignee|customer|contact)($|_)/)) return `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
  if (has(/title|heading|headline|subject|caption/)) return [cap(rng.pick(WORDS.adj)), cap(rng.pick(WORDS.noun)), cap(rng.pick(WORDS.noun))].join(' ');
  if (has(/summary|description|explanation|reason|rationale|justification|analysis|answer|content|body|text|comment|note|message|detail|instruction|feedback|bio|overview|abstract|response|step|thought|conclusion/)) {
    return prose(rng, rng.range(14, 40));
  }
  if (has(/query|search|question|prompt|keyword|term/)) return phrase(rng, 3);
  if (has(/(^|_)(category|type|kind|status|label|tag|genre|role|level|mode|state)s?($|_)/)) return rng.pick(WORDS.noun);
  return null;
}

/** A string matching `pattern` for the common subset of regex syntax (classes, escapes, groups, alternation, quantifiers); null if it cannot. */
export function stringForPattern(pattern: string, rng: Rng): string | null {
  let i = 0;
  const CLASS: Record<string, string> = { d: '0123456789', w: 'abcdefghijklmnopqrstuvwxyz0123456789', s: ' ' };
  const fail = (): never => {
    throw new Error('unsupported pattern');
  };
  const readClass = (): string => {
    i++; // [
    if (pattern[i] === '^') fail();
    let chars = '';
    while (i < pattern.length && pattern[i] !== ']') {
      let c = pattern[i++];
      if (c === '\\') {
        const e = pattern[i++];
        if (CLASS[e]) {
          chars += CLASS[e];
          continue;
        }
        c = e;
      }
      if (pattern[i] === '-' && pattern[i + 1] !== ']' && i + 1 < pattern.length) {
        const end = pattern[i + 1] === '\\' ? pattern[i + 2] : pattern[i + 1];
        i += pattern[i + 1] === '\\' ? 3 : 2;
        for (let k = c.charCodeAt(0); k <= end.charCodeAt(0) && chars.length < 512; k++) chars += String.fromCharCode(k);
      } else chars += c;
    }
    if (pattern[i] !== ']' || chars.length === 0) fail();
    i++;
    return chars;
  };
  // Returns a generator for one atom.
  const atom = (): (() => string) => {
    const c = pattern[i];
    if (c === '(') {
      i++;
      if (pattern.startsWith('?:', i)) i += 2;
      else if (pattern[i] === '?') fail();
      const alt = alternation();
      if (pattern[i] !== ')') fail();
      i++;
      return alt;
    }
    if (c === '[') {
      const chars = readClass();
      return () => chars[rng.int(chars.length)];
    }
    if (c === '\\') {
      const e = pattern[i + 1];
      i += 2;
      if (CLASS[e]) return () => CLASS[e][rng.int(CLASS[e].length)];
      if (/[A-Za-z0-9]/.test(e ?? '')) fail(); // \b, \p{...}, backreferences
      return () => e;
    }
    if (c === '.') {
      i++;
      return () => 'abcdefghijklmnopqrstuvwxyz'[rng.int(26)];
    }
    if ('*+?{|)'.includes(c)) fail();
    i++;
    return () => c;
  };
  const sequence = (): (() => string) => {
    const parts: (() => string)[] = [];
    while (i < pattern.length && pattern[i] !== '|' && pattern[i] !== ')') {
      if (pattern[i] === '^' || pattern[i] === '$') {
        i++;
        continue;
      }
      const one = atom();
      let min = 1;
      let max = 1;
      const q = pattern[i];
      if (q === '?') [min, max] = [0, 1];
      else if (q === '*') [min, max] = [0, 3];
      else if (q === '+') [min, max] = [1, 3];
      if ('?*+'.includes(q ?? 'x') && q !== undefined) i++;
      else if (q === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!m) fail();
        min = Number(m![1]);
        max = m![2] === undefined ? min : m![3] === '' ? min + 3 : Number(m![3]);
        i += m![0].length;
      }
      if (pattern[i] === '?') i++; // lazy quantifier: same strings
      parts.push(() => {
        const n = min + rng.int(Math.min(max, min + 3) - min + 1);
        let s = '';
        for (let k = 0; k < n; k++) s += one();
        return s;
      });
    }
    return () => parts.map((p) => p()).join('');
  };
  const alternation = (): (() => string) => {
    const options = [sequence()];
    while (pattern[i] === '|') {
      i++;
      options.push(sequence());
    }
    return () => rng.pick(options)();
  };
  try {
    const gen = alternation();
    if (i !== pattern.length) return null;
    const re = new RegExp(pattern, 'u');
    for (let attempt = 0; attempt < 4; attempt++) {
      const s = gen();
      if (re.test(s)) return s;
    }
  } catch {
    // unsupported or invalid pattern
  }
  return null;
}

/** Fits a string into minLength/maxLength, cutting at a word where it can. */
function fitLength(value: string, schema: Record<string, unknown>, rng: Rng): string {
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Number.POSITIVE_INFINITY;
  let s = value;
  while ([...s].length < min) s += (s.length > 0 ? ' ' : '') + rng.pick(WORDS.noun);
  if ([...s].length > max) {
    const chars = [...s].slice(0, max);
    const cut = chars.join('');
    const atWord = cut.lastIndexOf(' ');
    s = atWord >= Math.max(1, min) ? cut.slice(0, atWord) : cut;
    s = s.replace(/[\s,]+$/, '');
    while ([...s].length < min) s += 'x';
  }
  return s;
}

function stringValue(schema: Record<string, unknown>, name: string, rng: Rng): string {
  if (typeof schema.pattern === 'string') {
    const s = stringForPattern(schema.pattern, rng);
    if (s !== null) return s;
  }
  const fromFormat = typeof schema.format === 'string' ? formatted(schema.format, rng, name.toLowerCase()) : null;
  if (fromFormat !== null) return fromFormat;
  return fitLength(namedString(name, rng) ?? phrase(rng, rng.range(2, 3)), schema, rng);
}

/** Typical ranges by property name, when the schema gives none. */
function namedRange(name: string, integer: boolean): [number, number] {
  const n = name.toLowerCase();
  if (/(^|_)age$/.test(n)) return [18, 80];
  if (/year/.test(n)) return [1990, 2026];
  if (/month/.test(n)) return [1, 12];
  if (/(^|_)day/.test(n)) return [1, 28];
  if (/hour/.test(n)) return [0, 23];
  if (/minute|second/.test(n)) return [0, 59];
  if (/lat/.test(n) && !/late/.test(n)) return [-90, 90];
  if (/lon|lng/.test(n)) return [-180, 180];
  if (/percent|pct/.test(n)) return [0, 100];
  if (/confidence|probability|ratio|weight/.test(n) && !integer) return [0, 1];
  if (/rating|stars|score/.test(n)) return integer ? [1, 5] : [1, 10];
  if (/price|cost|amount|total|salary/.test(n)) return [5, 500];
  if (/count|quantity|qty|number|num|size|items|order|step|rank|index|position/.test(n)) return [1, 12];
  return integer ? [1, 100] : [0, 100];
}

function numberValue(schema: Record<string, unknown>, name: string, integer: boolean, rng: Rng): number {
  // exclusiveMinimum/Maximum: numbers since draft 6, booleans beside minimum/maximum in draft 4.
  const exMin = typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum : schema.exclusiveMinimum === true && typeof schema.minimum === 'number' ? schema.minimum : null;
  const exMax = typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum : schema.exclusiveMaximum === true && typeof schema.maximum === 'number' ? schema.maximum : null;
  const incMin = typeof schema.minimum === 'number' && schema.exclusiveMinimum !== true ? schema.minimum : null;
  const incMax = typeof schema.maximum === 'number' && schema.exclusiveMaximum !== true ? schema.maximum : null;
  const step = typeof schema.multipleOf === 'number' && schema.multipleOf > 0 ? schema.multipleOf : integer ? 1 : 0.01;
  const bounded = incMin !== null || incMax !== null || exMin !== null || exMax !== null;
  let [lo, hi] = namedRange(name, integer);
  if (bounded) {
    const floor = Math.max(incMin ?? -Infinity, exMin ?? -Infinity);
    const ceiling = Math.min(incMax ?? Infinity, exMax ?? Infinity);
    // Keep the typical range where it fits inside the bounds; otherwise the bounds themselves.
    lo = Math.max(lo, floor);
    hi = Math.min(hi, ceiling);
    if (lo > hi) {
      lo = floor;
      hi = ceiling;
      if (!Number.isFinite(lo)) lo = hi - 100;
      if (!Number.isFinite(hi)) hi = lo + 100;
    }
  }
  const unit = integer ? Math.max(1, Math.ceil(step)) : step;
  const decimals = Math.min(10, (String(unit).split('.')[1] ?? '').length);
  // A multiple as naive validators check it too (v / step a whole number in floating point).
  const multiple = (v: number) => typeof schema.multipleOf !== 'number' || Number.isInteger(v / schema.multipleOf);
  const ok = (v: number) =>
    multiple(v) && (incMin === null || v >= incMin) && (incMax === null || v <= incMax) && (exMin === null || v > exMin) && (exMax === null || v < exMax) && Number.isFinite(v);
  let first = Math.ceil(lo / unit - 1e-9);
  let last = Math.floor(hi / unit + 1e-9);
  if (last < first) last = first;
  for (let attempt = 0; attempt < 16; attempt++) {
    const k = first + rng.int(last - first + 1);
    const v = Number((k * unit).toFixed(decimals));
    if (ok(v)) return v;
    if (attempt === 11) {
      first = Math.ceil(lo / unit - 1e-9);
      last = first + 1;
    }
  }
  return Number((first * unit).toFixed(decimals));
}

function resolveRef(ref: string, root: unknown): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').filter((p) => p.length > 0)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isRecord(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Merges `allOf` parts (and the schema's own keywords) into one schema: properties and required are combined. */
function mergeAllOf(schema: Record<string, unknown>, root: unknown, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { ...schema };
  delete out.allOf;
  const properties: Record<string, unknown> = isRecord(schema.properties) ? { ...schema.properties } : {};
  const required = new Set<string>(Array.isArray(schema.required) ? schema.required.filter((k): k is string => typeof k === 'string') : []);
  for (let part of schema.allOf as unknown[]) {
    if (isRecord(part) && typeof part.$ref === 'string' && depth < MAX_DEPTH * 2) part = resolveRef(part.$ref, root);
    if (!isRecord(part)) continue;
    if (Array.isArray(part.allOf)) part = mergeAllOf(part, root, depth + 1);
    const p = part as Record<string, unknown>;
    for (const [k, v] of Object.entries(p)) if (k !== 'properties' && k !== 'required' && !(k in out)) out[k] = v;
    if (isRecord(p.properties)) Object.assign(properties, p.properties);
    if (Array.isArray(p.required)) for (const k of p.required) if (typeof k === 'string') required.add(k);
  }
  if (Object.keys(properties).length > 0) out.properties = properties;
  if (required.size > 0) out.required = [...required];
  return out;
}

function singular(name: string): string {
  if (/ies$/.test(name)) return name.slice(0, -3) + 'y';
  if (/(ss|us)$/.test(name)) return name;
  return name.replace(/s$/, '');
}

/**
 * A deterministic value that satisfies `schema` and reads like real data for a property called
 * `propertyName`. `root` is the document `$ref`s resolve against (the schema itself at the top).
 */
export function valueForSchema(schema: unknown, propertyName: string, rng: Rng, depth = 0, root: unknown = schema): unknown {
  if (schema === true || schema === undefined) return namedString(propertyName, rng) ?? phrase(rng, 2);
  if (!isRecord(schema)) return phrase(rng, 2);
  if (typeof schema.$ref === 'string') {
    const target = resolveRef(schema.$ref, root);
    if (target !== undefined && depth < MAX_DEPTH * 2) {
      const rest = { ...schema };
      delete rest.$ref;
      const merged = Object.keys(rest).length > 0 && isRecord(target) ? { ...target, ...rest } : target;
      return valueForSchema(merged, propertyName, rng, depth + 1, root);
    }
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) return valueForSchema(mergeAllOf(schema, root, depth), propertyName, rng, depth + 1, root);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) {
    const nonNull = schema.enum.filter((v) => v !== null);
    return rng.pick(nonNull.length > 0 ? nonNull : schema.enum);
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length > 0) {
      // The first option that is not null (and, deep in a recursive schema, null when it is offered).
      const isNull = (o: unknown) => isRecord(o) && o.type === 'null';
      const pick = depth >= MAX_DEPTH && options.some(isNull) ? options.find(isNull) : (options.find((o) => !isNull(o)) ?? options[0]);
      const rest = { ...schema };
      delete rest[key];
      const merged = isRecord(pick) && Object.keys(rest).some((k) => k !== 'description' && k !== 'title') ? { ...rest, ...pick } : pick;
      return valueForSchema(merged, propertyName, rng, depth + 1, root);
    }
  }
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? type[0];
  if (type === undefined) {
    if (isRecord(schema.properties)) type = 'object';
    else if (schema.items !== undefined || Array.isArray(schema.prefixItems)) type = 'array';
    else if (typeof schema.minimum === 'number' || typeof schema.maximum === 'number') type = 'number';
  }
  switch (type) {
    case 'integer':
    case 'number':
      return numberValue(schema, propertyName, type === 'integer', rng);
    case 'boolean':
      return rng.int(2) === 1;
    case 'null':
      return null;
    case 'array':
      return arrayValue(schema, propertyName, rng, depth, root);
    case 'object':
      return objectValue(schema, propertyName, rng, depth, root);
    default:
      return stringValue(schema, propertyName, rng);
  }
}

function arrayValue(schema: Record<string, unknown>, name: string, rng: Rng, depth: number, root: unknown): unknown[] {
  const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : [];
  const minItems = typeof schema.minItems === 'number' ? schema.minItems : 0;
  const maxItems = typeof schema.maxItems === 'number' ? schema.maxItems : Number.POSITIVE_INFINITY;
  const natural = depth >= MAX_DEPTH / 2 ? 0 : rng.range(1, 3);
  const count = Math.min(Math.max(minItems, natural, prefix.length > 0 ? Math.min(prefix.length, maxItems) : 0), maxItems, 32);
  const itemName = singular(name);
  const out: unknown[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const itemSchema = i < prefix.length ? prefix[i] : schema.items === false ? undefined : schema.items;
    let value: unknown;
    for (let attempt = 0; attempt < 12; attempt++) {
      value = valueForSchema(itemSchema, itemName, rng, depth + 1, root);
      // Items with an order or position are numbered in sequence, as a model numbers steps.
      if (isRecord(value)) for (const key of ['order', 'step', 'index', 'position', 'rank']) if (Number.isInteger(value[key]) && itemAccepts(itemSchema, key, i + 1, root)) value[key] = i + 1;
      if (schema.uniqueItems !== true || !seen.has(JSON.stringify(value))) break;
    }
    if (schema.uniqueItems === true) {
      const key = JSON.stringify(value);
      if (seen.has(key)) break; // no more distinct values (a small enum): stop here
      seen.add(key);
    }
    out.push(value);
  }
  return out;
}

/** Whether `n` satisfies the integer property `key` of an item schema (so renumbering keeps the value valid). */
function itemAccepts(itemSchema: unknown, key: string, n: number, root: unknown): boolean {
  let s: unknown = itemSchema;
  if (isRecord(s) && typeof s.$ref === 'string') s = resolveRef(s.$ref, root);
  const prop = isRecord(s) && isRecord(s.properties) ? s.properties[key] : undefined;
  if (!isRecord(prop) || prop.enum !== undefined || prop.const !== undefined) return false;
  if (typeof prop.minimum === 'number' && n < prop.minimum) return false;
  if (typeof prop.maximum === 'number' && n > prop.maximum) return false;
  if (typeof prop.exclusiveMinimum === 'number' && n <= prop.exclusiveMinimum) return false;
  if (typeof prop.exclusiveMaximum === 'number' && n >= prop.exclusiveMaximum) return false;
  return typeof prop.multipleOf !== 'number' || n % prop.multipleOf === 0;
}

function objectValue(schema: Record<string, unknown>, _name: string, rng: Rng, depth: number, root: unknown): Record<string, unknown> {
  const props = isRecord(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((k): k is string => typeof k === 'string') : null;
  // Required properties always; with none required, every property (shallow) or none (deep in a recursive schema).
  const keys = required && required.length > 0 ? required : depth >= MAX_DEPTH ? [] : Object.keys(props);
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = valueForSchema(props[key], key, rng, depth + 1, root);
  return out;
}
