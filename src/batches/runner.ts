/**
 * Runs the requests of batches: each as one `POST /v1/messages` through the gateway's own pipeline
 * (Fastify's inject: no socket), as the batch's key, from the address that sent the batch, so that
 * identity, policy, limits, the detector, shaping, watermarks and the ledger treat it as any other
 * request. A limit's 429 or an upstream failure waits (Retry-After, else doubling from 2 s) and
 * tries again, up to `max_attempts`; any other refusal is the request's `errored` result. A
 * detector verdict reached halfway through a batch therefore slows or stops the rest of it.
 */
import type { FastifyInstance } from 'fastify';
import type { BatchesConfig } from './config.ts';
import type { BatchCredentials } from './credentials.ts';
import type { BatchStore, ClaimedItem } from './store.ts';

const TICK_MS = 250;
const SETTLE_MS = 1_000;
/** After a claim found nothing, the store is asked again this much later (a new batch here asks at once). */
const IDLE_MS = 1_000;

export class BatchRunner {
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private claiming = false;
  private lastSettle = 0;
  private lastPrune = 0;
  private idleSince: number | null = null;
  private stopped = false;

  constructor(
    private readonly store: BatchStore,
    private readonly app: Pick<FastifyInstance, 'inject'>,
    private readonly credentials: BatchCredentials,
    private readonly config: BatchesConfig,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => { void this.tick(); }, TICK_MS);
    this.timer.unref();
  }

  /** Claim what is due and start it; end batches with nothing left. Exposed for tests and shutdown. */
  async tick(now = Date.now(), poked = false): Promise<void> {
    if (this.claiming || this.stopped) return;
    this.claiming = true;
    try {
      const room = this.config.concurrency - this.inFlight.size;
      if (room > 0 && (poked || this.idleSince === null || now - this.idleSince >= IDLE_MS)) {
        const claimed = await this.store.claim(now, room, this.config.lease_ms);
        this.idleSince = claimed.length === 0 && this.inFlight.size === 0 ? now : null;
        for (const item of claimed) {
          const p = this.run(item).catch((err) => this.log(`batches: request ${item.custom_id} of ${item.batch.id} failed to run: ${(err as Error).message}`))
            .finally(() => { this.inFlight.delete(p); this.idleSince = null; });
          this.inFlight.add(p);
        }
      }
      if (now - this.lastSettle >= SETTLE_MS) {
        this.lastSettle = now;
        await this.store.settle(now);
        if (now - this.lastPrune > 3_600_000) {
          this.lastPrune = now;
          await this.store.prune(now - this.config.retention_days * 86_400_000);
        }
      }
    } catch (err) {
      this.log(`batches: ${(err as Error).message}`);
    } finally {
      this.claiming = false;
    }
  }

  private async run(item: ClaimedItem): Promise<void> {
    const { batch } = item;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-api-key': this.credentials.issue(batch.key_id, batch.id),
      'anthropic-version': batch.anthropic_version ?? '2023-06-01',
    };
    if (batch.anthropic_beta) headers['anthropic-beta'] = batch.anthropic_beta;
    if (batch.user_agent) headers['user-agent'] = batch.user_agent;
    const res = await this.app.inject({ method: 'POST', url: '/v1/messages', headers, payload: item.params, remoteAddress: batch.client_ip });
    const status = res.statusCode;
    let body: unknown;
    try { body = JSON.parse(res.body); } catch { body = null; }
    if (status === 200 && body) {
      await this.store.finish(batch.id, item.idx, 'succeeded', JSON.stringify({ type: 'succeeded', message: body }));
      return;
    }
    if ((status === 429 || status >= 500) && item.attempts < this.config.max_attempts) {
      const retryAfter = Number(res.headers['retry-after']);
      const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : Math.min(300_000, 2000 * 2 ** (item.attempts - 1));
      await this.store.retryLater(batch.id, item.idx, Date.now() + wait);
      return;
    }
    const error = body && typeof body === 'object' && (body as { type?: unknown }).type === 'error'
      ? body
      : { type: 'error', error: { type: 'api_error', message: `The request failed with status ${status}.` } };
    await this.store.finish(batch.id, item.idx, 'errored', JSON.stringify({ type: 'errored', error }));
  }

  /** Stop claiming; wait (up to `waitMs`) for requests in flight. What is left runs after a restart. */
  async stop(waitMs = 30_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.inFlight.size) {
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, waitMs).unref())]);
    }
  }
}
