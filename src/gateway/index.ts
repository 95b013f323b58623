/**
 * gateway: the data plane. An HTTP server speaking the OpenAI (chat completions and stored chat
 * completions, legacy completions, responses and stored responses, embeddings, moderations, image
 * generation, edits and variations, speech, transcriptions and translations, models, input token counts) and Anthropic
 * (messages, token counts) APIs, streaming included (and the Responses API's WebSocket mode, each
 * `response.create` run as a streamed `POST /v1/responses`), that runs every call through the lifecycle
 * identity -> policy -> limits -> forward -> output governance -> record.
 *
 * ```ts
 * const gw = createGateway({ config, authenticator, eventStore, hooks: [limitsHooks(...)] });
 * await gw.listen();            // config.server.host/port
 * ...
 * await gw.close();             // drains, flushes events
 * ```
 * Imports `config`, `errors`, `events`, `identity` (authentication), `store`, `tokens`, `documents` (the reader) and `shape` (reasoning text in usage); capabilities plug in by importing lifecycle.ts, never the reverse.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { parseListenAddress, type ListenAddress, type WardenConfig } from '../config/index.ts';
import { NodeIdInUseError, type EventStore, type NodeHold } from '../store/index.ts';
import type { GatewayHooks } from './lifecycle.ts';
import { buildServer, Traffic } from './server.ts';
import { UpstreamRouter } from './upstreams.ts';
import { EventRecorder } from './recorder.ts';
import { OpenStreams, nodeId } from './open-streams.ts';
import { createGatewayMetrics, type GatewayMetrics, type MetricSources } from './metrics.ts';
import { ConnectionCap, type ConnectionRefusal } from './connection-cap.ts';
import { HealthListener } from './health-listener.ts';
import { AnonymousRefusals } from './anonymous-refusals.ts';
import { KeylessFailures, attachKeyless } from './keyless-failures.ts';
import { cutInFlight, settleInFlight } from './interaction.ts';
import type { Authenticator, PipelineDeps } from './interaction-state.ts';
import { DocumentReader } from '../documents/index.ts';
import { DOCUMENT_TEXT_BYTES } from './request-features.ts';
import { removeStaleUploadDirs, removeUploadsDir } from './upload-body.ts';
import { attachResponsesWebSocket } from './responses-websocket.ts';
import { bindAndRelease } from './listen-check.ts';

export type { BackgroundResponses, GatewayHooks } from './lifecycle.ts';
export type { Authenticator } from './interaction-state.ts';
export { clientNetworkOf, extractApiKey, missingApiKeyError, refuseBarred } from './admission.ts';
export { acceptingAuthenticator } from './keyless-failures.ts';
export { clientAddress } from './client-address.ts';
export { extractRequestFeatures } from './request-features.ts';

export interface GatewayOptions {
  config: WardenConfig;
  authenticator: Authenticator;
  eventStore: EventStore;
  hooks?: GatewayHooks[];
  /** Shared metrics registry (other capabilities register on it too). */
  registry?: Registry;
  /** Register extra routes (admin API, ledger, ...) on the same server before it starts. */
  register?: (app: FastifyInstance) => void | Promise<void>;
  /** pino options or false; defaults to config.log.level with secrets redacted. */
  logger?: boolean | object;
  ready?: () => Promise<boolean> | boolean;
  /** The linked cluster an account belongs to (the detector's verdicts), for turns at the document reader. */
  clusterOf?: (accountId: string) => string | null;
  /**
   * Base URL of the built-in mock the caller started in `config.upstreams`' place (`warden serve`
   * with no upstreams); with `mock.answer_length_headers` it gets the clients' answer-length headers.
   */
  builtinMockUrl?: string | null;
}

