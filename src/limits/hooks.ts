/**
 * The gateway side of limits: in the `limits` phase, decide every scope of the request at once,
 * set the rate-limit headers, record the decision on the event and refuse with 429 (503 when the
 * backend is down and the mode is fail-closed); in `onEnd`, settle the reservation to real usage
 * and release concurrency, whatever the outcome of the interaction. Token counting has its own
 * per-key request limit (`countLimits`), outside the meters of model calls; file uploads are
 * charged one request each to the meters, with no tokens (`chargeRequest`); an upload is refused
 * before its body is read when its caller is over a limit its body cannot change (`limitsBeforeBody`:
 * its key's, account's, organisation's, address's, network's and ASN's, and its model's when the
 * route alone names it).
 */
import type { Registry } from 'prom-client';
import { EMPTY_VERDICT_VIEW, budgetClusterOf, type VerdictView } from '../detect/verdict.ts';
import type { InteractionEvent } from '../events/index.ts';
import { CLIENT_CUT, UPLOADED_FILES, type ClientCut, type GatewayHooks, type InteractionContext, type LimitRefusal, type UploadedFiles } from '../gateway/lifecycle.ts';
import type { LimitsConfig } from './config.ts';
import { cutAnswerUsage, estimateInput, outputTokenReserve, unsetOutputBudget, uploadTokens } from './estimate.ts';
import { enforcementRecord, rateLimitHeaders, refusalError, type UnsetBudget } from './headers.ts';
import { KeyRate } from './key-rate.ts';
import { WardenError } from '../errors/index.ts';
import { Limiter, type ActualUsage, type LimitDecision, type Reservation } from './limiter.ts';
import { registerLimitsMetrics, type LimitsMetrics } from './metrics.ts';
import { modelMatches } from './meter-plan.ts';
import type { LimitOverridesStore } from './overrides.ts';

/** Key of the reservation in `ctx.locals`. */
export const LIMITS_RESERVATION = 'limits.reservation';
/** Key of the full decision in `ctx.locals` (for other hooks that want to read it). */
export const LIMITS_DECISION = 'limits.decision';

export interface LimitsHooksDeps {
  /** The `limits` section of the configuration. */
  config: LimitsConfig;
  /** A limiter built elsewhere (e.g. shared with the admin routes); otherwise one is built from `config`. */
  limiter?: Limiter;
  /** Top-level `redis.url`, used when `limits.redis.url` is null. */
  redisUrl?: string | null;
  /** Verdict levels and cluster ids; default: nobody is throttled or clustered. */
  verdicts?: VerdictView;
  /** Runtime overrides store (admin API). */
  overrides?: LimitOverridesStore;
  /** Registry to register the limits metrics on (ignored when `metrics` is given). */
  registry?: Registry;
  metrics?: LimitsMetrics;
  /** Where the shared backend's outages are reported (see LimiterOptions.log). */
  log?: (line: string) => void;
  /** How long closing waits on Redis, ms (see LimiterOptions.stopWaitMs). */
  stopWaitMs?: number;
}

export type LimitsHooks = GatewayHooks & { readonly limiter: Limiter };

