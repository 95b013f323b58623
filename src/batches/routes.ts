/**
 * The Anthropic Message Batches API (`/v1/messages/batches`), as the official SDK calls it
 * (`messages.batches.create / retrieve / list / cancel / delete / results`). A batch is visible
 * only to the account that sent it and to its organisation; errors are Anthropic error JSON.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WardenError, requestIdHeaders } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import type { Authenticator } from '../gateway/index.ts';
import { clientAddress } from '../gateway/client-address.ts';
import { READS_NO_BODY } from '../gateway/bodyless.ts';
import { utf8JsonBytes } from '../gateway/json-encoding.ts';
import { apiKeyFromHeaders, missingKeyError, requireScope, type AuthContext } from '../identity/index.ts';
import type { BatchesConfig } from './config.ts';
import type { BatchRecord, BatchStore, ItemState } from './store.ts';
import { collectBody, readBatchBody } from './batch-body.ts';
import { dropUnreadBody } from '../gateway/unread-body.ts';
import { publicBase } from '../gateway/public-url.ts';

/** Results read per statement when a batch's results are sent. */
const RESULTS_PAGE = 500;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export interface BatchRoutesDeps {
  store: BatchStore;
  authenticator: Authenticator;
  config: BatchesConfig;
  /** Called after a batch is stored, so that its first requests start without waiting for the next tick. */
  onCreated?: () => void;
  /** Called when a batch is cancelled here, so that what this node claimed of it is not run. */
  onCanceled?: (id: string) => void;
  /**
   * Throws the policy's refusal of an account its verdict bars (suspend, or verify until it is
   * identity verified), as the model endpoints give it: the gateway's `barred` hooks.
   */
  barred?: (auth: AuthContext) => void;
  /**
   * The organisation an account is in now (null: none, or no such account). What an account
   * stored belongs to it and to its current organisation: one that moved takes its files and
   * batches along, and leaves none behind for the organisation it left.
   */
  orgOfAccount: (accountId: string) => Promise<string | null>;
  /**
   * Charges an upload or a batch's creation to the caller's request limits, as one request: throws
   * the 429 past them (the gateway's `chargeRequest` hooks). A batch's requests are charged again
   * as they run.
   */
  charge?: (auth: AuthContext, clientIp: string, wire: 'openai' | 'anthropic') => void | Promise<void>;
  /** Batches each account is creating on this node and has not stored yet (shared by both APIs' routes). */
  creating?: Map<string, number>;
  /** `server.public_url`: the base of an ended batch's `results_url` (null: as the request arrived; src/gateway/public-url.ts). */
  publicUrl?: string | null;
}

/**
 * Admits the creation of a batch: charged as one request to the caller's limits, then refused
 * (429) when the account already has `batches.max_batches_in_progress_per_account` batches not
 * ended. Creations under way on this node are counted too, so that many sent at once cannot pass
 * the bound together. Returns what to call once the batch is stored, or its creation failed.
 */
export async function admitBatch(deps: Pick<BatchRoutesDeps, 'store' | 'config' | 'charge' | 'creating'>, req: FastifyRequest, auth: AuthContext, wire: 'openai' | 'anthropic'): Promise<() => void> {
  if (!charged.has(req)) await deps.charge?.(auth, clientAddress(req), wire);
  const creating = deps.creating ?? new Map<string, number>();
  const account = auth.account.id;
  creating.set(account, (creating.get(account) ?? 0) + 1);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    const n = (creating.get(account) ?? 1) - 1;
    if (n > 0) creating.set(account, n); else creating.delete(account);
  };
  try {
    const open = await deps.store.open(account);
    const max = deps.config.max_batches_in_progress_per_account;
    // This creation is among those under way.
    if (open + (creating.get(account) ?? 1) > max) {
      throw new WardenError('WARDEN_RATE_LIMITED', `This account has ${open} batches in progress; at most ${max} batches in progress are allowed at once. Create this batch when one has ended (or cancel one).`, { headers: { 'retry-after': '60' } });
    }
    return release;
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * The caller of a batch or files route: its key checked, then the account refused if a verdict
 * bars it, before anything is read, stored or queued (a suspended account neither reads earlier
 * answers nor queues new requests).
 */
export async function callerOf(deps: Pick<BatchRoutesDeps, 'authenticator' | 'barred'>, req: FastifyRequest): Promise<AuthContext> {
  const known = callers.get(req);
  if (known) return known;
  const secret = apiKeyFromHeaders(req.headers);
  if (!secret) throw missingKeyError(req.headers);
  const auth = await deps.authenticator.authenticate(secret);
  requireScope(auth, 'inference');
  deps.barred?.(auth);
  return auth;
}

/** Callers whose key was checked from the headers (`keyBeforeBody`), for the handler. */
const callers = new WeakMap<FastifyRequest, AuthContext>();
/** Requests charged to their caller's limits from the headers (`keyBeforeBody` with `charge`), before their body. */
const charged = new WeakSet<FastifyRequest>();

/** Whether the request was charged to its caller's request limits before its body was read (the handler charges it otherwise). */
export const chargedBeforeBody = (req: FastifyRequest): boolean => charged.has(req);
/** What of a refused request's body is read and discarded to keep its connection; past it the connection closes. */
const REFUSED_BODY_DISCARD_BYTES = 1024 * 1024;

/**
 * The `onRequest` hook of every batch and files route: the caller is checked from the headers,
 * before any byte of the body is read or parsed (as the model routes' and TAXII's), so that a
 * client with no valid key (or a barred account) makes the gateway hold nothing: a batch body is
 * up to `batches.max_body_bytes`. The body still coming is discarded, or its connection closed.
 */
export function keyBeforeBody(deps: Pick<BatchRoutesDeps, 'authenticator' | 'barred' | 'charge'>, charge?: (req: FastifyRequest) => 'openai' | 'anthropic') {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      const auth = await callerOf(deps, req);
      callers.set(req, auth);
      // A route that creates something (an upload, a batch) is charged to the caller's request
      // limits now: its 429 comes before its body, which is then not asked for.
      if (charge && deps.charge) {
        await deps.charge(auth, clientAddress(req), charge(req));
        charged.add(req);
      }
      // Asked for its body only now that its key is known (`Expect: 100-continue`: src/gateway/server.ts).
      if ((req.raw as { wardenContinue?: boolean }).wardenContinue) reply.raw.writeContinue();
    } catch (err) {
      reply.headers(dropUnreadBody(req.raw, reply.raw, REFUSED_BODY_DISCARD_BYTES));
      throw err;
    }
  };
}

