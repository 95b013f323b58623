/**
 * `warden batches ...`: customers' batches (Anthropic Message Batches and OpenAI's Batch API) and
 * the files they uploaded, for operators, through the admin API (/admin/batches, /admin/files).
 */
import { textTable as table } from '../admin/index.ts';
import { CONNECTION_HELP } from './admin-connection.ts';
import { run, type CasesCliIo } from './cases-cmd.ts';

const HELP = `usage:
  warden batches list [--account ID] [--status in_progress|canceling|ended] [--limit N]
                                               the newest batches, who sent them, how far they are
  warden batches cancel ID                     cancel a customer's batch: what has not run is canceled
  warden batches files [--account ID] [--purpose batch|batch_output|user_data|assistants|vision] [--limit N]
                                               the newest files: customers' uploads (batch inputs, requests' inputs)
                                               and batches' output files
  warden batches delete-file ID                delete a customer's file: requests naming it are refused from then on

options:
${CONNECTION_HELP}`;

interface OperatorBatch {
  id: string; processing_status: string; endpoint?: string; background?: boolean; created_at: string; ended_at: string | null; account_id: string; key_id: string; client_ip: string;
  request_counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
}

const row = (b: OperatorBatch) => ({
  id: b.id, status: b.processing_status, endpoint: `${b.endpoint ?? '/v1/messages'}${b.background ? ' (background)' : ''}`, account: b.account_id, from: b.client_ip, created: b.created_at,
  processing: b.request_counts.processing, succeeded: b.request_counts.succeeded, errored: b.request_counts.errored,
  canceled: b.request_counts.canceled, expired: b.request_counts.expired,
});
const COLUMNS = ['id', 'status', 'endpoint', 'account', 'from', 'created', 'processing', 'succeeded', 'errored', 'canceled', 'expired'];

interface OperatorFile { id: string; account_id: string; purpose: string; filename: string; media_type: string; bytes: number | null; created_at: string; expires_at: string | null; expired: boolean }
const fileRow = (f: OperatorFile) => ({
  id: f.id, account: f.account_id, purpose: f.purpose, filename: f.filename, type: f.media_type, bytes: f.bytes ?? '', created: f.created_at,
  expires: f.expired ? `${f.expires_at} (expired)` : f.expires_at ?? '',
});
const FILE_COLUMNS = ['id', 'account', 'purpose', 'filename', 'type', 'bytes', 'created', 'expires'];

export function runBatchesCli(argv: string[], ioIn: Partial<CasesCliIo> = {}): Promise<number> {
  return run(argv, HELP, ioIn, async ({ values: v, positionals: [what, id, ...extra] }, c) => {
    if (extra.length) return `unexpected arguments: ${extra.join(' ')}`;
    if (what === 'list' && !id) {
      const r = await c.call<{ data: OperatorBatch[] }>('GET', '/batches', { query: { account: v.account, status: v.status, limit: v.limit } });
      return { result: r, text: r.data.length ? table(r.data.map(row), COLUMNS) : '(no batches)' };
    }
    if (what === 'cancel' && id) {
      const r = await c.call<OperatorBatch>('POST', `/batches/${encodeURIComponent(id)}/cancel`);
      return { result: r, text: `${r.id}: ${r.processing_status} (${r.request_counts.canceled} canceled, ${r.request_counts.processing} still running, ${r.request_counts.succeeded} succeeded)` };
    }
    if (what === 'files' && !id) {
      const r = await c.call<{ data: OperatorFile[] }>('GET', '/files', { query: { account: v.account, purpose: v.purpose, limit: v.limit } });
      return { result: r, text: r.data.length ? table(r.data.map(fileRow), FILE_COLUMNS) : '(no files)' };
    }
    if (what === 'delete-file' && id) {
      const r = await c.call<OperatorFile>('DELETE', `/files/${encodeURIComponent(id)}`);
      return { result: r, text: `${r.id} (${r.filename}, ${r.account_id}): deleted` };
    }
    if (what === 'cancel' || what === 'delete-file') return `${what}: give the ${what === 'cancel' ? 'batch' : 'file'} id`;
    return `unknown command: batches ${[what, id].filter(Boolean).join(' ')}`;
  });
}