/** Build the limits hooks for the gateway. The returned object also exposes its `limiter`. */
export function limitsHooks(deps: LimitsHooksDeps): LimitsHooks {
  const config = deps.config;
  const ownLimiter = !deps.limiter;
  const metrics = deps.metrics ?? (deps.registry ? registerLimitsMetrics(deps.registry) : undefined);
  const limiter = deps.limiter ?? new Limiter({ config, redisUrl: deps.redisUrl, overrides: deps.overrides, metrics, log: deps.log, stopWaitMs: deps.stopWaitMs });
  const verdicts = deps.verdicts ?? EMPTY_VERDICT_VIEW;
  if (ownLimiter && deps.overrides) void limiter.refreshOverrides().catch(() => {});

  const apply = (ctx: InteractionContext, d: LimitDecision, unsetBudget: UnsetBudget | null = null): void => {
    ctx.enforcement.limit = enforcementRecord(d);
    ctx.locals.set(LIMITS_DECISION, d);
    if (!d.allowed) throw refusalError(d, ctx.wire, config.max_retry_advice_s, unsetBudget);
    Object.assign(ctx.responseHeaders, rateLimitHeaders(d, ctx.wire));
    if (d.reservation) ctx.locals.set(LIMITS_RESERVATION, d.reservation);
  };

  // One rate per limit in force (the configured one, and each verdict's share of it).
  const countingRates = new Map<number, KeyRate>();
  const countingRate = (perMinute: number): KeyRate => {
    let r = countingRates.get(perMinute);
    if (!r) { r = new KeyRate(perMinute); countingRates.set(perMinute, r); }
    return r;
  };

  const hooks: LimitsHooks = {
    name: 'limits',
    limiter,
    limits(ctx) {
      if (!config.enabled || !ctx.auth) return;
      const auth = ctx.auth;
      const view = verdicts.forAccount(auth.account.id);
      if (view.level !== 'none' && ctx.enforcement.verdict === null) ctx.enforcement.verdict = view.level;
      const input = estimateInput(ctx.body, config.estimate);
      // An upload's audio or images are read by the model too: reserved as guessed input.
      const uploaded = ctx.locals.get(UPLOADED_FILES) as UploadedFiles | undefined;
      if (uploaded) input.guessed += uploadTokens(uploaded, config.estimate);
      const outputTokens = outputTokenReserve(ctx.body, ctx.flavour, config.estimate.default_max_tokens, ctx.enforcement.shaping);
      const decision = limiter.decide({
        keyId: auth.key.id,
        accountId: auth.account.id,
        orgId: auth.org?.id ?? auth.account.org_id ?? null,
        tier: auth.tier,
        programme: auth.programme,
        ip: ctx.clientIp || null,
        asn: ctx.clientGeo.asn,
        clusterId: budgetClusterOf(view),
        model: ctx.model,
        verdictLevel: view.level,
        inputTokens: input.known + input.guessed,
        guessedInputTokens: input.guessed,
        outputTokens,
      });
      // A compaction has no output budget to set: the default reserved for it is not the client's to lower.
      const unsetParam = ctx.compaction ? null : unsetOutputBudget(ctx.body, ctx.flavour, ctx.enforcement.shaping);
      const unsetBudget = unsetParam === null ? null : { param: unsetParam, reserved: outputTokens };
      if (decision instanceof Promise) return decision.then((d) => apply(ctx, d, unsetBudget));
      apply(ctx, decision, unsetBudget);
    },
    countLimits(ctx) {
      if (!config.enabled || !ctx.auth) return;
      const view = verdicts.forAccount(ctx.auth.account.id);
      const multiplier = view.level !== 'none' && view.level !== 'watch' && config.throttle.scopes.includes('key') ? config.throttle.multipliers[view.level] : 1;
      const perMinute = Math.floor(config.token_counting.requests_per_minute * multiplier);
      // A limit of 0 (counting off, or a verdict's multiplier of 0 where the policy refuses nothing)
      // is never admissible: no retry-after, and `x-should-retry: false` (the SDKs retry every 429
      // otherwise), as for a model call refused by a limit of 0. The policy's refusal of a barred
      // account (suspend, verify) comes before this, on every route that counts here.
      if (perMinute <= 0) throw new WardenError('WARDEN_RATE_LIMITED', 'Token counting is not available to this API key.', { headers: { 'x-should-retry': 'false' } });
      const wait = countingRate(perMinute).take(ctx.auth.key.id);
      if (wait === 0) return;
      const retryS = Math.max(1, Math.ceil(wait / 1000));
      throw new WardenError('WARDEN_RATE_LIMITED', `Rate limit reached: ${perMinute} token counting requests per minute for this API key. Retry after ${retryS}s.`, { headers: { 'retry-after': String(retryS) } });
    },
    chargeRequest(auth, clientIp, wire, network) {
      if (!config.enabled) return;
      const view = verdicts.forAccount(auth.account.id);
      const decision = limiter.decide({
        keyId: auth.key.id, accountId: auth.account.id, orgId: auth.org?.id ?? auth.account.org_id ?? null,
        tier: auth.tier, programme: auth.programme, ip: clientIp || null, asn: network?.asn ?? null, clusterId: budgetClusterOf(view),
        model: '', verdictLevel: view.level, inputTokens: 0, guessedInputTokens: 0, outputTokens: 0,
      });
      // Nothing runs on: the reservation (a concurrency slot) is given back at once.
      const settle = (d: LimitDecision) => {
        if (d.reservation) void limiter.settle(d.reservation, { inputTokens: 0, outputTokens: 0 });
        if (!d.allowed) throw refusalError(d, wire, config.max_retry_advice_s);
      };
      return decision instanceof Promise ? decision.then(settle) : settle(decision);
    },
    limitsBeforeBody(auth, clientIp, wire, known) {
      if (!config.enabled) return null;
      const view = verdicts.forAccount(auth.account.id);
      const refusal = limiter.peek({
        keyId: auth.key.id, accountId: auth.account.id, orgId: auth.org?.id ?? auth.account.org_id ?? null,
        tier: auth.tier, programme: auth.programme, ip: clientIp || null, asn: known?.asn ?? null, clusterId: budgetClusterOf(view),
        model: known?.model ?? '', verdictLevel: view.level,
      });
      const refuse = (d: LimitDecision | null): LimitRefusal | null => (d ? { error: refusalError(d, wire, config.max_retry_advice_s), limit: enforcementRecord(d) } : null);
      return refusal instanceof Promise ? refusal.then(refuse) : refuse(refusal);
    },
    onEnd(ctx: InteractionContext, event: InteractionEvent) {
      const reservation = ctx.locals.get(LIMITS_RESERVATION) as Reservation | undefined;
      if (!reservation) return;
      ctx.locals.delete(LIMITS_RESERVATION);
      // Real usage as the gateway accounted it (upstream usage, or the tokenizer when the stream was cut);
      // an estimate of what the upstream spent when the client left before its final count.
      let usage: ActualUsage = {
        inputTokens: event.response.input_tokens, outputTokens: event.response.output_tokens,
        cachedInputTokens: event.response.cached_input_tokens ?? 0, cacheWriteTokens: event.response.cache_write_tokens ?? 0,
      };
      // An upload's audio the upstream did not count in tokens (Whisper bills by the second): its
      // length, as the answer gave it or as estimated, is charged at the audio rate.
      const uploaded = ctx.locals.get(UPLOADED_FILES) as UploadedFiles | undefined;
      if (uploaded && event.response.usage_source !== 'upstream') {
        usage.inputTokens = Math.max(usage.inputTokens, uploadTokens(uploaded, config.estimate, event.request.uploads?.audio_seconds ?? null));
      }
      const cut = ctx.locals.get(CLIENT_CUT) as ClientCut | undefined;
      if (cut) {
        const rate = config.estimate.models.find((m) => modelMatches(m.model, ctx.model))?.unseen_tokens_per_second ?? config.estimate.unseen_tokens_per_second;
        usage = cutAnswerUsage(usage, reservation.cost, cut, rate);
      }
      void limiter.settle(reservation, usage);
    },
    openNote(ctx: InteractionContext) {
      const reservation = ctx.locals.get(LIMITS_RESERVATION) as Reservation | undefined;
      return reservation ? limiter.reservationNote(reservation) : null;
    },
    async onInterrupted(event: InteractionEvent, note: unknown) {
      if (!note) return;
      const charge = await limiter.chargeInterrupted(note, {
        inputTokens: event.response.input_tokens, outputTokens: event.response.output_tokens,
        cachedInputTokens: event.response.cached_input_tokens ?? 0, cacheWriteTokens: event.response.cache_write_tokens ?? 0,
      });
      if (charge.charged && (charge.tokens > 0 || charge.microUsd > 0)) {
        deps.log?.(`limits: interaction ${event.id} (account ${event.account_id ?? 'none'}), left open by a node that was killed, charged ${charge.tokens} tokens and ${(charge.microUsd / 1e6).toFixed(6)} USD beyond its reservation`);
      }
    },
    async close() {
      if (ownLimiter) await limiter.close();
    },
  };
  return hooks;
}
