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
import { z } from 'zod';
import { WardenError } from '../errors/index.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import { batchJson } from './routes.ts';
import { openAiBatchJson } from './openai-routes.ts';
import type { BatchRecord, BatchStatus, BatchStore } from './store.ts';
import { FILE_PURPOSES, type FilePurpose, type FileStore, type StoredFile } from './files-store.ts';
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

const Limit = z.coerce.number().int().min(1).max(500).default(50);
const IdParams = z.strictObject({ id: z.string().min(1).max(200) });
const BatchesQuery = z.strictObject({
  account: z.string().min(1).optional(),
  status: z.enum(STATUSES as [BatchStatus, ...BatchStatus[]]).optional(),
  limit: Limit,
});
const FilesQuery = z.strictObject({ account: z.string().min(1).optional(), purpose: z.enum(FILE_PURPOSES as [FilePurpose, ...FilePurpose[]]).optional(), limit: Limit });
const Iso = z.string().nullable();
const BatchViewSchema = z.object({
  id: z.string(), type: z.literal('message_batch'), processing_status: z.enum(STATUSES as [BatchStatus, ...BatchStatus[]]),
  request_counts: z.object({ processing: z.number(), succeeded: z.number(), errored: z.number(), canceled: z.number(), expired: z.number() }),
  ended_at: Iso, created_at: Iso, expires_at: Iso, cancel_initiated_at: Iso, archived_at: z.null(), results_url: z.string().nullable(),
  api: z.enum(['openai', 'anthropic']), background: z.literal(true).optional(), endpoint: z.string(),
  model: z.string().nullable().optional().describe('null when the input file could not be read'), openai_status: z.string().optional().describe('the batch\'s status as the OpenAI API shows it'), errors: z.unknown().optional(),
  account_id: z.string(), org_id: z.string().nullable(), key_id: z.string(), client_ip: z.string().nullable(), user_agent: z.string().nullable(),
});
const FileViewSchema = z.object({
  id: z.string(), account_id: z.string(), org_id: z.string().nullable(), purpose: z.string(), filename: z.string(), media_type: z.string().nullable(),
  bytes: z.number().nullable().describe('null for a batch\'s output file until it is first described'), created_at: Iso, expires_at: Iso, batch_id: z.string().nullable(), expired: z.boolean(),
});

/** The operator's batch and file routes (registered through the admin API's route table). */
export function batchAdminRoutes(store: BatchStore, onCanceled?: (id: string) => void, files?: FileStore): AdminRouteRegistrar {
  const batchView = async (b: BatchRecord) => (await operatorView(store, b)) as z.input<typeof BatchViewSchema>;
  const fileOut = (f: StoredFile) => fileView(f) as z.input<typeof FileViewSchema>;
  return (r) => {
    r.component('OperatorBatch', BatchViewSchema);
    r.component('OperatorFile', FileViewSchema);
    if (files) {
      r.route({ method: 'GET', path: '/files', operationId: 'listFiles', tag: 'batches', summary: 'The newest files customers uploaded, and batches\' output files',
        query: FilesQuery, response: z.object({ data: z.array(FileViewSchema) }),
        handler: async ({ query }) => ({ data: (await files.recent({ accountId: query.account, purpose: query.purpose }, query.limit)).map(fileOut) }) });
      r.route({ method: 'DELETE', path: '/files/:id', operationId: 'deleteFile', tag: 'batches', summary: 'Delete a customer\'s file (a takedown): requests naming it are refused from then on',
        params: IdParams, response: FileViewSchema.extend({ deleted: z.literal(true) }),
        handler: async ({ params }) => {
          const f = await files.get(params.id);
          if (!f) throw new WardenError('WARDEN_NOT_FOUND', `no file ${params.id}`);
          await files.delete(f.id);
          return { ...fileOut(f), deleted: true as const };
        } });
    }
    r.route({ method: 'GET', path: '/batches', operationId: 'listBatches', tag: 'batches', summary: 'The newest batches of both APIs, with who sent them',
      query: BatchesQuery, response: z.object({ data: z.array(BatchViewSchema) }),
      handler: async ({ query }) => ({ data: await Promise.all((await store.recent({ accountId: query.account, status: query.status }, query.limit)).map(batchView)) }) });
    r.route({ method: 'POST', path: '/batches/:id/cancel', operationId: 'cancelBatch', tag: 'batches', summary: 'Cancel a customer\'s batch: what has not run is canceled',
      params: IdParams, response: BatchViewSchema,
      handler: async ({ params }) => {
        const batch = await store.get(params.id);
        if (!batch) throw new WardenError('WARDEN_NOT_FOUND', `no batch ${params.id}`);
        if (batch.status === 'in_progress') {
          await store.cancel(batch.id, Date.now());
          onCanceled?.(batch.id);
        }
        return batchView((await store.get(batch.id))!);
      } });
  };
}
