/**
 * Delivering notifications to one webhook: a bounded queue sent in order, one at a time, signed,
 * retried with doubling backoff on network errors, timeouts, 408, 429 and 5xx (a `Retry-After`
 * is honoured), given up on other answers or after `max_attempts`. The last deliveries are kept
 * for the admin API. Nothing here is written to disk: notifications still queued when the process
 * stops are sent within the close deadline or lost (the ledger and the detector keep the facts).
 */
import { createHmac } from 'node:crypto';
import { slackBody, type Notification } from './notifications.ts';
import type { WebhookConfig } from './config.ts';
import { verdictRank } from '../detect/index.ts';

export interface DeliveryRecord {
  notification_id: string;
  type: Notification['type'];
  webhook: string;
  status: 'queued' | 'delivered' | 'failed' | 'dropped';
  attempts: number;
  /** HTTP status of the last answer, null when none came. */
  last_status: number | null;
  last_error: string | null;
  queued_at: string;
  done_at: string | null;
}

export interface WebhookStats { queued: number; delivered: number; failed: number; dropped: number }

const RECORDS_KEPT = 200;
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5 * 60_000;

/** `x-warden-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (the receiver checks t is recent). */
export function signature(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

/** Where a redirect pointed, shown as any webhook URL is (origin and first path segment), or ''. */
function redirectTarget(location: string | null, base: string): string {
  if (!location) return '';
  try { return ` to ${redactUrl(new URL(location, base).href)}`; } catch { return ''; }
}

/** A URL as shown anywhere: its origin and first path segment (webhook URLs often carry a token). */
export function redactUrl(url: string): string {
  const u = new URL(url);
  const first = u.pathname.split('/').filter(Boolean)[0];
  return `${u.origin}/${first ? `${first}/…` : ''}`;
}

/** The first 200 characters of an answer, read no further (a receiver could send without end). */
async function answerStart(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  let bytes = Buffer.alloc(0);
  try {
    while (bytes.length < 800) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes = Buffer.concat([bytes, value]);
    }
  } catch { /* the answer's status is what counts */ } finally { await reader.cancel().catch(() => {}); }
  return bytes.toString('utf8').slice(0, 200);
}

interface Pending { n: Notification; record: DeliveryRecord; done: Array<(r: DeliveryRecord) => void> }

export class WebhookSender {
  private readonly queue: Pending[] = [];
  private readonly records: DeliveryRecord[] = [];
  private readonly stats: WebhookStats = { queued: 0, delivered: 0, failed: 0, dropped: 0 };
  private sending: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private closing = false;

  constructor(
    readonly spec: WebhookConfig & { secretValue: string | null },
    private readonly opts: { queueMax: number; dashboardUrl: string | null; log: (line: string) => void; onOutcome?: (r: DeliveryRecord) => void; firstBackoffMs?: number },
  ) {}

  /** Does this webhook want the notification (its types and levels)? */
  wants(n: Notification): boolean {
    if (!this.spec.events.includes(n.type)) return false;
    if (n.type === 'campaign.escalated' || n.type === 'campaign.merged') return verdictRank(n.level!) >= verdictRank(this.spec.campaign_level);
    if (n.type === 'account.escalated') return verdictRank(n.level!) >= verdictRank(this.spec.account_level);
    return true;
  }

  /** Queue a notification; resolves when it is delivered, failed or dropped. */
  send(n: Notification): Promise<DeliveryRecord> {
    const record: DeliveryRecord = { notification_id: n.id, type: n.type, webhook: this.spec.name, status: 'queued', attempts: 0, last_status: null, last_error: null, queued_at: new Date().toISOString(), done_at: null };
    this.remember(record);
    const p = new Promise<DeliveryRecord>((resolve) => {
      this.queue.push({ n, record, done: [resolve] });
    });
    this.stats.queued++;
    // Past the bound the oldest waiting one goes (not the one being sent, the head).
    if (this.queue.length - 1 > this.opts.queueMax) this.finish(this.queue.splice(1, 1)[0], 'dropped', 'the queue was full');
    this.sending ??= this.run().finally(() => { this.sending = null; });
    return p;
  }

