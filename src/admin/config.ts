import { z } from 'zod';

/** Configuration of the admin API (section `admin:` of warden.yaml). */
export const adminConfigSchema = z.strictObject({
  /** Admin API bearer token (at least 16 characters); `env:NAME` reads the environment. Empty or unset: admin API disabled. */
  token: z.string().default('env:WARDEN_ADMIN_TOKEN'),
});
export type AdminConfig = z.infer<typeof adminConfigSchema>;
