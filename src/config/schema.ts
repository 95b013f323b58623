/**
 * The Warden configuration file (warden.yaml): every key validated and defaulted.
 * Each capability owns its section's schema in its own folder; this module composes them.
 * Documented in the README (Configuration) and by `warden config defaults`. Note (Zod 4): nested sections use `.prefault({})` so
 * that inner defaults apply when the section is omitted. Every object is strict (`z.strictObject`,
 * here and in each capability's section): an unknown key is an error naming its path, never ignored.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { limitsConfigSchema } from '../limits/config.ts';
import { detectConfigSchema } from '../detect/config.ts';
import { ledgerConfigSchema } from '../ledger/config.ts';
import { policyConfigSchema } from '../policy/config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { identityConfigSchema } from '../identity/config.ts';
import { adminConfigSchema } from '../admin/config.ts';
import { casesConfigSchema } from '../cases/config.ts';
import { notifyConfigSchema } from '../notify/config.ts';
import { batchesConfigSchema } from '../batches/config.ts';
import { trustedProxyProblem } from './trusted-proxies.ts';
import { parseListenAddress } from './listen-address.ts';
import { publicUrlProblem } from './public-url.ts';

const Flavour = z.enum(['openai', 'anthropic']);

export const upstreamSchema = z.strictObject({
  /** Name used in events and metrics. */
  name: z.string().min(1),
  /** Base URL, e.g. https://api.openai.com (paths /v1/... are appended). */
  base_url: z.string().url(),
  /** Which wire formats this upstream speaks. */
  flavours: z.array(Flavour).min(1).default(['openai', 'anthropic']),
  /** Credential sent upstream; `env:NAME` reads it from the environment. Never logged. */
  api_key: z.string().nullable().default(null),
  /** Model names (exact, or prefix ending in `*`) routed here. */
  models: z.array(z.string()).min(1),
  /** Keep-alive connections per upstream. */
  connections: z.number().int().positive().default(128),
  /**
   * Time to response headers, ms. A non-streamed answer's headers come only when the whole answer
   * is ready (minutes for a reasoning model): 10 minutes, the official SDKs' own default timeout.
   */
  headers_timeout_ms: z.number().int().positive().default(600_000),
  /**
   * Max idle time between body chunks, ms. A reasoning model's stream can be silent for minutes
   * while it thinks; a stream is bounded anyway by `server.stream_max_duration_ms`.
   */
  body_timeout_ms: z.number().int().positive().default(600_000),
});
export type UpstreamConfig = z.infer<typeof upstreamSchema>;

