/**
 * Usage aggregations over the interaction events table: who used the model, how much and from
 * where, by account, org, key, model, IP, network, country or ASN and by time bucket, plus the
 * recent interactions with what the boundary did to them. One SQL builder, two dialects (the
 * embedded SQLite file and PostgreSQL); both read the `events` table the gateway's recorder
 * writes, through its indexed columns (ts, account_id, org_id, key_id, model, client_ip, status)
 * and the JSON body for token counts, country and ASN.
 *
 * Outcomes are classified by HTTP status, the same on both backends:
 *   ok (< 400), limited (429: rate, token, concurrency, budget limits), denied (403: policy,
 *   region, verification, suspension, verdicts), unauthenticated (401), server_errors (>= 500,
 *   upstream failures and fail-closed limits), client_errors (other 4xx, including 499 client gone).
 */
import type { SqliteDb, PgPool } from '../store/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { subnetOf } from '../limits/network.ts';

export const USAGE_DIMENSIONS = ['account', 'org', 'key', 'model', 'ip', 'network', 'country', 'asn', 'flavour', 'verdict'] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];

/** Time range (ISO 8601, from inclusive, to exclusive) and optional narrowing filters. */
export interface UsageFilter {
  from: string;
  to: string;
  accountId?: string;
  orgId?: string;
  keyId?: string;
  model?: string;
  ip?: string;
}

export interface UsageCounts {
  requests: number;
  ok: number;
  limited: number;
  denied: number;
  unauthenticated: number;
  client_errors: number;
  server_errors: number;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
}

export interface UsagePoint extends UsageCounts {
  /** Bucket start, ISO 8601. */
  t: string;
}

export interface UsageSummary {
  from: string;
  to: string;
  bucket_s: number;
  totals: UsageCounts & { accounts: number; ips: number };
  /** One point per bucket from `from` to `to`, empty buckets included (zeros). */
  series: UsagePoint[];
  /** Requests per (status, error code), most frequent first. */
  outcomes: { status: number; code: string | null; requests: number }[];
}

export interface UsageTopRow extends UsageCounts {
  /** The group's value (account id, IP, `203.0.113.0/24`, country code...); null when absent (e.g. unauthenticated requests). */
  key: string | null;
  /** Distinct accounts in the group. */
  accounts: number;
  /** Distinct client IPs in the group. */
  ips: number;
  first_ts: string;
  last_ts: string;
}

/** One interaction as the dashboard lists it: no prompt text beyond a short preview. */
export interface InteractionSummary {
  id: string;
  ts: string;
  flavour: string;
  model: string;
  account_id: string | null;
  org_id: string | null;
  key_id: string | null;
  client_ip: string;
  country: string | null;
  asn: number | null;
  user_agent: string | null;
  stream: boolean;
  status: number;
  error_code: string | null;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  tool_calls: number;
  finish_reason: string | null;
  duration_ms: number;
  ttfb_ms: number | null;
  params: { max_tokens: number | null; n: number | null; logprobs: boolean | null; reasoning_effort: string | null; thinking_budget: number | null };
  tools: number;
  messages: number;
  /** Start of the last user message (when prompts are recorded), at most 160 characters. */
  prompt_preview: string | null;
  enforcement: InteractionEvent['enforcement'];
}

export interface TopOptions {
  limit?: number;
  /** Order groups by requests (default) or total tokens. */
  sort?: 'requests' | 'tokens';
  /** Prefix lengths for `network` (default /24 and /64). */
  v4Prefix?: number;
  v6Prefix?: number;
}

/** Read-only usage queries over the events table. */
export interface UsageStore {
  summary(filter: UsageFilter, bucketSeconds?: number): Promise<UsageSummary>;
  top(dimension: UsageDimension, filter: UsageFilter, opts?: TopOptions): Promise<UsageTopRow[]>;
  /** Newest first; `before` is an event id (exclusive) for paging. */
  interactions(filter: Partial<UsageFilter> & { before?: string; limit?: number }): Promise<InteractionSummary[]>;
}

/** Bucket sizes the summary picks from (seconds). */
export const BUCKETS = [60, 300, 900, 3600, 6 * 3600, 86400] as const;

