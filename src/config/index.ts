/**
 * config: load warden.yaml, apply WARDEN_* environment overrides, validate, resolve `env:` secrets.
 *
 * Environment overrides use double underscores for nesting:
 *   WARDEN_SERVER__PORT=9000  ->  server.port = 9000
 *   WARDEN_STORE__DRIVER=postgres  (with WARDEN_STORE__POSTGRES_URL=postgres://...: there is no default URL)
 * Values are read as the schema's type for that key: a string key takes the value as it is (a
 * digits-only token stays a string), a number or boolean key parses it, a list takes
 * comma-separated items (`loopback,10.0.0.0/8`) or JSON (`["loopback"]`), and a key that may be
 * null takes `null`. Keys of other shapes take JSON, else the string.
 * A WARDEN_ variable that is no override but spells a key with single underscores
 * (WARDEN_SERVER_PORT) sets nothing: loadConfig warns, naming the override meant (strayEnvNames).
 * Imports each capability's own `config.ts` schema (and nothing else of it) to assemble warden.yaml's, and `events`' address parsing for `server.trusted_proxies` (trusted-proxies.ts).
 */
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type WardenConfig } from './schema.ts';
import { adminTokenProblem } from '../admin/config.ts';
export { upstreamSchema, type WardenConfig, type UpstreamConfig } from './schema.ts';
export { parseListenAddress, type ListenAddress } from './listen-address.ts';

export class ConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ConfigError'; }
}

/** Apply WARDEN_A__B=value overrides onto a plain object. */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('WARDEN_') || !name.includes('__') || value === undefined) continue;
    const path = name.slice('WARDEN_'.length).toLowerCase().split('__');
    let node: Record<string, unknown> = raw;
    for (const seg of path.slice(0, -1)) {
      if (typeof node[seg] !== 'object' || node[seg] === null) node[seg] = {};
      node = node[seg] as Record<string, unknown>;
    }
    node[path[path.length - 1]] = parseEnvValue(value, schemaAt(configSchema, path));
  }
  return raw;
}

// Zod 4 internals read here: each schema's `_zod.def` (`type`, and `shape`, `innerType`, `in`, `element`, `options`).
interface SchemaDef { type: string; shape?: Record<string, Schema>; innerType?: Schema; in?: Schema; element?: Schema; options?: readonly Schema[]; entries?: Record<string, unknown> }
interface Schema { _zod: { def: SchemaDef } }

/** What an environment value is read as: the type of the key it sets, and whether null is allowed. */
interface EnvTarget { type: string; element?: EnvTarget; nullable: boolean }

/** The schema type under the wrappers (default, prefault, nullable, optional, pipe). */
function unwrap(schema: Schema | undefined): EnvTarget | null {
  let nullable = false;
  for (let s = schema; s; ) {
    const d = s._zod.def;
    if (d.type === 'nullable') nullable = true;
    if (d.type === 'default' || d.type === 'prefault' || d.type === 'nullable' || d.type === 'optional' || d.type === 'readonly') { s = d.innerType; continue; }
    if (d.type === 'pipe') { s = d.in; continue; }
    return { type: d.type, nullable, ...(d.type === 'array' ? { element: unwrap(d.element) ?? undefined } : {}) };
  }
  return null;
}

/** The target of a key path in the config schema; null when the path leaves the schema (the schema then names the unknown key). */
function schemaAt(root: Schema, path: readonly string[]): EnvTarget | null {
  let s: Schema | undefined = root;
  for (const seg of path) {
    while (s && ['default', 'prefault', 'nullable', 'optional', 'readonly'].includes(s._zod.def.type)) s = s._zod.def.innerType;
    if (s?._zod.def.type === 'pipe') s = s._zod.def.in;
    s = s?._zod.def.type === 'object' ? s._zod.def.shape?.[seg] : undefined;
    if (!s) return null;
  }
  return unwrap(s);
}

