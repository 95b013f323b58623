/**
 * Prometheus metrics for limits: every decision by outcome, every scope checked by outcome,
 * refusals by scope and limit, decision latency per backend, backend errors and circuit state.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState } from './breaker.ts';

export type DecisionOutcome = 'allowed' | 'refused' | 'fail_open' | 'fail_closed' | 'local_allowed' | 'local_refused';

export interface LimitsMetrics {
  decision(outcome: DecisionOutcome, backend: string, seconds: number): void;
  scope(scope: string, allowed: boolean): void;
  refusal(scope: string, kind: string): void;
  backendError(backend: string, operation: 'decide' | 'settle' | 'renew'): void;
  breaker(backend: string, state: BreakerState): void;
  throttled(level: string): void;
  settlement(ok: boolean): void;
}

export const NOOP_METRICS: LimitsMetrics = {
  decision() {}, scope() {}, refusal() {}, backendError() {}, breaker() {}, throttled() {}, settlement() {},
};

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, half_open: 2 };

/** Register the limits metrics on a prom-client registry (once per registry). */
export function registerLimitsMetrics(registry: Registry): LimitsMetrics {
  const registers = [registry];
  const decisions = new Counter({ name: 'warden_limits_decisions_total', help: 'Limit decisions by outcome and backend', labelNames: ['outcome', 'backend'] as const, registers });
  const scopes = new Counter({ name: 'warden_limits_scope_checks_total', help: 'Scopes checked per decision, by scope and outcome', labelNames: ['scope', 'outcome'] as const, registers });
  const refusals = new Counter({ name: 'warden_limits_refusals_total', help: 'Refused meters by scope and limit kind', labelNames: ['scope', 'limit'] as const, registers });
  const latency = new Histogram({
    name: 'warden_limits_decision_seconds', help: 'Time to decide all scopes of one request', labelNames: ['backend'] as const, registers,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
  });
  const errors = new Counter({ name: 'warden_limits_backend_errors_total', help: 'Failed calls to the limits backend', labelNames: ['backend', 'operation'] as const, registers });
  const breaker = new Gauge({ name: 'warden_limits_circuit_state', help: 'Circuit breaker state of the limits backend (0 closed, 1 open, 2 half-open)', labelNames: ['backend'] as const, registers });
  const throttled = new Counter({ name: 'warden_limits_verdict_throttled_total', help: 'Decisions made under verdict-driven throttling, by verdict level', labelNames: ['level'] as const, registers });
  const settlements = new Counter({ name: 'warden_limits_settlements_total', help: 'Reservations settled to real usage, by outcome', labelNames: ['outcome'] as const, registers });

  // Label children are cached: incrementing must stay cheap on the request path.
  const children = new Map<string, { inc(): void }>();
  const child = (k: string, make: () => { inc(): void }) => {
    let c = children.get(k);
    if (!c) { c = make(); children.set(k, c); }
    return c;
  };
  return {
    decision(outcome, backend, seconds) {
      child(`d\u0000${outcome}\u0000${backend}`, () => decisions.labels(outcome, backend)).inc();
      latency.labels(backend).observe(seconds);
    },
    scope(scope, allowed) { child(`s\u0000${scope}\u0000${allowed}`, () => scopes.labels(scope, allowed ? 'allowed' : 'refused')).inc(); },
    refusal(scope, kind) { child(`r\u0000${scope}\u0000${kind}`, () => refusals.labels(scope, kind)).inc(); },
    backendError(backend, operation) { errors.labels(backend, operation).inc(); },
    breaker(backend, state) { breaker.labels(backend).set(BREAKER_VALUE[state]); },
    throttled(level) { throttled.labels(level).inc(); },
    settlement(ok) { settlements.labels(ok ? 'ok' : 'error').inc(); },
  };
}
