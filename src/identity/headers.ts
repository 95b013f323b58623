import { WardenError } from '../errors/index.ts';
import { parseSecret } from './keys.ts';

const BEARER = /^Bearer\s+(.+)$/i;

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/**
 * Where clients put their key: OpenAI SDKs send `Authorization: Bearer <key>`, Anthropic SDKs
 * send `x-api-key: <key>`. Returns the key, or null when neither header carries one. The one rule
 * for every route: two different Warden keys (the Anthropic SDK sends both headers when given an
 * API key and an auth token) are refused, so that no route picks one and another the other. Where
 * only one of two different values has the form of a Warden key, that one is the key: a front
 * (Cloud Run or IAP with IAM authentication, a gateway with a JWT authorizer) may require its own
 * Bearer token in `Authorization` and pass it on, the Warden key then coming in `x-api-key`.
 */
export function apiKeyFromHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): string | null {
  const x = first(headers['x-api-key'])?.trim() || null;
  const auth = first(headers.authorization);
  const bearer = auth ? BEARER.exec(auth.trim())?.[1].trim() || null : null;
  if (x === null || bearer === null || x === bearer) return x ?? bearer;
  const xIsKey = parseSecret(x) !== null;
  const bearerIsKey = parseSecret(bearer) !== null;
  if (xIsKey && bearerIsKey) {
    throw new WardenError('WARDEN_AMBIGUOUS_API_KEY', 'Two different API keys were sent, one as "Authorization: Bearer" and one as "x-api-key". Send one key (or the same key in both headers).');
  }
  // Neither a Warden key: x-api-key, as before the rule, is refused as an invalid key.
  return bearerIsKey ? bearer : x;
}

/**
 * The refusal of a request that carries no key: it names the usual slip, a key put in
 * `Authorization` without its `Bearer` scheme, when that is what was sent.
 */
export function missingKeyError(headers: Readonly<Record<string, string | string[] | undefined>>): WardenError {
  const auth = first(headers.authorization)?.trim();
  const how = 'Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".';
  if (auth && !/^Bearer(\s|$)/i.test(auth)) return new WardenError('WARDEN_MISSING_API_KEY', `Missing API key: the Authorization header has no "Bearer" scheme. ${how}`);
  return new WardenError('WARDEN_MISSING_API_KEY', `Missing API key. ${how}`);
}
