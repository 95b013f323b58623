/**
 * Multipart bodies for the mock's upload endpoints (audio, image edits): the fields as strings
 * (`a[]` gathered into a list), each file described by its name, type, size, SHA-256 and first
 * bytes. The handlers answer from those; the files' bytes are not kept.
 */
import { createHash } from 'node:crypto';

/** An uploaded file as a handler sees it. */
export interface MockFile {
  filename: string;
  type: string;
  size: number;
  sha256: string;
  /** Its first 4 KiB (a WAV header, a PNG signature). */
  head: Buffer;
}

export function isMockFile(v: unknown): v is MockFile {
  return typeof v === 'object' && v !== null && typeof (v as MockFile).sha256 === 'string' && Buffer.isBuffer((v as MockFile).head);
}

/** The form as a body: throws when it is not a multipart body that parses. */
export async function parseForm(raw: Buffer, contentType: string): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  for (const part of formParts(raw, contentType)) {
    const bytes = part.data;
    const v: unknown = part.filename === null ? bytes.toString('utf8') : {
      filename: part.filename, type: part.type, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), head: Buffer.from(bytes.subarray(0, 4096)),
    } satisfies MockFile;
    const list = part.name.endsWith('[]') ? part.name.slice(0, -2) : null;
    if (list !== null) {
      const prev = body[list];
      if (Array.isArray(prev)) prev.push(v); else body[list] = [v];
    } else {
      body[part.name] = v;
    }
  }
  return body;
}

/**
 * The parts of a multipart body, found by searching for its boundary (linear in the body: a 20 MB
 * recording is read in milliseconds, where `Response.formData()` of Node 20 took seconds).
 */
function formParts(raw: Buffer, contentType: string): { name: string; filename: string | null; type: string; data: Buffer }[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!boundary) throw new Error('no boundary');
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const parts: { name: string; filename: string | null; type: string; data: Buffer }[] = [];
  let at = raw.indexOf(delimiter);
  if (at < 0) throw new Error('no parts');
  for (;;) {
    at += delimiter.length;
    if (raw.toString('latin1', at, at + 2) === '--') return parts;
    const headEnd = raw.indexOf('\r\n\r\n', at);
    const next = raw.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd);
    if (headEnd < 0 || next < 0) throw new Error('a part is not closed');
    const head = raw.toString('utf8', at, headEnd);
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    if (name === undefined) throw new Error('a part has no name');
    const filename = /filename="([^"]*)"/i.exec(head)?.[1] ?? null;
    const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim() ?? '';
    parts.push({ name, filename, type, data: raw.subarray(headEnd + 4, next) });
    at = next + 2;
  }
}
