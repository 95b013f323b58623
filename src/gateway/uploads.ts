/**
 * OpenAI's model routes that take a multipart upload: `POST /v1/audio/transcriptions` and
 * `/v1/audio/translations` (a recording), `/v1/images/edits` and `/v1/images/variations` (images).
 * The key is checked from the headers, as on every model route (server.ts), and a barred account,
 * an upload announced too large and a caller over its limits (`limitsBeforeBody`: every limit the
 * headers, key and route decide, its ASN's and the route's own model's included) refused before
 * any byte is read (with `Expect: 100-continue`, before the upload is asked for); the upload is then read as it comes, its files held in a spool
 * (memory, then a temporary file: upload-body.ts) up to `server.upload_limit_bytes`, and the request
 * runs through the same lifecycle as a JSON one (handleModelCall), its fields as its body. The
 * upstream gets the upload again, streamed from the spool; the spool is deleted when the answer ends.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { WardenError } from '../errors/index.ts';
import type { ApiFlavour } from '../events/index.ts';
import type { AuthContext } from '../identity/types.ts';
import { clientNetworkOf, refuseBarred } from './admission.ts';
import { handleModelCall } from './interaction.ts';
import type { PipelineDeps } from './interaction-state.ts';
import { dropUnreadBody } from './unread-body.ts';
import { clientAddress } from './client-address.ts';
import type { LimitRefusal } from './lifecycle.ts';
import { FILE_HEAD_BYTES, UploadBody } from './upload-body.ts';
import { Mp3Length } from './mp3-length.ts';
import { ROUTE_MODEL, UPLOAD_ROUTES } from './wire.ts';

/** Busboy's bounds on the parts of one upload: a prompt (GPT image models: 32,000 characters) fits a field; 16 images and a mask fit the files. */
const PART_LIMITS = { fields: 64, fieldSize: 128 * 1024, files: 17, parts: 96 } as const;

/** The form field of each route's file, as OpenAI names it (an image edit's may be a list: `image[]`). */
const FILE_FIELD: Partial<Record<ApiFlavour, string[]>> = {
  'openai.transcriptions': ['file'],
  'openai.translations': ['file'],
  'openai.image_edits': ['image', 'image[]'],
  'openai.image_variations': ['image'],
};

