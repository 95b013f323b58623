/**
 * The interaction event: the contract between the gateway, the detector, `warden scan`,
 * the traffic model and evaluation. One JSON object per interaction; one per line in files.
 *
 * Versioned: `schema` is `"warden.interaction/1"`. Additive changes (new optional fields) keep
 * the version; anything else bumps it. Documented for outside readers in docs/event-schema.md.
 * Ground truth for evaluation is never in events: it lives in separate label files.
 */
import { z } from 'zod';

export const EVENT_SCHEMA = 'warden.interaction/1' as const;

export const ApiFlavour = z.enum([
  'openai.chat', 'openai.responses', 'anthropic.messages', 'openai.completions', 'openai.embeddings', 'openai.moderations', 'openai.images', 'openai.speech',
  // Multipart uploads: audio transcribed or translated, images edited or varied.
  'openai.transcriptions', 'openai.translations', 'openai.image_edits', 'openai.image_variations',
]);
export type ApiFlavour = z.infer<typeof ApiFlavour>;

export const VerificationTier = z.enum(['unverified', 'email_verified', 'identity_verified', 'enterprise']);
export type VerificationTier = z.infer<typeof VerificationTier>;

export const Programme = z.enum(['none', 'education', 'research', 'startup']);
export type Programme = z.infer<typeof Programme>;

/** One message as recorded: role and its text (text parts joined; images/files noted, not kept). */
export const EventMessage = z.object({
  role: z.string(),
  /** Text content, possibly truncated to the configured limit; null when prompts are not recorded. */
  text: z.string().nullable(),
  /** Length of the full text in characters, before any truncation. */
  chars: z.number().int().nonnegative(),
  /** Non-text parts (image, document, tool_result, tool_use...), counted by kind. */
  parts: z.record(z.string(), z.number()).optional(),
  /**
   * PDFs and images of this message whose text is not (all) in `text`: given by URL, the document
   * reader busy, gave up, or could not parse them.
   */
  documents_unread: z.number().int().nonnegative().optional(),
  /**
   * Of `documents_unread`, those the document itself kept from being read: a PDF too slow or too
   * large to parse, unparseable, a decompression bomb, an image too large to decode.
   * Not the reader's own limits (`documents.max_per_request` included), nor an image too slow to recognise.
   */
  documents_unreadable: z.number().int().nonnegative().optional(),
});
export type EventMessage = z.infer<typeof EventMessage>;

/** Sampling and reasoning parameters as the client sent them (null when absent). */
export const EventParams = z.object({
  max_tokens: z.number().nullable(),
  temperature: z.number().nullable(),
  top_p: z.number().nullable(),
  n: z.number().nullable(),
  logprobs: z.boolean().nullable(),
  top_logprobs: z.number().nullable(),
  /** OpenAI `reasoning_effort` / `reasoning.effort`; Anthropic `output_config.effort`. */
  reasoning_effort: z.string().nullable(),
  /** Anthropic `thinking.budget_tokens` when thinking is enabled. */
  thinking_budget: z.number().nullable(),
  /**
   * Anthropic `thinking.type` as sent (`enabled`, `adaptive`, `disabled`): adaptive thinking has
   * no budget. Absent for the other APIs and without `thinking`. Added in the same schema version
   * (optional).
   */
  thinking: z.string().optional(),
  stop: z.boolean(),
  seed: z.number().nullable(),
  response_format: z.string().nullable(),
  /**
   * Legacy completions `echo: true`: the answer starts with the prompt, and with `logprobs` it
   * carries the model's log-probabilities of the prompt's own tokens (a teacher's soft labels for
   * text the client chose). Absent otherwise. Added in the same schema version (optional).
   */
  echo: z.boolean().optional(),
  /**
   * OpenAI `logit_bias`, summarised (null or absent when the request had none). Added in the same
   * schema version (optional).
   */
  logit_bias: z.object({
    /** Token ids biased. */
    tokens: z.number().int().nonnegative(),
    /** Of those, how many pushed up (bias > 0): a ban list pushes down, a probe pushes up. */
    positive: z.number().int().nonnegative(),
    /** Fingerprint of the (token id, bias) pairs (8 hex digits): requests with the same map share it. */
    set: z.string(),
    /**
     * Fingerprint of the whole prompt the map was applied to (every message's role and full text,
     * 8 hex digits), recorded even when prompts are not: the same prompt probed with many maps is
     * how logits are read. Optional.
     */
    prompt: z.string().optional(),
  }).nullable().optional(),
});
export type EventParams = z.infer<typeof EventParams>;

