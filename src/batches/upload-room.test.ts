// Uploads in flight together are counted against a cap with what was stored before each began,
// and with what was stored while it ran (its read of the store did not see that).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UploadRoom, type Cap } from './upload-room.ts';

const cap = (held: { files: number; bytes: number }, bytes = 100, files: number | null = 3): Cap => ({
  key: 'a:1', bytes, files, held,
  refuse: { files: (n) => new Error(`files ${n}`), bytes: (n) => new Error(`bytes ${n}`) },
});
async function* chunks(...sizes: number[]) { for (const n of sizes) yield Buffer.alloc(n); }
async function drain(it: AsyncIterable<Buffer>) { let n = 0; for await (const c of it) n += c.length; return n; }

test('an upload that ended while another ran is counted by the other (it read the store before)', async () => {
  const room = new UploadRoom();
  const a = room.start(['a:1']);
  const b = room.start(['a:1']);
  a.admit([cap({ files: 0, bytes: 0 })]);
  b.admit([cap({ files: 0, bytes: 0 })]);
  assert.equal(await drain(a.counted(chunks(30, 30))), 60);
  a.end(true);
  // b read an empty store: a's 60 bytes are still counted for it.
  await assert.rejects(drain(b.counted(chunks(30, 20))), /bytes 60/, 'b cannot pass the cap with what a stored');
  b.end(false);
  // Started now, an upload reads a's bytes from the store: they are not counted twice.
  const c = room.start(['a:1']);
  c.admit([cap({ files: 1, bytes: 60 })]);
  assert.equal(await drain(c.counted(chunks(40))), 40, 'the 40 bytes left fit');
  c.end(true);
});

test('files in flight count against the files cap, and a refused upload gives its room back', async () => {
  const room = new UploadRoom();
  const ups = [room.start(['a:1']), room.start(['a:1']), room.start(['a:1']), room.start(['a:1'])];
  for (const u of ups.slice(0, 3)) u.admit([cap({ files: 0, bytes: 0 })]);
  assert.throws(() => ups[3].admit([cap({ files: 0, bytes: 0 })]), /files 3/, 'a fourth file in flight is refused');
  ups[3].end(false);
  ups[0].end(false);
  const again = room.start(['a:1']);
  again.admit([cap({ files: 0, bytes: 0 })]);
  for (const u of [...ups.slice(1, 3), again]) u.end(false);
});
