// The storage caps hold for uploads sent at once: an upload's bytes (and the file it will be) are
// counted against the account's and organisation's caps as they arrive, so N uploads in flight
// together cannot keep more than the caps allow; a refused or failed upload gives its room back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden } from '../../test/helpers/warden.ts';

/** A body sent in pieces, so that uploads sent together are in flight together. */
function slowBody(bytes: number, pieces = 8): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent >= pieces) { controller.close(); return; }
      await new Promise((r) => setTimeout(r, 20));
      controller.enqueue(new Uint8Array(Buffer.alloc(Math.ceil(bytes / pieces), 0x61)));
      sent++;
    },
  });
}

/** A multipart upload whose file part arrives slowly (no content-length: counted as it streams). */
async function upload(url: string, key: string, bytes: number): Promise<Response> {
  const boundary = 'b' + Math.random().toString(16).slice(2);
  const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="notes.txt"\r\ncontent-type: text/plain\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const file = slowBody(bytes).getReader();
  let stage = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (stage === 0) { controller.enqueue(new Uint8Array(head)); stage = 1; return; }
      if (stage === 1) {
        const { done, value } = await file.read();
        if (!done) { controller.enqueue(value); return; }
        stage = 2;
      }
      controller.enqueue(new Uint8Array(tail));
      controller.close();
    },
  });
  return fetch(`${url}/v1/files`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    body, duplex: 'half',
  } as RequestInit);
}

async function kept(url: string, key: string): Promise<{ files: number; bytes: number }> {
  const list = await (await fetch(`${url}/v1/files`, { headers: { authorization: `Bearer ${key}` } })).json() as any;
  return { files: list.data.length, bytes: list.data.reduce((a: number, f: any) => a + f.bytes, 0) };
}

test('uploads sent at once cannot pass the account\'s bytes or files cap together', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ batches: { max_files_per_account: 3, max_file_bytes_per_account: 250_000, max_file_bytes_per_org: 10_000_000 } });
  try {
    const { key } = await tw.account('racer', 'identity_verified');
    // Five uploads of 100,000 bytes at once: at most two fit 250,000.
    const answers = await Promise.all(Array.from({ length: 5 }, () => upload(tw.url, key, 100_000)));
    const statuses = answers.map((r) => r.status);
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<any>));
    const held = await kept(tw.url, key);
    assert.ok(held.bytes <= 250_000, `the account keeps at most its 250,000 bytes: ${held.bytes} (${statuses})`);
    assert.equal(statuses.filter((s) => s === 200).length, held.files, `every upload answered 200 is kept: ${statuses}`);
    assert.ok(held.files >= 1, `uploads that fit are served: ${statuses}`);
    for (const b of bodies.filter((_, i) => statuses[i] !== 200)) assert.equal(b.error.warden_code, 'WARDEN_STORAGE_QUOTA_EXCEEDED', JSON.stringify(b));

    // The room refused uploads held is given back: what is left fits.
    const left = 250_000 - held.bytes;
    if (left >= 10) { const r = await upload(tw.url, key, Math.min(left, 10)); assert.equal(r.status, 200, `the room left is usable: ${await r.text()}`); }

    // Eight small uploads at once: the account keeps at most three files.
    const other = await tw.account('counter', 'identity_verified');
    const small = await Promise.all(Array.from({ length: 8 }, () => upload(tw.url, other.key, 10)));
    for (const r of small) await r.arrayBuffer();
    const count = await kept(tw.url, other.key);
    assert.ok(count.files <= 3, `the account keeps at most 3 files: ${count.files} (${small.map((r) => r.status)})`);
    assert.equal(small.filter((r) => r.status === 200).length, count.files, 'every upload answered 200 is kept');
  } finally {
    await tw.close();
  }
});

test('uploads sent at once by an organisation\'s accounts cannot pass its bytes cap together', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden({ batches: { max_file_bytes_per_account: 1_000_000, max_file_bytes_per_org: 250_000 } });
  try {
    const org = await tw.admin('/orgs', { name: 'acme' });
    const keys: string[] = [];
    for (const name of ['a', 'b', 'c', 'd']) {
      const acct = await tw.account(name, 'identity_verified');
      await tw.admin(`/accounts/${acct.id}`, { org_id: org.id }, 'PATCH');
      keys.push(acct.key);
    }
    const answers = await Promise.all(keys.map((k) => upload(tw.url, k, 100_000)));
    for (const r of answers) await r.arrayBuffer();
    let total = 0;
    for (const k of keys) total += (await kept(tw.url, k)).bytes;
    // Each account lists its organisation's files: count them once.
    const all = await (await fetch(`${tw.url}/v1/files`, { headers: { authorization: `Bearer ${keys[0]}` } })).json() as any;
    const orgBytes = all.data.reduce((a: number, f: any) => a + f.bytes, 0);
    assert.ok(orgBytes <= 250_000, `the organisation keeps at most its 250,000 bytes: ${orgBytes} (${answers.map((r) => r.status)}, ${total})`);
    assert.ok(answers.some((r) => r.status === 200), 'uploads that fit are served');
  } finally {
    await tw.close();
  }
});
