/**
 * Background responses (`POST /v1/responses` with `background: true`), kept and run by Warden: each
 * is a batch of one, run before any batch's requests, through the whole pipeline as the key and
 * from the address that sent it. Sent to the upstream as is, a background answer would be
 * generated after its request ended, where nothing would meter, shape or record it; run here, it
 * is one ordinary governed request, and the client reads the answer as the gateway gave it.
 *
 * The response's id is Warden's (`resp_bg_…`); the answer's own id, the upstream's, is kept with
 * it, for its input items and to continue it (`previous_response_id`).
 *
 * One created with `stream: true` runs streamed: its events (`response.created` and
 * `response.queued` at once, then the gateway's events as they come, renumbered and under Warden's
 * id) are kept, so the client that created it reads them as they come, and any client of its
 * owner can read them again from any point (`GET /v1/responses/{id}?stream=true&starting_after=N`)
 * until it is deleted.
 */
import { WardenError } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import type { BackgroundResponses, GatewayHooks } from '../gateway/index.ts';
import type { AuthContext } from '../identity/index.ts';
import type { BatchesConfig } from './config.ts';
import { orgOf } from './routes.ts';
import type { BatchRecord, BatchStore, ItemOutcome } from './store.ts';
import { SseParser } from '../gateway/sse.ts';
import { BackgroundStreams, TERMINAL_EVENTS, sseFrame } from './stream-log.ts';

const PREFIX = 'resp_bg_';
/** Request fields a queued response echoes, as the API's response object does. */
const ECHOED = ['instructions', 'max_output_tokens', 'metadata', 'previous_response_id', 'reasoning', 'text', 'tools', 'tool_choice', 'temperature', 'top_p', 'parallel_tool_calls', 'truncation', 'user'] as const;

const seconds = (ms: number) => Math.floor(ms / 1000);

export interface BackgroundDeps {
  store: BatchStore;
  config: BatchesConfig;
  streams: BackgroundStreams;
  /** A response was kept: start it now rather than at the runner's next tick. */
  onCreated(): void;
  onCanceled(id: string): void;
}

export function isBackgroundId(id: string): boolean {
  return id.startsWith(PREFIX);
}

/** The response object while there is no answer to show: its status, and the request's fields echoed. */
function responseObject(b: BatchRecord, status: string): Record<string, unknown> {
  const params = b.openai?.response_params ?? {};
  const r: Record<string, unknown> = {
    id: b.id, object: 'response', created_at: seconds(b.created_at), status, background: true,
    error: null, incomplete_details: null, model: b.openai?.model ?? null, output: [], usage: null, store: true,
  };
  for (const k of ECHOED) r[k] = params[k] ?? null;
  return r;
}

/** A reader of a response that ended stops this long after (time for the last events to be written). */
const ENDED_GRACE_MS = 1_000;

/** Events a streamed response has before it runs: `response.created` (0) and `response.queued` (1). */
const QUEUED_EVENTS = 2;

