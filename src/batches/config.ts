import { z } from 'zod';

/** Configuration of message batches (section `batches:` of warden.yaml). */
export const batchesConfigSchema = z.object({
  /**
   * Serve Anthropic Message Batches (`/v1/messages/batches`) and OpenAI's Batch API (`/v1/batches`,
   * with the Files API for its input and output files), run through Warden's own pipeline.
   */
  enabled: z.boolean().default(true),
  /** Most requests in one batch (Anthropic allows 100,000). */
  max_requests: z.number().int().positive().default(10_000),
  /**
   * Requests of an account's batches that may wait to run at once (Anthropic bounds its queue per
   * tier too): a batch that would go past it is refused with 429, so that no account can fill the
   * store or the runners' queue.
   */
  max_queued_per_account: z.number().int().positive().default(100_000),
  /**
   * Batches of one account in progress at once (not ended: waiting, running or being cancelled),
   * Anthropic's and OpenAI's together (background responses are not counted): one more is refused
   * with 429, so that many small batches cannot pass what `max_queued_per_account` bounds in requests.
   */
  max_batches_in_progress_per_account: z.number().int().positive().default(1_000),
  /**
   * Largest batch, bytes: the body of a Message Batch creation, or an uploaded batch input file
   * (the model endpoints keep `server.body_limit_bytes`).
   */
  max_body_bytes: z.number().int().positive().default(64 * 1024 * 1024),
  /**
   * Largest file a request may name as its input (purposes `user_data`, `assistants`, `vision`),
   * bytes, and the most of them one request may name in all: each is sent to the upstream inline.
   */
  max_input_file_bytes: z.number().int().positive().default(32 * 1024 * 1024),
  /**
   * Files an account may keep at once (uploads not yet expired or deleted; batch output files are
   * not counted), and the bytes of them it and its organisation may keep: an upload past either is
   * refused with 400 `invalid_request_error`, as OpenAI and Anthropic refuse one over their storage
   * quota (100 GB per organisation there). Uploads share the disk with the ledger and the events.
   */
  max_files_per_account: z.number().int().positive().default(10_000),
  max_file_bytes_per_account: z.number().int().positive().default(5 * 1024 ** 3),
  max_file_bytes_per_org: z.number().int().positive().default(50 * 1024 ** 3),
  /**
   * Clients of one account reading streamed background responses at once, on each node: each holds
   * a connection open for as long as the response runs (or `server.stream_max_duration_ms`). More are
   * refused with 429.
   */
  max_stream_readers_per_account: z.number().int().positive().default(64),
  /** Requests of batches run at once on each node. */
  concurrency: z.number().int().positive().default(4),
  /** A batch not ended this many hours after it was created expires; what is left is `expired`. */
  expire_hours: z.number().positive().default(24),
  /** Ended batches and their results are deleted this many days after they ended. */
  retention_days: z.number().int().positive().default(29),
  /** Uploaded files (batch inputs and request inputs) are deleted this many days after upload, unless `expires_after` says sooner. */
  file_retention_days: z.number().int().positive().default(30),
  /** Attempts of one request that meets a limit (429) or an upstream failure (5xx) before it is `errored`. */
  max_attempts: z.number().int().positive().default(8),
  /** A request claimed by a node that stopped is taken up again after this long, ms. */
  lease_ms: z.number().int().min(1000).default(10 * 60_000),
}).strict();
export type BatchesConfig = z.infer<typeof batchesConfigSchema>;
