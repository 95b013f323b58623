/**
 * HTTP endpoints of the ledger (Fastify). Transparency reads under /ledger/v1 (checkpoint, key,
 * proofs, entries) and the audit query under /ledger/v1/query. Leaves carry account ids, usage
 * and verdicts with their reasons, never personal data; that still tells a campaign which of its
 * accounts were flagged and why, so `warden serve` gates the reads (`authorizeRead`, see
 * ./read-access.ts) unless `ledger.public_reads`. The query returns client IPs: `authorizeQuery`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PassThrough } from 'node:stream';
import { ProofError } from './merkle.ts';
import { LedgerError, type Ledger } from './ledger.ts';
import { QueryError, exportQuery, queryLedger, type LedgerQuery } from './query.ts';
import type { ReadDecision } from './read-access.ts';

export interface LedgerRouteOptions {
  /** Path prefix, default /ledger/v1. */
  prefix?: string;
  /** Gate for the transparency reads (checkpoint, proofs, entries). Default: open. */
  authorizeRead?: (req: FastifyRequest) => ReadDecision | Promise<ReadDecision>;
  /** Gate for /query (returns client IPs). Default: refuse everything; the admin API passes its check. */
  authorizeQuery?: (req: FastifyRequest) => boolean | Promise<boolean>;
  /**
   * Which routes to add: 'public' (checkpoint, key, proofs, entries), 'query' (the audit query
   * only, e.g. inside the admin API behind its token), or 'all' (default).
   */
  routes?: 'all' | 'public' | 'query';
}

const STATUS: Record<LedgerError['code'], number> = {
  LEDGER_NOT_FOUND: 404, LEDGER_BAD_REQUEST: 400, LEDGER_OVERLOADED: 503, LEDGER_CLOSED: 503, LEDGER_INCONSISTENT: 500, LEDGER_UNAVAILABLE: 503,
  // Only ever reported (onError), never thrown at a caller.
  LEDGER_KEY_MISMATCH: 500, LEDGER_WITNESS: 502,
};

function fail(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

function intParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new LedgerError('LEDGER_BAD_REQUEST', `${name} must be a non-negative integer`);
  return Number(v);
}

/** Register the ledger routes on a Fastify instance. */
export function registerLedgerRoutes(app: FastifyInstance, ledger: Ledger, opts: LedgerRouteOptions = {}): void {
  const prefix = opts.prefix ?? '/ledger/v1';
  const guard = (check: LedgerRouteOptions['authorizeRead'], deny: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    // Answers gated by a credential must not be kept by a shared cache and served to anyone else
    // (the key may come in x-api-key, which caches do not treat as a credential).
    if (check || deny) reply.header('cache-control', 'private, no-store').header('vary', 'authorization, x-api-key');
    const ok = check ? await check(req) : !deny;
    if (typeof ok === 'object') {
      reply.header('retry-after', String(ok.retryAfter));
      return fail(reply, 429, 'LEDGER_RATE_LIMITED', `too many wrong admin tokens or keys from this address: its reads are refused for ${ok.retryAfter}s more, whatever they carry`);
    }
    if (!ok) return fail(reply, 401, 'LEDGER_UNAUTHORIZED', 'not authorised');
  };
  const read = guard(opts.authorizeRead, false);
  const handle = (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(req, reply);
    } catch (err) {
      if (err instanceof LedgerError) return fail(reply, STATUS[err.code], err.code, err.message);
      if (err instanceof QueryError) return fail(reply, 400, 'LEDGER_BAD_REQUEST', err.message);
      if (err instanceof ProofError || err instanceof RangeError) return fail(reply, 400, 'LEDGER_BAD_REQUEST', err.message);
      req.log?.error?.({ err }, 'ledger route failed');
      return fail(reply, 500, 'LEDGER_INTERNAL', 'internal error');
    }
  };

  const which = opts.routes ?? 'all';
  if (which !== 'query') registerPublicRoutes(app, ledger, prefix, read, handle);
  if (which !== 'public') registerQueryRoute(app, ledger, prefix, guard(opts.authorizeQuery, true), handle);
}