export interface Gateway {
  app: FastifyInstance;
  recorder: EventRecorder;
  router: UpstreamRouter;
  metrics: GatewayMetrics;
  /** Start listening; returns the base URL (http://host:port). */
  listen(host?: string, port?: number): Promise<string>;
  /** The base URL of the probes' own listener (`server.health_listen`) once listening; null without one. */
  healthUrl: string | null;
  close(): Promise<void>;
}

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config } = opts;
  const hooks = opts.hooks ?? [];
  const sources: MetricSources = { eventsPending: () => 0, eventsDropped: () => 0 };
  const metrics = createGatewayMetrics(opts.registry, sources);
  const unrecordedRefusals = new Counter({ name: 'warden_refused_requests_unrecorded_total', help: 'Requests refused without a valid key that were answered but not recorded as events (past events.refused_anonymous_per_minute per address)', registers: [metrics.registry] });
  const anonymousRefusals = new AnonymousRefusals(config.events.refused_anonymous_per_minute, { warn: (o, m) => app.log.warn(o, m) }, () => unrecordedRefusals.inc());
  const router = new UpstreamRouter(config.upstreams, process.env, { mockLengthHeadersTo: config.mock.answer_length_headers ? opts.builtinMockUrl ?? null : null });
  const logger = opts.logger ?? {
    level: process.env.WARDEN_LOG_LEVEL ?? config.log.level,
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]', '*.secret', '*.api_key'], censor: '[redacted]' },
  };
  let app: FastifyInstance;
  /** Stopping: `/readyz` says not ready. */
  let draining = false;
  /** Past the shutdown delay: new requests are refused (503, connection: close) until the server closes. */
  let shedding = false;
  const traffic = new Traffic();
  // An event store outage is logged once when it starts (the error's message, no stack: the
  // retries repeat it) and once when writes go through again, as the other outages are.
  let storeOutage: { since: number; failures: number } | null = null;
  const recorder = new EventRecorder(opts.eventStore, {
    batchSize: config.events.batch_size,
    flushIntervalMs: config.events.flush_interval_ms,
    maxBuffered: config.events.max_buffered,
    maxBufferedBytes: config.events.max_buffered_bytes,
    closeTimeoutMs: config.events.close_timeout_ms,
    onError: (err, s) => {
      const error = (err as Error)?.message ?? String(err);
      if (s.closing) { app?.log.error({ component: 'events', code: 'EVENT_STORE_UNREACHABLE', error, pending: s.pending, dropped: s.dropped }, `event store write failed while stopping; retrying for up to ${Math.ceil(s.retryInMs / 1000)} s`); return; }
      if (storeOutage) { storeOutage.failures++; return; }
      storeOutage = { since: Date.now(), failures: 1 };
      app?.log.error({ component: 'events', code: 'EVENT_STORE_UNREACHABLE', error, pending: s.pending, dropped: s.dropped }, 'event store write failed; events are kept in memory and retried until it answers');
    },
    onLost: (count, err) => app?.log.error({ component: 'events', code: 'EVENT_STORE_LOST', err, lost: count }, `event store unreachable while stopping: ${count} events not recorded`),
    onUnsettled: (count) => app?.log.error({ component: 'events', code: 'EVENT_STORE_UNSETTLED', unsettled: count }, `event store did not answer while stopping: ${count} events were being written, whether they are recorded is not known`),
    onFlush: (n) => {
      metrics.eventsWritten.inc(n);
      if (!storeOutage) return;
      const o = storeOutage;
      storeOutage = null;
      app?.log.info({ component: 'events', code: 'EVENT_STORE_RECOVERED', seconds: Math.round((Date.now() - o.since) / 100) / 10, failures: o.failures, dropped: recorder.dropped }, 'event store writes again');
    },
  });
  sources.eventsPending = () => recorder.pending;
  sources.eventsDropped = () => recorder.dropped;

  const documents = documentReader(config, metrics.registry, (r, suppressed) => app?.log.warn({ kind: r.kind, result: r.result, error: r.error, ms: r.ms, suppressed }, 'a document was not read'));
  const keyless = new KeylessFailures(config.limits.keyless_failures_per_minute, { warn: (o, m) => app.log.warn(o, m) });
  const deps: PipelineDeps = {
    authenticator: keyless.authenticator(opts.authenticator),
    keyless,
    router,
    hooks,
    metrics,
    features: { recordPrompts: config.events.record_prompts, maxMessageChars: config.events.max_message_chars, maxMessages: config.events.max_messages, maxPromptChars: config.events.max_prompt_chars, readPdfs: config.documents.read_pdfs, readImages: config.documents.read_images },
    maxRequestItems: config.server.max_request_items,
    anonymousRefusals,
    streamMaxDurationMs: config.server.stream_max_duration_ms,
    streamKeepaliveMs: config.server.stream_keepalive_s * 1000,
    maxRetryAdviceS: config.limits.max_retry_advice_s,
    upstreamRateLimitHeaders: config.limits.upstream_rate_limit_headers,
    writeIdleTimeoutMs: config.server.write_idle_timeout_ms,
    record: (e) => recorder.record(e),
    opened: (run) => openStreams.opened(run),
    documents,
    clusterOf: opts.clusterOf,
    deferred: new Set(),
    running: new Set(),
    log: { warn: (o, m) => app.log.warn(o, m), error: (o, m) => app.log.error(o, m) },
  };
  let nodeHold: NodeHold | null = null;
  const node = nodeId(config.server.node_id, config.server.port);
  const openStreams = new OpenStreams(opts.eventStore, recorder, deps, {
    node,
    checkpointIntervalMs: config.events.checkpoint_interval_ms,
    streamMaxDurationMs: config.server.stream_max_duration_ms,
  });
  app = buildServer(deps, {
    bodyLimitBytes: config.server.body_limit_bytes,
    uploadLimitBytes: config.server.upload_limit_bytes,
    maxJsonValues: config.server.max_json_values,
    headerLimitBytes: config.server.header_limit_bytes,
    requestTimeoutMs: config.server.request_timeout_ms,
    trustedProxies: config.server.trusted_proxies,
    corsOrigins: config.server.cors.allowed_origins,
    accessLog: config.log.access,
    logger: logger as never,
    ready: async () => !draining && (opts.ready ? await opts.ready() : true),
    shedding: () => shedding,
    traffic,
  });
  attachKeyless(app, keyless);
  // The Responses API's WebSocket mode: each `response.create` runs through the routes above.
  const websockets = attachResponsesWebSocket(app, deps, {
    bodyLimitBytes: config.server.body_limit_bytes,
    maxJsonValues: config.server.max_json_values,
    idleTimeoutMs: config.server.websocket.idle_timeout_ms,
    maxLifetimeMs: config.server.websocket.max_lifetime_ms,
    pingIntervalMs: config.server.websocket.ping_interval_ms,
    maxRefusedPerMinute: config.server.websocket.max_refused_messages_per_minute,
    previousResponseMaxBytes: config.server.websocket.previous_response_max_bytes,
    writeIdleTimeoutMs: config.server.write_idle_timeout_ms,
    trustedProxies: config.server.trusted_proxies,
    corsOrigins: config.server.cors.allowed_origins,
    accessLog: config.log.access ? { info: (o, m) => app.log.info(o, m) } : undefined,
  });
  const unused = watchUnusedConnections(app.server);
  // Caps on open connections: past one, a connection is closed before anything is read from it.
  let refusedSaid = 0;
  let refusedSince = 0;
  const connectionRefused = (reason: ConnectionRefusal | 'health', address: string) => {
    metrics.connectionsRefused.inc({ reason });
    refusedSince++;
    // At most one warning a minute: a flood of connections is not a flood of log lines.
    if (Date.now() - refusedSaid < CONNECTION_WARN_EVERY_MS) return;
    refusedSaid = Date.now();
    const setting = reason === 'total' ? `server.max_connections (${config.server.max_connections})`
      : reason === 'per_ip' ? `server.max_connections_per_ip (${config.server.max_connections_per_ip})`
        : `server.health_max_connections (${config.server.health_max_connections})`;
    app.log.warn({ code: 'CONNECTIONS_REFUSED', reason, address, refused: refusedSince }, `connections refused: ${refusedSince} closed unread since the last warning, the latest from ${address} past ${setting}`);
    refusedSince = 0;
  };
  const cap = new ConnectionCap({
    maxConnections: config.server.max_connections,
    maxPerIp: config.server.max_connections_per_ip,
    trustedProxies: config.server.trusted_proxies,
    onRefused: connectionRefused,
  });
  cap.attach(app.server);
  sources.connectionsOpen = () => cap.connections;
  // Probes and scraping on a port of their own, apart from the API's connection caps.
  const healthAt = healthAddress(config);
  const health = healthAt && new HealthListener({
    maxConnections: config.server.health_max_connections,
    headerLimitBytes: config.server.header_limit_bytes,
    ready: () => !draining && (opts.ready ? opts.ready() : true),
    metrics: () => metrics.registry.metrics(),
    metricsContentType: metrics.registry.contentType,
    onRefused: (address) => connectionRefused('health', address),
  });
  // Spooled uploads left by Warden processes that stopped without their shutdown (killed, crashed).
  const stale = removeStaleUploadDirs();
  if (stale.length) app.log.info({ folders: stale }, `removed ${stale.length} folder(s) of spooled uploads left by stopped processes`);
  if (opts.register) await opts.register(app);

  const gateway: Gateway = {
    app,
    recorder,
    router,
    metrics,
    healthUrl: null,
    async listen(host = config.server.host, port = config.server.port) {
      // On a shared store, this node's name is held while it runs: a live node holding it already
      // refuses this start (NodeIdInUseError), one killed is taken over once its lease lapsed.
      if (opts.eventStore.holdNode && !nodeHold) {
        try {
          nodeHold = await opts.eventStore.holdNode(node, {
            leaseMs: config.server.node_lease_ms,
            onLost: (lost) => (lost
              ? app.log.error({ component: 'events', code: 'EVENTS_NODE_ID_LOST', node }, `server.node_id "${node}" was taken over by another node while this one could not renew it (out of touch with the database for server.node_lease_ms); taken back once that node's lease lapses`)
              : app.log.info({ component: 'events', code: 'EVENTS_NODE_ID_HELD', node }, `server.node_id "${node}" is held by this node again`)),
          });
        } catch (err) {
          if (err instanceof NodeIdInUseError) throw err;
          app.log.error({ component: 'events', code: 'EVENTS_NODE_ID_UNCHECKED', node, error: (err as Error).message }, `could not take server.node_id "${node}" in the event store (it is not known whether another node holds it); streams left open are not read at this start`);
        }
      }
      // Streams a killed run of this node left open are recorded (interrupted) before it serves.
      if (nodeHold || !opts.eventStore.holdNode) try {
        const n = await openStreams.recover();
        if (n > 0) app.log.warn({ component: 'events', code: 'EVENTS_INTERRUPTED_RECORDED', interrupted: n }, `recorded ${n} streamed interaction(s) left open by a node that was killed (finish_reason interrupted_by_restart)`);
      } catch (err) {
        app.log.error({ component: 'events', code: 'EVENTS_INTERRUPTED_UNRECORDED', error: (err as Error).message }, 'could not read the streams left open by a killed node; they are read again at the next start');
      }
      openStreams.start();
      // The probes' listener first: a node whose probes cannot be reached does not take traffic.
      if (health && healthAt) {
        try {
          gateway.healthUrl = await health.listen(healthAt.host, healthAt.port);
        } catch (err) {
          throw healthListenFailure(config, err);
        }
      }
      try {
        await app.listen({ host, port });
      } catch (err) {
        await health?.close();
        throw err;
      }
      const addr = app.server.address();
      const p = typeof addr === 'object' && addr ? addr.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
    },
    async close() {
      // Load balancers first see the node not ready, for `shutdown_delay_ms`, while it still serves.
      // Meanwhile no connection is kept for later: each answer (those under way included) closes
      // its connection, and connections idle now are closed at once, so that clients and load
      // balancers holding them open their next ones elsewhere rather than reuse this node's until
      // it stops (and have a request reset as it does).
      draining = true;
      const delay = config.server.shutdown_delay_ms;
      if (delay > 0) {
        traffic.closeConnectionsAfterAnswers();
        const delayed = new Promise((r) => setTimeout(r, delay));
        await closeIdleConnections(app.server, Math.min(SHED_SETTLE_MS, delay));
        await delayed;
      }
      // Requests under way get `shutdown_timeout_ms` to end; then they are ended (an in-stream error
      // for a stream), and connections still open a few seconds later are closed.
      const waited = config.server.shutdown_timeout_ms;
      const cut = setTimeout(() => cutInFlight(deps, waited), waited);
      const force = setTimeout(() => { app.server.closeAllConnections(); websockets.terminate(); }, waited + FORCE_CLOSE_AFTER_CUT_MS);
      // Kept-alive connections with nothing under way would be closed at once by app.close(), and a
      // request a client is writing on one just then reset, unanswered and unrecorded: first refuse
      // requests (503 WARDEN_SHUTTING_DOWN, connection: close) for a moment, until only busy
      // connections are left (within the shutdown's deadline).
      shedding = true;
      traffic.closeConnectionsAfterAnswers();
      // WebSocket connections: idle ones closed now (1001), busy ones once their response ends.
      websockets.closing();
      await shedIdleConnections(app.server, traffic, Math.min(SHED_GRACE_MS, waited));
      // Connections on which nothing was ever sent (opened ahead by a client's pool or a load
      // balancer) are not idle to Node, so app.close() would wait for them until the deadline.
      for (const socket of unused) socket.destroy();
      try {
        // The probes' listener stops with the API's: until then it says not ready, as /readyz there.
        await Promise.all([app.close(), health?.close()]);
      } finally {
        clearTimeout(cut);
        clearTimeout(force);
      }
      // Interactions whose connections just closed are recorded (their close handlers run after
      // the server's), as are any still under way a few seconds on.
      await settleInFlight(deps, CLOSE_GRACE_MS);
      openStreams.stop();
      // Events still waiting for their PDFs are recorded before the recorder closes: a few
      // seconds for the reading to end, then what is left is recorded unread.
      await Promise.race([drain(deps.deferred), new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref())]);
      await documents?.close();
      await drain(deps.deferred);
      await recorder.close();
      // The name is free once this node's last events (which close its open records) are written.
      await nodeHold?.release();
      for (const h of hooks) {
        try { await h.close?.(); } catch (err) { app.log.error({ err, hook: h.name }, 'hook close failed'); }
      }
      await router.close();
      removeUploadsDir();
    },
  };
  return gateway;
}

