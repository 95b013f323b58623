/**
 * Background responses (`POST /v1/responses` with `background: true`), kept and run by Warden: each
 * is a batch of one, run before any batch's requests, through the whole pipeline as the key and
 * from the address that sent it. Sent to the upstream as is, a background answer would be
 * generated after its request ended, where nothing would meter, shape or record it; run here, it
 * is one ordinary governed request, and the client reads the answer as the gateway gave it.
 *
 * The response's id is Warden's (`resp_bg_…`); the answer's own id, the upstream's, is kept with
 * it, for its input items and to continue it (`previous_response_id`).
 */
import { WardenError } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import type { BackgroundResponses, GatewayHooks } from '../gateway/index.ts';
import type { AuthContext } from '../identity/index.ts';
import type { BatchesConfig } from './config.ts';
import { orgOf } from './routes.ts';
import type { BatchRecord, BatchStore, ItemOutcome } from './store.ts';

const PREFIX = 'resp_bg_';
/** Request fields a queued response echoes, as the API's response object does. */
const ECHOED = ['instructions', 'max_output_tokens', 'metadata', 'previous_response_id', 'reasoning', 'text', 'tools', 'tool_choice', 'temperature', 'top_p', 'parallel_tool_calls', 'truncation', 'user'] as const;

const seconds = (ms: number) => Math.floor(ms / 1000);

export interface BackgroundDeps {
  store: BatchStore;
  config: BatchesConfig;
  /** A response was kept: start it now rather than at the runner's next tick. */
  onCreated(): void;
  onCanceled(id: string): void;
}

export function isBackgroundId(id: string): boolean {
  return id.startsWith(PREFIX);
}