/** The smallest bucket that cuts the range into at most `maxPoints` points. */
export function chooseBucket(fromMs: number, toMs: number, maxPoints = 120): number {
  const span = Math.max(1, toMs - fromMs) / 1000;
  for (const b of BUCKETS) if (span / b <= maxPoints) return b;
  return Math.ceil(span / maxPoints / 86400) * 86400;
}

type Row = Record<string, unknown>;

interface Dialect {
  placeholder(i: number): string;
  /** Seconds since the epoch of the ts column, as an integer expression. */
  epoch: string;
  /** Numeric value at a JSON path of `body`. */
  num(path: string[]): string;
  /** Text value at a JSON path of `body`. */
  text(path: string[]): string;
  run(sql: string, args: unknown[]): Promise<Row[]>;
}

function sqliteDialect(db: SqliteDb): Dialect {
  return {
    placeholder: () => '?',
    epoch: "CAST(strftime('%s', ts) AS INTEGER)",
    num: (p) => `json_extract(body, '$.${p.join('.')}')`,
    text: (p) => `json_extract(body, '$.${p.join('.')}')`,
    run: async (sql, args) => db.prepare(sql).all(...args) as Row[],
  };
}

function postgresDialect(pool: PgPool): Dialect {
  const path = (p: string[]) => `body${p.slice(0, -1).map((k) => `->'${k}'`).join('')}->>'${p[p.length - 1]}'`;
  return {
    placeholder: (i) => `$${i}`,
    epoch: 'CAST(FLOOR(EXTRACT(EPOCH FROM ts)) AS BIGINT)',
    num: (p) => `CAST(${path(p)} AS BIGINT)`,
    text: path,
    run: async (sql, args) => (await pool.query(sql, args)).rows as Row[],
  };
}

const n = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : String(v));

/** Usage queries over a SQLite events table (the embedded default). */
export function sqliteUsageStore(db: SqliteDb): UsageStore {
  return new SqlUsageStore(sqliteDialect(db));
}

/** Usage queries over a PostgreSQL events table. */
export function postgresUsageStore(pool: PgPool): UsageStore {
  return new SqlUsageStore(postgresDialect(pool));
}

class SqlUsageStore implements UsageStore {
  constructor(private readonly d: Dialect) {}

