import { z } from 'zod';

/** Configuration of the ledger capability (section `ledger:` of warden.yaml). Placeholder: to be filled in. */
export const ledgerConfigSchema = z.object({ enabled: z.boolean().default(false) }).passthrough();
export type LedgerConfig = z.infer<typeof ledgerConfigSchema>;
