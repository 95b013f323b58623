/**
 * Circuit breaker in front of the shared backend. Closed: every call goes through. After
 * `threshold` consecutive failures it opens: calls are not attempted (the configured failure mode
 * answers at once instead of waiting for timeouts). After `openMs` one probe is let through
 * (half-open); its success closes the circuit, its failure opens it again.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly onChange: (state: BreakerState) => void = () => {},
    private readonly clockMs: () => number = Date.now,
  ) {}

  get state(): BreakerState { return this.current; }

  /** May a call go to the backend now? (In half-open state, only the one probe may.) */
  allow(): boolean {
    if (this.current === 'closed') return true;
    if (this.current === 'open') {
      if (this.clockMs() - this.openedAt < this.openMs) return false;
      this.set('half_open');
    }
    if (this.probeInFlight) return false;
    this.probeInFlight = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.probeInFlight = false;
    if (this.current !== 'closed') this.set('closed');
  }

  failure(): void {
    this.probeInFlight = false;
    if (this.current === 'half_open') { this.open(); return; }
    if (++this.failures >= this.threshold && this.current === 'closed') this.open();
  }

  /** Open now, whatever the count (the failures were confirmed another way: an unanswered PING). */
  trip(): void {
    this.probeInFlight = false;
    if (this.current !== 'open') this.open();
  }

  private open(): void {
    this.openedAt = this.clockMs();
    this.set('open');
  }

  private set(state: BreakerState): void {
    if (state === this.current) return;
    this.current = state;
    this.onChange(state);
  }
}
