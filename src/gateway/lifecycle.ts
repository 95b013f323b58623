/**
 * The request lifecycle, named once. Every capability plugs into a phase instead of wrapping the
 * server (as Fastify's hooks do):
 *
 *   identity -> policy -> limits -> forward -> output governance -> record
 *
 * - identity:  the gateway authenticates the key (src/identity) and fills `ctx.auth`.
 * - policy:    `policy` hooks may refuse (throw WardenError) or rewrite `ctx.body` (cap max_tokens,
 *              strip logprobs, force n=1) and note what they did in `ctx.enforcement`.
 * - limits:    `limits` hooks reserve rate/token/concurrency budget; may refuse with 429.
 * - forward:   the gateway sends `ctx.body` to the upstream chosen by model.
 * - output:    `output` hooks return transformers applied to the answer (SSE event by event when
 *              streaming, or the whole JSON body), e.g. withhold reasoning, watermark text.
 * - record:    `onEnd` hooks run once per interaction whatever its outcome (settle quotas, release
 *              concurrency), then the finished event goes to `onEvent` hooks (recorder, detector,
 *              ledger). `onEnd`/`onEvent` must not throw and must not block. A request that
 *              carries PDFs goes to `onEvent` once their text is read (src/documents: up to the
 *              reader's wait and time limits later, so such events can arrive out of time order);
 *              the text is added to the event `onEnd` saw, after `onEnd`.
 *
 * Token counting (`/v1/messages/count_tokens`, `/v1/responses/input_tokens`) takes a shorter path:
 * identity -> policy -> `countLimits` -> forward. It produces no answer, so it spends no model
 * quota, has no output phase and records no interaction event (it is counted in the metrics).
 *
 * Stored responses (`GET`/`DELETE /v1/responses/{id}`, `GET .../input_items`): identity ->
 * `barred` -> `storedAnswer` (the caller's own only) -> `countLimits` -> forward -> for a retrieved response,
 * policy (with the response's own settings) and the output phase's JSON transformers, so what is
 * read back is governed as it was when it was answered. A background response (kept by Warden,
 * governed when it ran) is read through policy and `keptOutput`, so the reader's capabilities of
 * now decide there too. No interaction event.
 */
import type { ApiFlavour, EventEnforcement, InteractionEvent } from '../events/index.ts';
import type { WireFlavour } from '../errors/index.ts';
import type { AuthContext } from '../identity/types.ts';

/** One Server-Sent Event as parsed from the upstream stream. */
export interface SseEvent {
  /** The `event:` field (Anthropic uses it; OpenAI does not). */
  event?: string;
  /** The `data:` payload (raw text; `[DONE]` for OpenAI's terminator). */
  data: string;
}

/** Everything a hook may read or change about one interaction. */
export interface InteractionContext {
  readonly id: string;
  /** Arrival time, ms since epoch. */
  readonly startedAt: number;
  readonly flavour: ApiFlavour;
  /** Error/wire format family of the endpoint called. */
  readonly wire: WireFlavour;
  readonly clientIp: string;
  readonly userAgent: string | null;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Filled by the identity phase; null only for endpoints that need no key. */
  auth: AuthContext | null;
  /** Requested model. */
  model: string;
  /** Parsed JSON request body; policy hooks may change it before it is forwarded. */
  body: Record<string, unknown>;
  readonly stream: boolean;
  /** What the boundary did and why; copied into the event. */
  enforcement: EventEnforcement;
  /** Extra headers for the client response (e.g. rate-limit headers). */
  responseHeaders: Record<string, string>;
  /** Geo/network facts about the client, when a policy hook looked them up. */
  clientGeo: ClientGeo;
  /** Aborted when the client disconnects or the interaction is over. */
  readonly signal: AbortSignal;
  /** Per-interaction scratch space for hooks (e.g. a limits reservation to settle later). */
  readonly locals: Map<string, unknown>;
  /** The Message Batch Warden sent this request for (a hook sets it); null for a client's own request. */
  batchId: string | null;
  /**
   * A Responses compaction (`POST /v1/responses/compact`, flavour `openai.responses`): the request
   * takes no output budget, and the answer is a `response.compaction`. False for every other request.
   */
  readonly compaction?: boolean;
}

/**
 * `ctx.locals` key set before `onEnd` when the client left (499) after its request was forwarded
 * and before the upstream's final count: what the upstream may have spent is then unknown, and the
 * limits settle to an estimate from the time the upstream worked on it (`ClientCut`).
 */
export const CLIENT_CUT = 'answer.client_cut';