export const EventRequest = z.object({
  stream: z.boolean(),
  /** System prompt text (Anthropic `system`, OpenAI system/developer messages); null if none. */
  system: z.string().nullable(),
  messages: z.array(EventMessage),
  /** Names of tools offered to the model. */
  tools: z.array(z.string()),
  tool_choice: z.string().nullable(),
  params: EventParams,
  /** Size of the request body in bytes. */
  bytes: z.number().int().nonnegative(),
  /**
   * The documents of the system and developer messages (text files, PDFs and images: the
   * Responses API takes them there), read as a message's are: their text (not in `system`, whose
   * text stays the messages' own), `parts`, `documents_unread`, `documents_unreadable`. Absent
   * when those messages carry none. Added in the same schema version (optional).
   */
  system_documents: EventMessage.optional(),
  /**
   * Messages the event leaves out (a request with more than `events.max_messages`: the first
   * quarter and the last are kept): how many, their characters, their roles and non-text parts,
   * counted. Absent when none were left out (added in the same schema version, optional).
   */
  messages_omitted: z.object({
    count: z.number().int().nonnegative(),
    chars: z.number().int().nonnegative(),
    roles: z.record(z.string(), z.number()),
    parts: z.record(z.string(), z.number()).optional(),
  }).optional(),
  /** Tool names left out of `tools` past the first 128. Absent when none were (optional). */
  tools_omitted: z.number().int().nonnegative().optional(),
  /**
   * The Responses API's `previous_response_id`: the stored response this request continues (the
   * upstream's id, as `response.answer_id` records it). The model reads that chain's messages,
   * which the event does not hold; the detector reads the chain from the events that made it.
   * Absent when the request continues nothing. Added in the same schema version (optional).
   */
  previous_response_id: z.string().max(256).optional(),
  /**
   * OpenAI Responses: `true` for a compaction (`POST /v1/responses/compact`), whose answer is the
   * conversation compacted (encrypted, no text) rather than a response. Absent otherwise. Added in
   * the same schema version (optional).
   */
  compaction: z.literal(true).optional(),
  /**
   * OpenAI Responses: the ids of the request's `item_reference` input items (at most 64, each at
   * most 256 characters): stored items the model reads (an earlier answer's output, by id) whose
   * text the request does not carry; the detector resolves them from the answers' events
   * (`response.item_ids`). Absent when the request names none. Added in the same schema version (optional).
   */
  item_references: z.array(z.string().max(256)).max(64).optional(),
  /** References past those 64 (or with an id over 256 characters), counted: never resolved. Absent when none (optional). */
  item_references_omitted: z.number().int().nonnegative().optional(),
  /**
   * The files of a multipart upload (audio to transcribe or translate, images to edit): how many,
   * their bytes, and the audio's length in seconds when known (the upstream's count, else a WAV
   * file's header), never their bytes. Absent for JSON requests. Added in the same schema version (optional).
   */
  uploads: z.object({
    files: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    audio_seconds: z.number().nonnegative().nullable(),
  }).optional(),
});
export type EventRequest = z.infer<typeof EventRequest>;

export const UsageSource = z.enum(['upstream', 'tokenizer', 'none']);

