/**
 * Prometheus metrics for limits: every decision by outcome, every scope checked by outcome,
 * refusals by scope and limit, decision latency per backend, backend errors and circuit state,
 * concurrency slots taken back from nodes that died holding them.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { Tally } from '../gateway/metrics.ts';
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
  /** Concurrency slots whose leases expired unrenewed (their node died), removed from the shared backend. */
  deadSlotsReclaimed(backend: string, slots: number): void;
}

export const NOOP_METRICS: LimitsMetrics = {
  decision() {}, scope() {}, refusal() {}, backendError() {}, breaker() {}, throttled() {}, settlement() {}, deadSlotsReclaimed() {},
};

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, half_open: 2 };

/** Register the limits metrics on a prom-client registry (once per registry). */
export function registerLimitsMetrics(registry: Registry): LimitsMetrics {
  const registers = [registry];
  // Decisions count up to eight times each: tallied, handed to prom-client when scraped.
  const decided = new Tally('outcome', 'backend');
  const checked = new Tally('scope', 'outcome');
  const refused = new Tally('scope', 'limit');
  new Counter({ name: 'warden_limits_decisions_total', help: 'Limit decisions by outcome and backend', labelNames: ['outcome', 'backend'] as const, registers, collect() { decided.flush(this); } });
  new Counter({ name: 'warden_limits_scope_checks_total', help: 'Scopes checked per decision, by scope and outcome', labelNames: ['scope', 'outcome'] as const, registers, collect() { checked.flush(this); } });
  new Counter({ name: 'warden_limits_refusals_total', help: 'Refused meters by scope and limit kind', labelNames: ['scope', 'limit'] as const, registers, collect() { refused.flush(this); } });
  const latency = new Histogram({
    name: 'warden_limits_decision_seconds', help: 'Time to decide all scopes of one request', labelNames: ['backend'] as const, registers,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
  });
  const errors = new Counter({ name: 'warden_limits_backend_errors_total', help: 'Failed calls to the limits backend', labelNames: ['backend', 'operation'] as const, registers });
  const breaker = new Gauge({ name: 'warden_limits_circuit_state', help: 'Circuit breaker state of the limits backend (0 closed, 1 open, 2 half-open)', labelNames: ['backend'] as const, registers });
  const throttled = new Counter({ name: 'warden_limits_verdict_throttled_total', help: 'Decisions made under verdict-driven throttling, by verdict level', labelNames: ['level'] as const, registers });
  const reclaimed = new Counter({ name: 'warden_limits_dead_slots_reclaimed_total', help: 'Concurrency slots taken back because their lease expired unrenewed (the node holding them died or stalled), by backend', labelNames: ['backend'] as const, registers });
  const settlements = { ok: 0, error: 0 };
  new Counter({
    name: 'warden_limits_settlements_total', help: 'Reservations settled to real usage, by outcome', labelNames: ['outcome'] as const, registers,
    collect() {
      for (const k of ['ok', 'error'] as const) if (settlements[k]) { this.inc({ outcome: k }, settlements[k]); settlements[k] = 0; }
    },
  });

  return {
    decision(outcome, backend, seconds) {
      decided.add(outcome, backend);
      latency.observe({ backend }, seconds);
    },
    scope(scope, allowed) { checked.add(scope, allowed ? 'allowed' : 'refused'); },
    refusal(scope, kind) { refused.add(scope, kind); },
    backendError(backend, operation) { errors.labels(backend, operation).inc(); },
    breaker(backend, state) { breaker.labels(backend).set(BREAKER_VALUE[state]); },
    throttled(level) { throttled.labels(level).inc(); },
    settlement(ok) { settlements[ok ? 'ok' : 'error']++; },
    deadSlotsReclaimed(backend, slots) { reclaimed.labels(backend).inc(slots); },
  };
}
