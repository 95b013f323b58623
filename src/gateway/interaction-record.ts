/**
 * The interaction's last phase, recording: its event built once it is over, whatever its outcome,
 * through the `onEnd` hooks and (once its documents are read) to the recorder and the `onEvent`
 * hooks. Also the events of requests refused before the pipeline.
 */
import { EVENT_SCHEMA, emptyEnforcement, type ApiFlavour, type EventEnforcement, type InteractionEvent } from '../events/index.ts';
import type { WardenError } from '../errors/index.ts';
import type { AuthContext } from '../identity/types.ts';
import { eventAccountFacts } from '../identity/facts.ts';
import { CLIENT_CUT, type ClientCut } from './lifecycle.ts';
import { promptChars, promptText } from './request-features.ts';
import type { AnswerSummary } from './usage.ts';
import { FINISHED_LOCAL, abortRun, emptyRequest, type PipelineDeps, type Run } from './interaction-state.ts';

/** Build the event, run onEnd/onEvent hooks, record. Runs exactly once per interaction. */
export function finishInteraction(deps: PipelineDeps, run: Run): void {
  if (run.ctx.locals.has(FINISHED_LOCAL)) return;
  run.ctx.locals.set(FINISHED_LOCAL, true);
  deps.running.delete(run);
  const { ctx } = run;
  deps.metrics.counts.inflight[ctx.flavour]--;
  // Cancel an upstream answer still in flight (errors, hooks that threw); a fully read answer has
  // nothing to cancel, and aborting costs an event dispatch through undici's listeners.
  if (!run.call?.done) abortRun(run, new Error('interaction over'));
  const forwarded = run.upstream !== null && run.ttfbMs !== null;
  let summary: AnswerSummary;
  try {
    summary = forwarded ? run.meter.summary(promptText(run.request), promptChars(run.request)) : {
      input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: null, output_chars: 0, reasoning_chars: 0, answer_id: null, container_id: null,
    };
  } catch {
    summary = { input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: null, output_chars: 0, reasoning_chars: 0, answer_id: null, container_id: null };
  }
  // An error the upstream sent inside a stream it had begun with 200: the answer failed. The SDKs
  // throw on that event and hang up, often before the upstream ends its body: the failure is
  // still the upstream's, not a client disconnect.
  const upstreamError = run.meter.upstreamError;
  if (upstreamError && (run.errorCode === null || run.errorCode === 'WARDEN_CLIENT_DISCONNECTED')) {
    run.errorCode = 'WARDEN_UPSTREAM_ERROR';
    run.status = upstreamError.status;
  }
  const status = run.status || 500;
  // An upload's recording is as long as the upstream says, where it said.
  const uploads = run.request.uploads;
  if (uploads && run.meter.audioSeconds !== null) uploads.audio_seconds = run.meter.audioSeconds;
  const event = interactionEvent(run, { status, error_code: run.errorCode, ttfb_ms: run.ttfbMs, ...summary }, forwarded, Date.now());
  if (upstreamError?.type) event.response.upstream_error = upstreamError.type;
  // What an app logs from the SDK (`err.requestID`, `_request_id`) for an answer the upstream made.
  if (run.upstreamRequestId !== null) event.response.upstream_request_id = run.upstreamRequestId.slice(0, 200);
  const m = deps.metrics;
  m.counts.request(ctx.flavour, status, run.errorCode ?? '');
  m.duration.observe({ flavour: ctx.flavour, stream: String(ctx.stream) }, event.duration_ms / 1000);
  if (summary.input_tokens) m.counts.token(ctx.flavour, 'input', summary.input_tokens);
  if (summary.output_tokens) m.counts.token(ctx.flavour, 'output', summary.output_tokens);
  if (summary.reasoning_tokens) m.counts.token(ctx.flavour, 'reasoning', summary.reasoning_tokens);
  if (summary.cached_input_tokens) m.counts.token(ctx.flavour, 'cache_read', summary.cached_input_tokens);
  if (summary.cache_write_tokens) m.counts.token(ctx.flavour, 'cache_write', summary.cache_write_tokens);
  // The client left before the upstream's final count: the limits estimate what it spent.
  if (status === 499 && run.call !== null && summary.usage_source !== 'upstream') {
    const cut: ClientCut = { sentAt: run.call.sentAt, reasoningShown: run.meter.reasoningShown, endedAt: Date.now() };
    ctx.locals.set(CLIENT_CUT, cut);
  }
  for (const h of deps.hooks) {
    if (!h.onEnd) continue;
    try { h.onEnd(ctx, event); } catch (err) { deps.log.error({ err, hook: h.name }, 'onEnd hook failed'); }
  }
  if (run.documents) {
    // Recorded (and seen by the detector and the ledger) once its PDFs' text is in. The text is
    // added only now, so that what came before (token estimates, onEnd hooks) never depends on
    // how fast the reading was.
    const later = run.documents.then((addText) => {
      try { addText(); } catch (err) { deps.log.error({ err }, 'adding documents\' text failed'); }
      try { deliver(deps, event); } catch (err) { deps.log.error({ err }, 'recording an event failed'); }
    });
    deps.deferred.add(later);
    void later.finally(() => deps.deferred.delete(later));
    return;
  }
  deliver(deps, event);
}