const DECIMAL = /^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/;

/** A JSON-quoted string (`"123"`, the documented way to force a string) is that string; anything else is kept as it is. */
function unquoted(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  try { const s: unknown = JSON.parse(value); return typeof s === 'string' ? s : value; } catch { return value; }
}

function parseScalar(value: string, target: EnvTarget | null | undefined): unknown {
  if (target?.nullable && value === 'null') return null;
  switch (target?.type) {
    case 'string': case 'enum': case 'literal': return unquoted(value);
    // Decimal only: Number() also reads '0x1F90', '0b1', '' and 'Infinity'.
    case 'number': return DECIMAL.test(value) ? Number(value) : value;
    case 'boolean': return value === 'true' ? true : value === 'false' ? false : value;
    default: try { return JSON.parse(value); } catch { return value; }
  }
}

/** One environment value as the key's schema type reads it (see the module comment). */
function parseEnvValue(value: string, target: EnvTarget | null): unknown {
  if (target?.type !== 'array') return parseScalar(value, target);
  if (target.nullable && value === 'null') return null;
  if (value.trimStart().startsWith('[')) { try { return JSON.parse(value); } catch { return value; } }
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '').map((item) => parseScalar(item, target.element));
}

/**
 * One line per schema issue, `  path.to.key: message` (paths under `prefix` when given); an
 * unknown key is a line of its own naming its full path (`  server.prot: unknown key`).
 */
export function issueLines(issues: readonly { path: PropertyKey[]; message: string; code?: string; keys?: readonly string[] }[], prefix = '', sources: ReadonlyMap<string, string> = new Map()): string {
  const at = (path: readonly PropertyKey[]) => [prefix, ...path.map(String)].filter(Boolean).join('.') || '(root)';
  // The variable that set the value (or the list or section holding it), when the environment did:
  // a bad value there is in no file the operator can look at.
  const from = (path: readonly PropertyKey[]) => {
    for (let n = path.length; n > 0; n--) {
      const name = sources.get(path.slice(0, n).map(String).join('.'));
      if (name) return ` (set by ${name})`;
    }
    return '';
  };
  return issues.flatMap((i) => (i.code === 'unrecognized_keys' && i.keys?.length
    ? i.keys.map((k) => `  ${at([...i.path, k])}: unknown key${from([...i.path, k])}`)
    : [`  ${at(i.path)}: ${i.message}${from(i.path)}`])).join('\n');
}

/** The keys WARDEN_A__B variables set, by dotted path (`server.port` -> `WARDEN_SERVER__PORT`), as applyEnvOverrides applies them. */
export function envOverrideSources(env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const sources = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('WARDEN_') || !name.includes('__') || value === undefined) continue;
    sources.set(name.slice('WARDEN_'.length).toLowerCase().split('__').join('.'), name);
  }
  return sources;
}

/**
 * Validate a raw object into a config, with a readable error listing every bad key (and, given
 * `sources`, the environment variable that set it). Every section
 * is a strict object: a key the schema does not know (a typo such as `servr:` or `server.prot`, in
 * the file or as WARDEN_SERVER__PROT) is an error, never silently ignored with its default in force.
 */
export function parseConfig(raw: unknown, warn: (line: string) => void = () => {}, sources?: ReadonlyMap<string, string>): WardenConfig {
  const result = configSchema.safeParse(withoutRemovedKeys(raw ?? {}, warn));
  if (!result.success) throw new ConfigError(`invalid configuration:\n${issueLines(result.error.issues, '', sources)}`);
  if (holderOf(raw, ['detect', 'mode'])) detectModesWritten.add(result.data.detect);
  return result.data;
}

/** The `detect` sections whose `mode` was written (file or WARDEN_DETECT__MODE), not left at its default. */
const detectModesWritten = new WeakSet<object>();