export const EventResponse = z.object({
  /** HTTP status returned to the client (499 when the client went away first). */
  status: z.number().int(),
  /** Stable Warden error code (see src/errors) when the interaction ended in an error. */
  error_code: z.string().nullable(),
  input_tokens: z.number().int().nonnegative(),
  output_tokens: z.number().int().nonnegative(),
  reasoning_tokens: z.number().int().nonnegative(),
  /** Where the token counts came from. */
  usage_source: UsageSource,
  tool_calls: z.number().int().nonnegative(),
  finish_reason: z.string().nullable(),
  /** Time to first byte of the answer (first SSE chunk, or full body), ms. */
  ttfb_ms: z.number().nullable(),
  /** Characters of answer text and reasoning text delivered (not the text itself). */
  output_chars: z.number().int().nonnegative(),
  reasoning_chars: z.number().int().nonnegative(),
  /**
   * The upstream's id of the answer (`resp_...`, `msg_...`, `chatcmpl-...`) when it sent one: what
   * the client holds, so a leaked answer or a stored response can be traced to the interaction.
   * Added in the same schema version (optional).
   */
  answer_id: z.string().nullable().optional(),
  /**
   * The error type or code the upstream gave when the answer ended in its error: an in-stream
   * error event (`overloaded_error`, `server_error`...) after a 200, or an error status's body.
   * Absent otherwise. Added in the same schema version (optional).
   */
  upstream_error: z.string().nullable().optional(),
  /**
   * The upstream's id of the request (its `x-request-id` or `request-id` header), which the SDKs
   * show an app for answers and errors the upstream made (`_request_id`, `err.requestID`): how an
   * app's logged id is found (`warden events export --request-id`). Absent when the upstream sent
   * none or was not reached. Added in the same schema version (optional).
   */
  upstream_request_id: z.string().optional(),
  /**
   * The code-execution container the answer used (Anthropic's `container`, OpenAI's
   * `code_interpreter_call.container_id`), which later requests may name to reuse it (and the
   * files in it). Added in the same schema version (optional).
   */
  container_id: z.string().nullable().optional(),
  /**
   * OpenAI Responses: the ids of the answer's output items (`msg_...`, `rs_...`, `fc_...`, at most
   * 64), which later requests may name (`item_reference`, or an item handed back with its id).
   * Absent in older logs and for the other APIs. Added in the same schema version (optional).
   */
  item_ids: z.array(z.string()).optional(),
  /**
   * Served-answer fingerprint: 8 hex digits, a hash of the first 64 visible characters of the
   * answer text as the client received it (after shaping and watermarking; reasoning, refusals and
   * tool calls excluded; see answer-fp.ts). The detector tells a history the model gave this
   * account from a made-up one with it. Absent in older logs, for answers with no text and for
   * several choices (`n` > 1). Added in the same schema version (optional).
   */
  answer_fp: z.string().nullable().optional(),
  /**
   * Of `input_tokens`, those the provider read from its prompt cache (Anthropic
   * `cache_read_input_tokens`, OpenAI `cached_tokens`), as it reported them. Absent when none.
   * Added in the same schema version (optional).
   */
  cached_input_tokens: z.number().int().nonnegative().optional(),
  /** Of `input_tokens`, those written to the prompt cache (Anthropic `cache_creation_input_tokens`). Absent when none (optional). */
  cache_write_tokens: z.number().int().nonnegative().optional(),
  /**
   * The service tier the upstream answered with, as it named it: OpenAI's `service_tier`
   * (`default`, `flex`, `priority`, `scale`), Anthropic's `usage.service_tier` (`standard`,
   * `priority`, `batch`); at most 32 characters. What the client asked for may differ (an OpenAI
   * `auto` is answered with the tier used). Absent when the upstream said none. Added in the same
   * schema version (optional).
   */
  service_tier: z.string().max(32).optional(),
  /**
   * Embeddings answers: where the returned vectors lie, as a sketch (see embedding-spread.ts): how
   * many vectors, their size, how many were projected, the sum of their projections onto 16 fixed
   * pseudo-random directions and the sum of the projections' squared lengths. Null or absent for
   * other answers. Added in the same schema version (optional).
   */
  embeddings: z.object({
    vectors: z.number().int().nonnegative(),
    dimensions: z.number().int().positive(),
    sampled: z.number().int().positive(),
    sum: z.array(z.number()),
    sq: z.number().nonnegative(),
  }).nullable().optional(),
});
export type EventResponse = z.infer<typeof EventResponse>;

