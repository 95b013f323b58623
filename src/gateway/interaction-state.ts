/**
 * What every phase of one model interaction shares: the pipeline's dependencies, the context hooks
 * see (`Context`), and the gateway's own state of the interaction (`Run`).
 */
import type { AnonymousRefusals } from './anonymous-refusals.ts';
import { emptyEnforcement, type ApiFlavour, type InteractionEvent, type EventRequest } from '../events/index.ts';
import type { WireFlavour } from '../errors/index.ts';
import type { AuthContext } from '../identity/types.ts';
import type { DocumentReader } from '../documents/index.ts';
import type { KeylessFailures } from './keyless-failures.ts';
import type { ClientGeo, GatewayHooks, InteractionContext } from './lifecycle.ts';
import type { FeatureOptions, PendingDocument } from './request-features.ts';
import type { AnswerMeter } from './usage.ts';
import type { Upstream, UpstreamRouter } from './upstreams.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { UpstreamCall } from './upstream-call.ts';
import type { UpstreamRateLimitHeaders } from './upstream-request.ts';
import type { ClientWriteWatch } from './client-write-watch.ts';
import type { UploadBody } from './upload-body.ts';

/** Resolves an API key secret to who is calling; throws WardenError for bad keys. */
export interface Authenticator {
  authenticate(secret: string): Promise<AuthContext> | AuthContext;
}

export interface PipelineDeps {
  authenticator: Authenticator;
  router: UpstreamRouter;
  hooks: readonly GatewayHooks[];
  metrics: GatewayMetrics;
  features: FeatureOptions;
  /** Most messages, input items, content parts and tools one request may hold (`server.max_request_items`). */
  maxRequestItems?: number;
  /** Which refusals of anonymous requests are recorded (`events.refused_anonymous_per_minute`); all when absent. */
  anonymousRefusals?: AnonymousRefusals;
  /** The limit of requests refused for their key, per address (`limits.keyless_failures_per_minute`). */
  keyless?: KeylessFailures;
  streamMaxDurationMs: number;
  /** An upstream error asking for a longer wait than this says `x-should-retry: false` (`limits.max_retry_advice_s`), s. */
  maxRetryAdviceS?: number;
  /** Whose rate-limit headers an upstream's 429 carries (`limits.upstream_rate_limit_headers`); `pass` when absent. */
  upstreamRateLimitHeaders?: UpstreamRateLimitHeaders;
  /** A stream silent this long gets a keep-alive (`server.stream_keepalive_s`), ms; 0 or absent: none. */
  streamKeepaliveMs?: number;
  /** How long a client may take none of the answer bytes waiting for it before its connection is closed, ms. */
  writeIdleTimeoutMs: number;
  /** Receives every finished event (the recorder). */
  record(event: InteractionEvent): void;
  /** A stream began (its head sent): noted as open in the event store until its event is (open-streams.ts). */
  opened?(run: Run): void;
  /** Reads the PDFs requests carry, for their events (null: PDFs are counted, not read). */
  documents: DocumentReader | null;
  /** The linked cluster an account belongs to (the detector's), for turns at the document reader. */
  clusterOf?: (accountId: string) => string | null;
  /** Events waiting for their PDFs to be read; close() waits for them before the recorder closes. */
  deferred: Set<Promise<void>>;
  /** Interactions not yet recorded; close() waits for them (see `settleInFlight`) before the recorder closes. */
  running: Set<InFlight>;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export const WIRE_OF: Record<ApiFlavour, WireFlavour> = {
  'openai.chat': 'openai',
  'openai.responses': 'openai',
  'anthropic.messages': 'anthropic',
  'openai.completions': 'openai',
  'openai.embeddings': 'openai',
  'openai.moderations': 'openai',
  'openai.images': 'openai',
  'openai.speech': 'openai',
  'openai.transcriptions': 'openai',
  'openai.translations': 'openai',
  'openai.image_edits': 'openai',
  'openai.image_variations': 'openai',
};

export function emptyRequest(bytes: number): EventRequest {
  return {
    stream: false, system: null, messages: [], tools: [], tool_choice: null, bytes,
    params: { max_tokens: null, temperature: null, top_p: null, n: null, logprobs: null, top_logprobs: null, reasoning_effort: null, thinking_budget: null, stop: false, seed: null, response_format: null },
  };
}

/**
 * What hooks see of one interaction. A class, not an object literal: its `signal` is made on first
 * use (an AbortController per request costs measurable time, and no hook reads it so far), and a
 * getter on a literal made every context a slow object.
 */
export class Context implements InteractionContext {
  auth: AuthContext | null = null;
  enforcement = emptyEnforcement();
  readonly responseHeaders: Record<string, string>;
  clientGeo: ClientGeo = { country: null, asn: null };
  readonly locals = new Map<string, unknown>();
  batchId: string | null = null;
  compaction = false;
  /** Why the interaction was aborted (client gone, stream too long, over with the answer unread); null if it was not. */
  abortReason: Error | null = null;
  private controller: AbortController | null = null;

  constructor(
    readonly id: string, readonly startedAt: number, readonly flavour: ApiFlavour, readonly wire: WireFlavour,
    readonly clientIp: string, readonly userAgent: string | null, readonly headers: InteractionContext['headers'],
    public model: string, public body: Record<string, unknown>, readonly stream: boolean,
  ) {
    this.responseHeaders = { 'x-warden-request-id': id };
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** An interaction under way, as close() sees it. */
export type InFlight = Run;

/** State of one interaction beyond what hooks see. */
export interface Run {
  ctx: Context;
  /** The upstream request, once dispatched (its `sentAt`: once written to the upstream). */
  call: UpstreamCall | null;
  request: EventRequest;
  /** Size of the request body as received, bytes. */
  bodyBytes: number;
  upstream: Upstream | null;
  meter: AnswerMeter;
  status: number;
  errorCode: string | null;
  ttfbMs: number | null;
  finished: boolean;
  /** The PDFs of the request being read: resolves to what adds their text to the event (before it is recorded). */
  documents: Promise<() => void> | null;
  /** The PDFs the request carries, as described (read once the limits let the request through). */
  docs: PendingDocument[] | null;
  /** Stream events forwarded to the client (a Responses error event is numbered after them). */
  eventsSent: number;
  /** The upstream's closing event was seen but could not be forwarded (an output transformer failed on it). */
  closingFailed: boolean;
  /** Closes the connection of a client that stops taking its answer. */
  watch: ClientWriteWatch;
  /** The upstream's id of the request (`x-request-id` / `request-id`), which the SDKs show the app for an answer the upstream made. */
  upstreamRequestId: string | null;
  /** The upstream's HTTP status, once its head arrived (null: not forwarded, or it failed first). */
  upstreamStatus: number | null;
  /** A multipart upload's fields and files (src/gateway/uploads.ts), forwarded as such instead of `ctx.body`. */
  upload?: UploadBody;
}

/** `ctx.locals` key set once the interaction is finished (its event built): finish() runs once, and no PDF reading starts after it. */
export const FINISHED_LOCAL = '__finished';

/** Abort the interaction: the upstream call if one is in flight, and `ctx.signal` if a hook holds it. */
export function abortRun(run: Run, reason: Error): void {
  if (run.ctx.abortReason) return;
  run.ctx.abort(reason);
  run.call?.abort(reason);
}