  deliveries(): DeliveryRecord[] { return this.records.map((r) => ({ ...r })); }
  counts(): WebhookStats & { waiting: number } { return { ...this.stats, waiting: this.queue.length }; }

  /** Stop retrying: what is queued gets one more attempt each until the deadline, then is dropped. */
  async close(deadlineMs: number): Promise<void> {
    this.closing = true;
    this.wake?.();
    if (this.sending) await Promise.race([this.sending, new Promise((r) => setTimeout(r, deadlineMs).unref())]);
    for (const p of this.queue.splice(0)) this.finish(p, 'dropped', 'not sent before shutdown');
  }

  private remember(r: DeliveryRecord) {
    this.records.push(r);
    if (this.records.length > RECORDS_KEPT) this.records.shift();
  }

  private finish(p: Pending, status: 'delivered' | 'failed' | 'dropped', error: string | null) {
    p.record.status = status;
    p.record.done_at = new Date().toISOString();
    if (error) p.record.last_error = error;
    this.stats[status]++;
    if (status !== 'delivered') this.opts.log(`notify: ${this.spec.name} (${redactUrl(this.spec.url)}): ${p.n.type} ${p.n.id} ${status}: ${p.record.last_error}`);
    this.opts.onOutcome?.(p.record);
    for (const d of p.done) d({ ...p.record });
  }

  private async run(): Promise<void> {
    while (this.queue.length) {
      const p = this.queue[0];
      const retryInMs = await this.attempt(p);
      if (retryInMs === null) { this.queue.shift(); continue; }
      if (this.closing || p.record.attempts >= this.spec.max_attempts) {
        this.queue.shift();
        this.finish(p, this.closing ? 'dropped' : 'failed', this.closing ? `${p.record.last_error}; not retried at shutdown` : `${p.record.last_error}; gave up after ${p.record.attempts} attempts`);
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, retryInMs);
        t.unref();
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = null;
    }
  }

  /** One attempt; null when the delivery is settled, else how long to wait before the next. */
  private async attempt(p: Pending): Promise<number | null> {
    const body = JSON.stringify(this.spec.format === 'slack' ? slackBody(p.n, this.opts.dashboardUrl) : { ...p.n, link: p.n.link && this.opts.dashboardUrl ? `${this.opts.dashboardUrl.replace(/\/$/, '')}${p.n.link}` : p.n.link });
    const headers: Record<string, string> = {
      'content-type': 'application/json', 'user-agent': 'Warden-Notify/1', 'x-warden-event': p.n.type, 'x-warden-delivery': p.n.id,
    };
    if (this.spec.secretValue) headers['x-warden-signature'] = signature(this.spec.secretValue, body, Math.floor(Date.now() / 1000));
    p.record.attempts++;
    const backoff = Math.min(MAX_BACKOFF_MS, (this.opts.firstBackoffMs ?? FIRST_BACKOFF_MS) * 2 ** (p.record.attempts - 1));
    try {
      const res = await fetch(this.spec.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.spec.timeout_seconds * 1000), redirect: 'manual' });
      const text = await answerStart(res);
      p.record.last_status = res.status;
      if (res.ok) { p.record.last_error = null; this.finish(p, 'delivered', null); return null; }
      // A redirect is not followed (the body and its signature were meant for this URL): it is an
      // answer like any other that is not worth retrying, given up at once with its status.
      const redirect = res.status >= 300 && res.status < 400 ? ` (a redirect${redirectTarget(res.headers.get('location'), this.spec.url)}: redirects are not followed)` : '';
      p.record.last_error = `answered ${res.status}${redirect}${text ? `: ${text.replace(/\s+/g, ' ')}` : ''}`;
      if (res.status === 408 || res.status === 429 || res.status >= 500) {
        const after = Number(res.headers.get('retry-after'));
        return Number.isFinite(after) && after > 0 ? Math.min(MAX_BACKOFF_MS, after * 1000) : backoff;
      }
      this.finish(p, 'failed', null);
      return null;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      p.record.last_status = null;
      p.record.last_error = e.name === 'TimeoutError' ? `no answer within ${this.spec.timeout_seconds} s` : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`;
      return backoff;
    }
  }
}
