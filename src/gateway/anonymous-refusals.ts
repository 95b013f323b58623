/**
 * What Warden records of requests refused before anyone is known (no key, a wrong, revoked or
 * expired one): every such refusal is answered, but an event (and its ledger opening) is written
 * for at most `events.refused_anonymous_per_minute` of them per client address (an IPv6 /64) and
 * minute, then for one in `SAMPLE_EVERY` more; the others are counted in
 * `warden_refused_requests_unrecorded_total`, and the first one not recorded in a minute is logged
 * with its address. A client with no key cannot write to the store at its own pace: the first
 * refusals of a minute show who and what it sent, the sampled ones how long it went on.
 */
import { subnetOf } from '../events/index.ts';

/** Past the budget of a minute, one refusal in this many is still recorded. */
export const SAMPLE_EVERY = 100;
/** Addresses counted apart in a minute; beyond them, new ones share one budget (a client with many addresses gains nothing). */
const MAX_ADDRESSES = 10_000;
const WINDOW_MS = 60_000;

export class AnonymousRefusals {
  private windowStart = 0;
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly perMinute: number,
    private readonly log: { warn(obj: object, msg: string): void } | null = null,
    /** Called for each refusal not recorded (the metric). */
    private readonly unrecorded: () => void = () => {},
  ) {}

  /** Whether the refusal of an anonymous request from `ip` is recorded. */
  record(ip: string, now = Date.now()): boolean {
    if (now - this.windowStart >= WINDOW_MS) { this.windowStart = now; this.seen.clear(); }
    let subject = subnetOf(ip, 32, 64);
    if (!this.seen.has(subject) && this.seen.size >= MAX_ADDRESSES) subject = '*';
    const n = (this.seen.get(subject) ?? 0) + 1;
    this.seen.set(subject, n);
    const past = n - this.perMinute;
    if (past <= 0 || past % SAMPLE_EVERY === 0) return true;
    if (past === 1) this.log?.warn({ address: subject, per_minute: this.perMinute }, `requests without a valid key from ${subject}: more than ${this.perMinute} this minute, recording one in ${SAMPLE_EVERY} more`);
    this.unrecorded();
    return false;
  }
}