/** Facts about the account known at signup, copied into every event so consumers need no join. */
export const EventAccountFacts = z.object({
  created_at: z.string(),
  tier: VerificationTier,
  programme: Programme,
  email_domain: z.string().nullable(),
  /** Keyed hash of the payment instrument (never card data). */
  payment_fp: z.string().nullable(),
  signup_ip: z.string().nullable(),
  /** Country the customer claimed at signup (ISO 3166-1 alpha-2). */
  claimed_country: z.string().nullable(),
  /**
   * ISO 3166-2 subdivision the customer claimed (`UA-30`), in `claimed_country`; null when none
   * was declared. Added in the same schema version (optional).
   */
  claimed_subdivision: z.string().nullable().optional(),
  /**
   * Keyed hash of the email address's pattern (local part without separators and trailing
   * number, plus domain), present when the local part ends in a number: accounts created in a
   * numbered sequence share it. Added in the same schema version (optional).
   */
  email_pattern: z.string().nullable().optional(),
  /**
   * When the account was first used (any of its keys; the gateway's record, to its key-use flush
   * interval; the request's own time on an account's first requests). An account signed up long
   * ago but first used now has no history. Added in the same schema version (optional).
   */
  first_used_at: z.string().nullable().optional(),
});
export type EventAccountFacts = z.infer<typeof EventAccountFacts>;

/** What the boundary did to this interaction and why. */
export const EventEnforcement = z.object({
  /** Rate/quota decision: null if allowed without note; otherwise the scope and limit that bound. */
  limit: z
    .object({ allowed: z.boolean(), scope: z.string(), limit: z.string(), retry_after_s: z.number().nullable() })
    .nullable(),
  /** Verdict in force for the account or its cluster when the request arrived. */
  verdict: z.string().nullable(),
  /** Shaping actions applied (e.g. "reasoning:withheld", "logprobs:stripped", "max_tokens:capped"). */
  shaping: z.array(z.string()),
  /** Policy rules that matched (id), allow or deny. */
  policy: z.array(z.string()),
  /** Watermark key id applied to the output, if any. */
  watermark: z.string().nullable(),
});
export type EventEnforcement = z.infer<typeof EventEnforcement>;

export const InteractionEvent = z.object({
  schema: z.literal(EVENT_SCHEMA),
  /** Time-sortable unique id (ULID). */
  id: z.string(),
  /** Request arrival, ISO 8601 UTC with milliseconds. */
  ts: z.string(),
  duration_ms: z.number().nonnegative(),
  flavour: ApiFlavour,
  model: z.string(),
  /** Name of the upstream that served it (null if never forwarded). */
  upstream: z.string().nullable(),
  account_id: z.string().nullable(),
  org_id: z.string().nullable(),
  key_id: z.string().nullable(),
  client: z.object({
    ip: z.string(),
    user_agent: z.string().nullable(),
    country: z.string().nullable(),
    asn: z.number().int().nullable(),
    /**
     * Set when Warden itself sent this request for a Message Batch (src/batches): its time is the
     * batch runner's, not the client's, so timing signals ignore it. Added in the same schema
     * version (optional).
     */
    batch_id: z.string().nullable().optional(),
    /**
     * The ISO 3166-2 subdivision the policy's range data (`policy.geo.subdivision_files`) places
     * the address in, as the policy decided by it; null when the data places it in none or no data
     * was read. Added in the same schema version (optional; absent where the policy did not run).
     */
    subdivision: z.string().nullable().optional(),
    /** Hex SHA-256 digest of the subdivision data read (null: none configured). Added in the same schema version (optional). */
    subdivision_data: z.string().nullable().optional(),
  }),
  request: EventRequest,
  response: EventResponse,
  account: EventAccountFacts.nullable(),
  enforcement: EventEnforcement,
  /**
   * When the personal data of this event was erased (`warden events erase`, see erase.ts): the
   * client IP is then `""`, the user agent, prompt text and account's email domain, email pattern,
   * signup IP and payment fingerprint null. Absent while not erased. Added in the same schema version (optional).
   */
  erased_at: z.string().optional(),
});
export type InteractionEvent = z.infer<typeof InteractionEvent>;

/** Parse and validate one event (a JSON line or an object). Throws a ZodError naming the bad field. */
export function parseEvent(input: string | unknown): InteractionEvent {
  const obj = typeof input === 'string' ? JSON.parse(input) : input;
  return InteractionEvent.parse(obj);
}

/** Default params object: every field null/false. */
export function emptyParams(): EventParams {
  return {
    max_tokens: null, temperature: null, top_p: null, n: null, logprobs: null, top_logprobs: null,
    reasoning_effort: null, thinking_budget: null, stop: false, seed: null, response_format: null,
  };
}

export function emptyEnforcement(): EventEnforcement {
  return { limit: null, verdict: null, shaping: [], policy: [], watermark: null };
}