/**
 * Whether `detect.mode` was set in the configuration rather than left at its default (`inline`):
 * a node on a shared store beside a detector worker starts only when it was (src/cli/detector.ts).
 */
export function detectModeWritten(config: WardenConfig): boolean {
  return detectModesWritten.has(config.detect);
}

/**
 * Keys earlier releases had and this one no longer uses. A configuration that still sets one
 * (saved from an earlier `warden config defaults`) starts, with a warning naming it, instead of
 * failing as an unknown key would.
 */
const REMOVED_KEYS: readonly (readonly string[])[] = [['log', 'prompts'], ['detect', 'shared', 'tail_ms'], ['detect', 'shared', 'tail_lag_seconds']];

/** The object that holds the last key of `path` in `raw`, if it holds that key. */
function holderOf(raw: unknown, path: readonly string[]): Record<string, unknown> | null {
  let parent = raw;
  for (const key of path.slice(0, -1)) parent = parent && typeof parent === 'object' ? (parent as Record<string, unknown>)[key] : undefined;
  return parent && typeof parent === 'object' && Object.hasOwn(parent, path[path.length - 1]) ? parent as Record<string, unknown> : null;
}

function withoutRemovedKeys(raw: unknown, warn: (line: string) => void): unknown {
  const present = REMOVED_KEYS.filter((path) => holderOf(raw, path) !== null);
  if (present.length === 0) return raw;
  const copy = structuredClone(raw);
  for (const path of present) {
    delete holderOf(copy, path)![path[path.length - 1]];
    warn(`configuration: ${path.join('.')} is no longer used and is ignored; remove it`);
  }
  return copy;
}

/** `store.postgres_url`, which validation requires with PostgreSQL; for a config built without `parseConfig` (tests), the same error. */
export function postgresUrl(store: { postgres_url: string | null }): string {
  if (!store.postgres_url) throw new ConfigError('invalid configuration:\n  store.postgres_url: required when store.driver is postgres: set it in warden.yaml or as WARDEN_STORE__POSTGRES_URL');
  return store.postgres_url;
}