/** An answer the client left early: when the upstream worked on it, and whether it showed reasoning. */
export interface ClientCut {
  /** When the request was written to the upstream, ms since the epoch; null: never (it waited in Warden's queue for a connection). */
  sentAt: number | null;
  /** The stream showed thinking or reasoning: a thinking block (summarised or omitted), a reasoning item or its summary, reasoning text. */
  reasoningShown: boolean;
  /** When the client left, ms since the epoch. */
  endedAt: number;
}

/**
 * `ctx.locals` key of a multipart upload's files (`UploadedFiles`), set before the policy phase:
 * what the limits reserve for the audio or images the model reads (their bytes stay in the gateway).
 */
export const UPLOADED_FILES = 'request.uploaded_files';

/**
 * The files of a multipart upload, as the limits estimate them: their kind, and each one's size,
 * first bytes (a WAV header) and, for an MP3, its length read from its frames (src/gateway/mp3-length.ts).
 */
export interface UploadedFiles {
  kind: 'audio' | 'image';
  files: ReadonlyArray<{ bytes: number; head: Uint8Array; seconds?: number | null }>;
}

/** Transforms the answer on its way to the client. */
export interface OutputTransformer {
  /** Streaming: return the events to send for this one (itself, a changed copy, none, or several). */
  sse?(ev: SseEvent): SseEvent | SseEvent[] | null;
  /**
   * Streaming, optional: true when `sse` would hand this event back as it is and keep nothing of
   * it, judged from its `data` alone. `data` may be the event's bytes read as latin1 (UTF-8 text
   * not decoded), so only ASCII may be looked for in it. Events it passes are relayed as the
   * upstream's bytes without `sse` being called; a transformer without it sees every event.
   */
  passes?(data: string, event: string | undefined): boolean;
  /** Non-streaming: return the (possibly changed) parsed JSON answer. */
  json?(body: Record<string, unknown>): Record<string, unknown>;
  /** End of a stream: extra events to send before it closes. */
  flush?(): SseEvent[];
}

/**
 * Background responses, for the routes of the Responses API. Every method gets the authenticated
 * caller and throws `WardenError` (another customer's id reads as one that does not exist).
 */
export interface BackgroundResponses {
  /** Whether an id is one of these (its own id scheme), so that the routes send it here. */
  owns(id: string): boolean;
  /**
   * Keep the request (already checked: stored, model known) and answer with the response, `queued`.
   * One with `stream: true` keeps its events too: read them with `events` from -1.
   */
  create(auth: AuthContext, body: Record<string, unknown>, client: { ip: string; userAgent: string | null }): Promise<Record<string, unknown>>;
  retrieve(auth: AuthContext, id: string): Promise<Record<string, unknown>>;
  cancel(auth: AuthContext, id: string): Promise<Record<string, unknown>>;
  delete(auth: AuthContext, id: string): Promise<Record<string, unknown>>;
  /** The upstream's id of a completed background response (to list its input items), else null. */
  upstreamId(auth: AuthContext, id: string): Promise<string | null>;
  /**
   * The events of one created with `stream: true` numbered above `after`, as SSE frames, as they
   * come, until its last one (or it is over without one: cancelled, expired) or `signal` aborts.
   * `creating`: the request that created it (its reading was allowed before it was kept).
   */
  events(auth: AuthContext, id: string, after: number, signal: AbortSignal, opts?: { creating?: boolean }): Promise<AsyncIterable<string>>;
}

/**
 * The models one caller may see: `allows` a model the caller could call from its address (the
 * policy's own decision), so one it would be refused is not listed (and `GET /v1/models/{id}` is
 * 404 for it); `refusal`, asked when none is allowed, is the refusal that names no model (a
 * region, a rule on the tier), which then refuses the listing as it would any call.
 */
export interface ModelsView {
  allows(model: string): boolean;
  refusal(): Error | null;
}

/**
 * What the policy phase learnt of the client's address: country and ASN from the IP databases, and,
 * when it read subdivision range data, the subdivision (null: in none) and the data's digest.
 */
export interface ClientGeo { country: string | null; asn: number | null; subdivision?: string | null; subdivisionData?: string | null }

/** The client's network, as the policy phase sets `ctx.clientGeo.asn`. */
export interface ClientNetwork { asn: number | null }

/**
 * What is known of a request before its body is read (`limitsBeforeBody`): its client's network,
 * and its model when the route alone names it (`ROUTE_MODEL`: an image variation is dall-e-2's);
 * '' when the model is in the body.
 */
export interface BeforeBody extends ClientNetwork { model: string }

/** A refusal by the limits made outside the pipeline (`limitsBeforeBody`): the error to answer, and the event's `enforcement.limit`. */
export interface LimitRefusal {
  error: Error;
  limit: EventEnforcement['limit'];
}

