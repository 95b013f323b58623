// The folder uploads wait in is this process's own: a folder of that name made first by someone
// else (another local user, who can guess the process id) is not written into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SPOOL_MEMORY_BYTES, Spool, removeUploadsDir } from './upload-body.ts';

test('a folder named as the upload spool that was there before, here a link to another folder, is not where uploads wait', async () => {
  const squatted = join(tmpdir(), `warden-uploads-${process.pid}`);
  const elsewhere = mkdtempSync(join(tmpdir(), 'squatter-'));
  rmSync(squatted, { recursive: true, force: true });
  symlinkSync(elsewhere, squatted);
  const spool = new Spool();
  try {
    await spool.write(Buffer.alloc(SPOOL_MEMORY_BYTES + 1, 1));
    assert.deepEqual(readdirSync(elsewhere), [], 'nothing of the upload is written through the link');
    const path = (spool as unknown as { path: string }).path;
    assert.ok(path, 'the upload waits in a file');
    const dir = lstatSync(dirname(path));
    assert.ok(dir.isDirectory() && !dir.isSymbolicLink(), 'in a real folder');
    assert.equal(dir.mode & 0o777, 0o700, 'private to this user');
    assert.equal(dir.uid, process.getuid!(), 'owned by this process\'s user');
  } finally {
    await spool.discard();
    removeUploadsDir();
    rmSync(squatted, { force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test('a folder of that name open to other users is not used either', async () => {
  const squatted = join(tmpdir(), `warden-uploads-${process.pid}`);
  rmSync(squatted, { recursive: true, force: true });
  mkdirSync(squatted, { mode: 0o777 });
  const spool = new Spool();
  try {
    await spool.write(Buffer.alloc(SPOOL_MEMORY_BYTES + 1, 1));
    assert.deepEqual(readdirSync(squatted), [], 'nothing is written in a folder others can write');
  } finally {
    await spool.discard();
    removeUploadsDir();
    rmSync(squatted, { recursive: true, force: true });
  }
});
