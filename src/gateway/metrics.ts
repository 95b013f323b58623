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
}

/** Live values read at scrape time (set once the recorder exists). */
export interface MetricSources {
  eventsPending: () => number;
  eventsDropped: () => number;
}

export function createGatewayMetrics(registry = new Registry(), sources: MetricSources = { eventsPending: () => 0, eventsDropped: () => 0 }, opts: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'warden_process_' });
  return {
    registry,
    requests: new Counter({ name: 'warden_requests_total', help: 'Model API interactions by flavour, status and Warden error code', labelNames: ['flavour', 'status', 'code'], registers: [registry] }),
    duration: new Histogram({ name: 'warden_request_duration_seconds', help: 'Interaction duration', labelNames: ['flavour', 'stream'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [registry] }),
    tokens: new Counter({ name: 'warden_tokens_total', help: 'Tokens served, by kind (input, output, reasoning)', labelNames: ['flavour', 'kind'], registers: [registry] }),
    inflight: new Gauge({ name: 'warden_inflight_requests', help: 'Interactions in flight', labelNames: ['flavour'], registers: [registry] }),
    eventsWritten: new Counter({ name: 'warden_events_written_total', help: 'Interaction events written to the store', registers: [registry] }),
    eventsDropped: new Gauge({ name: 'warden_events_dropped', help: 'Interaction events dropped because the store fell too far behind', registers: [registry], collect() { this.set(sources.eventsDropped()); } }),
    eventsPending: new Gauge({ name: 'warden_events_pending', help: 'Interaction events buffered, not yet written', registers: [registry], collect() { this.set(sources.eventsPending()); } }),
  };
}
