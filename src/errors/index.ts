/**
 * errors: one error class with stable codes (WARDEN_*), rendered in the wire format of the API
 * flavour the client called (OpenAI or Anthropic error JSON). Throw `WardenError` anywhere;
 * the gateway renders it in one place. Users and tests match on `code`, not on messages.
 * Imports nothing of Warden; everything else may import it.
 */

export type WireFlavour = 'openai' | 'anthropic';

interface CodeSpec {
  status: number;
  /** OpenAI `error.type`. */
  openai: string;
  /**
   * OpenAI `error.code`: the provider's own lower-case code for the same refusal where it has one
   * (`invalid_api_key`, `rate_limit_exceeded`, `model_not_found`...), else null as OpenAI sends.
   * Warden's own code goes beside it (`warden_code`, and the `x-warden-error` header).
   */
  openaiCode: string | null;
  /** Anthropic `error.type`. */
  anthropic: string;
}

/** Every error Warden can return, with its HTTP status and per-flavour error type; docs/errors.md says when each is sent (a test keeps the two in step). */
export const ERROR_CODES = {
  WARDEN_INVALID_JSON: { status: 400, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  WARDEN_INVALID_REQUEST: { status: 400, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  WARDEN_UNSUPPORTED_MEDIA_TYPE: { status: 415, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  WARDEN_BODY_TOO_LARGE: { status: 413, openai: 'invalid_request_error', openaiCode: null, anthropic: 'request_too_large' },
  /** The request's headers exceed `server.header_limit_bytes` (answered before the request is parsed). */
  WARDEN_HEADERS_TOO_LARGE: { status: 431, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  /** The request's body did not arrive within `server.request_timeout_ms`. */
  WARDEN_REQUEST_TIMEOUT: { status: 408, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  /** The request could not be parsed as HTTP, or its headers took too long to arrive (then 408). */
  WARDEN_BAD_HTTP_REQUEST: { status: 400, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  WARDEN_MODEL_REQUIRED: { status: 400, openai: 'invalid_request_error', openaiCode: 'missing_required_parameter', anthropic: 'invalid_request_error' },
  WARDEN_MODEL_NOT_FOUND: { status: 404, openai: 'invalid_request_error', openaiCode: 'model_not_found', anthropic: 'not_found_error' },
  WARDEN_NOT_FOUND: { status: 404, openai: 'invalid_request_error', openaiCode: null, anthropic: 'not_found_error' },
  /** OpenAI Responses: `previous_response_id` names no response of the caller's (src/identity/answer-owners.ts). */
  WARDEN_PREVIOUS_RESPONSE_NOT_FOUND: { status: 400, openai: 'invalid_request_error', openaiCode: 'previous_response_not_found', anthropic: 'invalid_request_error' },
  WARDEN_CONFLICT: { status: 409, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  /** Admin API: the route needs a setting this server lacks (the message names it and where it is explained), e.g. a case's STIX export without a sharing key. */
  WARDEN_NOT_CONFIGURED: { status: 409, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  WARDEN_STORAGE_QUOTA_EXCEEDED: { status: 400, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  /** Admin API: a detector replica asked for what only the detector worker serves (the detector, cases, intel). */
  WARDEN_DETECTOR_REPLICA: { status: 421, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  WARDEN_METHOD_NOT_ALLOWED: { status: 405, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  WARDEN_MISSING_API_KEY: { status: 401, openai: 'invalid_request_error', openaiCode: null, anthropic: 'authentication_error' },
  /** Different keys in `Authorization: Bearer` and `x-api-key`. */
  WARDEN_AMBIGUOUS_API_KEY: { status: 401, openai: 'invalid_request_error', openaiCode: 'invalid_api_key', anthropic: 'authentication_error' },
  WARDEN_INVALID_API_KEY: { status: 401, openai: 'invalid_request_error', openaiCode: 'invalid_api_key', anthropic: 'authentication_error' },
  WARDEN_REVOKED_API_KEY: { status: 401, openai: 'invalid_request_error', openaiCode: 'invalid_api_key', anthropic: 'authentication_error' },
  WARDEN_EXPIRED_API_KEY: { status: 401, openai: 'invalid_request_error', openaiCode: 'invalid_api_key', anthropic: 'authentication_error' },
  WARDEN_INSUFFICIENT_SCOPE: { status: 403, openai: 'permission_error', openaiCode: null, anthropic: 'permission_error' },
  WARDEN_ACCOUNT_SUSPENDED: { status: 403, openai: 'permission_error', openaiCode: 'account_deactivated', anthropic: 'permission_error' },
  WARDEN_VERIFICATION_REQUIRED: { status: 403, openai: 'permission_error', openaiCode: null, anthropic: 'permission_error' },
  WARDEN_POLICY_DENIED: { status: 403, openai: 'permission_error', openaiCode: null, anthropic: 'permission_error' },
  WARDEN_REGION_BLOCKED: { status: 403, openai: 'permission_error', openaiCode: 'unsupported_country_region_territory', anthropic: 'permission_error' },
  WARDEN_RATE_LIMITED: { status: 429, openai: 'rate_limit_error', openaiCode: 'rate_limit_exceeded', anthropic: 'rate_limit_error' },
  WARDEN_QUOTA_EXCEEDED: { status: 429, openai: 'insufficient_quota', openaiCode: 'insufficient_quota', anthropic: 'rate_limit_error' },
  WARDEN_CONCURRENCY_LIMITED: { status: 429, openai: 'rate_limit_error', openaiCode: 'rate_limit_exceeded', anthropic: 'rate_limit_error' },
  WARDEN_LIMITS_UNAVAILABLE: { status: 503, openai: 'server_error', openaiCode: 'server_error', anthropic: 'overloaded_error' },
  /** The identity store (PostgreSQL) cannot be reached and the key is not in the node's cache: retry shortly. */
  WARDEN_STORE_UNAVAILABLE: { status: 503, openai: 'server_error', openaiCode: 'server_error', anthropic: 'overloaded_error' },
  /** The gateway is shutting down: the request was not handled (a load balancer should send it elsewhere). */
  WARDEN_SHUTTING_DOWN: { status: 503, openai: 'server_error', openaiCode: 'server_error', anthropic: 'api_error' },
  WARDEN_UPSTREAM_TIMEOUT: { status: 504, openai: 'server_error', openaiCode: 'server_error', anthropic: 'api_error' },
  WARDEN_UPSTREAM_UNAVAILABLE: { status: 502, openai: 'server_error', openaiCode: 'server_error', anthropic: 'api_error' },
  WARDEN_UPSTREAM_ERROR: { status: 502, openai: 'server_error', openaiCode: 'server_error', anthropic: 'api_error' },
  /** The upstream refused Warden's own credential (its 401 or 403): the operator's to fix, never the client's key. */
  WARDEN_UPSTREAM_AUTH: { status: 502, openai: 'server_error', openaiCode: 'server_error', anthropic: 'api_error' },
  /** The upstream answered 429 with a body that is not an API error (a load balancer's): its retry headers are passed on. */
  WARDEN_UPSTREAM_RATE_LIMITED: { status: 429, openai: 'rate_limit_error', openaiCode: 'rate_limit_exceeded', anthropic: 'rate_limit_error' },
  WARDEN_STREAM_TOO_LONG: { status: 504, openai: 'server_error', openaiCode: 'server_error', anthropic: 'api_error' },
  /** Recorded on events only: the client went away before the answer was complete. */
  WARDEN_CLIENT_DISCONNECTED: { status: 499, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  /** Recorded on events only: the client took none of its answer for `server.write_idle_timeout_ms`, and was cut off. */
  WARDEN_CLIENT_NOT_READING: { status: 499, openai: 'invalid_request_error', openaiCode: null, anthropic: 'invalid_request_error' },
  WARDEN_INTERNAL: { status: 500, openai: 'server_error', openaiCode: 'server_error', anthropic: 'api_error' },
  WARDEN_ADMIN_UNAUTHORIZED: { status: 401, openai: 'invalid_request_error', openaiCode: null, anthropic: 'authentication_error' },
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WardenError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. retry-after, rate-limit headers). */
  readonly headers: Record<string, string>;
  /** OpenAI `error.param` when one request field is to blame. */
  readonly param: string | null;

  constructor(code: ErrorCode, message: string, opts: { status?: number; headers?: Record<string, string>; param?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'WardenError';
    this.code = code;
    this.status = opts.status ?? ERROR_CODES[code].status;
    // Names the refusal on every answer it makes, in either wire format (the OpenAI body's `code` is OpenAI's).
    this.headers = { ...opts.headers, 'x-warden-error': code };
    this.param = opts.param ?? null;
  }
}

/**
 * The JSON body for an error in the given flavour. OpenAI's carries OpenAI's `code` (lower-case
 * snake, or null) and Warden's own in `warden_code`; Anthropic's, whose `type` is the taxonomy its
 * SDK reads, has Warden's in `warden_code` too (and in `code`, as before: Anthropic has no field of its own there). The Anthropic API names the request in its
 * error bodies (`request_id`, as in its `request-id` header); OpenAI's only in the header.
 */
export function renderErrorBody(err: WardenError, flavour: WireFlavour, requestId?: string): object {
  const spec = ERROR_CODES[err.code];
  if (flavour === 'anthropic') {
    const body: Record<string, unknown> = { type: 'error', error: { type: spec.anthropic, message: err.message, code: err.code, warden_code: err.code } };
    if (requestId !== undefined) body.request_id = requestId;
    return body;
  }
  return { error: { message: err.message, type: spec.openai, param: err.param, code: spec.openaiCode, warden_code: err.code } };
}

/** The OpenAI-style `code` of one of Warden's codes (null where OpenAI sends none). */
export function openaiErrorCode(code: ErrorCode): string | null {
  return ERROR_CODES[code].openaiCode;
}

/**
 * The headers naming a response Warden made itself: its own, and the ones the SDKs read into
 * their errors (`request-id`: Anthropic; `x-request-id`: OpenAI). Answers an upstream made keep
 * the upstream's.
 */
export function requestIdHeaders(id: string): Record<string, string> {
  return { 'x-warden-request-id': id, 'request-id': id, 'x-request-id': id };
}

/** Wrap anything thrown into a WardenError (unknown errors become WARDEN_INTERNAL, message hidden). */
export function toWardenError(err: unknown): WardenError {
  if (err instanceof WardenError) return err;
  return new WardenError('WARDEN_INTERNAL', 'internal error', { cause: err });
}
