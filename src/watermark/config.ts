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
  /**
   * Leave JSON answers (response_format / text.format / output_config.format json, an Anthropic `{`/`[` prefill) and
   * tool-call arguments unmarked for accounts under no verdict. An account under a verdict whose capabilities say
   * `watermark` has them marked in the prose of their string values either way; `false` marks them for every marked account.
   */
  skip_json_output: z.boolean().default(true),
});
export type WatermarkConfig = z.infer<typeof watermarkConfigSchema>;
