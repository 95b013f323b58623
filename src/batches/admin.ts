/**
 * Admin routes for batches (inside the admin API's token check), for operators following an
 * account's bulk traffic:
 *
 *   GET  /admin/batches              ?account=ID&status=in_progress|canceling|ended&limit=N (default 50, at most 500):
 *                                    the newest batches of both APIs, with who sent them (account, key, address,
 *                                    user agent), the API and endpoint, and for OpenAI batches their model and status
 *   POST /admin/batches/{id}/cancel  cancel a customer's batch: what has not run is `canceled`
 *   GET  /admin/files                ?account=ID&purpose=P&limit=N (default 50, at most 500): the newest files
 *                                    customers uploaded (batch inputs, requests' inputs) and batches' output files
 *   DELETE /admin/files/{id}         delete a customer's file (a takedown): requests naming it are refused from then on
 */
import type { FastifyInstance } from 'fastify';
import { WardenError } from '../errors/index.ts';
import { batchJson } from './routes.ts';
import { openAiBatchJson } from './openai-routes.ts';
import type { BatchRecord, BatchStatus, BatchStore } from './store.ts';
import type { FileStore, StoredFile } from './files-store.ts';
import { mediaTypeOf } from './file-inputs.ts';

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

function fileView(f: StoredFile): Record<string, unknown> {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: f.id, account_id: f.account_id, org_id: f.org_id, purpose: f.purpose, filename: f.filename, media_type: mediaTypeOf(f.filename),
    bytes: f.bytes, created_at: iso(f.created_at), expires_at: iso(f.expires_at), batch_id: f.batch_id,
    expired: f.expires_at !== null && f.expires_at <= Date.now(),
  };
}

const readLimit = (raw: string | undefined) => {
  const limit = raw === undefined ? 50 : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new WardenError('WARDEN_INVALID_REQUEST', 'limit: an integer from 1 to 500', { param: 'limit' });
  return limit;
};

export function registerBatchAdminRoutes(app: FastifyInstance, store: BatchStore, onCanceled?: (id: string) => void, files?: FileStore): void {
  if (files) {
    app.get<{ Querystring: { account?: string; purpose?: string; limit?: string } }>('/files', async (req) => {
      const rows = await files.recent({ accountId: req.query.account, purpose: req.query.purpose }, readLimit(req.query.limit));
      return { data: rows.map(fileView) };
    });
    app.delete<{ Params: { id: string } }>('/files/:id', async (req) => {
      const f = await files.get(req.params.id);
      if (!f) throw new WardenError('WARDEN_NOT_FOUND', `no file ${req.params.id.slice(0, 100)}`);
      await files.delete(f.id);
      return { ...fileView(f), deleted: true };
    });
  }
  app.get<{ Querystring: { account?: string; status?: string; limit?: string } }>('/batches', async (req) => {
    const { account, status } = req.query;
    if (status !== undefined && !STATUSES.includes(status as BatchStatus)) throw new WardenError('WARDEN_INVALID_REQUEST', `status: one of ${STATUSES.join(', ')}`, { param: 'status' });
    const rows = await store.recent({ accountId: account, status: status as BatchStatus | undefined }, readLimit(req.query.limit));
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
