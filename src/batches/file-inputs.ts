/**
 * Files a request names as its input, by the id Warden gave them (`POST /v1/files` with purpose
 * `user_data`, `assistants` or `vision`), sent to the upstream inline:
 *
 * - Responses (wherever the part is: message content, a tool's output, a prompt's variables): `{type: "input_file", file_id}` becomes `{type: "input_file", filename, file_data}`
 *   and `{type: "input_image", file_id}` becomes `{type: "input_image", image_url}`, each a
 *   base64 `data:` URL;
 * - Chat Completions: `{type: "file", file: {file_id}}` becomes `{type: "file", file: {filename, file_data}}`;
 * - Anthropic Messages (files uploaded with Anthropic's Files API, or OpenAI's): a `document` or
 *   `image` block whose `source` is `{type: "file", file_id}` gets a `base64` source (a plain-text
 *   document a `text` one), in messages and in tool results.
 *
 * A file named anywhere else (an image mask, a screenshot, a container's files), and one the
 * operator shares (`identity.shared_objects.files`), is left as it is here; the answer-owners hook
 * then refuses any that is not shared, whether or not batches are enabled. The caller's own file
 * there is refused here, saying how to send it instead.
 *
 * The upstream would otherwise keep every customer's files under Warden's one credential, where
 * any customer could name any other's; here a file is found only for the account (or organisation)
 * that uploaded it, as for batches. Another's id, an expired or deleted one, or a batch file reads
 * as one that does not exist (400, naming where it was in the request).
 */
import { WardenError } from '../errors/index.ts';
import type { GatewayHooks } from '../gateway/index.ts';
import type { BatchesConfig } from './config.ts';
import { INPUT_FILE_PURPOSES, readAll, type FileStore, type StoredFile } from './files-store.ts';
import { visibleTo } from './routes.ts';
import { keepFileRefs, requestFileRefs, type FileRef, type InlineAs } from '../gateway/file-refs.ts';

/** A part naming a file, where it is in the request (for the error's `param`), and what it becomes. */
interface Named { part: Record<string, unknown>; param: string; id: string; as: InlineAs }

const MIME: Record<string, string> = {
  pdf: 'application/pdf', txt: 'text/plain', md: 'text/markdown', csv: 'text/csv', json: 'application/json', html: 'text/html',
  xml: 'application/xml', docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp',
};
/** The media type of a file, from its name (what the upstream is told it is). */
export function mediaTypeOf(filename: string): string {
  const ext = filename.slice(filename.lastIndexOf('.') + 1).toLowerCase();
  return MIME[ext] ?? 'application/octet-stream';
}

/** Files one request may name (each naming is sent in full). */
const MAX_NAMED = 100;

/**
 * The files a request names where one can be sent inline (none for other APIs). A file named
 * anywhere else, or one the operator shares, is left to the answer-owners hook (shared, or refused).
 */
function namedFiles(refs: readonly FileRef[], shared: ReadonlySet<string>): { named: Named[]; left: FileRef[] } {
  const named: Named[] = [];
  const left: FileRef[] = [];
  for (const ref of refs) {
    if (ref.part.type === 'container_upload' && typeof ref.id === 'string' && !shared.has(ref.id)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'Files cannot be uploaded to a code execution container through this gateway.', { param: ref.param });
    }
    if (ref.as !== null && typeof ref.id === 'string' && !shared.has(ref.id)) named.push({ part: ref.part, param: ref.param, id: ref.id, as: ref.as });
    else left.push(ref);
  }
  return { named, left };
}

/** How to send a file instead, by where it was named. */
function strandedAdvice(param: string): string {
  if (param.endsWith('input_image_mask.file_id')) return 'Send the mask as `input_image_mask: {"image_url": "data:image/png;base64,..."}` instead.';
  if (param.endsWith('container.file_ids')) return 'Attach it to the input as an `input_file` part instead (files in the input reach the code interpreter\'s container).';
  return 'Send it as an `input_file` or `input_image` part (Chat Completions: a `file` part; Anthropic: a `document` or `image` block) instead.';
}

