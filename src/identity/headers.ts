/**
 * Where clients put their key: OpenAI SDKs send `Authorization: Bearer <key>`, Anthropic SDKs
 * send `x-api-key: <key>`. Returns the key, or null when neither header carries one.
 */
export function apiKeyFromHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): string | null {
  const auth = headers.authorization;
  const a = Array.isArray(auth) ? auth[0] : auth;
  if (a && a.length > 7 && a.slice(0, 7).toLowerCase() === 'bearer ') {
    const v = a.slice(7).trim();
    if (v) return v;
  }
  const x = headers['x-api-key'];
  const xv = (Array.isArray(x) ? x[0] : x)?.trim();
  return xv || null;
}
