import { z } from 'zod';

/** Shortest admin token accepted: a bearer token that guards every account and verdict. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** The problem with an admin token's value, or null; empty means the admin API is off. */
export function adminTokenProblem(token: string): string | null {
  return token !== '' && token.length < MIN_ADMIN_TOKEN_LENGTH
    ? `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (use a random value, e.g. openssl rand -hex 32)`
    : null;
}

/** Configuration of the admin API (section `admin:` of warden.yaml). */
export const adminConfigSchema = z.strictObject({
  /**
   * Admin API bearer token (at least 16 characters); `env:NAME` reads the environment (its value is
   * checked by `config check` and at `serve` start, see checkEnvSettings). Empty or unset: admin API disabled.
   */
  token: z.string().default('env:WARDEN_ADMIN_TOKEN').superRefine((token, ctx) => {
    const problem = token.startsWith('env:') ? null : adminTokenProblem(token);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
});
export type AdminConfig = z.infer<typeof adminConfigSchema>;