/**
 * The interaction's event with `response`, as known `at` (ms): at its end, or (without the
 * response's figures yet) when a stream begins, for its open record (open-streams.ts).
 */
export function interactionEvent(run: Run, response: InteractionEvent['response'], forwarded: boolean, at: number): InteractionEvent {
  const { ctx } = run;
  const a = ctx.auth;
  const event: InteractionEvent = {
    schema: EVENT_SCHEMA,
    id: ctx.id,
    ts: new Date(ctx.startedAt).toISOString(),
    duration_ms: at - ctx.startedAt,
    flavour: ctx.flavour,
    model: ctx.model,
    upstream: forwarded ? run.upstream!.name : null,
    account_id: a?.account.id ?? null,
    org_id: a?.org?.id ?? a?.account.org_id ?? null,
    key_id: a?.key.id ?? null,
    client: { ip: ctx.clientIp, user_agent: eventUserAgent(ctx.userAgent), country: ctx.clientGeo.country, asn: ctx.clientGeo.asn },
    request: run.request,
    response,
    account: a ? eventAccountFacts(a) : null,
    enforcement: ctx.enforcement,
  };
  if (ctx.batchId !== null) event.client.batch_id = ctx.batchId;
  // The region the policy decided by, where it read subdivision data (the ledger records it).
  if (ctx.clientGeo.subdivisionData) { event.client.subdivision = ctx.clientGeo.subdivision ?? null; event.client.subdivision_data = ctx.clientGeo.subdivisionData; }
  return event;
}

/** Record the event and hand it to the `onEvent` hooks (the ledger, the detector). */
export function deliver(deps: PipelineDeps, event: InteractionEvent): void {
  deps.record(event);
  for (const h of deps.hooks) {
    if (!h.onEvent) continue;
    try { h.onEvent(event); } catch (err) { deps.log.error({ err, hook: h.name }, 'onEvent hook failed'); }
  }
}

/** What is known of a request refused before it reached the pipeline. */
export interface EarlyRequest {
  ip: string;
  userAgent: string | null;
  /** Body bytes, as announced (the body may not have been read). */
  bytes: number;
  /** Who called, when the key could be checked. */
  auth: AuthContext | null;
  /** The request's headers, as far as they were read. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The limit that refused it, when the limits did (an upload refused before its body: `limitsBeforeBody`). */
  limit?: EventEnforcement['limit'];
}

/** Characters of a User-Agent an event keeps (every event, refused or served). */
export const EVENT_USER_AGENT_CHARS = 1024;
/** A request's User-Agent as its event keeps it: its first `EVENT_USER_AGENT_CHARS` characters. */
export function eventUserAgent(ua: string | null): string | null {
  return ua !== null && ua.length > EVENT_USER_AGENT_CHARS ? ua.slice(0, EVENT_USER_AGENT_CHARS) : ua;
}

/**
 * An event for a request refused before it reached the pipeline (bad JSON, body or headers too
 * large, shutting down), under the id its answer names. Recorded under the caller's account when
 * the key was checked; without one, within `deps.anonymousRefusals` (src/gateway/anonymous-refusals.ts).
 */
export function recordRejectedRequest(deps: PipelineDeps, flavour: ApiFlavour, req: EarlyRequest, err: WardenError, id: string): void {
  const now = Date.now();
  deps.metrics.counts.request(flavour, err.status, err.code);
  const a = req.auth;
  // A key the store could not check (it is unreachable) is not a keyless client: each is recorded.
  if (!a && err.code !== 'WARDEN_STORE_UNAVAILABLE' && deps.anonymousRefusals && !deps.anonymousRefusals.record(req.ip, now)) return;
  const event: InteractionEvent = {
    schema: EVENT_SCHEMA,
    id,
    ts: new Date(now).toISOString(),
    duration_ms: 0,
    flavour,
    model: '',
    upstream: null,
    account_id: a?.account.id ?? null,
    org_id: a?.org?.id ?? a?.account.org_id ?? null,
    key_id: a?.key.id ?? null,
    client: { ip: req.ip, user_agent: eventUserAgent(req.userAgent), country: null, asn: null },
    request: emptyRequest(req.bytes),
    response: { status: err.status, error_code: err.code, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: null, ttfb_ms: null, output_chars: 0, reasoning_chars: 0, answer_id: null, container_id: null },
    account: a ? eventAccountFacts(a) : null,
    enforcement: { ...emptyEnforcement(), limit: req.limit ?? null },
  };
  for (const h of deps.hooks) {
    try { h.onRefused?.(req.headers, event); } catch { /* never let a hook break error handling */ }
  }
  deps.record(event);
  for (const h of deps.hooks) {
    try { h.onEvent?.(event); } catch { /* never let a hook break error handling */ }
  }
}
