import { z } from 'zod';

/** Configuration of case files and threat-intel exchange (section `cases:` of warden.yaml). */
export const casesConfigSchema = z.object({
  /** Case files, reports and indicator exchange on the nodes that run the detector (admin API, CLI). */
  enabled: z.boolean().default(true),
  /** This provider's name in exported bundles (the source partners see). */
  provider: z.string().min(1).default('Warden operator'),
  /**
   * Key partners agreed for exchanging indicators (HMAC-SHA256 of each value; at least 16
   * characters). `env:NAME` reads the environment. Without it nothing is exported or matched. Never logged.
   */
  sharing_key: z.string().default('env:WARDEN_INTEL_KEY'),
  /** Level an account matching an imported indicator is held at, unless the import says otherwise (weak kinds alone: watch). */
  import_level: z.enum(['watch', 'throttle', 'shape', 'verify', 'suspend']).default('throttle'),
  /** Exported indicators stop applying after this many days. */
  export_valid_days: z.number().int().positive().max(3650).default(90),
  /** Bounds on what building a case reads from the event store. */
  max_members: z.number().int().positive().default(500),
  max_events_per_member: z.number().int().positive().default(200),
  max_events: z.number().int().positive().default(20_000),
  /** Events of the campaign's days read to find other accounts that used its values (only values few others used are shared). */
  max_window_events: z.number().int().positive().default(200_000),
});
export type CasesConfig = z.infer<typeof casesConfigSchema>;
