/**
 * The Responses API's WebSocket mode (`GET /v1/responses` with `Upgrade: websocket`, the openai
 * SDK's `ResponsesWS`): one connection carries several responses in turn. The key is checked at
 * the handshake (a bad one refused there, as the HTTP routes refuse it: status and OpenAI error
 * body). Each `response.create` the client sends is then one streamed `POST /v1/responses` run in
 * process through the same server (Fastify's `inject`): the same routes, hooks, policy, limits,
 * detector event, metering, ledger record and output governance as a request over HTTP, and the
 * upstream called over HTTP with SSE. Each SSE event of its answer goes to the client as one text
 * message; a refusal goes as an `error` event carrying the HTTP route's status and error. One
 * response at a time per connection (as OpenAI); a client closing mid-response aborts it (recorded
 * 499, as a client gone from an HTTP stream). docs/websocket-mode.md has the protocol.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { WardenError, renderErrorBody, requestIdHeaders, toWardenError } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import type { PipelineDeps } from './interaction-state.ts';
import { authenticateRequest } from './admission.ts';
import { recordRejectedRequest } from './interaction-record.ts';
import { rawClientAddress, proxyTrust } from './client-address.ts';
import { normaliseOrigin } from './cors.ts';
import { SseParser } from './sse.ts';
import { holdsMoreValues, nestsDeeper } from './json-depth.ts';
import { Counter, Gauge } from 'prom-client';
import { accessNote, logSocketResponse, noteInProcess, type AccessNote } from './access-log.ts';
import type { AuthContext } from '../identity/types.ts';

export interface ResponsesWebSocketOptions {
  /** Largest client message, bytes: the HTTP body limit (`server.body_limit_bytes`). */
  bodyLimitBytes: number;
  /** Most JSON values a message may hold (`server.max_json_values`), checked before it is parsed. */
  maxJsonValues: number;
  /** A connection with no response under way and no client message for this long is closed, ms. */
  idleTimeoutMs: number;
  /** Longest a connection may stay open, ms: past it, closed once its response under way has ended. */
  maxLifetimeMs: number;
  /** How often a connection is pinged, ms (`server.websocket.ping_interval_ms`); one that has not answered the previous ping is cut off. 0: no pings. */
  pingIntervalMs: number;
  /** Most messages refused a minute before the connection is closed (1008); 0: no cap. */
  maxRefusedPerMinute: number;
  /** Largest `store: false` conversation a connection keeps for `previous_response_id`, bytes; 0: none kept. */
  previousResponseMaxBytes: number;
  /** A client that takes none of the messages waiting for it for this long is cut off, ms (`server.write_idle_timeout_ms`). */
  writeIdleTimeoutMs: number;
  trustedProxies: readonly string[];
  corsOrigins: readonly string[];
  /** One access-log line per response (`log.access`), written here: absent, none. */
  accessLog?: { info(obj: object, msg: string): void };
}

export interface ResponsesWebSocket {
  /** Open connections. */
  readonly open: number;
  /** The gateway stops: no new response; idle connections closed now, busy ones when their response ends. */
  closing(): void;
  /** Close every connection still open (after the shutdown's deadline). */
  terminate(): void;
}

export const RESPONSES_WS_PATH = '/v1/responses';

/** Handshake headers not passed on to the in-process request: the WebSocket's own and the body's framing. */
const NOT_FORWARDED = new Set([
  'connection', 'upgrade', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'expect',
  'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol',
]);

/** Messages waiting for the client past this, bytes: the answer is not read on until they go out. */
const SEND_HIGH_WATER = 1024 * 1024;
/** How often a backlog of messages is looked at while it waits for the client, ms. */
const BACKLOG_CHECK_MS = 25;
/** The most of a refusal's body read to turn it into an `error` event, bytes. */
const MAX_REFUSAL_BYTES = 64 * 1024;

/**
 * A refused message arriving while more than this waits for the client, bytes: the client sends
 * faster than it reads the replies, and the connection is closed (1008) rather than let them pile up.
 */