/** The reply named with a request id, as every answer Warden makes itself (its refusals get theirs from the error handler). */
export function named(reply: FastifyReply): FastifyReply {
  return reply.headers(requestIdHeaders(ulid(Date.now())));
}

export const orgOf = (auth: AuthContext) => auth.org?.id ?? auth.account.org_id ?? null;

/** Whether the caller may see a record its owner stored: its own, or of an account in the caller's organisation now. */
export async function visibleTo(deps: Pick<BatchRoutesDeps, 'orgOfAccount'>, auth: AuthContext, row: { account_id: string }): Promise<boolean> {
  if (row.account_id === auth.account.id) return true;
  const org = orgOf(auth);
  return org !== null && (await deps.orgOfAccount(row.account_id)) === org;
}

/** The rows of a list the caller may see (a list reads by the organisation stored with each row, which an owner's move can leave behind). */
export async function visibleRows<T extends { account_id: string }>(deps: Pick<BatchRoutesDeps, 'orgOfAccount'>, auth: AuthContext, rows: T[]): Promise<T[]> {
  const keep = await Promise.all(rows.map((r) => visibleTo(deps, auth, r)));
  return rows.filter((_, i) => keep[i]);
}

/** The batch if the caller may see it; another customer's reads as one that does not exist. */
async function ownBatch(deps: BatchRoutesDeps, auth: AuthContext, id: string): Promise<BatchRecord> {
  const batch = await deps.store.get(id);
  if (!batch || batch.openai || !(await visibleTo(deps, auth, batch))) {
    throw new WardenError('WARDEN_NOT_FOUND', `No message batch with id '${id.slice(0, 100)}'.`);
  }
  return batch;
}

async function describe(deps: BatchRoutesDeps, req: FastifyRequest, b: BatchRecord): Promise<Record<string, unknown>> {
  // The SDK's batches.results() fetches this URL with the customer's key: it must name the gateway as the client reaches it.
  return batchJson(b, await deps.store.counts(b.id), b.status === 'ended' ? `${publicBase(req, deps.publicUrl)}/v1/messages/batches/${b.id}/results` : null);
}

/** A batch as the Messages Batches API describes it. */
export function batchJson(b: BatchRecord, c: Record<ItemState, number>, resultsUrl: string | null): Record<string, unknown> {
  return {
    id: b.id,
    type: 'message_batch',
    processing_status: b.status,
    request_counts: { processing: c.pending + c.running, succeeded: c.succeeded, errored: c.errored, canceled: c.canceled, expired: c.expired },
    ended_at: iso(b.ended_at),
    created_at: iso(b.created_at),
    expires_at: iso(b.expires_at),
    cancel_initiated_at: iso(b.cancel_initiated_at),
    archived_at: null,
    results_url: resultsUrl,
  };
}

const header = (req: FastifyRequest, name: string): string | null => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : null;
};

