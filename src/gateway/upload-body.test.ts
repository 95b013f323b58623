// An upload held between reading and forwarding: a small one in memory, a large one in a
// temporary file that is deleted when the answer ends; either way the upstream gets a multipart
// body that parses back to the same fields and bytes, of the length announced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SPOOL_MEMORY_BYTES, UploadBody } from './upload-body.ts';

async function upload(fileBytes: number): Promise<{ u: UploadBody; file: Buffer }> {
  const u = new UploadBody();
  const file = Buffer.alloc(fileBytes);
  for (let i = 0; i < file.length; i++) file[i] = (i * 7) & 0xff;
  u.parts.push({ kind: 'field', name: 'model', value: 'whisper-1' });
  for (let at = 0; at < file.length; at += 65_536) await u.spool.write(file.subarray(at, at + 65_536));
  u.parts.push({ kind: 'file', name: 'file', filename: 'a "quoted"\r\nname.wav', contentType: 'audio/wav', offset: 0, bytes: file.length, head: file.subarray(0, 16) });
  u.parts.push({ kind: 'field', name: 'timestamp_granularities[]', value: 'word' });
  return { u, file };
}

async function roundTrip(u: UploadBody): Promise<FormData> {
  const { contentType, length, body } = u.encode();
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  assert.equal(bytes.length, length, 'the announced length is the body\'s');
  return new Response(bytes, { headers: { 'content-type': contentType } }).formData();
}

const spooled = () => readdirSync(tmpdir()).filter((d) => d === `warden-uploads-${process.pid}`).flatMap((d) => readdirSync(join(tmpdir(), d)));

for (const size of [1000, SPOOL_MEMORY_BYTES * 4 + 3]) {
  test(`a ${size}-byte file goes on as sent, and nothing of it is left after`, async () => {
    const before = spooled().length;
    const { u, file } = await upload(size);
    assert.equal(spooled().length - before, size > SPOOL_MEMORY_BYTES ? 1 : 0, 'past the memory share, the file waits on disk');
    const form = await roundTrip(u);
    assert.equal(form.get('model'), 'whisper-1');
    assert.equal(form.get('timestamp_granularities[]'), 'word');
    const sent = form.get('file') as File;
    assert.ok(Buffer.from(await sent.arrayBuffer()).equals(file), 'the same bytes');
    assert.equal(sent.type, 'audio/wav');
    assert.deepEqual(u.fields(), { model: 'whisper-1', timestamp_granularities: ['word'] }, 'the fields as a JSON body would hold them');
    await u.discard();
    assert.equal(spooled().length, before, 'the temporary file is deleted');
    assert.ok(existsSync(tmpdir()));
  });
}