export interface GatewayHooks {
  name: string;
  policy?(ctx: InteractionContext): void | Promise<void>;
  /**
   * Refuse an account whose verdict bars it from every route (the policy's verify or suspend),
   * as the policy phase would: for routes that cannot run that phase before they do anything
   * (stored responses, background responses before they are queued, the model list, the batch
   * and files routes).
   * Throws the refusal.
   */
  barred?(auth: AuthContext): void;
  /** Which models `GET /v1/models` shows this caller (see ModelsView), or null to show all. */
  modelsVisible?(auth: AuthContext, clientIp: string, wire: 'openai' | 'anthropic'): ModelsView | null;
  limits?(ctx: InteractionContext): void | Promise<void>;
  /** Token counting's own request limit (see above); may refuse with 429. */
  countLimits?(ctx: InteractionContext): void | Promise<void>;
  /**
   * A request that runs no model (a file upload) charged to the caller's
   * request limits (key, account, organisation, address): one request and no tokens; may refuse
   * with 429 in the `wire`'s format.
   */
  chargeRequest?(auth: AuthContext, clientIp: string, wire: 'openai' | 'anthropic', network?: ClientNetwork): void | Promise<void>;
  /**
   * A request whose large body is read after its key (a multipart upload), before a byte of that
   * body is read: the refusal (429) its caller's limits would make whatever the body holds (its
   * requests per window, its concurrent requests, a token quota or budget already past its limit),
   * with what the event records of it, or null. Charges nothing: the `limits` phase decides the
   * request once its body is read.
   */
  limitsBeforeBody?(auth: AuthContext, clientIp: string, wire: 'openai' | 'anthropic', known?: BeforeBody): LimitRefusal | null | Promise<LimitRefusal | null>;
  /**
   * The client's network as the policy phase finds it (its ASN from the geo tables), for the
   * routes that decide limits outside the pipeline (`chargeRequest`, `limitsBeforeBody`), so that
   * per-ASN limits hold there as in the `limits` phase. Null: not known (policy off, no tables).
   */
  clientNetwork?(clientIp: string): ClientNetwork | null;
  /**
   * A stored answer the caller names by id (`GET`/`DELETE /v1/responses/{id}`, `/v1/chat/completions/{id}`): the model that
   * made it when it is the caller's (or its organisation's), else null. Without a hook that
   * knows, no stored answer is served.
   */
  storedAnswer?(ctx: InteractionContext, id: string): Promise<{ model: string | null } | null> | { model: string | null } | null;
  /**
   * Of stored answers listed by the upstream (`GET /v1/chat/completions`, which lists every
   * customer's under Warden's one credential), the ids that are the caller's (or its organisation's).
   */
  storedAnswers?(ctx: InteractionContext, ids: readonly string[]): Promise<ReadonlySet<string>>;
  output?(ctx: InteractionContext): OutputTransformer | null | undefined;
  /**
   * An answer Warden governed when it ran and kept (a background response), read again after the
   * policy phase ran for the read: the transformer of what the reader may not see now (reasoning,
   * log-probabilities). Not the watermark: the kept text carries its owner's already.
   */
  keptOutput?(ctx: InteractionContext): OutputTransformer | null | undefined;
  /**
   * Responses created with `background: true`, served by the hook that has this (the first one):
   * it keeps them and runs each later through this pipeline. Without one, background mode is refused.
   */
  background?: BackgroundResponses;
  onEnd?(ctx: InteractionContext, event: InteractionEvent): void;
  /**
   * A stream began and is noted as open in the event store (src/gateway/open-streams.ts): what this
   * hook keeps with the record (plain JSON, small), handed back to `onInterrupted` should the node
   * be killed before the stream ends; null: nothing. Must not throw or block.
   */
  openNote?(ctx: InteractionContext): unknown;
  /**
   * An interaction a killed node left open, recorded at this node's start (`response.finish_reason`
   * `interrupted_by_restart`, its tokens those last checkpointed), before `onEvent` sees it, with
   * what `openNote` kept (null: none, or a record of an older release). Its `onEnd` never ran. May
   * be run twice for one interaction (a crash during the recovery): what it does must count once.
   */
  onInterrupted?(event: InteractionEvent, note: unknown): void | Promise<void>;
  /**
   * A request refused before it reached the pipeline (a body too large or not JSON, HTTP the
   * server could not parse, the gateway shutting down) has no context: its event, before it is
   * recorded, with the request's headers, so that a hook can say whose it was (a request Warden
   * ran for a batch). Must not throw or block.
   */
  onRefused?(headers: Readonly<Record<string, string | string[] | undefined>>, event: InteractionEvent): void;
  onEvent?(event: InteractionEvent): void;
  /** Called when the gateway shuts down (flush buffers, close connections). */
  close?(): void | Promise<void>;
}