export function registerBatchRoutes(app: FastifyInstance, deps: BatchRoutesDeps): void {
  const { store, config } = deps;
  const onRequest = keyBeforeBody(deps);

  // The body is kept as it arrives and read a slice at a time (src/batches/batch-body.ts), not
  // gathered and parsed whole as the gateway's other bodies are: here the route's own JSON parser.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(/^application\/(.+\+)?json/, (req: FastifyRequest, payload: Readable) => collectBody(payload, req.headers['content-length'], config.max_body_bytes));
    scope.post('/v1/messages/batches', { bodyLimit: config.max_body_bytes, onRequest: keyBeforeBody(deps, () => 'anthropic') }, createBatch);
  });
  async function createBatch(req: FastifyRequest, reply: FastifyReply) {
    const auth = await callerOf(deps, req);
    const release = await admitBatch(deps, req, auth, 'anthropic');
    try {
      return await storeBatch(req, reply, auth);
    } finally {
      release();
    }
  }
  async function storeBatch(req: FastifyRequest, reply: FastifyReply, auth: AuthContext) {
    // The gateway's rule for every JSON body: UTF-8, its byte-order mark dropped.
    const body = Buffer.isBuffer(req.body) && req.body.length ? utf8JsonBytes(req.headers['content-type'], req.body) : req.body;
    const items = await readBatchBody(Buffer.isBuffer(body) ? body : undefined, config.max_requests);
    const waiting = await store.queued(auth.account.id);
    if (waiting + items.length > config.max_queued_per_account) {
      throw new WardenError('WARDEN_RATE_LIMITED', `This account has ${waiting} batch requests waiting to run; at most ${config.max_queued_per_account} may wait at once. Send this batch when some have run.`, { headers: { 'retry-after': '60' } });
    }
    const now = Date.now();
    const batch: BatchRecord = {
      id: `msgbatch_${ulid(now).toLowerCase()}`,
      account_id: auth.account.id, org_id: orgOf(auth), key_id: auth.key.id,
      client_ip: clientAddress(req), user_agent: header(req, 'user-agent'),
      anthropic_version: header(req, 'anthropic-version'), anthropic_beta: header(req, 'anthropic-beta'),
      status: 'in_progress', created_at: now, expires_at: now + Math.round(config.expire_hours * 3_600_000),
      ended_at: null, cancel_initiated_at: null,
    };
    await store.create(batch, items);
    deps.onCreated?.();
    return named(reply).send(await describe(deps, req, batch));
  }

  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/messages/batches', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    const limit = req.query.limit === undefined ? 20 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new WardenError('WARDEN_INVALID_REQUEST', 'limit: an integer from 1 to 1000', { param: 'limit' });
    const { before_id, after_id } = req.query;
    const rows = await visibleRows(deps, auth, await store.list({ accountId: auth.account.id, orgId: orgOf(auth) }, { limit: limit + 1, before_id, after_id }, 'anthropic'));
    // One more than asked tells whether there are more; towards newer pages (`before_id`) it is the newest.
    const page = before_id && !after_id ? rows.slice(-limit) : rows.slice(0, limit);
    const data = await Promise.all(page.map((b) => describe(deps, req, b)));
    return named(reply).send({ data, has_more: rows.length > limit, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null });
  });

  app.get<{ Params: { id: string } }>('/v1/messages/batches/:id', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    return named(reply).send(await describe(deps, req, await ownBatch(deps, auth, req.params.id)));
  });

  app.post<{ Params: { id: string } }>('/v1/messages/batches/:id/cancel', { ...READS_NO_BODY, onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    const batch = await ownBatch(deps, auth, req.params.id);
    if (batch.status === 'in_progress') {
      await store.cancel(batch.id, Date.now());
      deps.onCanceled?.(batch.id);
    }
    return named(reply).send(await describe(deps, req, (await store.get(batch.id))!));
  });

  app.delete<{ Params: { id: string } }>('/v1/messages/batches/:id', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    const batch = await ownBatch(deps, auth, req.params.id);
    if (batch.status !== 'ended') {
      throw new WardenError('WARDEN_INVALID_REQUEST', `Message batch ${batch.id} is still ${batch.status === 'canceling' ? 'being cancelled' : 'in progress'}; cancel it and wait for it to end before deleting it.`);
    }
    await store.delete(batch.id);
    return named(reply).send({ id: batch.id, type: 'message_batch_deleted' });
  });

  app.get<{ Params: { id: string } }>('/v1/messages/batches/:id/results', { onRequest }, async (req, reply: FastifyReply) => {
    const auth = await callerOf(deps, req);
    const batch = await ownBatch(deps, auth, req.params.id);
    if (batch.status !== 'ended') throw new WardenError('WARDEN_INVALID_REQUEST', `Message batch ${batch.id} has not ended; its results are ready when processing_status is "ended".`);
    // Read and sent a page of results at a time: a large batch's results are never held whole.
    async function* lines(): AsyncIterable<string> {
      for (let after = -1; ;) {
        const page = await store.outcomes(batch.id, after, RESULTS_PAGE);
        if (page.length === 0) return;
        after = page[page.length - 1].idx;
        yield page.map((o) => `{"custom_id":${JSON.stringify(o.custom_id)},"result":${o.result ?? JSON.stringify({ type: o.state })}}\n`).join('');
      }
    }
    return named(reply).type('application/x-jsonl').send(Readable.from(lines()));
  });
}