/**
 * Check, before anything is created, that the addresses `listen()` will listen on can be bound
 * (listen-check.ts): the probes' listener (`server.health_listen`, refused as `listen()` refuses
 * it) and then `host:port`, whose failure is thrown as Node's error for the caller to word.
 */
export async function checkListenAddresses(config: WardenConfig, host = config.server.host, port = config.server.port): Promise<void> {
  const healthAt = healthAddress(config);
  if (healthAt) {
    try {
      await bindAndRelease(healthAt.host, healthAt.port);
    } catch (err) {
      throw healthListenFailure(config, err);
    }
  }
  await bindAndRelease(host, port);
}

function healthListenFailure(config: WardenConfig, err: unknown): Error {
  return new Error(`server.health_listen (${config.server.health_listen}): cannot listen: ${(err as Error).message}`, { cause: err });
}

/** Where `server.health_listen` says the probes' listener listens; null: none. */
function healthAddress(config: WardenConfig): ListenAddress | null {
  if (config.server.health_listen === null) return null;
  const at = parseListenAddress(config.server.health_listen);
  if ('problem' in at) throw new Error(`server.health_listen: ${at.problem}`);
  return at;
}

/** Longest the shutdown refuses requests on kept-alive connections before closing those still idle, ms (within shutdown_timeout_ms). */
const SHED_GRACE_MS = 1000;
/** How long a connection with nothing under way is given to send a request already on its way, ms. */
const SHED_SETTLE_MS = 50;

