/**
 * OpenAI's Batch API (`/v1/batches`) and the Files API it needs (`/v1/files`), as the official SDK
 * calls them (`files.create / retrieve / list / content / delete`, `batches.create / retrieve /
 * list / cancel`). An input file (purpose `batch`) is uploaded, a batch
 * is made from it, each of its requests runs through the gateway's pipeline, and the results are
 * read back as the batch's output and error files (purpose `batch_output`). Files uploaded as
 * requests' inputs (`user_data`, `assistants`, `vision`) are kept too: `file-inputs.ts` sends
 * them inline to the upstream when a request names one. Files and batches are
 * visible to the account that made them and to the organisation it is in now; errors are OpenAI error JSON.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import { WardenError } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import type { AuthContext } from '../identity/index.ts';
import { BATCH_ENDPOINTS, UNSERVED_BATCH_ENDPOINTS, readBatchInput } from './openai-input.ts';
import { admitBatch, callerOf, chargedBeforeBody, keyBeforeBody, named, orgOf, visibleRows, visibleTo, type BatchRoutesDeps } from './routes.ts';
import { FileTooLarge, INPUT_FILE_PURPOSES, type FilePurpose, type FileStore, type StoredFile } from './files-store.ts';
import type { BatchRecord, ItemOutcome, ItemState, OpenAiBatch } from './store.ts';
import { mediaTypeOf } from './file-inputs.ts';
import { UploadRoom, type Cap, type Upload } from './upload-room.ts';
import { clientAddress } from '../gateway/client-address.ts';
import { READS_NO_BODY } from '../gateway/bodyless.ts';

export interface OpenAiBatchRoutesDeps extends BatchRoutesDeps {
  files: FileStore;
}

/** Refusal of an upload over a storage cap, worded as OpenAI's ("You have exceeded your file storage quota..."). */
const storageRefusal = (detail: string) =>
  new WardenError('WARDEN_STORAGE_QUOTA_EXCEEDED', `You have exceeded your file storage quota: ${detail}. Delete files you no longer need (DELETE /v1/files/{file_id}) and upload again.`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));
/** Output files live at most as long as the batch whose results they read. */
const DAY_MS = 86_400_000;
const EXPIRES_SECONDS = { min: 3600, max: 30 * 86_400 };
/** Results read per statement when an output file is made. */
const OUTPUT_PAGE = 500;

/** The output and error files of a batch have ids made from the batch's, so they need no record on the batch. */
export function outputFileId(batchId: string, kind: 'output' | 'error'): string {
  return `file-${batchId.replace(/^batch_/, '')}${kind === 'output' ? 'out' : 'err'}`;
}

export function fileJson(f: StoredFile): Record<string, unknown> {
  return {
    id: f.id, object: 'file', bytes: f.bytes ?? 0, created_at: seconds(f.created_at), expires_at: seconds(f.expires_at),
    filename: f.filename, purpose: f.purpose, status: 'processed', status_details: null,
  };
}

/** A request of Anthropic's Files API (beta): the Anthropic SDK always sends `anthropic-version`; OpenAI's never does. */
export const isAnthropicCaller = (req: FastifyRequest) => req.headers['anthropic-version'] !== undefined;

/** A file as Anthropic's Files API describes it. Uploaded files are not downloadable there (only files tools made are). */
export function anthropicFileJson(f: StoredFile): Record<string, unknown> {
  return {
    id: f.id, type: 'file', filename: f.filename, mime_type: mediaTypeOf(f.filename), size_bytes: f.bytes ?? 0,
    created_at: new Date(f.created_at).toISOString(), expires_at: f.expires_at === null ? null : new Date(f.expires_at).toISOString(), downloadable: false,
  };
}
/** Anthropic's `expires_in_seconds`: one hour to ninety days. */
const ANTHROPIC_EXPIRES = { min: 3600, max: 7_776_000 } as const;

/** Which requests go to which file: answers to the output file, every other outcome to the error file. */
const inFile = (kind: 'output' | 'error', state: ItemState) => (kind === 'output' ? state === 'succeeded' : state !== 'succeeded');