const REFUSALS_UNREAD_MAX = SEND_HIGH_WATER;
/** The window `maxRefusedPerMinute` counts in, ms. */
const REFUSED_WINDOW_MS = 60_000;
/** Events whose `response` is the response object (its `previous_response_id` is set on them when the connection continued one). */
const RESPONSE_EVENTS = new Set(['response.created', 'response.in_progress', 'response.queued', 'response.completed', 'response.incomplete', 'response.failed']);
/** Their type as OpenAI writes it, first: told apart from the deltas without parsing them. */
const RESPONSE_EVENT = /^\s*\{\s*"type"\s*:\s*"(response\.(?:created|in_progress|queued|completed|incomplete|failed))"/;
/** An event that may be one of them written otherwise (its `type` not first): parsed to tell, when it matters. */
const HOLDS_RESPONSE = /"response"\s*:\s*\{/;
/** The events that end a response a later one may continue. */
const CONTINUABLE = new Set(['response.completed', 'response.incomplete']);

/** Close codes (RFC 6455): 1000 normal, 1001 going away (the SDK may reconnect), 1008 policy violation. */
const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_POLICY = 1008;

/**
 * Names a response's in-process request with its connection, for the access log. Set by the
 * connection on the request it runs, taken off (and out of the headers) before anything reads them.
 */
const CONNECTION_HEADER = 'x-warden-websocket-connection';

const isWebSocketUpgrade = (req: http.IncomingMessage) => (req.headers.upgrade ?? '').toLowerCase() === 'websocket';

export function attachResponsesWebSocket(app: FastifyInstance, deps: PipelineDeps, opts: ResponsesWebSocketOptions): ResponsesWebSocket {
  const trust = opts.trustedProxies.length ? proxyTrust(opts.trustedProxies) : null;
  const anyOrigin = opts.corsOrigins.includes('*');
  const origins = new Set(opts.corsOrigins.map(normaliseOrigin).filter((o): o is string => o !== null && o !== '*'));
  // The message limit is the body limit, with room for the event's `"type":"response.create",`: a
  // body over the limit is refused by the route as over HTTP (413, as an `error` event).
  // No compression: a compressed answer beside attacker-chosen input leaks secrets by its length
  // (CRIME, BREACH), and inflating and deflating every message costs the serving thread. No
  // subprotocol is chosen (ws would echo the client's first): the Responses API defines none, and a
  // client that asks for one is told by its handshake failing, not by a protocol Warden does not speak.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.bodyLimitBytes + 64, perMessageDeflate: false, handleProtocols: () => false });
  const sessions = new Set<Session>();
  let stopping = false;
  const registry = deps.metrics.registry;
  new Gauge({ name: 'warden_websocket_connections_open', help: 'Responses API WebSocket connections open now', registers: [registry], collect() { this.set(sessions.size); } });
  const responses = new Counter({ name: 'warden_websocket_responses_total', help: 'Responses run over WebSocket connections (each response.create), by the HTTP status of the answer', labelNames: ['status'], registers: [registry] });
  const refusals = new Counter({ name: 'warden_websocket_handshakes_refused_total', help: 'WebSocket handshakes refused, by status and Warden error code', labelNames: ['status', 'code'], registers: [registry] });
  const closed = new Counter({ name: 'warden_websocket_closed_total', help: 'WebSocket connections Warden closed, by why', labelNames: ['reason'], registers: [registry] });
  const counters: SessionCounters = {
    response: (status) => responses.inc({ status: String(status) }),
    closed: (reason) => closed.inc({ reason }),
  };
  // The connection's id goes from its in-process request to the access line (not to the pipeline).
  if (opts.accessLog) {
    app.addHook('onRequest', (req, _reply, done) => {
      const connection = req.raw.headers[CONNECTION_HEADER];
      if (typeof connection === 'string') {
        delete req.raw.headers[CONNECTION_HEADER];
        noteInProcess(req.raw);
      }
      done();
    });
  }

  const refuse = (socket: Duplex, werr: WardenError, id: string) => {
    refusals.inc({ status: String(werr.status), code: werr.code });
    const body = JSON.stringify(renderErrorBody(werr, 'openai', id));
    const headers: Record<string, string> = {
      'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), connection: 'close',
      ...requestIdHeaders(id), ...(werr.headers ?? {}),
    };
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n');
    socket.end(`HTTP/1.1 ${werr.status} ${http.STATUS_CODES[werr.status] ?? 'Error'}\r\n${head}\r\n\r\n${body}`);
  };

  app.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== RESPONSES_WS_PATH || req.method !== 'GET' || !isWebSocketUpgrade(req)) {
      // Any other upgrade (another path, `h2c`) is answered as the plain request it also is.
      const res = new http.ServerResponse(req);
      res.assignSocket(socket as import('node:net').Socket);
      res.shouldKeepAlive = false;
      res.once('finish', () => socket.end());
      app.server.emit('request', req, res);
      return;
    }
    socket.on('error', () => socket.destroy());
    void handshake(req, socket, head);
  });

  async function handshake(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const id = ulid(Date.now());
    const ip = rawClientAddress(req, trust, deps.log);
    const ua = req.headers['user-agent'];
    const early = { ip, userAgent: typeof ua === 'string' ? ua : null, bytes: 0, auth: null, headers: req.headers };
    try {
      if (stopping) throw new WardenError('WARDEN_SHUTTING_DOWN', 'The gateway is shutting down; connect again.', { headers: { 'retry-after': '1' } });
      // A browser's handshake names its page's origin: allowed as the HTTP routes' CORS allows it.
      const origin = req.headers.origin;
      if (typeof origin === 'string' && !anyOrigin && !origins.has(origin.toLowerCase())) {
        throw new WardenError('WARDEN_POLICY_DENIED', `WebSocket connections from origin ${JSON.stringify(origin.slice(0, 200))} are not allowed (server.cors.allowed_origins).`);
      }
      deps.keyless?.check(ip, req.headers);
    } catch (err) {
      const werr = toWardenError(err);
      recordRejectedRequest(deps, 'openai.responses', early, werr, id);
      return refuse(socket, werr, id);
    }
    let auth: AuthContext | null = null;
    try {
      auth = await authenticateRequest(deps, req.headers, 'inference');
    } catch (err) {
      const werr = toWardenError(err);
      if (werr.status === 401) deps.keyless?.failed(ip);
      recordRejectedRequest(deps, 'openai.responses', early, werr, id);
      refuse(socket, werr, id);
    }
    if (!auth || socket.destroyed) return;
    const client = { auth, ip };
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new Session(ws, req, app, deps, opts, () => stopping, counters, client);
      sessions.add(session);
      ws.once('close', () => sessions.delete(session));
    });
  }

  return {
    get open() { return sessions.size; },
    closing() {
      stopping = true;
      for (const s of sessions) s.goAway();
    },
    terminate() {
      for (const s of sessions) s.ws.terminate();
    },
  };
}

