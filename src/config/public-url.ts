/** What `server.public_url` may hold: an http(s) URL with no query, fragment or credentials (src/gateway/public-url.ts uses it). */
export function publicUrlProblem(value: string): string | null {
  let u: URL;
  try { u = new URL(value); } catch { return `not a URL: ${value}`; }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `must be an http:// or https:// URL: ${value}`;
  if (u.search || u.hash || value.includes('?') || value.includes('#')) return `must have no query or fragment: ${value}`;
  if (u.username || u.password) return `must carry no credentials: ${value}`;
  return null;
}