type Guard = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
type Handle = (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

function registerPublicRoutes(app: FastifyInstance, ledger: Ledger, prefix: string, read: Guard, handle: Handle): void {
  /** The latest signed checkpoint, as published: a C2SP signed note. */
  app.get(`${prefix}/checkpoint`, { preHandler: read }, handle(async (_req, reply) => {
    // With witnesses, the newest checkpoint that carries their quorum of cosignatures (a client
    // checking the quorum gets one it accepts); the latest until one does.
    let cp = ledger.witnessedCheckpoint() ?? ledger.latestCheckpoint();
    if (!cp && ledger.size > 0) cp = await ledger.checkpoint();
    if (!cp) throw new LedgerError('LEDGER_NOT_FOUND', 'no checkpoint yet: the log is empty');
    // A public checkpoint may be cached but must be revalidated; a gated one was marked no-store.
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-cache');
    return reply.type('text/plain; charset=utf-8').send(cp.note);
  }));

  /** The verifier keys of this log, one per line. */
  app.get(`${prefix}/key`, { preHandler: read }, handle(async (_req, reply) => {
    return reply.type('text/plain; charset=utf-8').send(ledger.verifiers.map((v) => v.toString()).join('\n') + '\n');
  }));

  /** Inclusion proof by entry id (?id=) or index (?index=), in the latest or a given (?tree_size=) checkpoint. */
  app.get(`${prefix}/proof/inclusion`, { preHandler: read }, handle(async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const index = intParam(q.index, 'index');
    const ref = q.id ?? index;
    if (ref === undefined) throw new LedgerError('LEDGER_BAD_REQUEST', 'give id or index');
    return ledger.proveInclusion(ref, { treeSize: intParam(q.tree_size, 'tree_size') });
  }));

  /** Consistency proof between two tree sizes (?old=&new=; new defaults to the latest checkpoint). */
  app.get(`${prefix}/proof/consistency`, { preHandler: read }, handle(async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const oldSize = intParam(q.old, 'old');
    if (oldSize === undefined) throw new LedgerError('LEDGER_BAD_REQUEST', 'give old (and new) tree sizes');
    const newSize = intParam(q.new, 'new') ?? ledger.latestCheckpoint()?.size ?? ledger.size;
    return ledger.proveConsistency(oldSize, newSize);
  }));

  /**
   * Entries [start, end) with their leaf text and hash; at most 1000 per call. An answer cut short
   * says so: `more: true` and `next`, the start of the rest.
   */
  app.get(`${prefix}/entries`, { preHandler: read }, handle(async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const start = intParam(q.start, 'start') ?? 0;
    const end = intParam(q.end, 'end') ?? start + 100;
    if (end < start) throw new LedgerError('LEDGER_BAD_REQUEST', 'end must not be below start');
    const limit = Math.min(intParam(q.limit, 'limit') ?? 1000, 1000);
    const size = ledger.size;
    const entries = await ledger.entriesRange(start, end, limit);
    const reached = entries.length ? entries[entries.length - 1].index + 1 : start;
    const more = reached < Math.min(end, size);
    return { tree_size: size, entries, more, ...(more ? { next: reached } : {}) };
  }));
}

const QUERY_PARAMS = new Set(['account', 'org', 'cluster', 'key', 'model', 'ip', 'network', 'from', 'to', 'limit', 'format']);

function registerQueryRoute(app: FastifyInstance, ledger: Ledger, prefix: string, authorize: Guard, handle: Handle): void {
  /** Audit query: ?account=&org=&cluster=&key=&model=&ip=&network=&from=&to=&limit=&format=json|csv|jsonl */
  app.get(`${prefix}/query`, { preHandler: authorize }, handle(async (req, reply) => {
    const q = req.query as Record<string, string | string[] | undefined>;
    // A mistyped filter (?acount=) must not turn the query into a dump of every interaction.
    const unknown = Object.keys(q).filter((k) => !QUERY_PARAMS.has(k));
    if (unknown.length) throw new LedgerError('LEDGER_BAD_REQUEST', `unknown query parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${[...QUERY_PARAMS].join(', ')}`);
    const repeated = Object.keys(q).filter((k) => Array.isArray(q[k]));
    if (repeated.length) throw new LedgerError('LEDGER_BAD_REQUEST', `query parameter ${repeated.join(', ')} given more than once`);
    const p = q as Record<string, string | undefined>;
    const format = p.format ?? 'json';
    if (format !== 'json' && format !== 'csv' && format !== 'jsonl') throw new LedgerError('LEDGER_BAD_REQUEST', 'format must be json, csv or jsonl');
    const query: LedgerQuery = {
      accountId: p.account, orgId: p.org, clusterId: p.cluster, keyId: p.key, model: p.model,
      ip: p.ip, network: p.network, from: p.from, to: p.to, limit: intParam(p.limit, 'limit'),
    };
    const result = await queryLedger(ledger.storage, query);
    if (format === 'json') return result;
    const body = new PassThrough();
    reply.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
    void exportQuery(result, format, body).then(() => body.end(), (err) => body.destroy(err));
    return reply.send(body);
  }));
}