const NOT_RUN: Partial<Record<ItemState, { code: string; message: string }>> = {
  canceled: { code: 'batch_cancelled', message: 'This request was not executed because the batch was cancelled.' },
  expired: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
};

/** One line of an output or error file: the request's answer or refusal as the gateway gave it. */
function outputLine(batchId: string, o: ItemOutcome): string {
  const id = `batch_req_${batchId.replace(/^batch_/, '')}_${o.idx}`;
  if (o.result !== null) return `{"id":${JSON.stringify(id)},"custom_id":${JSON.stringify(o.custom_id)},"response":${o.result},"error":null}\n`;
  const error = NOT_RUN[o.state] ?? { code: 'batch_failed', message: `This request ended ${o.state}.` };
  return JSON.stringify({ id, custom_id: o.custom_id, response: null, error }) + '\n';
}

/** A batch as OpenAI's Batch API describes it; its status follows from its requests' states. */
export function openAiBatchJson(b: BatchRecord, c: Record<ItemState, number>): Record<string, unknown> {
  const o = b.openai!;
  const total = c.pending + c.running + c.succeeded + c.errored + c.canceled + c.expired;
  const failed = o.errors !== null;
  const ended = b.status === 'ended';
  const status = failed ? 'failed'
    : b.status === 'in_progress' ? 'in_progress'
    : b.status === 'canceling' ? 'cancelling'
    : b.cancel_initiated_at !== null ? 'cancelled'
    : c.expired > 0 ? 'expired' : 'completed';
  const at = (when: boolean) => (when ? seconds(b.ended_at) : null);
  return {
    id: b.id,
    object: 'batch',
    endpoint: o.endpoint,
    model: o.model,
    errors: failed ? { object: 'list', data: o.errors } : null,
    input_file_id: o.input_file_id,
    completion_window: o.completion_window,
    status,
    output_file_id: ended && !failed && c.succeeded > 0 ? outputFileId(b.id, 'output') : null,
    error_file_id: ended && !failed && total - c.succeeded > 0 ? outputFileId(b.id, 'error') : null,
    created_at: seconds(b.created_at),
    in_progress_at: failed ? null : seconds(b.created_at),
    expires_at: seconds(b.expires_at),
    finalizing_at: at(ended && !failed),
    completed_at: at(status === 'completed'),
    failed_at: at(failed),
    expired_at: at(status === 'expired'),
    cancelling_at: seconds(b.cancel_initiated_at),
    cancelled_at: at(status === 'cancelled'),
    request_counts: { total, completed: c.succeeded, failed: c.errored },
    ...(o.usage ? { usage: o.usage } : {}),
    metadata: o.metadata,
  };
}

function readMetadata(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new WardenError('WARDEN_INVALID_REQUEST', 'metadata: an object of string values', { param: 'metadata' });
  const entries = Object.entries(v);
  if (entries.length > 16) throw new WardenError('WARDEN_INVALID_REQUEST', 'metadata: at most 16 keys', { param: 'metadata' });
  for (const [k, val] of entries) {
    if (k.length > 64 || typeof val !== 'string' || val.length > 512) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'metadata: keys of at most 64 characters, string values of at most 512', { param: `metadata.${k.slice(0, 64)}` });
    }
  }
  return v as Record<string, string>;
}

function readExpiresAfter(v: unknown, param: string): number | null {
  if (v === undefined || v === null) return null;
  const anchor = isObject(v) ? v.anchor : undefined;
  const secs = isObject(v) ? Number(v.seconds) : NaN;
  if (anchor !== 'created_at' || !Number.isInteger(secs) || secs < EXPIRES_SECONDS.min || secs > EXPIRES_SECONDS.max) {
    throw new WardenError('WARDEN_INVALID_REQUEST', `${param}: { anchor: "created_at", seconds: an integer from ${EXPIRES_SECONDS.min} to ${EXPIRES_SECONDS.max} }`, { param });
  }
  return secs;
}