interface SessionCounters {
  /** A response was answered (its status; 499 when the client went). */
  response(status: number): void;
  /** Warden closed a connection, for this reason. */
  closed(reason: CloseReason): void;
}

/** Why Warden closed a connection (`warden_websocket_closed_total{reason}`). */
type CloseReason = 'idle_timeout' | 'lifetime' | 'shutdown' | 'key_invalid' | 'write_stalled' | 'ping_timeout' | 'refused_messages' | 'unread_replies';

/** The most recent `store: false` response of a connection, for `previous_response_id` (OpenAI's WebSocket mode keeps it too). */
interface KeptResponse {
  id: string;
  /** The conversation it ends: the earlier turns, its input, its output, as input items. */
  items: unknown[];
  /** Their size as JSON, bytes (about: the sum of each turn's). */
  bytes: number;
}

/** The answer under way on a connection. */
interface InFlight {
  /** The in-process response, once its head is written; destroyed when the client goes. */
  res: http.ServerResponse | null;
  gone: boolean;
  /** The answer's status once known (499: the client went before it was told). */
  status: number;
  /** Bytes of messages sent for it (the access log's `bytes_out`). */
  bytesOut: number;
  /** Set when the final response is wanted (a `store: false` request on a connection that keeps one). */
  wantFinal: boolean;
  /** The type of the event that ended the response (`response.completed`, `response.incomplete`, `response.failed`); null before. */
  ended: string | null;
  /** With `wantFinal`, the response object of its last event when it ended completed or incomplete; else null. */
  final: Record<string, unknown> | null;
  /** The `previous_response_id` this connection continued from memory: set on the events' response objects. */
  continued: string | null;
}