/** Load the config file (if any), apply environment overrides and validate. Warnings (removed keys) go to `warn`, stderr by default. */
export function loadConfig(path?: string, env: NodeJS.ProcessEnv = process.env, warn: (line: string) => void = (line) => process.stderr.write(`warden: ${line}\n`)): WardenConfig {
  let raw: Record<string, unknown> = {};
  const file = path ?? env.WARDEN_CONFIG ?? (existsSync('warden.yaml') ? 'warden.yaml' : undefined);
  if (file) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (err) { throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`); }
    try { raw = (parseYaml(text) as Record<string, unknown>) ?? {}; } catch (err) { throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`); }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${file} must be a YAML mapping`);
  }
  const config = parseConfig(applyEnvOverrides(raw, env), warn, envOverrideSources(env));
  for (const line of strayEnvNames(config, env)) warn(line);
  return config;
}

/** The WARDEN_* variables Warden reads by name (besides WARDEN_A__B overrides and `env:` references). */
const READ_BY_NAME = new Set(['WARDEN_CONFIG', 'WARDEN_LOG_LEVEL', 'WARDEN_ADMIN_TOKEN', 'WARDEN_LEDGER_KEY', 'WARDEN_ADMIN_URL']);

/**
 * WARDEN_* variables that set nothing but look like an override of a key (`WARDEN_SERVER_PORT`,
 * single underscores, for server.port): one line each naming the override meant. A variable no
 * key's name is close to (another program's, or a secret under a name of the operator's choosing)
 * is left alone, as are the names Warden reads and those the configuration references (`env:`).
 */
export function strayEnvNames(config: WardenConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const referenced = new Set<string>();
  const refs = (v: unknown) => {
    if (typeof v === 'string' && v.startsWith('env:')) referenced.add(v.slice(4));
    else if (v && typeof v === 'object') for (const x of Object.values(v)) refs(x);
  };
  refs(config);
  const keys: string[][] = [];
  const walk = (v: unknown, path: string[]) => {
    if (path.length >= 2) keys.push(path);
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(parseConfig({}), []);
  const lines: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('WARDEN_') || name.includes('__') || READ_BY_NAME.has(name) || referenced.has(name)) continue;
    const spelled = name.slice('WARDEN_'.length).toLowerCase();
    let best: { path: string[]; distance: number } | null = null;
    for (const path of keys) {
      const d = editDistance(spelled, path.join('_'));
      if (!best || d < best.distance) best = { path, distance: d };
    }
    // Close: the key's name with single underscores, give or take a typo.
    if (!best || best.distance > Math.min(2, Math.floor(spelled.length / 5))) continue;
    const meant = `WARDEN_${best.path.join('__').toUpperCase()}`;
    lines.push(`environment: ${name} sets nothing (overrides separate sections with double underscores); for ${best.path.join('.')} write ${meant}`);
  }
  return lines;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/**
 * The `env:NAME` settings whose variable is unset or empty, one line each:
 * `upstreams.0.api_key: environment variable NAME is not set`. A setting left at its default
 * (`admin.token: env:WARDEN_ADMIN_TOKEN`, `ledger.key: env:WARDEN_LEDGER_KEY`, ...) may stay unset:
 * its documented fallback applies (admin token file, key file, feature off). One written in the
 * configuration must be set: an unset upstream key would send requests with no key at all, a
 * mistyped name would silently turn a webhook or a secret off. `null` means "none" on purpose.
 */
export function unsetEnvSettings(config: WardenConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const problems: string[] = [];
  const walk = (value: unknown, byDefault: unknown, path: string[]) => {
    if (typeof value === 'string') {
      if (!value.startsWith('env:') || value === byDefault) return;
      const name = value.slice(4);
      if (!env[name]) problems.push(`${path.join('.')}: environment variable ${name} is not set`);
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, (byDefault as Record<string, unknown> | undefined)?.[k], [...path, k]);
    }
  };
  walk(config, parseConfig({}), []);
  return problems;
}

/**
 * Throw a ConfigError listing the `env:NAME` settings whose variable is not set (see
 * unsetEnvSettings), and values read from the environment that the schema would refuse written
 * in the file (an admin token under 16 characters).
 */
export function checkEnvSettings(config: WardenConfig, env: NodeJS.ProcessEnv = process.env): void {
  const problems = unsetEnvSettings(config, env);
  for (const [name, setting] of [['admin.token', config.admin.token], ['admin.previous_token', config.admin.previous_token]] as const) {
    const token = setting?.startsWith('env:') ? resolveSecret(setting, env) : null;
    const tokenProblem = token ? adminTokenProblem(token) : null;
    if (tokenProblem) problems.push(`${name}: ${setting!.slice(4)} ${tokenProblem}`);
  }
  const previous = resolveSecret(config.admin.previous_token, env);
  if (previous && previous === resolveSecret(config.admin.token, env)) problems.push('admin.previous_token: is the same as admin.token: set it to the token being rotated out');
  if (!problems.length) return;
  // The hint about api_key: null only where an upstream's key is missing (a webhook secret is not optional that way).
  const hint = problems.some((p) => /^upstreams\.\d+\.api_key:/.test(p)) ? 'set each variable; an upstream that takes no key has api_key: null' : 'set each variable';
  throw new ConfigError(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}\n(${hint})`);
}

/** Resolve a secret setting: `env:NAME` reads process.env.NAME; anything else is the literal value. */
export function resolveSecret(value: string | null | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!value) return null;
  if (value.startsWith('env:')) return env[value.slice(4)] ?? null;
  return value;
}

/** A connection URL as shown in logs and errors: its password (redis://:secret@host) replaced by `***`. */
export function urlForLog(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.href;
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//***@');
  }
}