/** A cursor page as OpenAI's list routes give it; `rows` holds one more than `limit` when there are more. */
async function listPage<T>(rows: T[], limit: number, describe: (row: T) => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const data = await Promise.all(rows.slice(0, limit).map(describe));
  return { object: 'list', data, has_more: rows.length > limit, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

function readExpiresIn(v: string | undefined): number | null {
  if (v === undefined) return null;
  const secs = Number(v);
  if (!Number.isInteger(secs) || secs < ANTHROPIC_EXPIRES.min || secs > ANTHROPIC_EXPIRES.max) {
    throw new WardenError('WARDEN_INVALID_REQUEST', `expires_in_seconds: an integer from ${ANTHROPIC_EXPIRES.min} to ${ANTHROPIC_EXPIRES.max}`, { param: 'expires_in_seconds' });
  }
  return secs;
}

function readLimit(v: string | undefined, fallback: number, max: number): number {
  const limit = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw new WardenError('WARDEN_INVALID_REQUEST', `limit: an integer from 1 to ${max}`, { param: 'limit' });
  return limit;
}

export function registerOpenAiBatchRoutes(app: FastifyInstance, deps: OpenAiBatchRoutesDeps): void {
  const { store, files, config } = deps;
  const onRequest = keyBeforeBody(deps);
  const uploads = new UploadRoom();

  /**
   * An upload begun against the caller's storage caps, its account's and its organisation's (as
   * OpenAI and Anthropic answer a storage quota exceeded: 400 `invalid_request_error`): throws the
   * refusal when no file more fits. Its bytes are counted as they arrive, with the uploads in
   * flight beside it (src/batches/upload-room.ts).
   */
  async function beginUpload(auth: AuthContext, now: number): Promise<Upload> {
    const org = orgOf(auth);
    const upload = uploads.start(org === null ? [`a:${auth.account.id}`] : [`a:${auth.account.id}`, `o:${org}`]);
    try {
      const held = await files.held({ accountId: auth.account.id }, now);
      const caps: Cap[] = [{
        key: `a:${auth.account.id}`, bytes: config.max_file_bytes_per_account, files: config.max_files_per_account, held,
        refuse: {
          files: (n) => storageRefusal(`this account holds ${n} files; at most ${config.max_files_per_account} files may be kept at once`),
          bytes: (n) => storageRefusal(`this account may keep ${config.max_file_bytes_per_account} bytes of files and holds ${n}`),
        },
      }];
      if (org !== null) {
        caps.push({
          key: `o:${org}`, bytes: config.max_file_bytes_per_org, files: null, held: await files.held({ orgId: org }, now),
          refuse: {
            files: () => storageRefusal('this organization holds too many files'),
            bytes: (n) => storageRefusal(`this organization may keep ${config.max_file_bytes_per_org} bytes of files and holds ${n}`),
          },
        });
      }
      upload.admit(caps);
      return upload;
    } catch (err) {
      upload.end(false);
      throw err;
    }
  }
  const fileRetentionMs = config.file_retention_days * DAY_MS;

  async function ownFile(auth: AuthContext, id: string): Promise<StoredFile> {
    const f = await files.get(id);
    if (!f || !(await visibleTo(deps, auth, f)) || (f.expires_at !== null && f.expires_at <= Date.now())) {
      throw new WardenError('WARDEN_NOT_FOUND', `No such File object: ${id.slice(0, 100)}`, { param: 'id' });
    }
    return f;
  }

  /** Anthropic's Files API sees the files uploaded as requests' inputs, not batch files. */
  async function ownInputFile(auth: AuthContext, id: string): Promise<StoredFile> {
    const f = await ownFile(auth, id).catch(() => null);
    if (!f || !INPUT_FILE_PURPOSES.includes(f.purpose)) throw new WardenError('WARDEN_NOT_FOUND', `File not found: ${id.slice(0, 100)}`, { param: 'file_id' });
    return f;
  }

  /**
   * Anthropic's list, newest first: by `page` (the cursor a page gives as `next_page`) or
   * `after_id` (older than that file), `before_id` (newer), or the files named by `ids`.
   */
  async function anthropicList(auth: AuthContext, q: Record<string, string | string[] | undefined>): Promise<Record<string, unknown>> {
    const one = (k: string) => { const v = q[k]; return Array.isArray(v) ? v[0] : v; };
    const ids = q.ids ?? q['ids[]'];
    if (ids !== undefined) {
      const wanted = [...new Set(Array.isArray(ids) ? ids : String(ids).split(','))].slice(0, 100);
      const found = (await Promise.all(wanted.map((id) => ownInputFile(auth, id).catch(() => null)))).filter((f): f is StoredFile => f !== null);
      const data = found.map(anthropicFileJson);
      return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, next_page: null };
    }
    const limit = readLimit(one('limit'), 20, 1000);
    const owner = { accountId: auth.account.id, orgId: orgOf(auth) };
    const before = one('before_id');
    const after = one('page') ?? one('after_id');
    let rows: StoredFile[];
    if (before && !after) rows = (await files.list(owner, { purpose: INPUT_FILE_PURPOSES, after: before, limit: limit + 1, order: 'asc', now: Date.now() })).slice(0, limit + 1).reverse();
    else rows = await files.list(owner, { purpose: INPUT_FILE_PURPOSES, after, limit: limit + 1, order: 'desc', now: Date.now() });
    rows = await visibleRows(deps, auth, rows);
    const more = rows.length > limit;
    const page = before && !after ? rows.slice(-limit) : rows.slice(0, limit);
    const data = page.map(anthropicFileJson);
    const lastId = (data.at(-1)?.id as string | undefined) ?? null;
    return { data, has_more: more, first_id: data[0]?.id ?? null, last_id: lastId, next_page: more && !(before && !after) ? lastId : null };
  }

  async function ownBatch(auth: AuthContext, id: string): Promise<BatchRecord> {
    const b = await store.get(id);
    if (!b || !b.openai || b.background || !(await visibleTo(deps, auth, b))) throw new WardenError('WARDEN_NOT_FOUND', `No batch found with id '${id.slice(0, 100)}'.`, { param: 'batch_id' });
    return b;
  }

  /** The lines of an output or error file, read from the batch's results a page at a time. */
  async function* outputContent(f: StoredFile): AsyncIterable<string> {
    const batchId = f.batch_id!;
    for (let after = -1; ;) {
      const page = await store.outcomes(batchId, after, OUTPUT_PAGE);
      if (page.length === 0) return;
      after = page[page.length - 1].idx;
      const lines = page.filter((o) => inFile(f.kind!, o.state)).map((o) => outputLine(batchId, o)).join('');
      if (lines) yield lines;
    }
  }

  /** A file as described: an output file's size is counted the first time (its lines are made on demand). */
  async function describeFile(f: StoredFile): Promise<Record<string, unknown>> {
    if (f.bytes === null && f.batch_id) {
      let bytes = 0;
      for await (const lines of outputContent(f)) bytes += Buffer.byteLength(lines);
      f.bytes = bytes;
      await files.setBytes(f.id, bytes);
    }
    return fileJson(f);
  }

  /** A batch as described; one just ended has its output files and usage recorded first, by whoever sees it first. */
  const describeBatch = async (b: BatchRecord) => {
    if (b.status === 'ended' && b.openai && b.openai.errors === null && !b.openai.usage) {
      await recordOutputFiles(store, files, [b.id], config.retention_days, config.file_retention_days);
      b = (await store.get(b.id)) ?? b;
    }
    return openAiBatchJson(b, await store.counts(b.id));
  };

  app.register(async (scope) => {
    // Only this scope parses multipart bodies; the model routes keep their JSON-only parser.
    // A file's limit is its purpose's (a batch input's, or a request's input's); until the
    // purpose is known, the larger of the two.
    const largest = Math.max(config.max_body_bytes, config.max_input_file_bytes);
    const limitOf = (purpose: string | undefined) => (purpose === undefined ? largest : purpose === 'batch' ? config.max_body_bytes : config.max_input_file_bytes);
    const tooLarge = (purpose: string | undefined) => new WardenError('WARDEN_BODY_TOO_LARGE',
      `The file is larger than ${limitOf(purpose)} bytes, the most accepted here for ${purpose === undefined ? 'any file' : purpose === 'batch' ? 'a batch input' : 'a request\'s input'}.`);
    await scope.register(multipart, { limits: { files: 1, fields: 8, parts: 10, fieldSize: 1024, fileSize: largest + 1 }, throwFileSizeLimit: false });
    // Charged to the caller's request limits from its headers, before the upload is asked for.
    scope.post('/v1/files', { onRequest: keyBeforeBody(deps, (req) => (isAnthropicCaller(req) ? 'anthropic' : 'openai')) }, async (req, reply) => {
      const auth = await callerOf(deps, req);
      if (!req.isMultipart()) throw new WardenError('WARDEN_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be multipart/form-data, with the fields "purpose" and "file".');
      // Anthropic's Files API sends no purpose: its files are all a request's input.
      const anthropic = isAnthropicCaller(req);
      if (!chargedBeforeBody(req)) await deps.charge?.(auth, clientAddress(req), anthropic ? 'anthropic' : 'openai');
      const now = Date.now();
      // What the account and its organisation may still store: an upload past it is cut off there.
      const upload = await beginUpload(auth, now);
      let stored = false;
      try {
        stored = await receiveFile(req, reply, auth, anthropic, now, upload);
        return reply;
      } finally {
        upload.end(stored);
      }
    });
    /** Reads and stores an upload; whether it is kept. */
    async function receiveFile(req: FastifyRequest, reply: FastifyReply, auth: AuthContext, anthropic: boolean, now: number, upload: Upload): Promise<boolean> {
      const fields: Record<string, string> = {};
      if (anthropic) fields.purpose = 'user_data';
      let uploaded: StoredFile | null = null;
      let uploading: string | undefined;
      const checkPurpose = (purpose: string | undefined) => {
        if (purpose === undefined) throw new WardenError('WARDEN_INVALID_REQUEST', 'purpose: Field required', { param: 'purpose' });
        if (purpose !== 'batch' && !INPUT_FILE_PURPOSES.includes(purpose)) {
          throw new WardenError('WARDEN_INVALID_REQUEST', `purpose: '${purpose.slice(0, 40)}' is not accepted here: files are kept for the Batch API ('batch') and as requests' inputs ('user_data', 'assistants', 'vision'); fine-tuning and evals are not served.`, { param: 'purpose' });
        }
      };
      try {
        for await (const part of req.parts()) {
          if (part.type === 'field') { if (!(anthropic && part.fieldname === 'purpose')) fields[part.fieldname] = String(part.value); continue; }
          if (part.fieldname !== 'file' || uploaded) { part.file.resume(); continue; }
          // The SDK sends the file before the purpose; a purpose sent first is checked before anything is written.
          if ('purpose' in fields) checkPurpose(fields.purpose);
          const file = {
            id: `${anthropic ? 'file_' : 'file-'}${ulid(now).toLowerCase()}`, account_id: auth.account.id, org_id: orgOf(auth), purpose: (fields.purpose ?? 'batch') as FilePurpose,
            filename: (part.filename || 'upload.jsonl').slice(0, 255), created_at: now, expires_at: now + fileRetentionMs, batch_id: null, kind: null,
          };
          // The SDK sends the file before its purpose: then it is checked against its own limit once the purpose is known.
          uploading = fields.purpose;
          const bytes = await files.upload(file, upload.counted(part.file), limitOf(uploading));
          uploaded = { ...file, bytes };
        }
      } catch (err) {
        if (uploaded) await files.delete(uploaded.id);
        if (err instanceof FileTooLarge) throw tooLarge(uploading);
        if (err instanceof WardenError) throw err;
        throw new WardenError('WARDEN_INVALID_REQUEST', `The multipart body could not be read: ${(err as Error).message}`);
      }
      try {
        if (!uploaded) throw new WardenError('WARDEN_INVALID_REQUEST', 'file: Field required', { param: 'file' });
        checkPurpose(fields.purpose);
        const purpose = fields.purpose as FilePurpose;
        if ((uploaded.bytes ?? 0) > limitOf(purpose)) throw tooLarge(purpose);
        if (purpose !== uploaded.purpose) {
          uploaded.purpose = purpose;
          await files.setPurpose(uploaded.id, purpose);
        }
        const secs = anthropic ? readExpiresIn(fields.expires_in_seconds) : readExpiresAfter(
          fields['expires_after[anchor]'] === undefined && fields['expires_after[seconds]'] === undefined
            ? undefined : { anchor: fields['expires_after[anchor]'], seconds: fields['expires_after[seconds]'] },
          'expires_after',
        );
        if (secs !== null) {
          uploaded.expires_at = now + secs * 1000;
          await files.setExpiry(uploaded.id, uploaded.expires_at);
        }
      } catch (err) {
        if (uploaded) await files.delete(uploaded.id);
        throw err;
      }
      named(reply).send(anthropic ? anthropicFileJson(uploaded) : fileJson(uploaded));
      return true;
    }
  });

  app.get<{ Querystring: Record<string, string | string[] | undefined> }>('/v1/files', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    if (isAnthropicCaller(req)) return named(reply).send(await anthropicList(auth, req.query));
    const query = req.query as Record<string, string | undefined>;
    const limit = readLimit(query.limit, 10_000, 10_000);
    const order = query.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new WardenError('WARDEN_INVALID_REQUEST', 'order: "asc" or "desc"', { param: 'order' });
    const rows = await visibleRows(deps, auth, await files.list({ accountId: auth.account.id, orgId: orgOf(auth) }, { purpose: query.purpose, after: query.after, limit: limit + 1, order, now: Date.now() }));
    return named(reply).send(await listPage(rows, limit, describeFile));
  });

  app.get<{ Params: { id: string } }>('/v1/files/:id', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    if (isAnthropicCaller(req)) return named(reply).send(anthropicFileJson(await ownInputFile(auth, req.params.id)));
    return named(reply).send(await describeFile(await ownFile(auth, req.params.id)));
  });

  app.get<{ Params: { id: string } }>('/v1/files/:id/content', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    if (isAnthropicCaller(req)) {
      const f = await ownInputFile(auth, req.params.id);
      throw new WardenError('WARDEN_INVALID_REQUEST', `File ${f.id} is not downloadable: only files made by tools can be downloaded.`, { param: 'file_id' });
    }
    const f = await ownFile(auth, req.params.id);
    reply.type('application/octet-stream');
    // An input file goes out a chunk at a time, as it was stored.
    return named(reply).send(Readable.from(f.batch_id ? outputContent(f) : files.chunks(f.id)));
  });

  app.delete<{ Params: { id: string } }>('/v1/files/:id', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    if (isAnthropicCaller(req)) {
      const f = await ownInputFile(auth, req.params.id);
      await files.delete(f.id);
      return named(reply).send({ id: f.id, type: 'file_deleted' });
    }
    const f = await ownFile(auth, req.params.id);
    await files.delete(f.id);
    return named(reply).send({ id: f.id, object: 'file', deleted: true });
  });

  app.post('/v1/batches', { onRequest: keyBeforeBody(deps, () => 'openai') }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    const release = await admitBatch(deps, req, auth, 'openai');
    try {
      return await createBatch(req, reply, auth);
    } finally {
      release();
    }
  });
  async function createBatch(req: FastifyRequest, reply: FastifyReply, auth: AuthContext) {
    const body = isObject(req.body) ? req.body : {};
    const { input_file_id: inputFileId, endpoint, completion_window: window } = body;
    if (typeof inputFileId !== 'string' || inputFileId === '') throw new WardenError('WARDEN_INVALID_REQUEST', 'input_file_id: Field required', { param: 'input_file_id' });
    if (typeof endpoint === 'string' && Object.hasOwn(UNSERVED_BATCH_ENDPOINTS, endpoint)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', `endpoint: '${endpoint}' is not run in batches by this gateway: ${UNSERVED_BATCH_ENDPOINTS[endpoint]}. Batches run ${BATCH_ENDPOINTS.join(', ')}.`, { param: 'endpoint' });
    }
    if (typeof endpoint !== 'string' || !(BATCH_ENDPOINTS as readonly string[]).includes(endpoint)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', `endpoint: one of ${BATCH_ENDPOINTS.join(', ')} (the routes this gateway runs batches for)`, { param: 'endpoint' });
    }
    if (window !== '24h') throw new WardenError('WARDEN_INVALID_REQUEST', 'completion_window: must be "24h"', { param: 'completion_window' });
    const metadata = readMetadata(body.metadata);
    const outputSeconds = readExpiresAfter(body.output_expires_after, 'output_expires_after');
    const input = await ownFile(auth, inputFileId).catch((err: unknown) => {
      if (err instanceof WardenError) throw new WardenError('WARDEN_NOT_FOUND', `No such File object: ${inputFileId.slice(0, 100)}`, { param: 'input_file_id' });
      throw err;
    });
    if (input.purpose !== 'batch') throw new WardenError('WARDEN_INVALID_REQUEST', `input_file_id: ${input.id} is a '${input.purpose}' file; a batch is made from a file uploaded with purpose 'batch'.`, { param: 'input_file_id' });
    const parsed = await readBatchInput(files.chunks(input.id), endpoint, config.max_requests);
    const failed = parsed.errors.length > 0;
    if (!failed) {
      const waiting = await store.queued(auth.account.id);
      if (waiting + parsed.items.length > config.max_queued_per_account) {
        throw new WardenError('WARDEN_RATE_LIMITED', `This account has ${waiting} batch requests waiting to run; at most ${config.max_queued_per_account} may wait at once. Create this batch when some have run.`, { headers: { 'retry-after': '60' } });
      }
    }
    const now = Date.now();
    const openai: OpenAiBatch = {
      endpoint, input_file_id: input.id, completion_window: window, model: parsed.model, metadata,
      output_expires_seconds: outputSeconds, errors: failed ? parsed.errors : null,
    };
    const batch: BatchRecord = {
      id: `batch_${ulid(now).toLowerCase()}`,
      account_id: auth.account.id, org_id: orgOf(auth), key_id: auth.key.id,
      client_ip: clientAddress(req), user_agent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
      anthropic_version: null, anthropic_beta: null,
      // A file with problems makes a batch that failed at once: nothing of it runs.
      status: failed ? 'ended' : 'in_progress', created_at: now, expires_at: now + Math.round(config.expire_hours * 3_600_000),
      ended_at: failed ? now : null, cancel_initiated_at: null, openai,
    };
    await store.create(batch, failed ? [] : parsed.items);
    if (!failed) deps.onCreated?.();
    return named(reply).send(await describeBatch(batch));
  }

  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/batches', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    const limit = readLimit(req.query.limit, 20, 100);
    const rows = await visibleRows(deps, auth, await store.list({ accountId: auth.account.id, orgId: orgOf(auth) }, { limit: limit + 1, after_id: req.query.after }, 'openai'));
    return named(reply).send(await listPage(rows, limit, describeBatch));
  });

  app.get<{ Params: { id: string } }>('/v1/batches/:id', { onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    return named(reply).send(await describeBatch(await ownBatch(auth, req.params.id)));
  });

  app.post<{ Params: { id: string } }>('/v1/batches/:id/cancel', { ...READS_NO_BODY, onRequest }, async (req, reply) => {
    const auth = await callerOf(deps, req);
    const batch = await ownBatch(auth, req.params.id);
    // As OpenAI answers: a batch that has ended (completed, failed, expired, cancelled) cannot be
    // cancelled (409); one already cancelling is answered as it is.
    if (batch.status === 'ended') {
      const { status } = openAiBatchJson(batch, await store.counts(batch.id));
      throw new WardenError('WARDEN_CONFLICT', `Cannot cancel a batch with status '${String(status)}'.`);
    }
    if (batch.status === 'in_progress') {
      await store.cancel(batch.id, Date.now());
      deps.onCanceled?.(batch.id);
    }
    return named(reply).send(await describeBatch((await store.get(batch.id))!));
  });
}

