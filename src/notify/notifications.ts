/**
 * Notifications: what an operator is told, as one versioned JSON object (`warden.notification/1`),
 * and the one-line text chat tools show. Built from the detector's verdicts (rising ones only) and
 * from what the exchange reports (an indicator's first match, a feed failing or recovering).
 */
import { randomUUID } from 'node:crypto';
import { heldAlone, verdictRank, type Campaign, type ClusterMerge, type SharedIndicator, type Sighting, type Verdict, type VerdictLevel, type VerdictReason } from '../detect/index.ts';
import type { NOTIFICATION_TYPES } from './config.ts';

export type NotificationType = (typeof NOTIFICATION_TYPES)[number];
export const NOTIFICATION_SCHEMA = 'warden.notification/1';

export interface Notification {
  schema: typeof NOTIFICATION_SCHEMA;
  /** Unique; receivers can drop a notification delivered twice (a retry after a lost answer). */
  id: string;
  type: NotificationType;
  at: string;
  /** One line for people. */
  summary: string;
  /** Verdict level, for verdict notifications (webhooks filter on it). */
  level: VerdictLevel | null;
  /** Dashboard path (appended to `notify.dashboard_url`). */
  link: string | null;
  data: Record<string, unknown>;
}

export function notification(type: NotificationType, summary: string, data: Record<string, unknown>, opts: { level?: VerdictLevel; link?: string; at?: string } = {}): Notification {
  return { schema: NOTIFICATION_SCHEMA, id: `ntf_${randomUUID()}`, type, at: opts.at ?? new Date().toISOString(), summary, level: opts.level ?? null, link: opts.link ?? null, data };
}

/** The reasons as "signal value (threshold t)", strongest first, at most `n`. */
function because(reasons: readonly VerdictReason[], n = 4): string {
  return [...reasons].sort((a, b) => (b.weight ?? 0) - (a.weight ?? 0)).slice(0, n)
    .map((r) => `${r.signal} ${r.value}${r.threshold === null ? '' : ` (threshold ${r.threshold})`}`).join(', ');
}

/**
 * Turns the detector's verdict changes into notifications: a campaign or an account in no campaign
 * whose level rises (falls are not news; a later rise is). Operator verdicts are the operators' own
 * doing and are not notified.
 */
export class VerdictNotifications {
  /** Level last notified per subject (dropped when the subject returns to none). */
  private readonly levels = new Map<string, VerdictLevel>();
  /**
   * Level of a cluster that is no campaign yet (below throttle, or not yet named): never notified,
   * so a campaign's first notification rises from none, and says where its cluster stood apart.
   */
  private readonly beforeCampaign = new Map<string, VerdictLevel>();

  constructor(
    private readonly campaign: (id: string) => Campaign | null,
    private readonly opts: {
      /** The campaign an account belongs to, if any (its notifications come with the campaign's). */
      campaignOf: (accountId: string) => string | null;
      /** Lowest level any webhook wants an account notified at (null: none wants them). */
      accountFloor: VerdictLevel | null;
    },
  ) {}

  /** The notification a verdict change makes, if any. */
  fromVerdict(v: Verdict): Notification | null {
    if (v.source !== 'detector') return null;
    const key = `${v.subject.kind}:${v.subject.id}`;
    if (v.subject.kind === 'cluster' && !v.campaign_id && !this.levels.has(key)) {
      if (v.level === 'none') this.beforeCampaign.delete(v.subject.id); else this.beforeCampaign.set(v.subject.id, v.level);
      return null;
    }
    const before = this.levels.get(key) ?? 'none';
    const clusterBefore = this.beforeCampaign.get(v.subject.id);
    this.beforeCampaign.delete(v.subject.id);
    if (v.level === 'none') { this.levels.delete(key); return null; }
    this.levels.set(key, v.level);
    if (verdictRank(v.level) <= verdictRank(before)) return null;
    const reasons = v.reasons.map((r) => ({ signal: r.signal, value: r.value, threshold: r.threshold, ...(r.detail ? { detail: r.detail } : {}) }));
    if (v.subject.kind === 'cluster') {
      if (!v.campaign_id) return null;
      const c = this.campaign(v.campaign_id);
      const size = c ? `${c.members.length} accounts, ${c.volume.requests} requests` : 'accounts linked';
      const targets = c ? Object.entries(c.targets).filter(([, s]) => s >= 0.1).sort((a, b) => b[1] - a[1]).map(([t, s]) => `${t} ${Math.round(s * 100)}%`) : [];
      const earlier = clusterBefore && clusterBefore !== 'none' && before === 'none' ? clusterBefore : null;
      return notification('campaign.escalated', `Campaign ${v.campaign_id} (${size}) rose from ${before} to ${v.level}${earlier ? ` (its cluster was at ${earlier} before it was a campaign)` : ''}, score ${v.score}: ${because(v.reasons)}`, {
        campaign_id: v.campaign_id, cluster_id: v.subject.id, from: before, ...(earlier ? { cluster_from: earlier } : {}), to: v.level, score: v.score, since: v.since, reasons,
        ...(c ? { accounts: c.members.length, requests: c.volume.requests, output_tokens: c.volume.output_tokens, first_seen: c.first_seen, targets, members: c.members.slice(0, 50) } : {}),
      }, { level: v.level, link: `/dashboard#/campaigns/${encodeURIComponent(v.campaign_id)}` });
    }
    const floor = this.opts.accountFloor;
    if (floor === null || verdictRank(v.level) < verdictRank(floor) || v.campaign_id || this.opts.campaignOf(v.subject.id)) return null;
    return notification('account.escalated', `Account ${v.subject.id} rose from ${before} to ${v.level}, score ${v.score}: ${because(v.reasons)}`, {
      account_id: v.subject.id, from: before, to: v.level, score: v.score, since: v.since, reasons,
    }, { level: v.level, link: `/dashboard#/accounts/${encodeURIComponent(v.subject.id)}` });
  }

