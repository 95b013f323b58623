/** Prometheus metrics of the gateway (prom-client), on a registry other capabilities share. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  registry: Registry;
  requests: Counter<'flavour' | 'status' | 'code'>;
  duration: Histogram<'flavour' | 'stream'>;
  tokens: Counter<'flavour' | 'kind'>;
  inflight: Gauge<'flavour'>;
  eventsWritten: Counter;
  eventsDropped: Gauge;
  eventsPending: Gauge;
  /** Connections closed as they were accepted: past `server.max_connections` (`total`), `max_connections_per_ip` (`per_ip`) or, on the probes' listener, `health_max_connections` (`health`). */
  connectionsRefused: Counter<'reason'>;
  /** Connections open now on the API listener (`server.port`). */
  connectionsOpen: Gauge;
  /** The request path counts here; `requests`, `tokens` and `inflight` take these counts when scraped. */
  counts: RequestCounts;
}

/**
 * Counts by two labels, kept in nested maps keyed by the label values themselves (no key string
 * built per call) and moved into a prom-client counter when it is scraped: prom-client builds and
 * hashes a label string on every inc(), which showed in profiles of the request path. Limits use it
 * too.
 */
export class Tally<A extends string, B extends string> {
  private readonly counts = new Map<string, Map<string, number>>();
  constructor(private readonly a: A, private readonly b: B) {}

  add(x: string, y: string, n = 1): void {
    let inner = this.counts.get(x);
    if (!inner) { inner = new Map(); this.counts.set(x, inner); }
    inner.set(y, (inner.get(y) ?? 0) + n);
  }

  /** Move the counts gathered since the last scrape into `counter`. */
  flush(counter: Counter<A | B>): void {
    for (const [x, inner] of this.counts) {
      for (const [y, n] of inner) {
        if (n === 0) continue;
        counter.inc({ [this.a]: x, [this.b]: y } as Record<A | B, string>, n);
        inner.set(y, 0);
      }
    }
  }
}

/** Per-request counting, handed to prom-client at scrape time (see Tally). */
export class RequestCounts {
  readonly inflight: Record<string, number> = Object.create(null);
  private readonly requests = new Map<string, { labels: { flavour: string; status: string; code: string }; n: number }>();
  private readonly tokens = new Tally('flavour', 'kind');

  request(flavour: string, status: number, code: string): void {
    const key = `${flavour} ${status} ${code}`;
    const e = this.requests.get(key);
    if (e) e.n++;
    else this.requests.set(key, { labels: { flavour, status: String(status), code }, n: 1 });
  }

  token(flavour: string, kind: 'input' | 'output' | 'reasoning' | 'cache_read' | 'cache_write', n: number): void {
    this.tokens.add(flavour, kind, n);
  }

  /** Move the counts gathered since the last scrape into prom-client. */
  flushRequests(c: Counter<'flavour' | 'status' | 'code'>): void {
    for (const e of this.requests.values()) if (e.n) { c.inc(e.labels, e.n); e.n = 0; }
  }

  flushTokens(c: Counter<'flavour' | 'kind'>): void {
    this.tokens.flush(c);
  }
}

/** Live values read at scrape time (set once the recorder exists). */
export interface MetricSources {
  eventsPending: () => number;
  eventsDropped: () => number;
  /** Connections open now (0 until the server exists). */
  connectionsOpen?: () => number;
}

export function createGatewayMetrics(registry = new Registry(), sources: MetricSources = { eventsPending: () => 0, eventsDropped: () => 0 }, opts: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  // Node's process metrics under their standard names (process_cpu_seconds_total,
  // nodejs_eventloop_lag_seconds, ...), as stock dashboards and alerts expect.
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const counts = new RequestCounts();
  return {
    registry,
    counts,
    requests: new Counter({ name: 'warden_requests_total', help: 'Model API interactions by flavour, status and Warden error code', labelNames: ['flavour', 'status', 'code'], registers: [registry], collect() { counts.flushRequests(this); } }),
    duration: new Histogram({ name: 'warden_request_duration_seconds', help: 'Interaction duration', labelNames: ['flavour', 'stream'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [registry] }),
    tokens: new Counter({ name: 'warden_tokens_total', help: 'Tokens served, by kind (input, output, reasoning; of input, cache_read and cache_write: the prompt cache\'s share)', labelNames: ['flavour', 'kind'], registers: [registry], collect() { counts.flushTokens(this); } }),
    inflight: new Gauge({ name: 'warden_inflight_requests', help: 'Interactions in flight', labelNames: ['flavour'], registers: [registry], collect() { for (const f in counts.inflight) this.set({ flavour: f }, counts.inflight[f]); } }),
    eventsWritten: new Counter({ name: 'warden_events_written_total', help: 'Interaction events written to the store', registers: [registry] }),
    eventsDropped: new Gauge({ name: 'warden_events_dropped', help: 'Interaction events dropped because the store fell too far behind', registers: [registry], collect() { this.set(sources.eventsDropped()); } }),
    eventsPending: new Gauge({ name: 'warden_events_pending', help: 'Interaction events buffered, not yet written', registers: [registry], collect() { this.set(sources.eventsPending()); } }),
    connectionsRefused: new Counter({ name: 'warden_connections_refused_total', help: 'Connections closed as they were accepted, before a byte was read: past server.max_connections (reason total), server.max_connections_per_ip (per_ip) or, on the probes\' listener, server.health_max_connections (health)', labelNames: ['reason'], registers: [registry] }),
    connectionsOpen: new Gauge({ name: 'warden_connections_open', help: 'Client connections open now on server.port (all routes: model API, admin, metrics, probes; not server.health_listen\'s)', registers: [registry], collect() { this.set(sources.connectionsOpen?.() ?? 0); } }),
  };
}