export function createBackgroundResponses(deps: BackgroundDeps): BackgroundResponses {
  const { store, config, streams } = deps;
  /** Streams of background responses each account is reading on this node. */
  const readers = new Map<string, number>();
  const checkReaders = (account: string) => {
    const reading = readers.get(account) ?? 0;
    if (reading >= config.max_stream_readers_per_account) {
      throw new WardenError('WARDEN_CONCURRENCY_LIMITED', `This account has ${reading} streams of background responses open; at most ${config.max_stream_readers_per_account} may be read at once.`, { headers: { 'retry-after': '1' } });
    }
  };

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
    const base = responseObject(b, 'queued');
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
      const streamed = body.stream === true;
      // Refused before anything is kept: a client told 429 retries, and must not leave a response behind.
      if (streamed) checkReaders(auth.account.id);
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
      if (streamed) record.openai!.streamed = true;
      const queued = describe(record, null);
      // A streamed one has its first events at once (its reader needs `response.created` first), written with it.
      const first = streamed ? [
        sseFrame('response.created', { type: 'response.created', response: queued, sequence_number: 0 }),
        sseFrame('response.queued', { type: 'response.queued', response: queued, sequence_number: 1 }),
      ] : [];
      await store.create(record, [{ custom_id: 'response', params: JSON.stringify(params) }], first);
      deps.onCreated();
      return queued;
    },

    async events(auth, id, after, signal, opts = {}) {
      const b = await own(auth, id);
      if (!b.openai?.streamed) {
        throw new WardenError('WARDEN_INVALID_REQUEST', `Response ${id.slice(0, 200)} was created without \`stream: true\`; its events are not kept: retrieve it without \`stream\` and poll until it is done.`, { param: 'stream' });
      }
      // Over: cancelled, deleted, or ended a moment ago (an expired one's last events are written
      // just after it ends; one that ran ends after its last event).
      const ended = async () => {
        const now = await store.get(b.id);
        return !now || now.cancel_initiated_at !== null || (now.status === 'ended' && Date.now() - (now.ended_at ?? 0) > ENDED_GRACE_MS);
      };
      const account = auth.account.id;
      // The creating request was checked before its response was kept.
      if (!opts.creating) checkReaders(account);
      readers.set(account, (readers.get(account) ?? 0) + 1);
      // Released once: when the reading ends, or when its signal aborts (a stream never read).
      let held = true;
      const release = () => {
        if (!held) return;
        held = false;
        const left = (readers.get(account) ?? 1) - 1;
        if (left > 0) readers.set(account, left); else readers.delete(account);
      };
      signal.addEventListener('abort', release, { once: true });
      const events = streams.follow(b.id, after, signal, ended);
      return (async function* () {
        try { yield* events; } finally { release(); }
      })();
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

/** What the runner needs to run a streamed background response: where its events go, and in what form. */
export interface StreamedRuns {
  /** Whether a claimed request is a streamed background response (run with `relay`). */
  streamed(b: BatchRecord): boolean;
  /**
   * Before a run: false when an earlier run already streamed part of an answer (its node stopped
   * mid-answer). That answer cannot be continued, nor a new one told apart from it by the client:
   * the response has failed (`interrupted`), with this result.
   */
  begin(b: BatchRecord): Promise<{ ok: true } | { ok: false; result: string }>;
  /**
   * The gateway's answer, a stream of the Responses API's events: each is kept, numbered on from
   * the queued ones, the response under Warden's id. Stops reading when `cancelled` says so.
   * Returns the request's outcome: the final response (the upstream's, by its own id) or why it failed.
   */
  relay(b: BatchRecord, body: AsyncIterable<Buffer>, requestId: string, cancelled: () => Promise<boolean>): Promise<{ state: 'succeeded' | 'errored' | 'canceled'; result: string | null }>;
  /** Refused when it ran (policy, limits, the upstream): `response.failed`, with the refusal. */
  refused(b: BatchRecord, status: number, body: string): Promise<void>;
  /** Batches the store ended (expired ones among them): a streamed response that expired before it ran says so on its stream. */
  ended(ids: readonly string[]): Promise<void>;
}

export function createStreamedRuns(store: BatchStore, streams: BackgroundStreams): StreamedRuns {
  const failedResult = (status: number, code: string, message: string) =>
    JSON.stringify({ status_code: status, body: { error: { message, type: 'server_error', param: null, code } } });
  /** `response.failed`, numbered after the last event kept (an `error` event first, as the API sends). */
  const fail = async (b: BatchRecord, code: string, message: string) => {
    const next = (await store.lastStreamSeq(b.id)) + 1;
    const response = Object.assign(responseObject(b, 'failed'), { error: { code, message } });
    await streams.write(b.id, next, [
      sseFrame('error', { type: 'error', code, message, param: null, sequence_number: next }),
      sseFrame('response.failed', { type: 'response.failed', response, sequence_number: next + 1 }),
    ]);
  };

  return {
    streamed: (b) => b.background === true && b.openai?.streamed === true,

    async begin(b) {
      if (await store.lastStreamSeq(b.id) < QUEUED_EVENTS) return { ok: true };
      const message = 'The response was interrupted while it was being streamed (the server running it stopped). Create it again.';
      await fail(b, 'interrupted', message);
      return { ok: false, result: failedResult(500, 'interrupted', message) };
    },

    async ended(ids) {
      for (const id of ids) {
        if (!isBackgroundId(id)) continue;
        const b = await store.get(id);
        if (!b || !b.openai?.streamed || b.cancel_initiated_at !== null) continue;
        const [o] = await store.outcomes(id, -1, 1);
        if (o?.state !== 'expired') continue;
        await fail(b, 'expired', 'The response expired before it could run (batches.expire_hours).');
      }
    },

    async refused(b, status, body) {
      let error: { code?: unknown; message?: unknown } = {};
      try { error = (JSON.parse(body) as { error?: typeof error }).error ?? {}; } catch { /* not JSON */ }
      await fail(b, String(error.code ?? 'server_error'), String(error.message ?? `The request failed with status ${status}.`));
    },

    async relay(b, body, requestId, cancelled) {
      // `response.in_progress` is stored before anything else is sent: if this node stops before
      // its next write, a run taken up again sees that one began (`begin`) and fails the response,
      // rather than continue a client's stream with a second answer after part of a first.
      await streams.write(b.id, QUEUED_EVENTS, [sseFrame('response.in_progress', { type: 'response.in_progress', response: responseObject(b, 'in_progress'), sequence_number: QUEUED_EVENTS })]);
      let seq = QUEUED_EVENTS + 1;
      streams.open(b.id, seq);
      const emit = (type: string, data: Record<string, unknown>) => {
        data.sequence_number = seq++;
        streams.append(b.id, sseFrame(type, data));
      };
      let final: Record<string, unknown> | null = null;
      let failure: { code: string; message: string } | null = null;
      const take = (data: Record<string, unknown>, event: string | null) => {
        // The gateway's own refusal mid-stream (the stream ran too long, the upstream failed): OpenAI error JSON.
        const err = data.error as { code?: unknown; message?: unknown } | undefined;
        if (data.type === undefined && err && typeof err === 'object') {
          failure = { code: String(err.code ?? 'server_error'), message: String(err.message ?? 'The answer failed.') };
          emit('error', { type: 'error', code: failure.code, message: failure.message, param: null });
          return;
        }
        const type = typeof data.type === 'string' ? data.type : event ?? 'message';
        // Warden sent its own (queued, then in progress when this run began).
        if (type === 'response.created' || type === 'response.in_progress' || type === 'response.queued') return;
        const response = data.response;
        if (response && typeof response === 'object' && !Array.isArray(response)) {
          if (TERMINAL_EVENTS.has(type)) final = response as Record<string, unknown>;
          data.response = Object.assign({}, response, { id: b.id, background: true });
        }
        if (type === 'error') failure = { code: String(data.code ?? 'server_error'), message: String(data.message ?? 'The answer failed.') };
        emit(type, data);
      };
      const parser = new SseParser();
      let stopped = false;
      try {
        for await (const chunk of body) {
          for (const ev of parser.push(chunk)) {
            if (!ev.data || ev.data === '[DONE]') continue;
            let data: unknown;
            try { data = JSON.parse(ev.data); } catch { continue; }
            if (data && typeof data === 'object' && !Array.isArray(data)) take(data as Record<string, unknown>, ev.event ?? null);
          }
          if (await cancelled()) { stopped = true; break; }
        }
        if (!stopped) for (const ev of parser.flush()) { try { take(JSON.parse(ev.data), ev.event ?? null); } catch { /* not JSON */ } }
      } catch (err) {
        // Stopped from outside because it was cancelled, or broken.
        if (await cancelled().catch(() => false)) stopped = true;
        else failure ??= { code: 'server_error', message: `The answer's stream broke off (${(err as Error).message}).` };
      }
      try {
        if (stopped) return { state: 'canceled', result: null };
        const done = final as Record<string, unknown> | null;
        if (done) return { state: 'succeeded', result: `{"status_code":200,"request_id":${JSON.stringify(requestId)},"body":${JSON.stringify(done)}}` };
        // It ended without a final event: failed, and its stream says so.
        const why = (failure as { code: string; message: string } | null) ?? { code: 'server_error', message: 'The answer ended before it was complete.' };
        emit('response.failed', { type: 'response.failed', response: Object.assign(responseObject(b, 'failed'), { error: why }) });
        return { state: 'errored', result: failedResult(500, why.code, why.message) };
      } finally {
        await streams.close(b.id);
      }
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
