/**
 * The models GET /v1/models lists and GET /v1/models/{id} retrieves: the exact names in
 * `upstreams[].models`, and for an upstream configured with patterns (`gpt-*`, `*`), the ids in
 * the upstream's own model list that those patterns route to it. An upstream's list is fetched
 * in the wire format the client called, with the upstream's credentials, and kept for a while:
 * listing models must not cost an upstream call each time, nor fail when the upstream does. An
 * id absent from the list is asked of the upstream itself (an alias it resolves but does not
 * list), within a budget a minute while the list is fresh.
 */
import type { WireFlavour } from '../errors/index.ts';
import { WardenError } from '../errors/index.ts';
import type { Upstream, UpstreamRouter } from './upstreams.ts';
import type { UpstreamHead } from './upstream-call.ts';
import { headOfAnswer, upstreamRetryHeaders, type UpstreamRateLimitHeaders } from './upstream-request.ts';
import { adviseAgainstLongWait, askedWaitMs, DEFAULT_MAX_RETRY_ADVICE_S } from './retry-advice.ts';

/** A model as listed, with the upstream's own metadata when it gave some. */
export interface ListedModel {
  id: string;
  upstream: string;
  created?: number;
  owned_by?: string;
  display_name?: string;
  created_at?: string;
}

export interface ModelDirectoryOptions {
  /** How long an upstream's list is used before it is fetched again (served stale meanwhile), ms. */
  ttlMs?: number;
  /** After a failed fetch, how long before the next attempt, ms. */
  retryMs?: number;
  /** Time allowed for one fetch of one page, ms. */
  timeoutMs?: number;
  /** How long an id the upstream does not know is remembered, ms. */
  negativeMs?: number;
  /** How long a failure to ask the upstream about an id is remembered, ms (an alias known before is answered meanwhile). */
  errorMs?: number;
  /** Ids asked of an upstream remembered at most. */
  maxRemembered?: number;
  /**
   * Ids absent from a fresh list asked of their upstream at most this many times a minute, per
   * upstream: aliases the upstream resolves but does not list are answered, and clients cannot
   * make Warden call the upstream at will with made-up ids.
   */
  unlistedPerMinute?: number;
  /** Whose rate-limit headers an upstream's 429 on a lookup carries (`limits.upstream_rate_limit_headers`); `pass` when absent. */
  upstreamRateLimitHeaders?: UpstreamRateLimitHeaders;
  /** `limits.max_retry_advice_s`: past it a 429's retry advice says not to retry. */
  maxRetryAdviceS?: number;
  log: { warn(obj: object, msg: string): void };
}

interface Entry {
  models: ListedModel[] | null;
  /** When `models` was last fetched (0: never). */
  fetchedAt: number;
  /** When to fetch again. */
  due: number;
  pending: Promise<void> | null;
  failing: boolean;
}

/** Pages of the Anthropic list followed at most (1000 models each). */
const MAX_PAGES = 20;
/** Largest model-list answer read from an upstream, bytes. */
const MAX_LIST_BYTES = 8 * 1024 * 1024;
/** Retrieved ids (and ids the upstream does not know) remembered at most, the least recently asked forgotten first. */
const MAX_REMEMBERED = 1000;
const UNLISTED_PER_MINUTE = 10;
const ERROR_REMEMBERED_MS = 5_000;

interface Retrieved {
  model: ListedModel | null;
  /** Why the upstream could not be asked (remembered a few seconds: `errorMs`). */
  error?: WardenError;
  due: number;
}

/**
 * Whether `id` could name a path rather than a model: `.` or `..` as the whole id or as one of
 * its `/`-separated segments, as it is or once or twice percent-decoded. Never sent upstream.
 */
export function isPathLikeModelId(id: string): boolean {
  let form = id;
  for (let i = 0; ; i++) {
    if (form.split(/[/\\]/).some((seg) => seg === '.' || seg === '..')) return true;
    if (i === 2) return false;
    let next: string;
    // A malformed escape is no model's name, and a lenient upstream might decode it otherwise.
    try { next = decodeURIComponent(form); } catch { return true; }
    if (next === form) return false;
    form = next;
  }
}

