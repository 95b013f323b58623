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
  const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  const body: Record<string, unknown> = {};
  for (const [name, value] of form) {
    let v: unknown = value;
    if (typeof value !== 'string') {
      const bytes = Buffer.from(await value.arrayBuffer());
      v = { filename: value.name, type: value.type, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), head: Buffer.from(bytes.subarray(0, 4096)) } satisfies MockFile;
    }
    const list = name.endsWith('[]') ? name.slice(0, -2) : null;
    if (list !== null) {
      const prev = body[list];
      if (Array.isArray(prev)) prev.push(v); else body[list] = [v];
    } else {
      body[name] = v;
    }
  }
  return body;
}