/** Bytes as a 413 names them: MB with one decimal. */
const mb = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`;

function tooLarge(limit: number, announced: number | null): WardenError {
  const size = announced !== null ? `The upload is ${mb(announced)}` : 'The upload is larger than the limit';
  return new WardenError('WARDEN_BODY_TOO_LARGE', `${size}; this gateway accepts uploads of at most ${mb(limit)} (server.upload_limit_bytes).`, { headers: { connection: 'close' } });
}

/** The multipart routes, in a scope of their own: only it parses multipart bodies. */
export function registerUploadRoutes(app: FastifyInstance, deps: PipelineDeps, limitBytes: number): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    await scope.register(multipart, { limits: { ...PART_LIMITS, fileSize: limitBytes + 1 }, throwFileSizeLimit: false });
    // The answer of each request, for a body parser that refuses it (its connection is closed after that answer).
    const answers = new WeakMap<FastifyRequest, FastifyReply>();
    scope.addHook('onRequest', (req, reply, done) => { answers.set(req, reply); done(); });
    // Any other body (JSON included) is refused unread, as OpenAI refuses it.
    scope.addContentTypeParser('*', (req, _payload, done) => {
      const headers = dropUnreadBody(req.raw, answers.get(req)!.raw, Math.min(limitBytes, 1024 * 1024));
      done(new WardenError('WARDEN_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be multipart/form-data: this endpoint takes a file upload.', { headers }), undefined);
    });
    for (const [path, flavour] of Object.entries(UPLOAD_ROUTES)) {
      scope.post(path, (req, reply) => handleUpload(deps, flavour, req, reply, limitBytes));
    }
  });
}

async function handleUpload(deps: PipelineDeps, flavour: ApiFlavour, req: FastifyRequest, reply: FastifyReply, limitBytes: number): Promise<void> {
  let upload: UploadBody;
  try {
    // The key was checked from the headers (server.ts); an account a verdict bars uploads nothing.
    const auth = (req as FastifyRequest & { wardenAuth?: AuthContext }).wardenAuth;
    if (auth) refuseBarred(deps, auth);
    const announced = Number(req.headers['content-length']);
    if (Number.isFinite(announced) && announced > limitBytes) throw tooLarge(limitBytes, announced);
    // Nor one over a limit its upload cannot change (requests a minute, concurrency, a quota spent,
    // of its key, account, organisation, address, network and ASN, and of the model the route
    // names): its 429 comes before the upload, not after it was read for nothing.
    if (auth) await refuseOverLimits(deps, auth, req, flavour);
    // `Expect: 100-continue`: the upload is asked for only now (server.ts holds its 100 until here).
    if ((req.raw as { wardenContinue?: boolean }).wardenContinue) reply.raw.writeContinue();
    upload = await readUpload(req, flavour, limitBytes);
  } catch (err) {
    // The rest of the body is discarded (the connection closed past the limit), not parsed.
    if (!req.raw.complete) {
      req.raw.unpipe();
      reply.headers(dropUnreadBody(req.raw, reply.raw, limitBytes));
      req.raw.resume();
    }
    throw err;
  }
  (req as FastifyRequest & { rawBodyBytes?: number }).rawBodyBytes = upload.bodyBytes;
  req.body = upload.fields();
  reply.raw.once('close', () => { void upload.discard(); });
  await handleModelCall(deps, flavour, req, reply, upload);
}

/** Throws the refusal the caller's limits make before its upload is read (`limitsBeforeBody`), noting the limit for its event. */
async function refuseOverLimits(deps: PipelineDeps, auth: AuthContext, req: FastifyRequest, flavour: ApiFlavour): Promise<void> {
  const ip = clientAddress(req);
  const known = { ...clientNetworkOf(deps, ip), model: ROUTE_MODEL[flavour] ?? '' };
  for (const h of deps.hooks) {
    if (!h.limitsBeforeBody) continue;
    const refusal = await h.limitsBeforeBody(auth, ip, 'openai', known);
    if (!refusal) continue;
    (req as FastifyRequest & { wardenLimit?: LimitRefusal['limit'] }).wardenLimit = refusal.limit;
    throw refusal.error;
  }
}

/** Reads the upload: its fields, and its files into the spool. Throws the refusal of one too large, malformed or without its file. */
async function readUpload(req: FastifyRequest, flavour: ApiFlavour, limitBytes: number): Promise<UploadBody> {
  const announced = Number(req.headers['content-length']);
  if (!req.isMultipart()) throw new WardenError('WARDEN_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be multipart/form-data: this endpoint takes a file upload.');
  const upload = new UploadBody();
  const counted = (chunk: Buffer) => { upload.bodyBytes += chunk.length; };
  // The first `next()` pipes the request into the parser: the body's bytes are counted from then on.
  const parts = req.parts()[Symbol.asyncIterator]();
  const first = parts.next();
  req.raw.on('data', counted);
  let fileBytes = 0;
  const audio = flavour === 'openai.transcriptions' || flavour === 'openai.translations';
  try {
    for (let r = await first; !r.done; r = await parts.next()) {
      const part = r.value;
      if (part.type === 'field') {
        if (part.valueTruncated) throw new WardenError('WARDEN_INVALID_REQUEST', `The field '${part.fieldname.slice(0, 64)}' is longer than ${PART_LIMITS.fieldSize} bytes.`, { param: part.fieldname.slice(0, 64) });
        upload.parts.push({ kind: 'field', name: part.fieldname, value: String(part.value) });
        continue;
      }
      const offset = upload.spool.size;
      // A recording's length is read from its MPEG frames as it comes (an MP3's: null for other audio).
      const length = audio ? new Mp3Length() : null;
      const head: Buffer[] = [];
      let headBytes = 0;
      let bytes = 0;
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        fileBytes += chunk.length;
        if (fileBytes > limitBytes) throw tooLarge(limitBytes, Number.isFinite(announced) ? announced : null);
        if (headBytes < FILE_HEAD_BYTES) { head.push(chunk.subarray(0, FILE_HEAD_BYTES - headBytes)); headBytes += head.at(-1)!.length; }
        length?.push(chunk);
        await upload.spool.write(chunk);
      }
      upload.parts.push({
        kind: 'file', name: part.fieldname, filename: part.filename || 'upload', contentType: part.mimetype || 'application/octet-stream',
        offset, bytes, head: Buffer.concat(head), seconds: length?.seconds() ?? null,
      });
    }
    const wanted = FILE_FIELD[flavour] ?? ['file'];
    if (!upload.files.some((f) => wanted.includes(f.name))) {
      throw new WardenError('WARDEN_INVALID_REQUEST', `Missing required parameter: '${wanted[0]}' (a file).`, { param: wanted[0] });
    }
    return upload;
  } catch (err) {
    void parts.return?.(undefined);
    await upload.discard();
    if (err instanceof WardenError) throw err;
    const code = (err as { code?: string }).code;
    // The client went away mid-upload: recorded as such, not as a malformed body.
    if (code === 'FST_MP_PREMATURE_CLOSE' || req.raw.destroyed) throw new WardenError('WARDEN_CLIENT_DISCONNECTED', 'The client closed the connection before its upload was read.');
    if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
      throw new WardenError('WARDEN_INVALID_REQUEST', `The upload has more parts than accepted: at most ${PART_LIMITS.files} files and ${PART_LIMITS.fields} fields.`);
    }
    throw new WardenError('WARDEN_INVALID_REQUEST', `The multipart body could not be read: ${(err as Error).message}`);
  } finally {
    req.raw.off('data', counted);
  }
}
