import { z } from 'zod';

/** Shortest admin token accepted: a bearer token that guards every account and verdict. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** The problem with an admin token's value, or null; empty means the admin API is off. */
export function adminTokenProblem(token: string): string | null {
  return token !== '' && token.length < MIN_ADMIN_TOKEN_LENGTH
    ? `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (use a random value, e.g. openssl rand -hex 32)`
    : null;
}

const tokenValue = (token: string, ctx: z.RefinementCtx) => {
  const problem = token.startsWith('env:') ? null : adminTokenProblem(token);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
};

/** Configuration of the admin API (section `admin:` of warden.yaml). */
export const adminConfigSchema = z.strictObject({
  /**
   * Admin API bearer token (at least 16 characters); `env:NAME` reads the environment (its value is
   * checked by `config check` and at `serve` start, see checkEnvSettings). Empty or unset: admin API disabled.
   */
  token: z.string().default('env:WARDEN_ADMIN_TOKEN').superRefine(tokenValue),
  /**
   * The token being rotated out, still accepted (admin API, dashboard, ledger reads) until
   * `previous_token_expires_at`, so that scripts and nodes can move to the new one over a rolling
   * restart; each caller still using it is logged (ADMIN_PREVIOUS_TOKEN_USED, never the token).
   * `env:NAME` reads the environment. Null: only `token` is accepted.
   */
  previous_token: z.string().nullable().default(null).superRefine((token, ctx) => { if (token !== null) tokenValue(token, ctx); }),
  /** When `previous_token` stops being accepted, ISO 8601 with an offset (`2026-07-01T12:00:00Z`); required with it. */
  previous_token_expires_at: z.iso.datetime({ offset: true }).nullable().default(null),
  /**
   * Wrong admin tokens from one client address (server.trusted_proxies decides which; IPv6 by
   * /64) within `failed_auth_window_s` that block the address: its admin requests then get 429
   * with retry-after for `failed_auth_block_s`, before their token is checked. Per node. 0: no throttling.
   */
  failed_auth_limit: z.number().int().min(0).default(10),
  failed_auth_window_s: z.number().int().positive().default(60),
  failed_auth_block_s: z.number().int().positive().default(300),
}).superRefine((c, ctx) => {
  if (c.previous_token === null) return;
  if (c.previous_token_expires_at === null) {
    ctx.addIssue({ code: 'custom', path: ['previous_token_expires_at'], message: 'required with admin.previous_token: when the old token stops being accepted (ISO 8601, e.g. 2026-07-01T12:00:00Z)' });
  }
  if (c.previous_token === c.token) {
    ctx.addIssue({ code: 'custom', path: ['previous_token'], message: 'is the same as admin.token: set it to the token being rotated out' });
  }
});
export type AdminConfig = z.infer<typeof adminConfigSchema>;
