/**
 * The operator's log lines for an outage of a shared dependency (Redis for the limits and for the
 * detector): one when it stops answering, one when it answers again. A flapping dependency
 * (stalls of a fraction of a second, again and again) would write a line pair per stall, so an
 * outage that begins within FLAP_QUIET_MS of the end of the last one logged is logged only once
 * it has lasted FLAP_MIN_MS; the shorter ones are counted and named in the next outage line.
 */
export const FLAP_QUIET_MS = 60_000;
export const FLAP_MIN_MS = 2_000;

export class OutageLog<T> {
  private outage: { since: number; logged: boolean; state: T } | null = null;
  /** When the last logged outage ended (its recovery line), ms. */
  private lastRecoveryAt = -Infinity;
  /** Short outages not logged since the last line. */
  private flaps = 0;

  constructor(private readonly clockMs: () => number = Date.now) {}

  /** The state of the outage under way, or null. */
  get current(): T | null { return this.outage?.state ?? null; }

  /**
   * A failure: starts an outage (its state from `start`) unless one is under way, and writes its
   * start line (`say`, given the shorter outages not logged since the last line) once it is due.
   * Returns the outage's state. `hold`: not said yet even if due (what caused it is not known yet:
   * the next failure says it). `sinceMs`: when it began, if before now (a command that went
   * unanswered is known to have failed only once its wait is over).
   */
  failed(start: () => T, say: (state: T, shorterNotLogged: number) => void, hold = false, sinceMs?: number): T {
    const now = this.clockMs();
    const o = this.outage ??= { since: Math.min(sinceMs ?? now, now), logged: false, state: start() };
    if (!o.logged && !hold && (now - this.lastRecoveryAt >= FLAP_QUIET_MS || now - o.since >= FLAP_MIN_MS)) {
      o.logged = true;
      const flaps = this.flaps;
      this.flaps = 0;
      say(o.state, flaps);
    }
    return o.state;
  }

  /** The dependency answered: the outage under way is over, said (`say`, with its length) if its start was. */
  answered(say: (state: T, seconds: number) => void): void {
    const o = this.outage;
    if (!o) return;
    this.outage = null;
    if (!o.logged) { this.flaps++; return; }
    const now = this.clockMs();
    this.lastRecoveryAt = now;
    say(o.state, (now - o.since) / 1000);
  }
}

/** The words a start line adds for the short outages it follows. */
export function shorterOutages(n: number): string {
  return n > 0 ? ` (after ${n} shorter outages not logged since the last line)` : '';
}

/**
 * Why a Redis command failed, in an operator's words. The client is run with no retries per
 * command, so while its connection is down (Redis stopped, restarting, unreachable) a command
 * fails with the client's own "Reached the max retries per request limit (which is 0)": said here
 * as what it means.
 */
export function redisFailure(err: unknown): string {
  if (err instanceof Error && err.name === 'MaxRetriesPerRequestError') return 'no connection to Redis: the client is reconnecting';
  if (err instanceof Error && err.message === 'Connection is closed.') return 'no connection to Redis: the connection is closed';
  // The client refuses commands while it has no connection (enableOfflineQueue: false).
  if (err instanceof Error && err.message.startsWith("Stream isn't writeable")) return 'no connection to Redis: the client is reconnecting';
  return err instanceof Error ? err.message : String(err);
}