  private where(f: Partial<UsageFilter> & { before?: string }): { sql: string; args: unknown[] } {
    const parts: string[] = [];
    const args: unknown[] = [];
    const add = (expr: string, v: unknown) => { args.push(v); parts.push(`${expr} ${this.d.placeholder(args.length)}`); };
    if (f.from) add('ts >=', f.from);
    if (f.to) add('ts <', f.to);
    if (f.accountId) add('account_id =', f.accountId);
    if (f.orgId) add('org_id =', f.orgId);
    if (f.keyId) add('key_id =', f.keyId);
    if (f.model) add('model =', f.model);
    if (f.ip) add('client_ip =', f.ip);
    if (f.before) add('id <', f.before);
    return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args };
  }

  /** SELECT list of the counters, shared by every aggregation. */
  private counters(): string {
    const d = this.d;
    return [
      'COUNT(*) AS requests',
      'SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END) AS ok',
      'SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS limited',
      'SUM(CASE WHEN status = 403 THEN 1 ELSE 0 END) AS denied',
      'SUM(CASE WHEN status = 401 THEN 1 ELSE 0 END) AS unauthenticated',
      'SUM(CASE WHEN status >= 400 AND status < 500 AND status NOT IN (401, 403, 429) THEN 1 ELSE 0 END) AS client_errors',
      'SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS server_errors',
      `SUM(${d.num(['response', 'input_tokens'])}) AS input_tokens`,
      `SUM(${d.num(['response', 'output_tokens'])}) AS output_tokens`,
      `SUM(${d.num(['response', 'reasoning_tokens'])}) AS reasoning_tokens`,
    ].join(', ');
  }

  async summary(filter: UsageFilter, bucketSeconds?: number): Promise<UsageSummary> {
    const fromMs = Date.parse(filter.from);
    const toMs = Date.parse(filter.to);
    const bucket = bucketSeconds ?? chooseBucket(fromMs, toMs);
    const { sql, args } = this.where(filter);
    const [totalsRows, seriesRows, outcomeRows] = await Promise.all([
      this.d.run(`SELECT ${this.counters()}, COUNT(DISTINCT account_id) AS accounts, COUNT(DISTINCT client_ip) AS ips FROM events ${sql}`, args),
      this.d.run(`SELECT ${this.d.epoch} / ${bucket} AS b, ${this.counters()} FROM events ${sql} GROUP BY b ORDER BY b`, args),
      this.d.run(`SELECT status, ${this.d.text(['response', 'error_code'])} AS code, COUNT(*) AS requests FROM events ${sql} GROUP BY status, code ORDER BY requests DESC LIMIT 50`, args),
    ]);
    const t = totalsRows[0] ?? {};
    const byBucket = new Map(seriesRows.map((r) => [n(r.b), r]));
    const series: UsagePoint[] = [];
    const first = Math.floor(fromMs / 1000 / bucket);
    const last = Math.floor((toMs - 1) / 1000 / bucket);
    // Bounded: the caller chose the bucket for the range; refuse absurd point counts instead of allocating them.
    if (last - first > 10_000) throw new RangeError(`range too long for a ${bucket}s bucket`);
    for (let b = first; b <= last; b++) series.push({ t: new Date(b * bucket * 1000).toISOString(), ...countsOf(byBucket.get(b) ?? {}) });
    return {
      from: filter.from, to: filter.to, bucket_s: bucket,
      totals: { ...countsOf(t), accounts: n(t.accounts), ips: n(t.ips) },
      series,
      outcomes: outcomeRows.map((r) => ({ status: n(r.status), code: r.code === null || r.code === undefined ? null : String(r.code), requests: n(r.requests) })),
    };
  }

  async top(dimension: UsageDimension, filter: UsageFilter, opts: TopOptions = {}): Promise<UsageTopRow[]> {
    const limit = Math.max(1, Math.min(opts.limit ?? 20, 1000));
    const sort = opts.sort ?? 'requests';
    const { sql, args } = this.where(filter);
    const order = sort === 'tokens' ? 'tokens DESC, requests DESC' : 'requests DESC, tokens DESC';
    const tokens = `SUM(${this.d.num(['response', 'input_tokens'])}) + SUM(${this.d.num(['response', 'output_tokens'])}) AS tokens`;
    if (dimension === 'network') {
      // Group by address (and account, to count distinct accounts per network), then fold into subnets.
      const rows = await this.d.run(
        `SELECT client_ip AS k, account_id AS a, ${this.counters()}, MIN(ts) AS first_ts, MAX(ts) AS last_ts FROM events ${sql} GROUP BY client_ip, account_id`,
        args,
      );
      const nets = new Map<string, { counts: UsageCounts; accounts: Set<string | null>; ips: Set<string>; first: string; last: string }>();
      for (const r of rows) {
        const ip = String(r.k);
        const net = subnetOf(ip, opts.v4Prefix ?? 24, opts.v6Prefix ?? 64);
        let g = nets.get(net);
        if (!g) nets.set(net, g = { counts: countsOf({}), accounts: new Set(), ips: new Set(), first: iso(r.first_ts), last: iso(r.last_ts) });
        addCounts(g.counts, countsOf(r));
        g.accounts.add(r.a === null ? null : String(r.a));
        g.ips.add(ip);
        if (iso(r.first_ts) < g.first) g.first = iso(r.first_ts);
        if (iso(r.last_ts) > g.last) g.last = iso(r.last_ts);
      }
      const out: UsageTopRow[] = [...nets].map(([key, g]) => ({
        key, ...g.counts, accounts: [...g.accounts].filter((a) => a !== null).length, ips: g.ips.size, first_ts: g.first, last_ts: g.last,
      }));
      const tok = (r: UsageTopRow) => r.input_tokens + r.output_tokens;
      out.sort(sort === 'tokens' ? (a, b) => tok(b) - tok(a) || b.requests - a.requests : (a, b) => b.requests - a.requests || tok(b) - tok(a));
      return out.slice(0, limit);
    }
    const expr = GROUP_EXPR[dimension](this.d);
    const rows = await this.d.run(
      `SELECT ${expr} AS k, ${this.counters()}, ${tokens}, COUNT(DISTINCT account_id) AS accounts, COUNT(DISTINCT client_ip) AS ips, MIN(ts) AS first_ts, MAX(ts) AS last_ts
       FROM events ${sql} GROUP BY k ORDER BY ${order} LIMIT ${limit}`,
      args,
    );
    return rows.map((r) => ({
      key: r.k === null || r.k === undefined ? null : String(r.k),
      ...countsOf(r), accounts: n(r.accounts), ips: n(r.ips), first_ts: iso(r.first_ts), last_ts: iso(r.last_ts),
    }));
  }

  async interactions(filter: Partial<UsageFilter> & { before?: string; limit?: number }): Promise<InteractionSummary[]> {
    const limit = Math.max(1, Math.min(filter.limit ?? 50, 500));
    const { sql, args } = this.where(filter);
    const rows = await this.d.run(`SELECT body FROM events ${sql} ORDER BY id DESC LIMIT ${limit}`, args);
    return rows.map((r) => summariseEvent((typeof r.body === 'string' ? JSON.parse(r.body) : r.body) as InteractionEvent));
  }
}

