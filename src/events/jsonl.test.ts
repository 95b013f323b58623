import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEventBatches, readEventsJsonl } from './jsonl.ts';

const rows = [
  { id: 'a', text: 'plain ascii' },
  { id: 'b', text: 'naïve café — 東京 🚀' },
  { id: 'c', text: 'x'.repeat(5000) },
  { id: 'd', text: 'Ωmega' },
];

/** The same bytes cut into pieces of `size`: lines and multi-byte characters straddle chunk edges. */
function chunked(bytes: Buffer, size: number): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
  return Readable.from(pieces, { objectMode: false });
}

test('lines are decoded exactly, wherever the chunks are cut (multi-byte characters included)', async () => {
  const text = rows.map((r) => JSON.stringify(r)).join('\r\n') + '\n\n   \n';
  const bytes = Buffer.from(text, 'utf8');
  for (const size of [1, 3, 7, 64, 1000, bytes.length]) {
    const got: unknown[] = [];
    for await (const ev of readEventsJsonl(chunked(bytes, size), { validate: false })) got.push(ev);
    assert.deepEqual(got, rows, `chunk size ${size}`);
  }
});

test('a file without a final newline still yields its last line; events arrive in batches', async () => {
  const bytes = Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'), 'utf8');
  const batches: unknown[][] = [];
  for await (const b of readEventBatches(chunked(bytes, bytes.length), { validate: false })) batches.push(b);
  assert.deepEqual(batches.flat(), rows);
  assert.ok(batches.length <= 2);
});

test('a large chunk is handed over in small batches, every event once and in order', async () => {
  const many = Array.from({ length: 1000 }, (_, i) => ({ id: `e${i}`, text: i % 7 ? 'ascii' : 'café' }));
  const bytes = Buffer.from(many.map((r) => JSON.stringify(r)).join('\n') + '\n', 'utf8');
  const batches: unknown[][] = [];
  for await (const b of readEventBatches(chunked(bytes, bytes.length), { validate: false })) batches.push(b);
  assert.deepEqual(batches.flat(), many);
  assert.ok(batches.length >= 1000 / 64, `${batches.length} batches`);
  assert.ok(batches.every((b) => b.length <= 64), 'no batch holds more than 64 events');
});

test('a malformed line is reported with its line number', async () => {
  const bytes = Buffer.from(`${JSON.stringify(rows[0])}\n\n{"id": "b", oops}\n`, 'utf8');
  await assert.rejects(async () => { for await (const _ of readEventsJsonl(chunked(bytes, 5), { validate: false })) void _; }, /events line 3:/);
});

test('validation (the default) rejects a line that is JSON but not an interaction event', async () => {
  await assert.rejects(async () => { for await (const _ of readEventsJsonl(chunked(Buffer.from('{"id":"x"}\n'), 100))) void _; }, /events line 1:/);
});

test('a line longer than the limit is refused with its number, without reading the rest into memory', async () => {
  const long = Buffer.from(`${JSON.stringify(rows[0])}\n{"id":"big","text":"${'x'.repeat(5000)}"}\n${JSON.stringify(rows[1])}\n`, 'utf8');
  for (const size of [7, 1000, long.length]) {
    await assert.rejects(async () => { for await (const _ of readEventsJsonl(chunked(long, size), { validate: false, maxLineBytes: 4096 })) void _; }, /events line 2: longer than 4096 bytes/, `chunk size ${size}`);
  }
  // Within the limit, the same line is read.
  const got: unknown[] = [];
  for await (const ev of readEventsJsonl(chunked(long, 1000), { validate: false, maxLineBytes: 8192 })) got.push(ev);
  assert.equal(got.length, 3);
});

test('gzip-compressed JSONL reads the same as plain, from a file or a stream cut anywhere; a corrupt archive is an error', async () => {
  const plain = Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n', 'utf8');
  const gz = gzipSync(plain);
  const read = async (source: string | Readable) => { const got: unknown[] = []; for await (const ev of readEventsJsonl(source, { validate: false })) got.push(ev); return got; };
  for (const size of [1, 2, 7, 64, gz.length]) assert.deepEqual(await read(chunked(gz, size)), rows, `gzip, chunk size ${size}`);
  const dir = mkdtempSync(join(tmpdir(), 'warden-jsonl-'));
  try {
    writeFileSync(join(dir, 'events.jsonl.gz'), gz);
    writeFileSync(join(dir, 'events.jsonl'), plain);
    assert.deepEqual(await read(join(dir, 'events.jsonl.gz')), rows);
    assert.deepEqual(await read(join(dir, 'events.jsonl')), rows);
    writeFileSync(join(dir, 'cut.jsonl.gz'), gz.subarray(0, gz.length - 12));
    await assert.rejects(() => read(join(dir, 'cut.jsonl.gz')), /gzip input: unexpected end of file \(the archive is truncated or corrupt\)/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
