import { z } from 'zod';

/**
 * Configuration of the ledger capability (section `ledger:` of warden.yaml). Documented in
 * docs/ledger.md. Secrets (`key`) accept `env:NAME`.
 */
export const ledgerConfigSchema = z.strictObject({
  /** Record every interaction and verdict in the ledger. */
  enabled: z.boolean().default(true),
  /** Checkpoint origin line and signing key name; a schema-less URL naming this log. */
  origin: z.string().min(1).regex(/^[^\s+]+$/, 'origin must have no spaces or +').default('warden.local/ledger'),
  /** `sqlite` (default) or `postgres`; null follows `store.driver`. */
  driver: z.enum(['sqlite', 'postgres']).nullable().default(null),
  /** The ledger's own SQLite file (commits are fsynced: synchronous=FULL); null: ledger.db beside store.sqlite_path. */
  sqlite_path: z.string().nullable().default(null),
  /** PostgreSQL schema holding the ledger tables when driver is postgres. */
  postgres_schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('warden_ledger'),
  /** Signing key (PRIVATE+KEY+... string); `env:NAME` reads the environment. Takes precedence over key_file. */
  key: z.string().default('env:WARDEN_LEDGER_KEY'),
  /** File holding the signing key; created (mode 0600) by `warden ledger keygen` or on first start. Null: ledger.key beside store.sqlite_path. */
  key_file: z.string().nullable().default(null),
  /** Extra signing key files: during a rotation both keys sign every checkpoint. */
  extra_key_files: z.array(z.string()).default([]),
  /** Verifier keys (<name>+<id>+<key>) of retired signing keys, trusted when verifying old checkpoints. */
  trusted_keys: z.array(z.string()).default([]),
  /** Sign a checkpoint at most this long after new entries became durable, ms. */
  checkpoint_interval_ms: z.number().int().min(10).max(60_000).default(500),
  /** Most entries per group commit. */
  batch_max: z.number().int().min(1).max(100_000).default(256),
  /**
   * Group-commit window, ms: while the writer is busy, a batch smaller than batch_max waits until
   * this long after the previous commit started, so one fsync carries more entries (each commit
   * costs about as much CPU as two entries). An idle log commits at once. 0: commit every turn.
   * 50 ms (well inside the checkpoint interval) cut the ledger's CPU per gateway request about
   * threefold against 10 ms at ~1,500 req/s (bench/gateway-cost.ts).
   */
  group_commit_ms: z.number().min(0).max(1000).default(50),
  /**
   * Entries waiting for commit (queued or being committed) beyond which appends are refused
   * (LEDGER_OVERLOADED; counted as dropped for the gateway's fire-and-forget appends, never
   * silently). Bounds memory when the disk is slow: about 3 KB per waiting entry.
   */
  max_queue: z.number().int().min(1).default(50_000),
  /**
   * On shutdown, how long to wait for the storage to take what is queued and the final checkpoint,
   * ms. Past it (a PostgreSQL that stopped answering) the writer is stopped and the entries it had
   * not written are counted and logged (`ledger: LEDGER_CLOSED: ...`). At least 100: with less, a
   * shutdown would give up before even a healthy storage took the queue and the final checkpoint.
   */
  close_timeout_ms: z.number().int().min(100, 'close_timeout_ms must be at least 100 (ms): a shutdown needs time to write what is queued and sign the final checkpoint').default(10_000),
  /**
   * The node takes traffic only while it records it: `/readyz` answers 503 while the ledger's
   * storage is unreachable, the log cannot be written, or the queue is 80% full. Off (default), an
   * outage is ridden out in the queue (up to max_queue) and the node stays ready.
   */
  required: z.boolean().default(false),
  /**
   * Witnesses (c2sp.org/tlog-witness) each new checkpoint is sent to: `url` is the witness's
   * submission prefix (POST <url>/add-checkpoint), `key` its cosignature/v1 verifier key
   * (<name>+<id>+base64(0x04 || key), `warden witness keygen` prints it). Their cosignatures are
   * stored with the checkpoint and served in GET /ledger/v1/checkpoint. Never on the request path.
   */
  witnesses: z.array(z.strictObject({ url: z.string().url(), key: z.string().min(1) })).default([]),
  /**
   * Cosignatures a checkpoint needs to count as witnessed (GET /ledger/v1/checkpoint serves the
   * newest witnessed one; `warden ledger verify` takes it as the default --quorum). Null: every
   * configured witness.
   */
  witness_quorum: z.number().int().min(1).nullable().default(null),
  /** How long one add-checkpoint call to a witness may take, ms; slower is counted as unreachable and retried with backoff. */
  witness_timeout_ms: z.number().int().min(100).max(120_000).default(10_000),
  /** Keep raw prompt text in the erasable side table (the tree always holds only its commitment). */
  keep_prompt_text: z.boolean().default(false),
  /**
   * Serve the transparency reads (checkpoint, key, proofs, entries) on the gateway's port to
   * anyone. Off: they need the admin token or an API key with the `ledger:read` scope, since the
   * leaves tell a campaign which of its accounts were flagged, and why.
   */
  public_reads: z.boolean().default(false),
});
export type LedgerConfig = z.infer<typeof ledgerConfigSchema>;
