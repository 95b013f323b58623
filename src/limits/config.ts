import { z } from 'zod';

/** Configuration of the limits capability (section `limits:` of warden.yaml). Placeholder: to be filled in. */
export const limitsConfigSchema = z.object({ enabled: z.boolean().default(false) }).passthrough();
export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
