// notify: operator notifications by webhook (signed JSON, or Slack-style text) when a campaign or an account rises on the verdict ladder, a partner's indicator first matches, a feed fails, or the ledger cannot record.
/**
 * `Notifier` holds one `WebhookSender` per configured webhook (ordered, bounded queue, retries with
 * backoff, signatures). It is fed by the detector's verdict listener (`watchVerdicts`) and by
 * `emit` from other capabilities. Imports `detect` (the verdicts it watches), `config`, `errors`
 * and `admin`'s router; nothing of the gateway.
 */
export { notifyConfigSchema } from './config.ts';
export { notification, intelMatched, feedChanged, ledgerFailed, VerdictNotifications, type Notification } from './notifications.ts';
export { WebhookSender, signature, redactUrl, type DeliveryRecord } from './webhooks.ts';
export { Notifier } from './notifier.ts';
export { notifyAdminRoutes } from './admin.ts';
