import { z } from 'zod';

/** Configuration of the identity capability (section `identity:` of warden.yaml). */
export const identityConfigSchema = z.strictObject({
  /** Key prefix shown to customers, e.g. wk_live. Keys minted under an older prefix keep working. */
  key_prefix: z.string().regex(/^[a-z0-9]+(_[a-z0-9]+)*$/, 'lowercase letters and digits, groups separated by single underscores').default('wk_live'),
  /** Secret for keyed hashes of payment fingerprints; `env:NAME` reads the environment. */
  fingerprint_secret: z.string().default('env:WARDEN_FINGERPRINT_SECRET'),
  /** In-memory cache of authenticated keys on each gateway node. */
  auth_cache: z.strictObject({
    /** How long a node trusts a cached key/account before re-reading the store, ms. Bounds how
     * long a revoke or suspend made on another node can take to apply here (PostgreSQL nodes
     * are also told at once through LISTEN/NOTIFY). */
    ttl_ms: z.number().int().min(0).default(5_000),
    /** How long an unknown key id is remembered as unknown, ms (spares the store from repeated bad keys). */
    negative_ttl_ms: z.number().int().min(0).default(2_000),
    /** While the store cannot be reached, how long past `ttl_ms` a cached key is still served, ms
     * (a database restart or failover is then not a customer outage). 0: a key past its ttl gets 503. */
    stale_if_error_ms: z.number().int().min(0).max(86_400_000).default(300_000),
    /** Most keys cached per node (least recently used are dropped first). */
    max_entries: z.number().int().positive().default(100_000),
  }).prefault({}),
  /** `last_used_at` of keys is written in batches at this interval, ms (never one write per request). */
  last_used_flush_ms: z.number().int().positive().default(15_000),
  /**
   * OpenAI Responses stored upstream (and their output items, and the code-execution containers
   * of both APIs) can be named only by the account or organisation that created them; their ids
   * are kept this many days (the upstream keeps responses 30). One row per id: an answer's id,
   * each of its output items' (up to 4,096) and its container's, pruned hourly in batches.
   */
  answer_retention_days: z.number().int().positive().default(30),
  /**
   * The operator's own objects kept upstream under Warden's credential that every customer may
   * name: stored prompts (`prompt.id`), vector stores (`file_search`'s `vector_store_ids`), upstream
   * files (a `file_id` or `file_ids` anywhere in a Responses, Chat Completions or Anthropic
   * request that is not a file the caller uploaded through Warden) and Anthropic custom skills
   * (`container.skills[].skill_id`). No customer can make one through Warden, so any other id is
   * refused (400).
   */
  shared_objects: z.strictObject({
    prompts: z.array(z.string().min(1)).default([]),
    vector_stores: z.array(z.string().min(1)).default([]),
    files: z.array(z.string().min(1)).default([]),
    skills: z.array(z.string().min(1)).default([]),
  }).prefault({}),
});
export type IdentityConfig = z.infer<typeof identityConfigSchema>;
