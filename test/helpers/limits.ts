/**
 * Fixtures shared by the limits tests: a parsed config with overrides, an authenticated
 * interaction context as the gateway builds it, and a finished event.
 */
import { emptyEnforcement, emptyParams, type ApiFlavour, type InteractionEvent } from '../../src/events/index.ts';
import type { InteractionContext } from '../../src/gateway/lifecycle.ts';
import type { AuthContext, Programme, VerificationTier } from '../../src/identity/types.ts';
import { limitsConfigSchema, type LimitsConfig } from '../../src/limits/config.ts';

/**
 * The Redis backend's command timeout in tests that are not about timeouts: the default (100 ms)
 * is right for a gateway but a test machine running other files at once can miss it.
 */
export const TEST_COMMAND_TIMEOUT_MS = 5000;

/** A limits config: schema defaults plus the given raw fields. */
export function testConfig(raw: Record<string, unknown> = {}): LimitsConfig {
  return limitsConfigSchema.parse(raw);
}

export interface FakeCtxOptions {
  flavour?: ApiFlavour;
  keyId?: string;
  accountId?: string;
  orgId?: string | null;
  tier?: VerificationTier;
  programme?: Programme;
  ip?: string;
  asn?: number | null;
  model?: string;
  body?: Record<string, unknown>;
}

export function fakeAuth(o: FakeCtxOptions = {}): AuthContext {
  const created = '2026-01-01T00:00:00.000Z';
  const tier = o.tier ?? 'email_verified';
  const programme = o.programme ?? 'none';
  const orgId = o.orgId === undefined ? 'org_1' : o.orgId;
  return {
    key: { id: o.keyId ?? 'key_1', account_id: o.accountId ?? 'acc_1', prefix: 'wk_live_abcd1234', name: null, scopes: ['inference'], created_at: created, expires_at: null, revoked_at: null, last_used_at: null },
    account: {
      id: o.accountId ?? 'acc_1', org_id: orgId, name: null, tier, programme, status: 'active', created_at: created,
      email: null, email_domain: null, signup_ip: null, claimed_country: null, payment_fp: null,
    },
    org: orgId === null ? null : { id: orgId, name: 'Org', tier, programme, created_at: created },
    tier,
    programme,
  };
}

/** An interaction context after the identity phase, as the gateway passes it to hooks. */
export function fakeCtx(o: FakeCtxOptions = {}): InteractionContext {
  const flavour = o.flavour ?? 'openai.chat';
  const model = o.model ?? 'gpt-test';
  return {
    id: `ix_${Math.random().toString(36).slice(2)}`,
    startedAt: Date.now(),
    flavour,
    wire: flavour === 'anthropic.messages' ? 'anthropic' : 'openai',
    clientIp: o.ip ?? '203.0.113.7',
    userAgent: 'test',
    headers: {},
    auth: fakeAuth(o),
    model,
    body: o.body ?? { model, max_tokens: 100, messages: [{ role: 'user', content: 'hello there, how are you?' }] },
    stream: false,
    enforcement: emptyEnforcement(),
    responseHeaders: {},
    clientGeo: { country: null, asn: o.asn ?? null },
    signal: new AbortController().signal,
    locals: new Map(), batchId: null,
  };
}

/** The finished event for a context, with the given usage and status. */
export function fakeEvent(ctx: InteractionContext, usage: { input: number; output: number; status?: number; errorCode?: string | null }): InteractionEvent {
  return {
    schema: 'warden.interaction/1',
    id: ctx.id,
    ts: new Date(ctx.startedAt).toISOString(),
    duration_ms: 5,
    flavour: ctx.flavour,
    model: ctx.model,
    upstream: 'mock',
    account_id: ctx.auth?.account.id ?? null,
    org_id: ctx.auth?.org?.id ?? null,
    key_id: ctx.auth?.key.id ?? null,
    client: { ip: ctx.clientIp, user_agent: ctx.userAgent, country: null, asn: ctx.clientGeo.asn },
    request: { stream: ctx.stream, system: null, messages: [], tools: [], tool_choice: null, params: emptyParams(), bytes: 10 },
    response: {
      status: usage.status ?? 200, error_code: usage.errorCode ?? null, input_tokens: usage.input, output_tokens: usage.output,
      reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 1, output_chars: 0, reasoning_chars: 0,
    },
    account: null,
    enforcement: ctx.enforcement,
  };
}
