import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEventBatches, readEventsJsonl } from './jsonl.ts';

/** A line as the fast path reads it: every field it checks present, so nothing is completed. */
function row(id: string, text: string) {
  return {
    id, ts: '2026-05-04T08:00:00.000Z', model: 'm', account_id: 'acct_1', org_id: null,
    client: { ip: '192.0.2.1', user_agent: null, country: null, asn: null },
    request: {
      system: null, messages: [{ role: 'user', text, chars: text.length }], tools: [],
      params: { max_tokens: null, temperature: null, top_p: null, n: null, logprobs: null, top_logprobs: null, reasoning_effort: null, thinking_budget: null, stop: false, seed: null, response_format: null },
    },
    response: { status: 200, input_tokens: 1, output_tokens: 2, reasoning_tokens: 0, tool_calls: 0 },
    account: null,
  };
}
const rows = [row('a', 'plain ascii'), row('b', 'naïve café — 東京 🚀'), row('c', 'x'.repeat(5000)), row('d', 'Ωmega')];

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
  const many = Array.from({ length: 1000 }, (_, i) => row(`e${i}`, i % 7 ? 'ascii' : 'café'));
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

test('without validation, a line that is not a readable event is named by line and field, or skipped and reported', async () => {
  const lines = [
    JSON.stringify(rows[0]),
    '{"id": "b", oops}',
    JSON.stringify({ ...rows[1], request: { ...rows[1].request, messages: 'hello' } }),
    JSON.stringify({ ...rows[2], response: { ...rows[2].response, output_tokens: '12' } }),
    // What other tools leave out is completed: no client, tools, params, counts or account facts.
    JSON.stringify({ id: 'sparse', ts: rows[3].ts, account_id: 'acct_2', request: { messages: [{ role: 'user', text: 'hi' }] }, response: { status: 200 } }),
    '[1, 2]',
    JSON.stringify({ ...rows[1], request: { ...rows[1].request, system_documents: { role: 'system', text: '', chars: 0, documents_unreadable: '1' } } }),
    JSON.stringify({ ...rows[2], response: { ...rows[2].response, output_tokens: -5 } }),
    JSON.stringify({ ...rows[2], account: { created_at: rows[2].ts, programme: 'none', tier: 'platinum' } }),
    // Facts without a tier read as an account table without the column does: unverified.
    JSON.stringify({ ...rows[3], id: 'no-tier', account: { created_at: rows[3].ts, programme: 'none' } }),
    // A time without its zone would be read in the reading machine's own zone.
    JSON.stringify({ ...rows[0], id: 'no-zone', ts: '2026-04-06T10:00:00' }),
    JSON.stringify({ ...rows[0], id: 'offset', ts: '2026-04-06T10:00:00+02:00' }),
  ].join('\n');
  await assert.rejects(async () => { for await (const _ of readEventsJsonl(chunked(Buffer.from(lines), 9), { validate: false })) void _; }, /events line 2: not JSON/);
  const skipped: Array<[number, string]> = [];
  const got: Array<Record<string, any>> = [];
  for await (const ev of readEventsJsonl(chunked(Buffer.from(lines), 9), { validate: false, onSkip: (line, problem) => skipped.push([line, problem]) })) got.push(ev as Record<string, any>);
  assert.deepEqual(got.map((e) => e.id), ['a', 'sparse', 'no-tier', 'offset']);
  assert.equal(skipped.length, 8);
  assert.match(skipped[0][1], /^not JSON \(/);
  assert.deepEqual(skipped.slice(1), [[3, 'request.messages: expected an array'], [4, 'response.output_tokens: expected a count (a number, 0 or more)'], [6, 'the line is not a JSON object'], [7, 'request.system_documents.documents_unreadable: expected a count'],
    [8, 'response.output_tokens: expected a count (a number, 0 or more)'], [9, 'account.tier: expected one of unverified, email_verified, identity_verified, enterprise'],
    [11, 'ts: expected an ISO 8601 time with its zone']]);
  assert.equal(got[2].account.tier, 'unverified');
  const sparse = got[1];
  assert.deepEqual([sparse.client.ip, sparse.request.tools, sparse.request.params.max_tokens, sparse.response.output_tokens, sparse.account], [null, [], null, 0, null]);
});

test('validation (the default) rejects a line that is JSON but not an interaction event', async () => {
  await assert.rejects(async () => { for await (const _ of readEventsJsonl(chunked(Buffer.from('{"id":"x"}\n'), 100))) void _; }, /events line 1:/);
});

test('a line longer than the limit is refused with its number, without reading the rest into memory', async () => {
  const long = Buffer.from(`${JSON.stringify(rows[0])}\n${JSON.stringify(row('big', 'x'.repeat(5000)))}\n${JSON.stringify(rows[1])}\n`, 'utf8');
  for (const size of [7, 1000, long.length]) {
    await assert.rejects(async () => { for await (const _ of readEventsJsonl(chunked(long, size), { validate: false, maxLineBytes: 4096 })) void _; }, /events line 2: longer than 4096 bytes/, `chunk size ${size}`);
  }
  // Within the limit, the same line is read.
  const got: unknown[] = [];
  for await (const ev of readEventsJsonl(chunked(long, 1000), { validate: false, maxLineBytes: 8192 })) got.push(ev);
  assert.equal(got.length, 3);
});

test('with onSkip, a line longer than the limit is skipped and named like any unreadable line; the lines after it are read', async () => {
  const huge = 'a'.repeat(20_000);
  // No newline for 20 KB (a stretch of garbage), then the log goes on; also the same at the very end.
  const text = `${JSON.stringify(rows[0])}\n${huge}\n${JSON.stringify(rows[1])}\n${JSON.stringify(row('big', 'x'.repeat(5000)))}\n${JSON.stringify(rows[3])}\n${JSON.stringify(rows[0])}\n${huge}`;
  const bytes = Buffer.from(text, 'utf8');
  for (const size of [7, 1000, 4096, 5000, 9000, bytes.length]) {
    const got: unknown[] = [];
    const skips: string[] = [];
    for await (const ev of readEventsJsonl(chunked(bytes, size), { validate: false, maxLineBytes: 4096, onSkip: (line, problem) => skips.push(`${line}: ${problem}`) })) got.push(ev);
    assert.deepEqual(got, [rows[0], rows[1], rows[3], rows[0]], `chunk size ${size}: the events around the over-long lines are all read`);
    assert.deepEqual(skips, ['2: longer than 4096 bytes', '4: longer than 4096 bytes', '7: longer than 4096 bytes'], `chunk size ${size}: each over-long line is named by its number`);
  }
});

test('a UTF-8 byte-order mark at the start of a log (Windows tools write one) does not cost its first event', async () => {
  const body = rows.map((r) => JSON.stringify(r)).join('\r\n') + '\r\n';
  const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body, 'utf8')]);
  for (const size of [1, 2, 5, bytes.length]) {
    const got: unknown[] = [];
    const skips: string[] = [];
    for await (const ev of readEventsJsonl(chunked(bytes, size), { validate: false, onSkip: (line, problem) => skips.push(`${line}: ${problem}`) })) got.push(ev);
    assert.deepEqual(skips, [], `chunk size ${size}: no line skipped`);
    assert.deepEqual(got, rows, `chunk size ${size}: every event read, the first included`);
  }
  // Gzip-compressed, the same.
  const got: unknown[] = [];
  for await (const ev of readEventsJsonl(chunked(gzipSync(bytes), 3), { validate: false })) got.push(ev);
  assert.deepEqual(got, rows, 'gzip: the first event read');
  // Only at the start: a mark inside a later line is that line's own bytes.
  const later = Buffer.from(`${JSON.stringify(rows[0])}\n\ufeff${JSON.stringify(rows[1])}\n`, 'utf8');
  const skips: number[] = [];
  for await (const _ of readEventsJsonl(chunked(later, 4), { validate: false, onSkip: (line) => skips.push(line) })) void _;
  assert.deepEqual(skips, [2], 'a mark on line 2 is not dropped');
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

test('a file read in small pieces into one buffer yields every line exactly: lines across pieces, and longer than one', async () => {
  const many = [...rows, row('long', 'y'.repeat(300) + 'é'.repeat(100)), ...rows.map((r, i) => ({ ...r, id: `again${i}` }))];
  const plain = Buffer.from(many.map((r) => JSON.stringify(r)).join('\r\n') + '\n', 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'warden-jsonl-'));
  try {
    writeFileSync(join(dir, 'events.jsonl'), plain);
    writeFileSync(join(dir, 'events.jsonl.gz'), gzipSync(plain));
    for (const chunkBytes of [1, 2, 7, 64, 200, plain.length]) {
      for (const name of ['events.jsonl', 'events.jsonl.gz']) {
        const got: unknown[] = [];
        for await (const ev of readEventsJsonl(join(dir, name), { validate: false, chunkBytes })) got.push(ev);
        assert.deepEqual(got, many, `${name}, read ${chunkBytes} bytes at a time: every event as written`);
      }
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