  /** The notification a merge makes: only for a campaign that was notified (its alert named ids that merged away). */
  fromMerge(m: ClusterMerge): Notification | null {
    const key = `cluster:${m.merged}`;
    const was = this.levels.get(key);
    if (!was || !m.merged_campaign_id) return null;
    this.levels.delete(key);
    // The surviving campaign counts as notified at the higher of the two: no second alert for a level already told.
    const into = `cluster:${m.cluster}`;
    const cur = this.levels.get(into);
    if (!cur || verdictRank(was) > verdictRank(cur)) this.levels.set(into, was);
    return campaignMerged(m, was);

  }
}

/**
 * A campaign that was notified merging into another: the ids its alert named now resolve to the
 * surviving campaign (the admin API and CLI follow them), and this says where it went. Held at the
 * level the merged campaign was notified at, so webhooks that heard of it hear of this.
 */
export function campaignMerged(m: ClusterMerge, notifiedAt: VerdictLevel): Notification {
  const into = m.campaign_id ?? m.cluster;
  return notification('campaign.merged', `Campaign ${m.merged_campaign_id} (cluster ${m.merged}) merged into campaign ${into} (cluster ${m.cluster}), now ${m.accounts.length} accounts at ${m.level}`, {
    campaign_id: m.merged_campaign_id, cluster_id: m.merged, into_campaign_id: m.campaign_id, into_cluster_id: m.cluster, level: m.level, accounts: m.accounts.length, members: m.accounts.slice(0, 50),
  }, { level: verdictRank(m.level) > verdictRank(notifiedAt) ? m.level : notifiedAt, link: '/dashboard#/cases', at: m.at });
}

/**
 * A partner's indicator matching here for the first time, with the level the match holds the
 * accounts at: the import level for a strong kind, watch for the others (a network or a software
 * indicator reaches the import level only where one of the other family matches too).
 */
export function intelMatched(ind: SharedIndicator, seen: Sighting): Notification {
  const held = heldAlone(ind);
  const how = held.counterpart
    ? `they are held at ${held.level} (at ${ind.level} where a ${held.counterpart} indicator matches too)`
    : `they are held at ${held.level}${held.level !== ind.level ? ` (imported at ${ind.level}; ${ind.kind === 'asn' ? 'an ASN' : 'an email domain'} alone never holds above watch)` : ''}`;
  return notification('intel.matched', `An indicator shared by ${ind.source}${ind.campaign ? ` for campaign "${ind.campaign}"` : ''} (${ind.kind}) matched ${seen.accounts} account(s) here, ${seen.count} request(s); ${how}`, {
    indicator_id: ind.id, kind: ind.kind, source: ind.source, campaign: ind.campaign, level: held.level, import_level: ind.level, accounts: seen.accounts, requests: seen.count, first_seen: seen.first_seen,
  }, { link: '/dashboard#/cases' });
}

/** A partner's feed that started failing (with the error) or works again. */
export function feedChanged(feed: { name: string; last_error: string | null; last_ok_at: string | null; cursor: string | null }): Notification {
  return feed.last_error
    ? notification('feed.failed', `Intel feed ${feed.name} failed: ${feed.last_error}`, { feed: feed.name, error: feed.last_error, last_ok_at: feed.last_ok_at })
    : notification('feed.recovered', `Intel feed ${feed.name} works again`, { feed: feed.name, cursor: feed.cursor });
}

/**
 * A ledger problem, from a line of its error log (the code, the reason, how many more): it could
 * not record something, or (LEDGER_KEY_MISMATCH) its nodes are rotating to different signing keys,
 * a warning for a person: the entries are recorded all the same.
 */
export function ledgerFailed(line: string): Notification {
  const error = line.replace(/^ledger: /, '');
  const what = error.startsWith('LEDGER_KEY_MISMATCH:') ? 'The ledger\'s nodes sign with different new keys (entries are still recorded)' : 'The ledger could not record';
  return notification('ledger.failed', `${what}: ${error}`, { error }, { link: '/dashboard#/ledger' });
}

/**
 * Slack reads `<...>` in text as control sequences (`<!channel>` pings everyone, `<url|label>` is
 * a link shown as its label) and asks for `&`, `<` and `>` to be escaped. Summaries carry text
 * partners chose (a feed's error answer, a campaign's name).
 */
// Slack reads <...> as links and mentions; Mattermost and Rocket.Chat read Markdown links and
// @channel/@all/@here mentions. A word joiner (U+2060) breaks the latter two without showing.
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/@(?=(?:channel|here|all|everyone)\b)/gi, '@\u2060')
    .replace(/\]\(/g, ']\u2060(');
}

/** Slack's incoming-webhook body (also read by Mattermost, Rocket.Chat and others); only Warden's own link is a link. */
export function slackBody(n: Notification, dashboardUrl: string | null): { text: string } {
  const link = n.link && dashboardUrl ? ` <${dashboardUrl.replace(/\/$/, '')}${n.link}|open>` : '';
  return { text: `*Warden ${n.type}*: ${slackEscape(n.summary)}${link}` };
}
