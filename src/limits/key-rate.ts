/**
 * Requests per key over time, in this process's memory (GCRA): each request moves the key's
 * theoretical arrival time on by one interval, and a key more than a burst ahead waits. For the
 * small side doors (token counting, the TAXII server) that need a fair bound, not the shared
 * meters of model calls.
 */
export class KeyRate {
  private readonly tat = new Map<string, number>();
  private readonly interval: number;
  private readonly tolerance: number;

  /** `perMinute` requests a minute, in bursts of up to half of that. */
  constructor(perMinute: number) {
    this.interval = 60_000 / perMinute;
    this.tolerance = this.interval * Math.max(0, Math.floor(perMinute / 2) - 1);
  }

  /** 0 when the request may go, else the milliseconds to wait. */
  take(key: string, now = Date.now()): number {
    const tat = Math.max(this.tat.get(key) ?? now, now);
    if (tat - now > this.tolerance) return Math.ceil(tat - now - this.tolerance);
    this.tat.set(key, tat + this.interval);
    if (this.tat.size > 10_000) for (const [k, t] of this.tat) if (t < now) this.tat.delete(k);
    return 0;
  }
}
