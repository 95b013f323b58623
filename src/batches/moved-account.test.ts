// An account moved to another organisation takes what it stored along: its files (content
// included), its batches and its stored responses are its new organisation's to read, and no
// longer its old one's. Real sockets, a whole `warden serve` with the built-in mock, on each store:
// one SQLite file, and PostgreSQL (a private schema) with Redis, where the move rewrites rows.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI, { toFile } from 'openai';
import { startTestWarden, type TestWarden } from '../../test/helpers/warden.ts';
import { TEST_POSTGRES_URL } from '../../test/helpers/postgres.ts';
import { openPostgres } from '../store/index.ts';

const schema = `moved_${randomBytes(6).toString('hex')}`;
const STORES: [string, () => Record<string, unknown>][] = [
  ['SQLite', () => ({})],
  ['PostgreSQL', () => ({
    store: { driver: 'postgres', postgres_url: `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}` },
    redis: { url: 'redis://127.0.0.1:6379' },
    limits: { backend: 'redis', redis: { key_prefix: `warden:test:${schema}:` } },
    detect: { shared: { key_prefix: `warden:test:${schema}:detect:` } },
    ledger: { enabled: false },
  })],
];

for (const [storeName, settings] of STORES) describe(`on ${storeName}`, () => {
let t: TestWarden;
const keys: Record<'a' | 'b' | 'c', string> = { a: '', b: '', c: '' };
let cId = '';
let org2 = '';

before(async () => {
  if (storeName === 'PostgreSQL') {
    const admin = openPostgres(TEST_POSTGRES_URL, { max: 1 });
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
  }
  t = await startTestWarden(settings());
  assert.equal(t.w.stores.pg != null, storeName === 'PostgreSQL', `the Warden under test runs on ${storeName}`);
  const org1 = (await t.admin('/orgs', { name: 'Org One' })).id as string;
  org2 = (await t.admin('/orgs', { name: 'Org Two' })).id as string;
  const make = async (name: string, org: string) => {
    const acct = await t.admin('/accounts', { name, email: `${name}@example.org`, tier: 'identity_verified', org_id: org });
    return { id: acct.id as string, key: (await t.admin(`/accounts/${acct.id}/keys`, { name: 'k' })).secret as string };
  };
  const a = await make('alice', org1);
  const c = await make('carol', org1);
  const b = await make('bob', org2);
  keys.a = a.key; keys.b = b.key; keys.c = c.key; cId = c.id;
});
after(async () => {
  await t.close();
  if (storeName === 'PostgreSQL') {
    const admin = openPostgres(TEST_POSTGRES_URL, { max: 1 });
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
});

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
const status = (p: Promise<unknown>) => p.then(() => 200, (e: any) => e.status as number);

test('files, batches and stored responses follow an account to its new organisation', async () => {
  const carol = client(keys.c);
  const doc = await carol.files.create({ file: await toFile(Buffer.from('carol\'s private notes'), 'notes.txt'), purpose: 'user_data' });
  const line = JSON.stringify({ custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] } });
  const input = await carol.files.create({ file: await toFile(Buffer.from(`${line}\n`), 'in.jsonl'), purpose: 'batch' });
  const batch = await carol.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const answer = await carol.responses.create({ model: 'gpt-4o-mini', input: 'remember me', max_output_tokens: 16 });
  // Stored responses are recorded off the request path.
  await new Promise((r) => setTimeout(r, 500));
  const alice = client(keys.a);
  const bob = client(keys.b);
  const chainStatus = (c: OpenAI) => status(c.responses.create({ model: 'gpt-4o-mini', input: 'and then?', previous_response_id: answer.id, max_output_tokens: 16 }));
  const listed = async (c: OpenAI) => ({
    files: (await c.files.list()).data.map((f) => f.id).sort(),
    batches: (await c.batches.list()).data.map((x) => x.id),
  });

  // Same organisation: Alice sees Carol's; Bob does not.
  assert.equal(await status(alice.files.retrieve(doc.id)), 200, 'a colleague reads the file before the move');
  assert.equal(await status(bob.files.retrieve(doc.id)), 404);
  assert.equal(await chainStatus(bob), 400, 'another organisation cannot continue Carol\'s response');

  await t.admin(`/accounts/${cId}`, { org_id: org2 }, 'PATCH');

  // Carol's old organisation reads nothing of hers any more.
  assert.equal(await status(alice.files.retrieve(doc.id)), 404, 'the old organisation no longer reads the file');
  assert.equal(await status(alice.files.content(doc.id)), 404, 'nor its content');
  assert.equal(await status(alice.batches.retrieve(batch.id)), 404, 'nor the batch');
  assert.equal(await chainStatus(alice), 400, 'nor continues the stored response');
  const old = await listed(alice);
  assert.ok(!old.files.includes(doc.id) && !old.batches.includes(batch.id), `the old organisation\'s lists leave them out (${JSON.stringify(old)})`);

  // Her new organisation reads them, lists included.
  assert.equal(await status(bob.files.retrieve(doc.id)), 200, 'the new organisation reads the file');
  assert.equal(await (await bob.files.content(doc.id)).text(), 'carol\'s private notes');
  assert.equal(await status(bob.batches.retrieve(batch.id)), 200, 'and the batch');
  assert.notEqual(await chainStatus(bob), 400, 'and continues the stored response');
  let now = await listed(bob);
  for (let i = 0; i < 50 && !now.files.includes(doc.id); i++) { await new Promise((r) => setTimeout(r, 50)); now = await listed(bob); }
  assert.ok(now.files.includes(doc.id) && now.files.includes(input.id) && now.batches.includes(batch.id), `the new organisation lists them (${JSON.stringify(now)})`);
  // Carol keeps her own.
  assert.equal(await status(carol.files.retrieve(doc.id)), 200);
});
});
