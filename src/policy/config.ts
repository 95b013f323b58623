import { z } from 'zod';

/** Configuration of the policy capability (section `policy:` of warden.yaml). Placeholder: to be filled in. */
export const policyConfigSchema = z.object({ enabled: z.boolean().default(false) }).passthrough();
export type PolicyConfig = z.infer<typeof policyConfigSchema>;
