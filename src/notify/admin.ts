/**
 * Admin routes for notifications (inside the admin API's token check):
 *
 *   GET  /admin/notify          each webhook (URL shown by origin only), its counts, the last deliveries
 *   POST /admin/notify/test     ?webhook=NAME (default: all): send a test notification, answer with
 *                               each delivery's outcome (502 when one was not delivered)
 */
import type { FastifyInstance } from 'fastify';
import { renderErrorBody, WardenError } from '../errors/index.ts';
import type { Notifier } from './notifier.ts';

export function registerNotifyAdminRoutes(app: FastifyInstance, notifier: Notifier): void {
  app.get('/notify', async () => notifier.status());
  app.post<{ Querystring: { webhook?: string } }>('/notify/test', async (req, reply) => {
    const sent = notifier.test(req.query.webhook);
    if (!sent) {
      const err = new WardenError('WARDEN_NOT_FOUND', req.query.webhook ? `no webhook ${req.query.webhook} (notify.webhooks)` : 'no webhook is configured (notify.webhooks)');
      return reply.code(err.status).send(renderErrorBody(err, 'openai'));
    }
    const deliveries = await sent;
    const bad = deliveries.filter((d) => d.status !== 'delivered');
    if (bad.length) {
      const err = new WardenError('WARDEN_UPSTREAM_ERROR', bad.map((d) => `${d.webhook}: ${d.status} after ${d.attempts} attempts: ${d.last_error}`).join('; '));
      return reply.code(err.status).send(renderErrorBody(err, 'openai'));
    }
    return { deliveries };
  });
}
