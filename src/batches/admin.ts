/**
 * Admin routes for batches (inside the admin API's token check), for operators following an
 * account's bulk traffic:
 *
 *   GET  /admin/batches              ?account=ID&status=in_progress|canceling|ended&limit=N (default 50, at most 500):
 *                                    the newest batches of both APIs, with who sent them (account, key, address,
 *                                    user agent), the API and endpoint, and for OpenAI batches their model and status
 *   POST /admin/batches/{id}/cancel  cancel a customer's batch: what has not run is `canceled`
 */
import type { FastifyInstance } from 'fastify';
import { WardenError } from '../errors/index.ts';
import { batchJson } from './routes.ts';
import { openAiBatchJson } from './openai-routes.ts';
import type { BatchRecord, BatchStatus, BatchStore } from './store.ts';

const STATUSES: readonly BatchStatus[] = ['in_progress', 'canceling', 'ended'];

async function operatorView(store: BatchStore, b: BatchRecord): Promise<Record<string, unknown>> {
  const counts = await store.counts(b.id);
  return {
    ...batchJson(b, counts, null),
    api: b.openai ? 'openai' : 'anthropic',
    ...(b.background ? { background: true } : {}),
    endpoint: b.openai?.endpoint ?? '/v1/messages',
    ...(b.openai ? { model: b.openai.model, openai_status: openAiBatchJson(b, counts).status, errors: b.openai.errors } : {}),
    account_id: b.account_id, org_id: b.org_id, key_id: b.key_id, client_ip: b.client_ip, user_agent: b.user_agent,
  };
}

export function registerBatchAdminRoutes(app: FastifyInstance, store: BatchStore, onCanceled?: (id: string) => void): void {
  app.get<{ Querystring: { account?: string; status?: string; limit?: string } }>('/batches', async (req) => {
    const { account, status } = req.query;
    if (status !== undefined && !STATUSES.includes(status as BatchStatus)) throw new WardenError('WARDEN_INVALID_REQUEST', `status: one of ${STATUSES.join(', ')}`, { param: 'status' });
    const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new WardenError('WARDEN_INVALID_REQUEST', 'limit: an integer from 1 to 500', { param: 'limit' });
    const rows = await store.recent({ accountId: account, status: status as BatchStatus | undefined }, limit);
    return { data: await Promise.all(rows.map((b) => operatorView(store, b))) };
  });
  app.post<{ Params: { id: string } }>('/batches/:id/cancel', async (req) => {
    const batch = await store.get(req.params.id);
    if (!batch) throw new WardenError('WARDEN_NOT_FOUND', `no batch ${req.params.id.slice(0, 100)}`);
    if (batch.status === 'in_progress') {
      await store.cancel(batch.id, Date.now());
      onCanceled?.(batch.id);
    }
    return operatorView(store, (await store.get(batch.id))!);
  });
}