export function createBackgroundResponses(deps: BackgroundDeps): BackgroundResponses {
  const { store, config } = deps;

  async function own(auth: AuthContext, id: string): Promise<BatchRecord> {
    const b = isBackgroundId(id) ? await store.get(id) : null;
    const org = orgOf(auth);
    if (!b || !b.background || !(b.account_id === auth.account.id || (b.org_id !== null && b.org_id === org))) {
      throw new WardenError('WARDEN_NOT_FOUND', `Response with id '${id.slice(0, 200)}' not found.`);
    }
    return b;
  }

  async function outcome(b: BatchRecord): Promise<ItemOutcome | null> {
    return (await store.outcomes(b.id, -1, 1))[0] ?? null;
  }

  /** The response as the API shows it: waiting, running, or the answer itself once there is one. */
  function describe(b: BatchRecord, o: ItemOutcome | null): Record<string, unknown> {
    const params = b.openai?.response_params ?? {};
    const base: Record<string, unknown> = {
      id: b.id, object: 'response', created_at: seconds(b.created_at), status: 'queued', background: true,
      error: null, incomplete_details: null, model: b.openai?.model ?? null, output: [], usage: null, store: true,
    };
    for (const k of ECHOED) base[k] = params[k] ?? null;
    if (b.cancel_initiated_at !== null) return { ...base, status: 'cancelled' };
    if (!o || o.state === 'pending') return base;
    if (o.state === 'running') return { ...base, status: 'in_progress' };
    if (o.state === 'canceled') return { ...base, status: 'cancelled' };
    if (o.state === 'expired') return { ...base, status: 'failed', error: { code: 'expired', message: `The response did not start within ${config.expire_hours} hours.` } };
    const result = JSON.parse(o.result ?? '{}') as { status_code?: number; body?: Record<string, unknown> };
    const body = result.body ?? {};
    if (o.state === 'succeeded' && result.status_code === 200) return { ...body, id: b.id, background: true };
    // Refused when it ran (policy, limits, a malformed request) or failed upstream: `failed`, with why.
    const error = (body.error ?? {}) as { code?: unknown; message?: unknown };
    return { ...base, status: 'failed', error: { code: String(error.code ?? 'server_error'), message: String(error.message ?? `The request failed with status ${result.status_code}.`) } };
  }

  return {
    owns: isBackgroundId,

    async create(auth, body, client) {
      const waiting = await store.queued(auth.account.id);
      if (waiting + 1 > config.max_queued_per_account) {
        throw new WardenError('WARDEN_RATE_LIMITED', `This account has ${waiting} batch and background requests waiting to run; at most ${config.max_queued_per_account} may wait at once.`, { headers: { 'retry-after': '60' } });
      }
      const params: Record<string, unknown> = { ...body };
      delete params.background;
      const echoed: Record<string, unknown> = {};
      for (const k of ECHOED) if (body[k] !== undefined) echoed[k] = body[k];
      const now = Date.now();
      const record: BatchRecord = {
        id: `${PREFIX}${ulid(now).toLowerCase()}`,
        account_id: auth.account.id, org_id: orgOf(auth), key_id: auth.key.id, client_ip: client.ip, user_agent: client.userAgent,
        anthropic_version: null, anthropic_beta: null, status: 'in_progress', created_at: now,
        expires_at: now + Math.round(config.expire_hours * 3_600_000), ended_at: null, cancel_initiated_at: null,
        openai: {
          endpoint: '/v1/responses', input_file_id: '', completion_window: `${config.expire_hours}h`, model: String(body.model),
          metadata: null, output_expires_seconds: null, errors: null, response_params: echoed,
        },
        background: true,
      };
      await store.create(record, [{ custom_id: 'response', params: JSON.stringify(params) }]);
      deps.onCreated();
      return describe(record, null);
    },

    async retrieve(auth, id) {
      const b = await own(auth, id);
      return describe(b, await outcome(b));
    },

    async cancel(auth, id) {
      let b = await own(auth, id);
      const o = await outcome(b);
      if (b.status === 'ended' && b.cancel_initiated_at === null && o?.state !== 'canceled') {
        throw new WardenError('WARDEN_INVALID_REQUEST', `Response ${id.slice(0, 200)} has already ${o?.state === 'succeeded' ? 'completed' : 'failed'}; only a queued or in-progress response can be cancelled.`);
      }
      if (b.status === 'in_progress') {
        await store.cancel(b.id, Date.now());
        deps.onCanceled(b.id);
        b = (await store.get(b.id))!;
      }
      return describe(b, await outcome(b));
    },

    async delete(auth, id) {
      const b = await own(auth, id);
      if (b.status !== 'ended') throw new WardenError('WARDEN_INVALID_REQUEST', `Response ${id.slice(0, 200)} has not finished; cancel it before deleting it.`);
      await store.delete(b.id);
      return { id: b.id, object: 'response', deleted: true };
    },

    async upstreamId(auth, id) {
      const b = await own(auth, id);
      const o = await outcome(b);
      if (o?.state !== 'succeeded' || !o.result) return null;
      const body = (JSON.parse(o.result) as { body?: { id?: unknown } }).body;
      return typeof body?.id === 'string' ? body.id : null;
    },
  };
}

/**
 * First in the policy phase, with the batches' marker: a request continuing a background response
 * (`previous_response_id: resp_bg_…`) continues the answer the upstream made for it. Ownership is
 * checked here, then again on the upstream's id by the owners' hook.
 */
export function continueBackgroundResponse(background: BackgroundResponses): NonNullable<GatewayHooks['policy']> {
  return (ctx) => {
    if (ctx.flavour !== 'openai.responses' || !ctx.auth) return;
    const previous = ctx.body.previous_response_id;
    if (typeof previous !== 'string' || !isBackgroundId(previous)) return;
    return background.upstreamId(ctx.auth, previous).then((upstreamId) => {
      if (!upstreamId) throw new WardenError('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND', `Previous response with id '${previous.slice(0, 200)}' not found or not completed.`, { param: 'previous_response_id' });
      ctx.body.previous_response_id = upstreamId;
    }, (err: unknown) => {
      if (err instanceof WardenError && err.code === 'WARDEN_NOT_FOUND') throw new WardenError('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND', `Previous response with id '${previous.slice(0, 200)}' not found.`, { param: 'previous_response_id' });
      throw err;
    });
  };
}
