/**
 * Admin routes for notifications (inside the admin API's token check), registered through its
 * route table so that they are validated and documented like the others:
 *
 *   GET  /admin/notify          each webhook (URL shown by origin only), its counts, the last deliveries
 *   POST /admin/notify/test     ?webhook=NAME (default: every webhook whose events take test): send a
 *                               test notification, answer with each delivery's outcome and the
 *                               webhooks skipped (502 when one was not delivered)
 */
import { z } from 'zod';
import { WardenError } from '../errors/index.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import type { Notifier } from './notifier.ts';

const DeliverySchema = z.object({
  notification_id: z.string(), type: z.string(), webhook: z.string(), status: z.enum(['queued', 'delivered', 'failed', 'dropped']),
  attempts: z.number(), last_status: z.number().nullable().describe('HTTP status of the last answer; null when none came'),
  last_error: z.string().nullable(), queued_at: z.string(), done_at: z.string().nullable(),
});
const WebhookSchema = z.object({
  name: z.string(), url: z.string().describe('origin and first path segment only (the rest may hold a token)'), format: z.string(),
  events: z.array(z.string()), campaign_level: z.string(), account_level: z.string(), signed: z.boolean(),
  queued: z.number(), delivered: z.number(), failed: z.number(), dropped: z.number(),
  waiting: z.number().describe('notifications waiting to be sent'),
});

export function notifyAdminRoutes(notifier: Notifier): AdminRouteRegistrar {
  return (r) => {
    r.route({
      method: 'GET', path: '/notify', operationId: 'notifyStatus', tag: 'notify', summary: 'Each webhook, its counts, and the last deliveries',
      response: z.object({ webhooks: z.array(WebhookSchema), deliveries: z.array(DeliverySchema) }),
      handler: () => notifier.status(),
    });
    r.route({
      method: 'POST', path: '/notify/test', operationId: 'notifyTest', tag: 'notify', summary: 'Send a test notification and answer with each delivery\'s outcome',
      errors: { 404: 'no such webhook, or none configured', 502: 'a webhook did not take the notification (each failure is in the message)' },
      query: z.strictObject({ webhook: z.string().min(1).optional().describe('one webhook by name, whatever its events (default: every webhook whose events take test)') }),
      response: z.object({ deliveries: z.array(DeliverySchema), skipped: z.array(z.string()).describe('webhooks not sent the test: their events do not take test') }),
      handler: async ({ query }) => {
        const sent = notifier.test(query.webhook);
        if (!sent) throw new WardenError('WARDEN_NOT_FOUND', query.webhook ? `no webhook ${query.webhook} (notify.webhooks)` : 'no webhook is configured (notify.webhooks)');
        const deliveries = await sent.deliveries;
        const bad = deliveries.filter((d) => d.status !== 'delivered');
        if (bad.length) throw new WardenError('WARDEN_UPSTREAM_ERROR', bad.map((d) => `${d.webhook}: ${d.status} after ${d.attempts} attempts: ${d.last_error}`).join('; '));
        return { deliveries, skipped: sent.skipped };
      },
    });
  };
}
