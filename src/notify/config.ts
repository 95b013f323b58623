import { z } from 'zod';

const LEVELS = ['watch', 'throttle', 'shape', 'verify', 'suspend'] as const;

/** What a notification is about (see docs/notify.md). */
export const NOTIFICATION_TYPES = ['campaign.escalated', 'campaign.merged', 'account.escalated', 'intel.matched', 'feed.failed', 'feed.recovered', 'ledger.failed', 'test'] as const;

const webhookSchema = z.strictObject({
  /** Name in delivery records, metrics and `warden notify test NAME`. */
  name: z.string().min(1).max(100).regex(/^[\w.-]+$/, 'letters, digits and . _ -'),
  /**
   * Where to POST; `env:NAME` reads it from the environment. Often holds a token itself (Slack's
   * do), so only its origin is ever shown.
   */
  url: z.string().refine((u) => /^env:\w+$/.test(u) || /^https?:\/\/[^\s]+$/.test(u) && URL.canParse(u), 'an http(s) URL, or env:NAME'),
  /** HMAC-SHA256 key for the `x-warden-signature` header; `env:NAME` reads the environment. Empty: unsigned. */
  secret: z.string().default(''),
  /** `warden` (the notification as JSON) or `slack` (`{text}` for an incoming webhook; also read by Mattermost and others). */
  format: z.enum(['warden', 'slack']).default('warden'),
  /** Which notifications to send (default: all). */
  events: z.array(z.enum(NOTIFICATION_TYPES)).min(1).default([...NOTIFICATION_TYPES]),
  /** A campaign is notified when its verdict rises to this level or above. */
  campaign_level: z.enum(LEVELS).default('throttle'),
  /** An account in no campaign is notified when its verdict rises to this level or above (a campaign's accounts come with their campaign). */
  account_level: z.enum(LEVELS).default('suspend'),
  timeout_seconds: z.number().positive().max(120).default(10),
  /** Attempts before a notification is given up (backoff doubles from 1 s to at most 5 min between them). */
  max_attempts: z.number().int().min(1).max(20).default(8),
}).strict();
export type WebhookConfig = z.infer<typeof webhookSchema>;

/** Configuration of operator notifications (section `notify:` of warden.yaml). */
export const notifyConfigSchema = z.strictObject({
  webhooks: z.array(webhookSchema).default([]).refine((w) => new Set(w.map((x) => x.name)).size === w.length, 'webhook names must be unique'),
  /** Notifications waiting per webhook at most; past it the oldest waiting is dropped (and counted). */
  queue_max: z.number().int().positive().max(1_000_000).default(1000),
  /** The dashboard's public base URL (e.g. https://warden.example.com), for links in notifications. */
  dashboard_url: z.url({ protocol: /^https?$/ }).nullable().default(null),
});
export type NotifyConfig = z.infer<typeof notifyConfigSchema>;