/**
 * When OpenAI batches end, their output and error files are recorded (a row each, read from the
 * batch's results), then their usage. Called by the runner with the batches it ended, and by the
 * routes for an ended batch without usage yet; once the usage is written it does nothing (a
 * deleted output file stays deleted).
 */
export async function recordOutputFiles(store: BatchRoutesDeps['store'], files: FileStore, ids: readonly string[], retentionDays: number, fileRetentionDays: number): Promise<void> {
  for (const id of ids) {
    const b = await store.get(id);
    if (!b?.openai || b.background || b.openai.errors !== null || b.ended_at === null || b.openai.usage) continue;
    const c = await store.counts(id);
    const total = Object.values(c).reduce((a, n) => a + n, 0);
    const keep = Math.min((b.openai.output_expires_seconds ?? fileRetentionDays * 86_400) * 1000, retentionDays * DAY_MS);
    const { usage, bytes } = await batchUsage(store, b.id);
    const common = { account_id: b.account_id, org_id: b.org_id, purpose: 'batch_output' as const, created_at: b.ended_at, expires_at: b.ended_at + keep, batch_id: b.id };
    if (c.succeeded > 0) await files.addOutput({ ...common, bytes: bytes.output, id: outputFileId(b.id, 'output'), filename: `${b.id}_output.jsonl`, kind: 'output' });
    if (total - c.succeeded > 0) await files.addOutput({ ...common, bytes: bytes.error, id: outputFileId(b.id, 'error'), filename: `${b.id}_error.jsonl`, kind: 'error' });
    await store.updateOpenAi(b.id, { ...b.openai, usage });
  }
}