/**
 * Close the connections idle now (a kept-alive connection between requests), after `settleMs` and
 * a turn of the event loop's poll phase: a request a client wrote on one just before is read
 * meanwhile, and its connection is then busy (answered, with `connection: close`), not reset.
 */
async function closeIdleConnections(server: import('node:http').Server, settleMs: number): Promise<void> {
  await new Promise((r) => setTimeout(r, settleMs));
  await new Promise((r) => setImmediate(r));
  server.closeIdleConnections();
}

/**
 * Wait until every open connection has a request under way (the idle ones closed by the clients
 * or by the 503 answered on them), or SHED_GRACE_MS. Idle connections are given SHED_SETTLE_MS at
 * least: a request written just before the shutdown began is read and answered meanwhile.
 */
/** The server's connections that have not yet sent a byte, kept up to date as they do or close. */
function watchUnusedConnections(server: import('node:http').Server): Set<import('node:net').Socket> {
  const unused = new Set<import('node:net').Socket>();
  server.on('connection', (socket: import('node:net').Socket) => {
    unused.add(socket);
    const used = () => unused.delete(socket);
    socket.once('data', used);
    socket.once('close', used);
  });
  return unused;
}

async function shedIdleConnections(server: import('node:http').Server, traffic: Traffic, graceMs: number): Promise<void> {
  const open = () => new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
  if ((await open()) <= traffic.active) return;
  const until = performance.now() + graceMs;
  await new Promise((r) => setTimeout(r, Math.min(SHED_SETTLE_MS, graceMs)));
  while (performance.now() < until && (await open()) > traffic.active) await new Promise((r) => setTimeout(r, 25));
  // A poll phase before the idle connections are closed: a request already in this node's buffers is read (and refused), not reset.
  await new Promise((r) => setImmediate(r));
}

