import { z } from 'zod';

/** Configuration of the watermark capability (section `watermark:` of warden.yaml). Placeholder: to be filled in. */
export const watermarkConfigSchema = z.object({ enabled: z.boolean().default(false) }).passthrough();
export type WatermarkConfig = z.infer<typeof watermarkConfigSchema>;