class Session {
  private busy: InFlight | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly lifetimeTimer: NodeJS.Timeout;
  private expired = false;
  private pingTimer: NodeJS.Timeout | null = null;
  /** A ping went out and its pong has not come back. */
  private awaitingPong = false;
  /** Messages refused in the current window, and when it began. */
  private refused = 0;
  private refusedSince = 0;
  /** The connection's most recent `store: false` response, continued by `previous_response_id`. */
  private kept: KeptResponse | null = null;
  /** The most recent `store: false` response when it was too large to keep (its continuation is refused saying why). */
  private notKept: string | null = null;
  private readonly headers: Record<string, string | string[]>;
  private readonly remoteAddress: string;
  /** Names the connection in the access log. */
  readonly id = ulid(Date.now());

  constructor(
    readonly ws: WebSocket, req: http.IncomingMessage, private readonly app: FastifyInstance, private readonly deps: PipelineDeps,
    private readonly opts: ResponsesWebSocketOptions, private readonly stopping: () => boolean, private readonly counters: SessionCounters,
    private readonly client: { auth: AuthContext; ip: string },
  ) {
    this.headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !NOT_FORWARDED.has(k) && k !== CONNECTION_HEADER) this.headers[k] = v;
    this.headers['content-type'] = 'application/json';
    if (opts.accessLog) this.headers[CONNECTION_HEADER] = this.id;
    this.remoteAddress = req.socket.remoteAddress ?? '127.0.0.1';
    this.lifetimeTimer = setTimeout(() => {
      this.expired = true;
      if (!this.busy) this.close(CLOSE_GOING_AWAY, 'connection lifetime reached (server.websocket.max_lifetime_ms)', 'lifetime');
    }, opts.maxLifetimeMs);
    this.lifetimeTimer.unref();
    this.armIdle();
    // Pings keep a load balancer's idle timer from cutting a quiet connection, and find a peer that
    // is gone without a word. A pong is not the client's activity: the idle timeout still applies.
    if (opts.pingIntervalMs > 0) {
      ws.on('pong', () => { this.awaitingPong = false; });
      this.pingTimer = setInterval(() => this.heartbeat(), opts.pingIntervalMs);
      this.pingTimer.unref();
    }
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('error', () => { /* a protocol error (a message over the limit): ws closes the connection */ });
    ws.once('close', () => {
      clearTimeout(this.lifetimeTimer);
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.kept = null;
      this.clearIdle();
      // The client went mid-response: the in-process response is destroyed as a client's closed
      // connection would be, which aborts the upstream call; the interaction is still recorded.
      if (this.busy) {
        this.busy.gone = true;
        this.busy.res?.destroy();
      }
    });
  }

  goAway(): void {
    if (!this.busy) this.close(CLOSE_GOING_AWAY, 'the gateway is shutting down', 'shutdown');
  }

  private close(code: number, reason: string, why: CloseReason): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.counters.closed(why);
    this.ws.close(code, reason);
  }

  /**
   * Each ping interval: cut off a peer that has not answered the previous ping, else ping it. While
   * a response is under way or messages wait for the client (one it reads slowly), its pong may wait
   * behind them: the write timeout bounds that case, and the pong is waited for another interval.
   */
  private heartbeat(): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.awaitingPong) {
      if (this.busy || this.ws.bufferedAmount > 0) return;
      this.counters.closed('ping_timeout');
      this.deps.log.warn({ connection_id: this.id, ip: this.client.ip, interval_ms: this.opts.pingIntervalMs }, 'WebSocket peer did not answer a ping within server.websocket.ping_interval_ms: connection cut off');
      this.ws.terminate();
      return;
    }
    this.awaitingPong = true;
    this.ws.ping();
  }

  private armIdle(): void {
    this.clearIdle();
    this.idleTimer = setTimeout(() => this.close(CLOSE_NORMAL, 'idle timeout (server.websocket.idle_timeout_ms)', 'idle_timeout'), this.opts.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
  }

  /** An `error` event as the HTTP route would have answered `werr` (its status, its OpenAI error body). */
  private sendError(werr: WardenError): void {
    const id = ulid(Date.now());
    const body = renderErrorBody(werr, 'openai', id) as { error: Record<string, unknown> };
    this.send(JSON.stringify({ type: 'error', status: werr.status, error: body.error, request_id: id }));
  }

  private send(text: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.busy) this.busy.bytesOut += Buffer.byteLength(text);
    this.ws.send(text);
  }

  /**
   * A client message refused here (not JSON, not an event Warden takes, a second response.create
   * while one is under way): answered with an `error` event, unless the client sends them faster
   * than it reads the replies, or more of them a minute than allowed: then the connection is closed
   * (1008) and nothing more is queued for it.
   */
  private refuse(werr: WardenError): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const now = Date.now();
    if (this.opts.maxRefusedPerMinute > 0) {
      if (now - this.refusedSince >= REFUSED_WINDOW_MS) { this.refusedSince = now; this.refused = 0; }
      if (++this.refused > this.opts.maxRefusedPerMinute) {
        this.deps.log.warn({ connection_id: this.id, ip: this.client.ip, account_id: this.client.auth.account.id, limit: this.opts.maxRefusedPerMinute }, 'WebSocket client sent more refused messages in a minute than server.websocket.max_refused_messages_per_minute: connection closed');
        return this.close(CLOSE_POLICY, 'too many refused messages (server.websocket.max_refused_messages_per_minute)', 'refused_messages');
      }
    }
    if (this.unread()) return;
    this.sendError(werr);
  }

  /** A refusal is due while over REFUSALS_UNREAD_MAX waits for the client: closed (1008), true. */
  private unread(): boolean {
    if (this.ws.bufferedAmount <= REFUSALS_UNREAD_MAX) return false;
    this.deps.log.warn({ connection_id: this.id, ip: this.client.ip, account_id: this.client.auth.account.id, buffered_bytes: this.ws.bufferedAmount }, 'WebSocket client sends refused messages faster than it reads the replies: connection closed');
    this.close(CLOSE_POLICY, 'refused messages sent while their replies are not read', 'unread_replies');
    return true;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    // Closing (Warden closed it, or the client did): what still arrives is not answered.
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (!this.busy) this.armIdle();
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) return this.refuse(new WardenError('WARDEN_INVALID_REQUEST', 'Binary messages are not accepted: send each client event as a JSON text message.'));
    let event: unknown;
    try {
      // Refused from its bytes, as a body over HTTP: parsing it would hold the serving thread.
      if (holdsMoreValues(bytes, this.opts.maxJsonValues)) {
        return this.refuse(new WardenError('WARDEN_INVALID_REQUEST', `The message holds more than ${this.opts.maxJsonValues} JSON values; at most ${this.opts.maxJsonValues} are accepted.`));
      }
      const text = bytes.toString('utf8');
      event = JSON.parse(text);
      if (nestsDeeper(text, event)) return this.refuse(new WardenError('WARDEN_INVALID_REQUEST', 'The message nests arrays and objects too deeply.'));
    } catch (err) {
      return this.refuse(new WardenError('WARDEN_INVALID_JSON', `The message is not valid JSON: ${(err as Error).message}`));
    }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) {
      return this.refuse(new WardenError('WARDEN_INVALID_REQUEST', 'A client event must be a JSON object with a `type`.'));
    }
    const { type, ...body } = event as Record<string, unknown>;
    if (type !== 'response.create') {
      const named = typeof type === 'string' ? JSON.stringify(type.slice(0, 64)) : 'none';
      return this.refuse(new WardenError('WARDEN_INVALID_REQUEST', `Unknown client event type ${named}: this gateway accepts \`response.create\`.`, { param: 'type' }));
    }
    if (this.busy) {
      return this.refuse(new WardenError('WARDEN_CONFLICT', 'A response is already in progress on this connection: send the next `response.create` once it has ended (one response at a time per connection).'));
    }
    if (this.stopping()) {
      this.sendError(new WardenError('WARDEN_SHUTTING_DOWN', 'The gateway is shutting down; connect again.'));
      return this.close(CLOSE_GOING_AWAY, 'the gateway is shutting down', 'shutdown');
    }
    if (body.background === true) {
      return this.refuse(new WardenError('WARDEN_INVALID_REQUEST', '`background` is not supported over WebSocket: send the request over HTTP.', { param: 'background' }));
    }
    // `previous_response_id` naming this connection's most recent `store: false` response: the
    // upstream never stored it, so the conversation it ends goes to the upstream as the input's first
    // items (OpenAI's WebSocket mode keeps that response in the connection's memory the same way).
    // Any other id goes on as over HTTP: a stored response, the caller's, is continued upstream.
    const previous = body.previous_response_id;
    if (typeof previous === 'string' && previous === this.notKept) {
      return this.refuse(new WardenError('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND', `Previous response with id '${previous.slice(0, 200)}' not found: it was not stored (\`store: false\`) and its conversation was larger than a connection keeps (server.websocket.previous_response_max_bytes). Send the whole conversation as the input, or leave \`store\` on.`, { param: 'previous_response_id' }));
    }
    const input = asInputItems(body.input);
    let earlier: KeptResponse | null = null;
    let continued: string | null = null;
    if (typeof previous === 'string' && input !== null && this.kept?.id === previous) {
      earlier = this.kept;
      body.input = [...earlier.items, ...input];
      delete body.previous_response_id;
      continued = previous;
    }
    // `stream` is implicit over WebSocket (OpenAI's rule): the answer is always the streamed one.
    body.stream = true;
    this.clearIdle();
    const wantFinal = body.store === false && input !== null && this.opts.previousResponseMaxBytes > 0;
    const inFlight: InFlight = { res: null, gone: false, status: 0, bytesOut: 0, wantFinal, ended: null, final: null, continued };
    this.busy = inFlight;
    const started = performance.now();
    let note: AccessNote | undefined;
    this.respond(body, inFlight, (n) => { note = n; }).catch((err) => {
      this.deps.log.error({ err }, 'WebSocket response failed');
      const werr = toWardenError(err);
      inFlight.status = werr.status;
      this.sendError(werr);
    }).finally(() => {
      const status = inFlight.gone || inFlight.status === 0 ? 499 : inFlight.status;
      this.counters.response(status);
      if (this.opts.accessLog) {
        logSocketResponse(this.opts.accessLog, note, {
          connectionId: this.id, status, completed: !inFlight.gone, durationMs: performance.now() - started,
          bytesIn: bytes.length, bytesOut: inFlight.bytesOut, auth: this.client.auth, ip: this.client.ip,
        });
      }
      this.busy = null;
      this.keep(inFlight, earlier, input);
      if (this.ws.readyState !== this.ws.OPEN) return;
      if (this.stopping()) this.close(CLOSE_GOING_AWAY, 'the gateway is shutting down', 'shutdown');
      else if (this.expired) this.close(CLOSE_GOING_AWAY, 'connection lifetime reached (server.websocket.max_lifetime_ms)', 'lifetime');
      else this.armIdle();
    });
  }

  /**
   * After a response: a `store: false` one that ended (completed or incomplete) is kept with its
   * conversation, for the next `previous_response_id`, within the size bound; any other that ended
   * replaces it (only the most recent response is kept, as OpenAI keeps it); a failed continuation
   * forgets the response it named (as OpenAI evicts it); other failures leave it.
   */
  private keep(inFlight: InFlight, earlier: KeptResponse | null, input: unknown[] | null): void {
    const ended = !inFlight.gone && inFlight.status === 200 && inFlight.ended !== null && CONTINUABLE.has(inFlight.ended);
    if (!ended) {
      if (inFlight.continued !== null) this.kept = null;
      return;
    }
    this.kept = null;
    this.notKept = null;
    const final = inFlight.final;
    if (!inFlight.wantFinal || input === null || final === null || typeof final.id !== 'string' || this.ws.readyState !== this.ws.OPEN) return;
    const added = [...input, ...replayable(final.output)];
    const bytes = (earlier?.bytes ?? 0) + Buffer.byteLength(JSON.stringify(added));
    if (bytes <= this.opts.previousResponseMaxBytes) this.kept = { id: final.id, items: earlier ? [...earlier.items, ...added] : added, bytes };
    else this.notKept = final.id;
  }

  /**
   * An event's text as relayed: its response object names the response continued from this
   * connection's memory (the upstream was sent the conversation, not the id); the response it ends
   * noted (and kept when wanted).
   */
  private relayed(data: string, event: string | undefined, inFlight: InFlight): string {
    const wanted = inFlight.continued !== null || inFlight.wantFinal;
    let type = event !== undefined && RESPONSE_EVENTS.has(event) ? event : RESPONSE_EVENT.exec(data)?.[1];
    let ev: { type?: unknown; response?: unknown } | null = null;
    if (type === undefined) {
      // Not told by its start: parsed only when its response object matters, and when it may hold one.
      if (!wanted || !HOLDS_RESPONSE.test(data)) return data;
      try { ev = JSON.parse(data) as { type?: unknown; response?: unknown }; } catch { return data; }
      if (ev === null || typeof ev.type !== 'string' || !RESPONSE_EVENTS.has(ev.type)) return data;
      type = ev.type;
    }
    if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') inFlight.ended = type;
    const final = inFlight.wantFinal && CONTINUABLE.has(type);
    if (inFlight.continued === null && !final) return data;
    if (ev === null) {
      try { ev = JSON.parse(data) as { response?: unknown }; } catch { return data; }
    }
    const response = ev?.response;
    if (response === null || typeof response !== 'object' || Array.isArray(response)) return data;
    if (final) inFlight.final = response as Record<string, unknown>;
    if (inFlight.continued === null) return data;
    (response as Record<string, unknown>).previous_response_id = inFlight.continued;
    return JSON.stringify(ev);
  }

  /** One `response.create`: a streamed `POST /v1/responses` through the server, its events relayed as messages. */
  private async respond(body: Record<string, unknown>, inFlight: InFlight, noted: (note: AccessNote | undefined) => void): Promise<void> {
    const answer = await this.app.inject({
      method: 'POST', url: RESPONSES_WS_PATH, headers: this.headers, payload: JSON.stringify(body),
      remoteAddress: this.remoteAddress, payloadAsStream: true,
    });
    const res = answer.raw.res as http.ServerResponse;
    inFlight.res = res;
    inFlight.status = answer.statusCode;
    if (this.opts.accessLog) noted(accessNote(res.req));
    if (inFlight.gone) { res.destroy(); return; }
    const stream = answer.stream();
    const contentType = String(answer.headers['content-type'] ?? '');
    if (answer.statusCode >= 400 || !contentType.startsWith('text/event-stream')) {
      const text = await readBounded(stream, MAX_REFUSAL_BYTES);
      this.relayRefusal(answer.statusCode, text, answer.headers);
      return;
    }
    const parser = new SseParser({ comments: true });
    // What the caller's plan changed in the request (the HTTP answer's `x-warden-shaping` header):
    // a WebSocket has no headers per response, so it rides on the response's first event.
    let shaping = typeof answer.headers['x-warden-shaping'] === 'string' ? answer.headers['x-warden-shaping'] : null;
    try {
      for await (const chunk of stream) {
        for (const ev of parser.push(chunk as Buffer)) {
          // A keep-alive comment: a ping keeps proxies' idle timers from cutting a silent answer.
          if (ev.comment) { if (this.ws.readyState === this.ws.OPEN) this.ws.ping(); continue; }
          if (ev.data === '' || ev.data === '[DONE]') continue;
          const data = this.relayed(ev.data, ev.event, inFlight);
          if (shaping !== null) {
            this.send(withShaping(data, shaping));
            shaping = null;
            continue;
          }
          this.send(data);
        }
        if (this.ws.bufferedAmount > SEND_HIGH_WATER && !(await this.drained())) {
          // The client took none of its messages for the write timeout: cut off, as over HTTP. The
          // in-process response is ended here: the socket's close comes after this response is
          // over for the connection, too late for its handler to abort the upstream call.
          inFlight.gone = true;
          res.destroy();
          this.counters.closed('write_stalled');
          this.ws.terminate();
          return;
        }
      }
    } catch {
      // The response was destroyed (the client went): recorded by its close handler.
    }
  }

  /** Waits while messages wait for the client; false when it took none of them for the write timeout. */
  private async drained(): Promise<boolean> {
    let last = this.ws.bufferedAmount;
    let lastProgress = Date.now();
    while (this.ws.readyState === this.ws.OPEN && this.ws.bufferedAmount > SEND_HIGH_WATER / 2) {
      await new Promise((r) => setTimeout(r, BACKLOG_CHECK_MS));
      const now = this.ws.bufferedAmount;
      if (now < last) { last = now; lastProgress = Date.now(); }
      else if (Date.now() - lastProgress >= this.opts.writeIdleTimeoutMs) return false;
    }
    return true;
  }

  /** A refusal (or any answer that is not a stream) as an `error` event; a key no longer valid also closes the connection. */
  private relayRefusal(status: number, text: string, headers: Record<string, unknown>): void {
    let error: Record<string, unknown> | null = null;
    try {
      const parsed = JSON.parse(text) as { error?: Record<string, unknown> };
      if (parsed && typeof parsed.error === 'object' && parsed.error !== null) error = parsed.error;
    } catch { /* not JSON */ }
    if (status < 400 && error === null) {
      // An answer that is not a stream (an upstream that ignored `stream`): relayed as it came.
      if (text) this.send(text);
      return;
    }
    const requestId = headers['x-request-id'] ?? headers['x-warden-request-id'];
    const out: Record<string, unknown> = { type: 'error', status, error: error ?? { type: 'server_error', code: 'server_error', message: text.slice(0, 1000) || `HTTP ${status}` } };
    if (typeof requestId === 'string') out.request_id = requestId;
    if (typeof headers['x-warden-shaping'] === 'string') out.warden_shaping = headers['x-warden-shaping'];
    const retryAfter = headers['retry-after'];
    if (typeof retryAfter === 'string') out.retry_after_s = Number(retryAfter);
    // A refusal by the route (paced by the pipeline and the limits) is bounded as the others are.
    if (this.unread()) return;
    this.send(JSON.stringify(out));
    // The key was revoked or expired since the handshake: the connection goes with it.
    if (status === 401) this.close(CLOSE_POLICY, 'the API key is no longer valid', 'key_invalid');
  }
}