export const configSchema = z.strictObject({
  server: z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    /**
     * Largest request body accepted, bytes. 32 MiB, Anthropic's limit for a Messages request: a
     * photo or a PDF of a few MB is sent inline as base64 (a third larger). A body is held in
     * memory while it is parsed (`max_json_values` bounds what parsing costs).
     */
    body_limit_bytes: z.number().int().positive().default(32 * 1024 * 1024),
    /**
     * Largest multipart upload accepted (audio to transcribe or translate, images to edit), bytes:
     * its files together. 25 MiB, OpenAI's limit for audio. An upload is not held in memory: past
     * 256 KiB its files wait in a temporary file (the system's temporary folder) until forwarded.
     */
    upload_limit_bytes: z.number().int().positive().default(25 * 1024 * 1024),
    /**
     * Most messages, input items, content parts at any depth (a tool result's, a document's),
     * tool calls and tools (and prompts or inputs of legacy completions and embeddings, a list of
     * numbers only being one) one model request may hold; more is refused with 400. The work a
     * request costs the gateway grows with them: 97,500 messages of "hi" (3 MB) stalled every
     * request for over a second.
     */
    max_request_items: z.number().int().positive().default(10_000),
    /**
     * Most JSON values a request body may hold (counted from its bytes, before it is parsed, as its
     * commas and opening brackets outside strings); more is refused with 400. Parsing costs per
     * value: 4 MiB of empty objects held the serving thread for seconds. The default takes the
     * largest honest list of values: an embeddings request at OpenAI's limits, 300,000 token ids in
     * 2,048 lists (each list's bracket and the comma after it counted too), and its other fields.
     */
    max_json_values: z.number().int().positive().default(310_000),
    /** Largest request header section, bytes (Node's --max-http-header-size). */
    header_limit_bytes: z.number().int().positive().default(16 * 1024),
    /**
     * Longest a streamed answer may run before Warden ends it, ms; also how long a large
     * non-streamed answer may take to reach a slow client before it must be taken within
     * `write_idle_timeout_ms`.
     */
    stream_max_duration_ms: z.number().int().positive().default(10 * 60_000),
    /**
     * This node's name in the event store's open interactions (streams under way): a node started
     * again records as interrupted the streams its previous run left open when it was killed. Unique
     * among the nodes running at once, and the same across a node's restarts; null: the host name
     * and `server.port` (with port 0, the host name and the process id, numbered from a process's second gateway: such a node does not find
     * its own records again when restarted, another node takes them over once abandoned). On
     * PostgreSQL a node holds its name while it runs (`node_lease_ms`): a second node started with
     * a name a live one holds refuses to start (EVENTS_NODE_ID_IN_USE).
     */
    node_id: z.string().min(1).max(200).nullable().default(null),
    /**
     * PostgreSQL: how long a node's name (`node_id`) stays held after its last renewal, ms (renewed
     * every third of it). A node killed and started again waits up to this long for its own name; a
     * node out of touch with the database this long may have its name taken over.
     */
    node_lease_ms: z.number().int().min(1000).max(600_000).default(15_000),
    /**
     * A stream the client has received nothing on for this long, seconds (fractions allowed), gets
     * a keep-alive the SDKs skip (OpenAI routes: an SSE comment `: keep-alive`; Anthropic: a
     * `ping` event), so that a proxy's idle timeout (often 60 s) does not cut a reasoning model's
     * silent stream. 0: none.
     */
    stream_keepalive_s: z.number().min(0).default(15),
    /**
     * Longest a client may take none of the answer bytes Warden has for it (its socket full, or the
     * answer's end not yet taken), ms: past it the connection is closed, the interaction recorded
     * (499 `WARDEN_CLIENT_NOT_READING`) and its concurrency slot freed. Also how long the end of a
     * stream ended by `stream_max_duration_ms` may take to go out.
     */
    write_idle_timeout_ms: z.number().int().positive().default(30_000),
    /**
     * Longest a request may take to arrive, headers and body, ms: past it a request whose body is
     * still coming is answered 408 `WARDEN_REQUEST_TIMEOUT` and its connection closed. Its headers
     * must come within the first 60 s of it (or all of it, if shorter). Leave room for the largest
     * upload (a 64 MiB batch input file).
     */
    request_timeout_ms: z.number().int().positive().default(120_000),
    /**
     * Client connections open at once at most on `port`, on every route (model API, admin,
     * dashboard, metrics, probes; not those of `health_listen`); past it a new connection is closed as it is accepted, before anything is
     * read (counted in `warden_connections_refused_total`). Keeps slow or idle connections from
     * taking every file descriptor the process has (its upstream calls and databases need some).
     * 0: no cap.
     */
    max_connections: z.number().int().min(0).default(10_000),
    /**
     * Client connections open at once from one address at most, the same way. The socket's peer is
     * counted: a peer that is one of `trusted_proxies` is not capped per address (its clients share
     * it; the proxy caps them), only by `max_connections`. 0 (default): no cap per address (clients
     * behind one NAT, or behind a proxy not listed in `trusted_proxies`, share an address).
     */
    max_connections_per_ip: z.number().int().min(0).default(0),
    /**
     * A second listener for probes and scraping, `host:port` (`0.0.0.0:9090`, `[::]:9090`, `:9090`):
     * it serves `/healthz`, `/readyz` and `/metrics` only (every other path 404), and its
     * connections do not count toward `max_connections` or `max_connections_per_ip`, so that a node
     * at its cap still answers its probes. Keep it off the public internet (`/metrics` has no
     * token). null (default): no second listener; probes and metrics are on `port` only.
     */
    health_listen: z.string().nullable().default(null).superRefine((entry, ctx) => {
      if (entry === null) return;
      const parsed = parseListenAddress(entry);
      if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
    }),
    /**
     * Connections open at once at most on `health_listen` (its own cap, apart from the API's); past
     * it a new one is closed as it is accepted (`warden_connections_refused_total{reason="health"}`).
     */
    health_max_connections: z.number().int().positive().default(64),
    /**
     * When Warden stops (SIGTERM, SIGINT): how long `/readyz` answers 503 while requests are still
     * served, ms, so a load balancer takes the node out before it stops accepting connections. 0:
     * stop accepting at once.
     */
    shutdown_delay_ms: z.number().int().min(0).default(0),
    /**
     * When Warden stops: how long requests under way (streams included) may take to end, ms. Past it
     * each is ended with `WARDEN_SHUTTING_DOWN` (a stream with its API's in-stream error) and
     * recorded, and connections still open 2 s later are closed; then events, the ledger and the
     * detector's snapshot are written. Keep it, with `shutdown_delay_ms`, well inside the time your
     * orchestrator gives a stopping process (Kubernetes: 30 s) before it kills it.
     */
    shutdown_timeout_ms: z.number().int().positive().default(15_000),
    /**
     * When Warden stops: how long a step that waits on Redis may take, ms (the detector worker's
     * last verdict publication and lease release, a replica's events held for the stream; the
     * limits' connection gets at most 1 s of it). Past it the step is given up on
     * (`STOP_STEP_GAVE_UP`, saying what was not saved) and the stop goes on.
     */
    shutdown_step_timeout_ms: z.number().int().positive().default(5_000),
    /**
     * When Warden stops: the last resort's margin, ms. A stop still under way
     * `shutdown_delay_ms` + `shutdown_timeout_ms` + this after it began is given up on
     * (`STOP_GAVE_UP`, naming the step it was waiting on) and the process exits with status 1
     * rather than wait for a SIGKILL. Leave room for the steps' own bounds (the events' retry
     * 10 s, the ledger's close 10 s, `shutdown_step_timeout_ms`, PostgreSQL statements 5 s).
     */
    shutdown_grace_ms: z.number().int().positive().default(45_000),
    /**
     * Proxies whose X-Forwarded-For is believed (IPs, CIDRs, or loopback/linklocal/uniquelocal).
     * Empty: the socket address is the client. See gateway/client-address.ts for how hops are read.
     */
    trusted_proxies: z.array(z.string().superRefine((entry, ctx) => {
      const problem = trustedProxyProblem(entry);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })).default([]),
    /**
     * The URL clients reach the gateway at (`https://api.example.com`, with the path a proxy serves
     * it under if any), for the absolute URLs it hands out that clients then call with their key: a
     * Message Batch's `results_url` and the TAXII discovery's `api_roots`. null (default): the
     * scheme and `Host` the request arrived with (behind `trusted_proxies`, their
     * `X-Forwarded-Proto` and `X-Forwarded-Host`). Set it behind any proxy that does not pass the
     * client's `Host` on, or that terminates TLS and is not one of `trusted_proxies`.
     */
    public_url: z.string().nullable().default(null).superRefine((value, ctx) => {
      if (value === null) return;
      const problem = publicUrlProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    /**
     * CORS for the model API (`/v1/...`) so browser apps can call it: the origins allowed, exact
     * (`https://app.example.com`: scheme, host, port) or `*` for any. Empty: no CORS headers, and
     * preflights are refused as any OPTIONS request. Never on `/admin`, `/dashboard` or `/metrics`.
     */
    cors: z.strictObject({
      allowed_origins: z.array(z.string().superRefine((entry, ctx) => {
        if (entry === '*') return;
        let origin: string | null = null;
        try { const u = new URL(entry); if (u.protocol === 'http:' || u.protocol === 'https:') origin = u.origin; } catch { /* not a URL */ }
        if (origin === null || origin.toLowerCase() !== entry.toLowerCase().replace(/\/$/, '')) {
          ctx.addIssue({ code: 'custom', message: `not an origin (scheme://host[:port], no path) or "*": ${entry}` });
        }
      })).default([]),
    }).prefault({}),
    /**
     * The Responses API's WebSocket mode (`ResponsesWS`, docs/websocket-mode.md): a connection with
     * no response under way and no message from its client for `idle_timeout_ms` is closed (1000);
     * one open for `max_lifetime_ms` (OpenAI's limit: 60 minutes) is closed once its response under
     * way has ended (1001, the SDK may reconnect). Messages are limited to `body_limit_bytes`.
     * Every `ping_interval_ms` a connection is pinged (0: never), so that a load balancer's idle
     * timer does not cut it; one that has not answered the previous ping by then is cut off.
     * A client sending more than `max_refused_messages_per_minute` messages Warden refuses (not
     * JSON, an unknown event, a response.create while one is under way; 0: no cap) is closed
     * (1008), as is one whose refusals' replies pile up unread. A connection keeps its most recent
     * `store: false` response (input and output items, up to `previous_response_max_bytes`; 0:
     * none) so that `previous_response_id` continues it, as OpenAI's WebSocket mode does.
     */
    websocket: z.strictObject({
      idle_timeout_ms: z.number().int().positive().default(10 * 60_000),
      max_lifetime_ms: z.number().int().positive().default(60 * 60_000),
      ping_interval_ms: z.number().int().min(0).default(30_000),
      max_refused_messages_per_minute: z.number().int().min(0).default(120),
      previous_response_max_bytes: z.number().int().min(0).default(4 * 1024 * 1024),
    }).prefault({}),
    /**
     * Keep V8's allocation-site pretenuring (process-wide). Off by default: it moved request-scoped
     * objects straight to the old generation, where each kept what it points to alive through every
     * young-generation collection until the next full one, doubling the collections' pauses.
     */
    v8_pretenuring: z.boolean().default(false),
  }).prefault({}),
  store: z.strictObject({
    /** `sqlite` (embedded default, one file) or `postgres`. */
    driver: z.enum(['sqlite', 'postgres']).default('sqlite'),
    sqlite_path: z.string().default('./data/warden.db'),
    /** PostgreSQL server URL (`postgres://user:password@host:5432/db`); required when `driver` (or `ledger.driver`) is `postgres`. No default: data never goes to a database nobody named. */
    postgres_url: z.string().min(1).nullable().default(null),
    /**
     * Connections the node's shared PostgreSQL pool opens at most (identity, events, cases, batches,
     * limits overrides; one is held by the key-revocation listener). The ledger keeps 4 + 2 of its
     * own: a node opens at most this + 6. Sum it over the nodes to size max_connections.
     */
    postgres_pool_size: z.number().int().min(2).max(1000).default(10),
  }).prefault({}),
  redis: z.strictObject({
    /** Redis URL for multi-node limits and verdicts; null: in-process only. */
    url: z.string().nullable().default(null),
  }).prefault({}),
  upstreams: z.array(upstreamSchema).default([]),
  /** Built-in mock upstream. When `upstreams` is empty, Warden starts it in-process and routes every model to it. */
  mock: z.strictObject({
    enabled: z.boolean().default(true),
    /** Delay before the first byte, ms. */
    latency_ms: z.number().min(0).default(20),
    /** Streaming speed, tokens per second (0: as fast as possible). */
    tokens_per_second: z.number().min(0).default(400),
    /**
     * Pass a client's `x-mock-output-tokens` and `x-mock-reasoning-tokens` (whole numbers, at most
     * 131,072) on to the built-in mock, so that `warden redteam` gets answers of the
     * simulated lengths. Only the mock this process starts gets them: a configured upstream never
     * does, whatever this says.
     */
    answer_length_headers: z.boolean().default(false),
  }).prefault({}),
  identity: identityConfigSchema.prefault({}),
  events: z.strictObject({
    /** What prompt text goes into events: full text (truncated), or none (lengths and hashes only). */
    record_prompts: z.enum(['full', 'none']).default('full'),
    /** Truncate each recorded message to this many characters (a user turn keeps its start and its end). */
    max_message_chars: z.number().int().positive().default(8000),
    /**
     * Requests refused before anyone is known (no key, a wrong or revoked one) recorded as events
     * (and ledger openings) per client address (an IPv6 /64) and minute; past it one in 100 more is
     * recorded and the rest counted in `warden_refused_requests_unrecorded_total`. Every one is
     * still answered 401: this bounds what a client with no key writes to the stores.
     */
    refused_anonymous_per_minute: z.number().int().positive().default(60),
    /**
     * Messages an event keeps of a request: past this many, the first quarter, the last ones, the
     * current turn's start and the latest user turns with text before them, and the rest counted (`request.messages_omitted`), so that an event's size and cost do not
     * grow with the request's message count.
     */
    max_messages: z.number().int().min(2).default(200),
    /** Characters of prompt text an event keeps in all (system prompt first, then the current turn's start, every user turn's start and end, then messages from the last back). */
    max_prompt_chars: z.number().int().positive().default(256 * 1024),
    /**
     * Flush to the store every N events or every interval, whichever comes first. A short interval
     * keeps buffered events young: at 1,000 requests/s, events held for 200 ms outlived a
     * scavenge and were promoted to the old generation (5.5 KB per request, against 2.9 KB at 40 ms),
     * which later costs a mark-compact pause; a flush is one message to the writer thread.
     */
    batch_size: z.number().int().positive().default(500),
    flush_interval_ms: z.number().int().positive().default(50),
    /**
     * How often the tokens a streamed answer has sent so far are written to its open record (all
     * streams under way in one write, with the events), ms: what a node killed mid-stream has
     * recorded for it at the next start is a lower bound, at most this old. 0: none (the stream's
     * begin only, with no output tokens).
     */
    checkpoint_interval_ms: z.number().int().nonnegative().default(5000),
    /**
     * While the event store cannot be written (a database outage), events wait in memory, retried
     * every 100 ms to 5 s; past this many (the write under way included), the oldest are dropped and counted (`warden_events_dropped`).
     */
    max_buffered: z.number().int().positive().default(100_000),
    /**
     * Likewise in bytes (each event's estimated size: its prompt text and 1 KiB), so that the memory
     * they hold is bounded whatever their size (default 512 MiB).
     */
    max_buffered_bytes: z.number().int().positive().default(512 * 1024 * 1024),
    /** On shutdown, how long to keep retrying events the store has not taken, ms; then they are dropped, counted and logged. */
    close_timeout_ms: z.number().int().nonnegative().default(10_000),
    /**
     * Delete events older than this many days (checked at start and every hour by `warden serve`);
     * null keeps them. The ledger's retention is `warden ledger erase --before`.
     */
    retention_days: z.number().int().positive().nullable().default(null),
  }).prefault({}),
  /** The text of PDFs and images that requests carry, read off the request path for the event and the detector (src/documents). */
  documents: z.strictObject({
    /** Read PDFs (Anthropic `document` blocks, OpenAI `input_file` and `file` parts, files named by id). */
    read_pdfs: z.boolean().default(true),
    /**
     * Recognise the text of images (Anthropic `image` blocks, OpenAI `image_url` and `input_image`
     * parts: PNG, JPEG, GIF, WebP) and of scanned PDF pages, with Tesseract (`ocr_languages`).
     */
    read_images: z.boolean().default(true),
    /** Each image's recognition gets this long, on top of `timeout_ms`, ms. */
    ocr_timeout_ms: z.number().int().positive().max(60_000).default(10_000),
    /**
     * Images with more pixels than this are not decoded at all (counted unread). A page of text
     * at 150 dpi is about 2 million pixels and takes about 5 s to recognise (dense text); a 12-megapixel photo
     * may not finish within `ocr_timeout_ms`.
     */
    max_image_pixels: z.number().int().positive().default(25_000_000),
    /**
     * Languages recognised, tried in this order (each one more costs time: both defaults together
     * are about 10% slower than English alone on English text). `eng` (English, and Latin script
     * generally) and `chi_sim` (simplified Chinese) are installed with Warden; any other Tesseract
     * language needs its model (`ocr_models_dir`, or its npm package). The detector's lexicons read
     * English and Chinese, and Spanish, Portuguese, French, German, Russian, Japanese and Korean
     * for their main phrases.
     */
    ocr_languages: z.array(z.string().regex(/^[a-z]{3}(?:_[a-z]{2,8}){0,2}$/, 'a Tesseract language code: eng, chi_sim, jpn, kor, rus...')).min(1).max(8)
      .refine((langs) => new Set(langs).size === langs.length, 'each language once').default(['eng', 'chi_sim']),
    /**
     * A folder of Tesseract models (`<code>.traineddata`, gzipped or not: LSTM models, tessdata_fast
     * or integer "best" ones as the npm packages ship; tessdata_best's float models are slower) for
     * languages in `ocr_languages` not installed with Warden: `jpn`, `kor`, `rus`... A language's
     * npm package (`@tesseract.js-data/<code>`) serves too. Checked at start; a relative path is
     * from the directory Warden starts in.
     */
    ocr_models_dir: z.string().min(1).nullable().default(null).transform((dir) => (dir === null ? null : resolve(dir))),
    /**
     * Images recognised per PDF: on its pages with (next to) no text layer, scans, and with
     * `ocr_pictures` pictures on its other pages. Further scanned pages are counted unread.
     */
    ocr_images_per_pdf: z.number().int().min(0).max(50).default(2),
    /**
     * Recognise pictures on PDF pages that have text of their own too (10,000 pixels to 1
     * megapixel, within `ocr_images_per_pdf`): a prompt can be put in a picture under a page of
     * cover text. Off by default: looking costs each such page about 1.6 times its reading (in
     * PDFs whose bytes may hold images, which PDFs with object streams, most modern ones, may;
     * looking stops once 300 ms were spent, after the page under way), and every picture found is
     * recognised (0.1 s for a screenshot of a prompt, more for a figure full of text).
     */
    ocr_pictures: z.boolean().default(false),
    /** Threads reading PDFs, each one document at a time. */
    threads: z.number().int().min(1).max(16).default(1),
    /** A document not read within this is abandoned (its thread is terminated), ms. */
    timeout_ms: z.number().int().positive().max(60_000).default(2000),
    /** Memory of each reading thread, MiB: its heap, and how much the process may grow while it reads one document (a decompression bomb ends the thread, not the process). */
    memory_mb: z.number().int().min(16).max(8192).default(256),
    /** Pages read of each document, from the first. */
    max_pages: z.number().int().positive().default(50),
    /** Largest PDF read, bytes (decoded). */
    max_bytes: z.number().int().positive().default(32 * 1024 * 1024),
    /** Documents waiting to be read at most; more are left unread (`documents_unread` on the event). */
    max_queue: z.number().int().positive().default(256),
    /** Bytes (base64) the waiting documents hold at most: a waiting document keeps its bytes after its request ended. */
    max_queue_bytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** Requests of one account whose documents wait or are read, at most (accounts take turns either way). */
    max_pending_per_account: z.number().int().positive().default(16),
    /** Documents of one request read, at most; the rest are counted unread. */
    max_per_request: z.number().int().positive().default(32),
    /** A document that waited this long is left unread (the event waits for its documents), ms. */
    max_wait_ms: z.number().int().positive().max(120_000).default(10_000),
  }).prefault({}),
  admin: adminConfigSchema.prefault({}),
  log: z.strictObject({
    /** Log level. Prompts and API keys are never logged (what events keep of prompts is `events.record_prompts`). */
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * One JSON line per request on the gateway's port, at info level (so `level` info or lower):
     * method, path, status, duration, bytes, request id, account id and key prefix (never the key,
     * never the prompt), client address, flavour, upstream status.
     */
    access: z.boolean().default(false),
  }).prefault({}),
  limits: limitsConfigSchema.prefault({}),
  detect: detectConfigSchema.prefault({}),
  ledger: ledgerConfigSchema.prefault({}),
  policy: policyConfigSchema.prefault({}),
  watermark: watermarkConfigSchema.prefault({}),
  cases: casesConfigSchema.prefault({}),
  notify: notifyConfigSchema.prefault({}),
  batches: batchesConfigSchema.prefault({}),
}).superRefine((c, ctx) => {
  const on = c.store.driver === 'postgres' ? 'store.driver' : c.ledger.driver === 'postgres' ? 'ledger.driver' : null;
  if (on && c.store.postgres_url === null) {
    ctx.addIssue({ code: 'custom', path: ['store', 'postgres_url'], message: `required when ${on} is postgres: set it in warden.yaml or as WARDEN_STORE__POSTGRES_URL (postgres://user:password@host:5432/db)` });
  }
});
export type WardenConfig = z.infer<typeof configSchema>;