/** Warnings about connections refused past the caps: at most one per this many ms. */
const CONNECTION_WARN_EVERY_MS = 60_000;

/** After the shutdown's deadline ended the answers under way: how long their ends may take before the connections are closed, ms. */
const FORCE_CLOSE_AFTER_CUT_MS = 2000;
/** How long close() waits for PDFs being read before it records their events unread, and for interactions to be recorded, ms. */
const CLOSE_GRACE_MS = 5000;
/** Warnings about PDFs not read: at most one per this many ms (clients choose what they send), ms. */
const DOCUMENT_WARN_EVERY_MS = 10_000;

async function drain(deferred: Set<Promise<void>>): Promise<void> {
  while (deferred.size) await Promise.all(deferred);
}

/** The reader of requests' PDFs and images, with its metrics (null when PDFs are not read, or prompts not recorded). */
function documentReader(config: WardenConfig, registry: Registry, warn: (r: { kind: string; result: string; error?: string; ms: number }, suppressed: number) => void): DocumentReader | null {
  const c = config.documents;
  if ((!c.read_pdfs && !c.read_images) || config.events.record_prompts === 'none') return null;
  const results = new Counter({ name: 'warden_documents_total', help: 'PDFs and images of requests, by what became of them (read, busy, too_many, timeout, failed, not_pdf, not_image, too_large, unavailable)', labelNames: ['kind', 'result'], registers: [registry] });
  const seconds = new Counter({ name: 'warden_documents_read_seconds_total', help: 'Time from a document handed to the reader to its text (waiting included), summed', registers: [registry] });
  let lastWarn = 0;
  let suppressed = 0;
  const reader: DocumentReader = new DocumentReader({
    threads: c.threads, timeoutMs: c.timeout_ms, memoryMb: c.memory_mb, maxPages: c.max_pages, maxBytes: c.max_bytes,
    maxQueue: c.max_queue, maxQueueBytes: c.max_queue_bytes, maxPendingPerOwner: c.max_pending_per_account, maxPerRequest: c.max_per_request,
    maxWaitMs: c.max_wait_ms,
    ocr: c.read_images ? { timeoutMs: c.ocr_timeout_ms, maxImagePixels: c.max_image_pixels, perPdf: c.ocr_images_per_pdf, pictures: c.ocr_pictures, languages: c.ocr_languages, modelsDir: c.ocr_models_dir } : null,
    // No more than an event keeps of a message: a longer string would be held by every event.
    maxChars: Math.min(DOCUMENT_TEXT_BYTES, config.events.max_message_chars),
    onResult: (r) => {
      results.inc({ kind: r.kind, result: r.result });
      seconds.inc(r.ms / 1000);
      // (A copy of a document given up on before is answered from memory: said once, not again.)
      if ((r.result !== 'timeout' && r.result !== 'failed' && r.result !== 'unavailable') || r.cached) return;
      const now = Date.now();
      if (now - lastWarn < DOCUMENT_WARN_EVERY_MS) { suppressed++; return; }
      warn(r, suppressed);
      lastWarn = now;
      suppressed = 0;
    },
  });
  new Gauge({ name: 'warden_documents_pending', help: 'Documents (PDFs, images) waiting to be read or being read', registers: [registry], collect() { this.set(reader.pending); } });
  return reader;
}