/** A request's `input` as input items (a string is one user message; none is none); null when it is neither. */
function asInputItems(input: unknown): unknown[] | null {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return Array.isArray(input) ? input : null;
}

/**
 * A response's output items as the next request's input: without their ids (the upstream kept
 * nothing to find by them: `store: false`), and reasoning items only with their encrypted content
 * (without it the upstream cannot read one back).
 */
function replayable(output: unknown): unknown[] {
  if (!Array.isArray(output)) return [];
  const out: unknown[] = [];
  for (const item of output) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
    const { id: _id, ...rest } = item as Record<string, unknown>;
    if (rest.type === 'reasoning' && typeof rest.encrypted_content !== 'string') continue;
    out.push(rest);
  }
  return out;
}

/** An event's JSON with `warden_shaping` added (unchanged when it is not a JSON object). */
function withShaping(data: string, shaping: string): string {
  try {
    const ev = JSON.parse(data) as unknown;
    if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) return data;
    return JSON.stringify({ ...(ev as Record<string, unknown>), warden_shaping: shaping });
  } catch {
    return data;
  }
}

async function readBounded(stream: AsyncIterable<unknown>, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of stream) {
      const b = chunk as Buffer;
      if (n < max) parts.push(b.subarray(0, max - n));
      n += b.length;
    }
  } catch { /* destroyed: what came is enough */ }
  return Buffer.concat(parts).toString('utf8');
}