/** For the policy phase: every file the request names by id, read and put in place inline. */
export function inlineInputFiles(files: FileStore, config: Pick<BatchesConfig, 'max_input_file_bytes'>, sharedFiles: readonly string[] = [], orgOfAccount: (accountId: string) => Promise<string | null> = async () => null): NonNullable<GatewayHooks['policy']> {
  const shared = new Set(sharedFiles);
  return (ctx) => {
    if (!ctx.auth || (ctx.flavour !== 'openai.responses' && ctx.flavour !== 'openai.chat' && ctx.flavour !== 'anthropic.messages')) return;
    const { named, left } = namedFiles(requestFileRefs(ctx), shared);
    const stranded = left.filter((r) => r.as === null && typeof r.id === 'string' && !shared.has(r.id));
    if (named.length === 0 && stranded.length === 0) return;
    // The ownership hook (next) checks only what is not put inline here, without walking the body again.
    keepFileRefs(ctx, left);
    const auth = ctx.auth;
    return (async () => {
      const now = Date.now();
      const deps = { orgOfAccount };
      // The caller's own file where nothing can be inlined: the ownership hook would refuse it as
      // unknown; say instead how to send it (looked up for the first few only: the rest are refused anyway).
      for (const ref of [...new Map(stranded.map((r) => [r.id as string, r])).values()].slice(0, MAX_NAMED)) {
        const f = await files.get(ref.id as string);
        if (f !== null && (await visibleTo(deps, auth, f)) && (f.expires_at === null || f.expires_at > now)) {
          throw new WardenError('WARDEN_INVALID_REQUEST', `File '${(ref.id as string).slice(0, 80)}' cannot be named at ${ref.param}: the upstream keeps no customer files, and Warden can send yours inline only in a file part. ${strandedAdvice(ref.param)}`, { param: ref.param });
        }
      }
      if (named.length === 0) return;
      if (named.length > MAX_NAMED) {
        throw new WardenError('WARDEN_INVALID_REQUEST', `This request names ${named.length} files; at most ${MAX_NAMED} may be named in one request.`, { param: named[MAX_NAMED].param });
      }
      const found = new Map<string, StoredFile>();
      // Every naming counts: each is sent in full, so a file named twice is sent twice.
      let bytes = 0;
      for (const n of named) {
        let f = found.get(n.id) ?? null;
        if (!f) {
          f = await files.get(n.id);
          const visible = f !== null && (await visibleTo(deps, auth, f))
            && INPUT_FILE_PURPOSES.includes(f.purpose) && (f.expires_at === null || f.expires_at > now);
          if (!visible) throw new WardenError('WARDEN_INVALID_REQUEST', `No file with id '${n.id.slice(0, 80)}' was found at ${n.param} (a file named as input is uploaded here with purpose 'user_data', 'assistants' or 'vision', or with Anthropic's Files API).`, { param: n.param });
          found.set(n.id, f!);
        }
        bytes += f!.bytes ?? 0;
        if (bytes > config.max_input_file_bytes) {
          throw new WardenError('WARDEN_BODY_TOO_LARGE', `The files this request names come to more than ${config.max_input_file_bytes} bytes, the most one request may send (a file named twice counts twice).`, { param: n.param });
        }
        const type = mediaTypeOf(f!.filename);
        if ((n.as === 'image' || n.as === 'block_image') && !type.startsWith('image/')) {
          throw new WardenError('WARDEN_INVALID_REQUEST', `File '${n.id.slice(0, 80)}' (${f!.filename.slice(0, 80)}) is not an image (png, jpeg, gif or webp).`, { param: n.param });
        }
        if (n.as === 'document' && type !== 'application/pdf' && !type.startsWith('text/')) {
          throw new WardenError('WARDEN_INVALID_REQUEST', `File '${n.id.slice(0, 80)}' (${f!.filename.slice(0, 80)}) is not a document the model reads (a PDF or plain text).`, { param: n.param });
        }
      }
      // Each file read and encoded once, however often it is named.
      const encoded = new Map<string, { text?: string; base64?: string; buf: Buffer }>();
      const encode = async (id: string) => {
        let e = encoded.get(id);
        if (!e) { e = { buf: await readAll(files.chunks(id)) }; encoded.set(id, e); }
        return e;
      };
      for (const n of named) {
        const f = found.get(n.id)!;
        const type = mediaTypeOf(f.filename);
        const e = await encode(n.id);
        if (n.as === 'document' && type.startsWith('text/')) {
          n.part.source = { type: 'text', media_type: 'text/plain', data: e.text ??= e.buf.toString('utf8') };
          continue;
        }
        const base64 = e.base64 ??= e.buf.toString('base64');
        if (n.as === 'document' || n.as === 'block_image') {
          n.part.source = { type: 'base64', media_type: type, data: base64 };
          continue;
        }
        const url = `data:${type};base64,${base64}`;
        if (n.as === 'chat_file') {
          n.part.file = { filename: f.filename, file_data: url };
        } else if (n.as === 'file') {
          delete n.part.file_id;
          if (typeof n.part.filename !== 'string') n.part.filename = f.filename;
          n.part.file_data = url;
        } else {
          delete n.part.file_id;
          n.part.image_url = url;
        }
      }
    })();
  };
}