/**
 * The tokens of a batch's answers, from each answer's own usage (every endpoint names them its way:
 * `prompt_tokens`/`completion_tokens` for chat, legacy completions and embeddings,
 * `input_tokens`/`output_tokens` for responses), and the sizes of its output and error files
 * (their lines are made when read; an operator's listing shows their size). Read a page at a time.
 */
interface Usage {
  input_tokens?: unknown; prompt_tokens?: unknown; output_tokens?: unknown; completion_tokens?: unknown;
  input_tokens_details?: { cached_tokens?: unknown }; prompt_tokens_details?: { cached_tokens?: unknown };
  output_tokens_details?: { reasoning_tokens?: unknown }; completion_tokens_details?: { reasoning_tokens?: unknown };
}

async function batchUsage(store: BatchRoutesDeps['store'], id: string): Promise<{ usage: NonNullable<OpenAiBatch['usage']>; bytes: { output: number; error: number } }> {
  let input = 0; let cached = 0; let output = 0; let reasoning = 0;
  const bytes = { output: 0, error: 0 };
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  for (let after = -1; ;) {
    const page = await store.outcomes(id, after, OUTPUT_PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1].idx;
    for (const o of page) {
      bytes[inFile('output', o.state) ? 'output' : 'error'] += Buffer.byteLength(outputLine(id, o));
      if (o.state !== 'succeeded' || !o.result) continue;
      let usage: Usage | undefined;
      try { usage = (JSON.parse(o.result) as { body?: { usage?: Usage } }).body?.usage; } catch { continue; }
      if (!usage) continue;
      input += n(usage.input_tokens ?? usage.prompt_tokens);
      output += n(usage.output_tokens ?? usage.completion_tokens);
      cached += n((usage.input_tokens_details ?? usage.prompt_tokens_details)?.cached_tokens);
      reasoning += n((usage.output_tokens_details ?? usage.completion_tokens_details)?.reasoning_tokens);
    }
  }
  return { usage: { input_tokens: input, input_tokens_details: { cached_tokens: cached }, output_tokens: output, output_tokens_details: { reasoning_tokens: reasoning }, total_tokens: input + output }, bytes };
}
