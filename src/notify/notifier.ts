/**
 * The notifier: every configured webhook, fed by the detector's verdicts and by whatever else
 * reports (the exchange). Sending never blocks the caller: a notification is queued per webhook.
 */
import type { Counter, Registry } from 'prom-client';
import { Counter as PromCounter } from 'prom-client';
import { resolveSecret } from '../config/index.ts';
import { verdictRank, type Campaign, type ClusterMerge, type Verdict } from '../detect/index.ts';
import type { NotifyConfig } from './config.ts';
import { notification, VerdictNotifications, type Notification } from './notifications.ts';
import { redactUrl, WebhookSender, type DeliveryRecord } from './webhooks.ts';

export interface NotifierOptions {
  /** Log lines for the operator (never a URL's path or a secret). */
  log: (line: string) => void;
  registry?: Registry;
  env?: NodeJS.ProcessEnv;
}

export class Notifier {
  private readonly senders: WebhookSender[];
  private verdicts: VerdictNotifications | null = null;
  private readonly delivered: Counter<'webhook' | 'outcome'> | null;

  private readonly log: (line: string) => void;

  constructor(private readonly config: NotifyConfig, opts: NotifierOptions) {
    this.log = opts.log;
    this.delivered = opts.registry ? new PromCounter({ name: 'warden_notifications_total', help: 'Notifications settled per webhook and outcome (delivered, failed, dropped).', labelNames: ['webhook', 'outcome'], registers: [opts.registry] }) : null;
    const usable = config.webhooks.flatMap((w) => {
      const url = resolveSecret(w.url, opts.env);
      if (url && URL.canParse(url) && /^https?:$/.test(new URL(url).protocol)) return [{ ...w, url }];
      opts.log(`notify: webhook ${w.name} is off: ${w.url} ${url ? 'is not an http(s) URL' : 'is not set'}`);
      return [];
    });
    this.senders = usable.map((w) => new WebhookSender({ ...w, secretValue: resolveSecret(w.secret, opts.env) }, {
      queueMax: config.queue_max, dashboardUrl: config.dashboard_url, log: opts.log,
      onOutcome: (r) => this.delivered?.inc({ webhook: r.webhook, outcome: r.status }),
    }));
  }

  get enabled(): boolean { return this.senders.length > 0; }

  /** Notify on the detector's rising verdicts; `campaign` describes a campaign by id, `campaignOf` names an account's. */
  watchVerdicts(campaign: (id: string) => Campaign | null, campaignOf: (accountId: string) => string | null): (v: Verdict) => void {
    const wanting = this.senders.filter((s) => s.spec.events.includes('account.escalated')).map((s) => s.spec.account_level);
    const accountFloor = wanting.length ? wanting.reduce((a, b) => (verdictRank(a) <= verdictRank(b) ? a : b)) : null;
    this.verdicts = new VerdictNotifications(campaign, { campaignOf, accountFloor });
    return (v) => {
      // Never let a notification take the detector (or the process) down with it.
      try {
        const n = this.verdicts!.fromVerdict(v);
        if (n) void this.emit(n);
      } catch (err) {
        this.log(`notify: verdict on ${v.subject.kind} ${v.subject.id} not notified: ${(err as Error).message}`);
      }
    };
  }

  /** What to call with the detector's cluster merges (after watchVerdicts): a notified campaign that merged away is said. */
  watchMerges(): (m: ClusterMerge) => void {
    return (m) => {
      try {
        const n = this.verdicts?.fromMerge(m);
        if (n) void this.emit(n);
      } catch (err) {
        this.log(`notify: merge of cluster ${m.merged} into ${m.cluster} not notified: ${(err as Error).message}`);
      }
    };
  }

  /** Queue a notification for every webhook that wants it; resolves with each delivery's outcome. */
  emit(n: Notification): Promise<DeliveryRecord[]> {
    return Promise.all(this.senders.filter((s) => s.wants(n)).map((s) => s.send(n)));
  }

  /**
   * A test notification to the webhook named (whatever its `events:`), or to every webhook whose
   * `events:` takes `test`, as any other notification; `skipped` names the others. Resolves once
   * each is delivered or given up; null when no webhook matches the name or none is configured.
   */
  test(name?: string): { deliveries: Promise<DeliveryRecord[]>; skipped: string[] } | null {
    const named = this.senders.filter((s) => !name || s.spec.name === name);
    if (!named.length) return null;
    const n = notification('test', 'Test notification from Warden: this webhook is set up.', {});
    const targets = name ? named : named.filter((s) => s.wants(n));
    return { deliveries: Promise.all(targets.map((s) => s.send(n))), skipped: named.filter((s) => !targets.includes(s)).map((s) => s.spec.name) };
  }

  status() {
    return {
      webhooks: this.senders.map((s) => ({ name: s.spec.name, url: redactUrl(s.spec.url), format: s.spec.format, events: s.spec.events, campaign_level: s.spec.campaign_level, account_level: s.spec.account_level, signed: !!s.spec.secretValue, ...s.counts() })),
      deliveries: this.senders.flatMap((s) => s.deliveries()).sort((a, b) => (a.queued_at < b.queued_at ? 1 : -1)),
    };
  }

  async close(deadlineMs = 5000): Promise<void> {
    await Promise.all(this.senders.map((s) => s.close(deadlineMs)));
  }
}
