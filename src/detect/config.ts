import { z } from 'zod';

/** Configuration of the detect capability (section `detect:` of warden.yaml). Placeholder: to be filled in. */
export const detectConfigSchema = z.object({ enabled: z.boolean().default(false) }).passthrough();
export type DetectConfig = z.infer<typeof detectConfigSchema>;