export class ModelDirectory {
  private readonly entries = new Map<string, Entry>();
  /** Ids asked of an upstream, in the order last asked (a Map keeps insertion order). */
  private readonly retrieved = new Map<string, Retrieved>();
  /** Ids being asked of an upstream now: later callers wait for the same answer. */
  private readonly retrieving = new Map<string, Promise<ListedModel | null>>();
  /** Asks about ids absent from a fresh list, per upstream and wire, this minute. */
  private readonly unlistedAsks = new Map<string, { since: number; asked: number }>();
  private readonly ttlMs: number;
  private readonly retryMs: number;
  private readonly timeoutMs: number;
  private readonly negativeMs: number;

  constructor(private readonly router: UpstreamRouter, private readonly opts: ModelDirectoryOptions) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.retryMs = opts.retryMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.negativeMs = opts.negativeMs ?? 60_000;
  }

  /** Every model a client of `wire` can call, each once, exact names first. */
  async list(wire: WireFlavour): Promise<ListedModel[]> {
    const ups = this.router.upstreams.filter((u) => u.flavours.includes(wire));
    const fetched = await Promise.all(ups.map((u) => (hasPatterns(u) ? this.upstreamList(u, wire) : [])));
    const out = new Map<string, ListedModel>();
    for (const [i, u] of ups.entries()) {
      for (const m of u.models) {
        if (m.endsWith('*') || out.has(m)) continue;
        out.set(m, fetched[i].find((x) => x.id === m) ?? { id: m, upstream: u.name });
      }
    }
    for (const [i, u] of ups.entries()) {
      for (const m of fetched[i]) if (!out.has(m.id) && this.router.route(m.id, wire) === u) out.set(m.id, m);
    }
    return [...out.values()];
  }

  /** The model `id` if it is routed and its upstream knows it; null if not. */
  async find(id: string, wire: WireFlavour): Promise<ListedModel | null> {
    if (isPathLikeModelId(id)) return null;
    const u = this.router.route(id, wire);
    if (!u) return null;
    if (u.models.includes(id)) return { id, upstream: u.name };
    const listed = (await this.upstreamList(u, wire)).find((x) => x.id === id);
    if (listed) return listed;
    const key = `${u.name}\u0000${wire}\u0000${id}`;
    const known = this.retrieved.get(key);
    if (known && known.due > Date.now()) {
      // Most recently used last.
      this.retrieved.delete(key);
      this.retrieved.set(key, known);
      if (known.error) throw known.error;
      return known.model;
    }
    let pending = this.retrieving.get(key);
    if (!pending) {
      // Not in a list fetched within its TTL: the upstream is asked (it may resolve an alias it does
      // not list) within a budget per minute; past it, unknown without asking. When the list could
      // not be fetched (or is old), the upstream's own answer decides.
      const e = this.entries.get(`${u.name}\u0000${wire}`);
      const fresh = e !== undefined && e.models !== null && !e.failing && e.fetchedAt + this.ttlMs > Date.now();
      if (fresh && !this.mayAskUnlisted(`${u.name}\u0000${wire}`)) {
        // Past the budget an alias resolved before keeps its answer, however old: made-up ids that
        // spend the budget cannot make the aliases customers use disappear.
        return known?.model ?? null;
      }
      pending = this.retrieve(u, wire, id).then(
        (model) => { this.remember(key, { model, due: Date.now() + (model ? this.ttlMs : this.negativeMs) }); return model; },
        // A failure is remembered briefly: long enough to spare a struggling upstream a burst of
        // the same question, short enough that a blip is not a minute of errors.
        // An upstream's 429 no longer than the wait it asked for: a client retrying after it asks again.
        (err: unknown) => { this.remember(key, { model: known?.model ?? null, error: known?.model ? undefined : err as WardenError, due: Date.now() + this.errorRememberedMs(err) }); if (known?.model) return known.model; throw err; },
      ).finally(() => this.retrieving.delete(key));
      this.retrieving.set(key, pending);
    }
    return pending;
  }

  /** How long a failed lookup is answered from memory, ms: `errorMs`, or less when the upstream's 429 asked for a shorter wait. */
  private errorRememberedMs(err: unknown): number {
    const errorMs = this.opts.errorMs ?? ERROR_REMEMBERED_MS;
    if (!(err instanceof WardenError) || err.code !== 'WARDEN_UPSTREAM_RATE_LIMITED') return errorMs;
    const wait = askedWaitMs(err.headers ?? {});
    return wait === null ? errorMs : Math.max(0, Math.min(errorMs, wait));
  }

  /** One more ask of an upstream about an id its fresh list lacks, if this minute's budget allows. */
  private mayAskUnlisted(upstreamKey: string): boolean {
    const now = Date.now();
    let b = this.unlistedAsks.get(upstreamKey);
    if (!b || now - b.since >= 60_000) { b = { since: now, asked: 0 }; this.unlistedAsks.set(upstreamKey, b); }
    if (b.asked >= (this.opts.unlistedPerMinute ?? UNLISTED_PER_MINUTE)) return false;
    b.asked++;
    return true;
  }

  private remember(key: string, r: Retrieved): void {
    this.retrieved.delete(key);
    // The least recently asked id goes first.
    while (this.retrieved.size > 0 && this.retrieved.size >= (this.opts.maxRemembered ?? MAX_REMEMBERED)) this.retrieved.delete(this.retrieved.keys().next().value as string);
    this.retrieved.set(key, r);
  }

  /** The upstream's list as last fetched (fetched now if never, refreshed in the background if old). */
  private async upstreamList(u: Upstream, wire: WireFlavour): Promise<ListedModel[]> {
    const key = `${u.name}\u0000${wire}`;
    let e = this.entries.get(key);
    if (!e) {
      e = { models: null, fetchedAt: 0, due: 0, pending: null, failing: false };
      this.entries.set(key, e);
    }
    if (e.due <= Date.now() && !e.pending) e.pending = this.refresh(u, wire, e);
    if (e.models === null && e.pending) await e.pending;
    return e.models ?? [];
  }

  private async refresh(u: Upstream, wire: WireFlavour, e: Entry): Promise<void> {
    try {
      e.models = await this.fetchList(u, wire);
      e.fetchedAt = Date.now();
      e.due = e.fetchedAt + this.ttlMs;
      e.failing = false;
    } catch (err) {
      // Exact names and the last list fetched are still served; said once until it works again.
      e.due = Date.now() + this.retryMs;
      if (!e.failing) this.opts.log.warn({ upstream: u.name, wire, err: (err as Error).message }, 'fetching the upstream\'s model list failed; listing its exact model names and the last list fetched');
      e.failing = true;
    } finally {
      e.pending = null;
    }
  }

  private async fetchList(u: Upstream, wire: WireFlavour): Promise<ListedModel[]> {
    const out: ListedModel[] = [];
    if (wire === 'openai') {
      const body = await this.get(u, wire, '/v1/models');
      for (const m of dataOf(body)) out.push({ id: m.id, upstream: u.name, created: num(m.created), owned_by: str(m.owned_by) });
      return out;
    }
    // Anthropic pages its list: follow has_more from the last id.
    let after: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await this.get(u, wire, `/v1/models?limit=1000${after ? `&after_id=${encodeURIComponent(after)}` : ''}`);
      for (const m of dataOf(body)) out.push({ id: m.id, upstream: u.name, display_name: str(m.display_name), created_at: str(m.created_at) });
      const last = (body as { last_id?: unknown }).last_id;
      if ((body as { has_more?: unknown }).has_more !== true || typeof last !== 'string' || last === after) break;
      after = last;
    }
    return out;
  }

  private async retrieve(u: Upstream, wire: WireFlavour, id: string): Promise<ListedModel | null> {
    let m: Record<string, unknown>;
    try {
      m = (await this.get(u, wire, `/v1/models/${encodeURIComponent(id)}`)) as Record<string, unknown>;
    } catch (err) {
      if ((err as { status?: number }).status === 404) return null;
      const head = (err as { head?: UpstreamHead }).head;
      if (head?.statusCode === 429) throw this.rateLimited(head, err);
      throw new WardenError('WARDEN_UPSTREAM_UNAVAILABLE', 'The upstream model API could not be asked about this model.', { cause: err });
    }
    if (typeof m?.id !== 'string') return null;
    return wire === 'openai'
      ? { id: m.id, upstream: u.name, created: num(m.created), owned_by: str(m.owned_by) }
      : { id: m.id, upstream: u.name, display_name: str(m.display_name), created_at: str(m.created_at) };
  }

  /**
   * The upstream refused a lookup with 429: a 429 for the client too, as on the model routes (the
   * SDKs' RateLimitError, waiting the upstream's `retry-after`), not a 502 they retry at once. Its
   * retry advice is passed, and its rate-limit headers unless `upstream_rate_limit_headers` is
   * `warden` (this route has no meter of Warden's in its headers); its body, about the operator's
   * account with the provider, is not.
   */
  private rateLimited(head: UpstreamHead, cause: unknown): WardenError {
    const headers = adviseAgainstLongWait(upstreamRetryHeaders(head), this.opts.maxRetryAdviceS ?? DEFAULT_MAX_RETRY_ADVICE_S);
    if ((this.opts.upstreamRateLimitHeaders ?? 'pass') === 'pass') Object.assign(headers, head.rateLimit);
    return new WardenError('WARDEN_UPSTREAM_RATE_LIMITED', 'The upstream model API is rate limiting: the model could not be looked up.', { headers, cause });
  }

  /** GET a JSON document from the upstream with its credentials; throws on anything but 200 JSON. */
  private async get(u: Upstream, wire: WireFlavour, path: string): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (wire === 'anthropic') {
      headers['anthropic-version'] = '2023-06-01';
      if (u.apiKey) headers['x-api-key'] = u.apiKey;
    } else if (u.apiKey) headers.authorization = `Bearer ${u.apiKey}`;
    const res = await u.pool.request({
      path: u.basePath + path, method: 'GET', headers,
      headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, signal: AbortSignal.timeout(this.timeoutMs),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_LIST_BYTES) {
        res.body.destroy();
        throw new Error(`model list larger than ${MAX_LIST_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    if (res.statusCode !== 200) throw Object.assign(new Error(`upstream answered ${res.statusCode}`), { status: res.statusCode, head: headOfAnswer(res.statusCode, res.headers) });
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  }
}

/** One page of a list in the Anthropic format: `limit` (1-1000, default 20), `after_id` / `before_id`. */
export function anthropicPage(models: readonly ListedModel[], q: Record<string, string | undefined>): { page: ListedModel[]; hasMore: boolean } {
  const limit = q.limit === undefined ? 20 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new WardenError('WARDEN_INVALID_REQUEST', 'limit: Input should be between 1 and 1000', { param: 'limit' });
  let start = 0;
  let end = models.length;
  // A cursor that names no listed model is refused, as the API refuses it.
  const at = (cursor: string, param: string): number => {
    const i = models.findIndex((m) => m.id === cursor);
    if (i === -1) throw new WardenError('WARDEN_INVALID_REQUEST', 'Invalid pagination cursor', { param });
    return i;
  };
  if (q.after_id !== undefined) start = at(q.after_id, 'after_id') + 1;
  if (q.before_id !== undefined) end = at(q.before_id, 'before_id');
  if (q.before_id !== undefined && q.after_id === undefined) {
    // before_id pages backwards: the `limit` models just before it.
    start = Math.max(0, end - limit);
    return { page: models.slice(start, end), hasMore: start > 0 };
  }
  end = Math.min(end, start + limit);
  return { page: models.slice(start, end), hasMore: end < models.length };
}

/** A model as the OpenAI API describes one. */
export function openaiModel(m: ListedModel): object {
  return { id: m.id, object: 'model', created: m.created ?? 1735689600, owned_by: m.owned_by ?? m.upstream };
}

/** A model as the Anthropic API describes one. */
export function anthropicModel(m: ListedModel): object {
  return { type: 'model', id: m.id, display_name: m.display_name ?? m.id, created_at: m.created_at ?? '2025-01-01T00:00:00Z' };
}

function hasPatterns(u: Upstream): boolean {
  return u.models.some((m) => m.endsWith('*'));
}

function dataOf(body: unknown): { id: string; [k: string]: unknown }[] {
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data)) throw new Error('model list without a data array');
  return data.filter((m): m is { id: string } => typeof m?.id === 'string');
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
