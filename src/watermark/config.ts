import { z } from 'zod';

/** Configuration of the watermark capability (section `watermark:` of warden.yaml). */
export const watermarkConfigSchema = z.strictObject({
  /** Watermark answer text for requests whose policy capabilities say so. Needs `master_secret`. */
  enabled: z.boolean().default(false),
  /** Master secret from which every per-account/per-cluster key is derived (HKDF-SHA256). `env:NAME` reads the environment. Never logged. */
  master_secret: z.string().default('env:WARDEN_WATERMARK_SECRET'),
  /** Whose key marks an answer: the account's, or its cluster's when the detector has linked it to one. */
  key_scope: z.enum(['account', 'cluster_else_account']).default('cluster_else_account'),
  /** Significance level for `warden watermark detect` (after correction for the number of candidate keys). */
  alpha: z.number().gt(0).lt(0.5).default(1e-3),
  /** Leave answers alone when the client asked for JSON output (response_format json_*, an Anthropic `{`/`[` prefill). Text that starts like JSON is left alone either way. */
  skip_json_output: z.boolean().default(true),
});
export type WatermarkConfig = z.infer<typeof watermarkConfigSchema>;