const GROUP_EXPR: Record<Exclude<UsageDimension, 'network'>, (d: Dialect) => string> = {
  account: () => 'account_id',
  org: () => 'org_id',
  key: () => 'key_id',
  model: () => 'model',
  ip: () => 'client_ip',
  country: (d) => d.text(['client', 'country']),
  asn: (d) => d.text(['client', 'asn']),
  flavour: (d) => d.text(['flavour']),
  /** The detector verdict in force when the request arrived (recorded on the event by enforcement). */
  verdict: (d) => d.text(['enforcement', 'verdict']),
};

function countsOf(r: Row): UsageCounts {
  return {
    requests: n(r.requests), ok: n(r.ok), limited: n(r.limited), denied: n(r.denied), unauthenticated: n(r.unauthenticated),
    client_errors: n(r.client_errors), server_errors: n(r.server_errors),
    input_tokens: n(r.input_tokens), output_tokens: n(r.output_tokens), reasoning_tokens: n(r.reasoning_tokens),
  };
}

function addCounts(into: UsageCounts, c: UsageCounts): void {
  for (const k of Object.keys(into) as (keyof UsageCounts)[]) into[k] += c[k];
}

/** The dashboard's view of one event: facts and enforcement, with at most a short prompt preview. */
export function summariseEvent(e: InteractionEvent): InteractionSummary {
  const lastUser = [...(e.request?.messages ?? [])].reverse().find((m) => m.role === 'user' && m.text);
  const preview = lastUser?.text ? lastUser.text.replace(/\s+/g, ' ').trim().slice(0, 160) : null;
  const p = e.request?.params;
  return {
    id: e.id, ts: e.ts, flavour: e.flavour, model: e.model,
    account_id: e.account_id, org_id: e.org_id, key_id: e.key_id,
    client_ip: e.client.ip, country: e.client.country, asn: e.client.asn, user_agent: e.client.user_agent,
    stream: e.request?.stream ?? false,
    status: e.response.status, error_code: e.response.error_code,
    input_tokens: e.response.input_tokens, output_tokens: e.response.output_tokens, reasoning_tokens: e.response.reasoning_tokens,
    tool_calls: e.response.tool_calls, finish_reason: e.response.finish_reason,
    duration_ms: e.duration_ms, ttfb_ms: e.response.ttfb_ms,
    params: {
      max_tokens: p?.max_tokens ?? null, n: p?.n ?? null, logprobs: p?.logprobs ?? null,
      reasoning_effort: p?.reasoning_effort ?? null, thinking_budget: p?.thinking_budget ?? null,
    },
    tools: e.request?.tools?.length ?? 0,
    messages: e.request?.messages?.length ?? 0,
    prompt_preview: preview,
    enforcement: e.enforcement,
  };
}
