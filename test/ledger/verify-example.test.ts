// docs/ledger-verify-example.mjs is the independent verifier docs/ledger.md offers auditors: run
// against a real log, it must accept what Warden signs, add up an account's usage as the customer's
// SDK saw it, and refuse an export that leaves rows out and a leaf changed behind the log's back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';

const SCRIPT = fileURLToPath(new URL('../../docs/ledger-verify-example.mjs', import.meta.url));
const ORIGIN = 'audit.warden.test/ledger';

function run(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr });
    });
  });
}

test('the example verifier checks a live log, an account\'s usage and an export, and catches omissions and rewrites', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-verify-example-'));
  const t = await startTestWarden({ store: { sqlite_path: join(dir, 'warden.db') }, ledger: { origin: ORIGIN, checkpoint_interval_ms: 50, key: '' } });
  try {
    const customer = await t.account('carla', 'email_verified');
    const other = await t.account('oscar', 'email_verified');
    // The customer is allow-listed for a trial month: the ledger's entry says until when.
    const until = new Date(Date.now() + 30 * 86_400_000).toISOString();
    await t.admin('/detect/allow', { account: customer.id, note: 'trial month', expires_at: until });
    const sdkSeen = { input: 0, output: 0 };
    const chat = async (key: string, text: string) => {
      const r = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] }),
      });
      assert.equal(r.status, 200);
      return (await r.json() as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    };
    for (const text of ['What is a Merkle tree?', 'And a consistency proof?', 'Thanks']) {
      const u = await chat(customer.key, text);
      sdkSeen.input += u.prompt_tokens;
      sdkSeen.output += u.completion_tokens;
    }
    await chat(other.key, 'hello');
    const auditor = await t.account('audra', 'enterprise');
    const readKey = (await t.admin(`/accounts/${auditor.id}/keys`, { name: 'auditor', scopes: ['ledger:read'] })).secret as string;
    const get = (path: string, token = readKey) => fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

    // All four interactions recorded and signed, after the settings and the allow-list entry.
    for (let tries = 0; ; tries++) {
      assert.ok(tries < 200, 'the four interactions reach the ledger and a checkpoint');
      const r = await get('/ledger/v1/checkpoint');
      if (r.status === 200 && Number((await r.text()).split('\n')[1]) >= 6) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const vkey = (await (await get('/ledger/v1/key')).text()).trim();
    const exported = await (await get(`/admin/ledger/v1/query?account=${customer.id}`, TEST_ADMIN_TOKEN)).json() as {
      interactions: { id: string; output_tokens: number; input_tokens: number }[];
      usage: { account_id: string; requests: number; input_tokens: number; output_tokens: number }[];
    };
    const exportFile = join(dir, 'export.json');
    writeFileSync(exportFile, JSON.stringify(exported));
    const state = join(dir, 'kept');
    const args = ['--url', t.url, '--token', readKey, '--key', vkey, '--state', state, '--account', customer.id];

    const first = await run([...args, '--export', exportFile]);
    assert.equal(first.code, 0, first.out);
    const usage = JSON.parse(/usage of \S+ from the signed leaves: (\{.*\})/.exec(first.out)?.[1] ?? 'null');
    assert.deepEqual({ requests: usage.requests, input: usage.input_tokens, output: usage.output_tokens }, { requests: 3, ...sdkSeen }, 'the signed leaves add up to what the customer\'s SDK was told');
    assert.match(first.out, /3 of the account's 3 interactions proved/);
    // The detector's settings, recorded at start: their digest recomputed from the signed leaf.
    assert.match(first.out, /ok {3}every settings leaf's digest is the digest of its settings \(1 distinct\)/);
    assert.match(first.out, /settings #\d+ \S+ [0-9a-f]{16}\.\.\.: Warden \d/);
    assert.match(first.out, /ok {3}every leaf is a record format this script knows/);
    assert.match(first.out, new RegExp(`verdict #\\d+ \\S+ account ${customer.id} none \\(operator\\), settings none named, until ${until.replace(/\./g, '\\.')}`),
      `the allow-list entry's leaf says until when it runs: ${first.out}`);

    // A second run checks the log against the checkpoint the first one kept.
    await chat(other.key, 'one more');
    const second = await run(args);
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, /ok {3}consistent with kept checkpoint/);

    // An export with a row taken out (and its usage lowered to match) still proves row by row,
    // but not against every signed leaf of the account.
    const dropped = exported.interactions[0];
    const short = { ...exported, interactions: exported.interactions.slice(1), usage: exported.usage.map((u) => ({ ...u, requests: u.requests - 1, input_tokens: u.input_tokens - dropped.input_tokens, output_tokens: u.output_tokens - dropped.output_tokens })) };
    writeFileSync(exportFile, JSON.stringify(short));
    const omitted = await run([...args, '--export', exportFile]);
    assert.equal(omitted.code, 1, omitted.out);
    assert.match(omitted.out, /FAIL the export holds all 3 of the account's interactions \(it has 2\)/);

    // A leaf rewritten in the database no longer rebuilds the signed root.
    const db = new Database(join(dir, 'ledger.db'));
    try {
      const row = db.prepare("SELECT idx, leaf FROM ledger_entries WHERE account_id = ? AND kind = 'interaction' ORDER BY idx LIMIT 1").get(customer.id) as { idx: number; leaf: Buffer };
      const leaf = JSON.parse(Buffer.from(row.leaf).toString('utf8'));
      leaf.response.output_tokens = 1;
      db.prepare('UPDATE ledger_entries SET leaf = ? WHERE idx = ?').run(Buffer.from(JSON.stringify(leaf)), row.idx);
    } finally {
      db.close();
    }
    const rewritten = await run(args);
    assert.equal(rewritten.code, 1, rewritten.out);
    assert.match(rewritten.out, /FAIL the \d+ leaves rebuild the signed root/);
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
