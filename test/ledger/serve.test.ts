// `warden serve` with the ledger on (the default): every interaction through the gateway lands in
// the tamper-evident log; the published checkpoint and an inclusion proof fetched over HTTP verify
// with the standalone verifier and the published key, without trusting the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import {
  openCheckpoint, parseLeaf, parseSignerKey, parseVerifierKey, verifyInclusionBundle, verifyLedger, SqliteLedgerStorage, type InclusionBundle,
} from '../../src/ledger/index.ts';

const ORIGIN = 'api.warden.test/ledger';

test('serve: interactions are recorded in the ledger; checkpoint and inclusion proof over HTTP verify with the published key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-ledger-'));
  try {
    const config = parseConfig({
      server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' },
      mock: { latency_ms: 0, tokens_per_second: 0 }, ledger: { origin: ORIGIN, checkpoint_interval_ms: 50, key: '' },
    });
    const w = await startWarden(config, { log: () => {} });
    try {
      // First start: the signing key was created beside the database, private to its owner.
      const keyFile = join(dir, 'ledger.key');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      // The transparency reads are not public by default: the admin token (or a ledger:read key) reads them.
      const asAdmin = { headers: { authorization: `Bearer ${w.adminToken}` } };
      assert.equal((await fetch(`${w.url}/ledger/v1/key`)).status, 401, 'no anonymous reads');
      const published = (await (await fetch(`${w.url}/ledger/v1/key`, asAdmin)).text()).trim();
      assert.equal(published, parseSignerKey(readFileSync(keyFile, 'utf8').trim()).verifier().toString());

      const client = new OpenAI({ apiKey: w.demoKey!, baseURL: `${w.url}/v1`, maxRetries: 0 });
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `secret question ${i}` }] }).withResponse();
        ids.push(response.headers.get('x-warden-request-id')!);
      }
      const { data: stream, response } = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream please' }] }).withResponse();
      for await (const _chunk of stream) { /* drain */ }
      ids.push(response.headers.get('x-warden-request-id')!);
      assert.equal(new Set(ids).size, 5);
      assert.ok(ids.every((id) => /^[0-9A-Z]{26}$/.test(id)), 'the gateway returns each interaction\'s event id');

      // Events reach the ledger after the response ends: wait until the last one is provable.
      const proofOf = async (id: string) => fetch(`${w.url}/ledger/v1/proof/inclusion?id=${encodeURIComponent(id)}`, asAdmin);
      for (let tries = 0; (await proofOf(ids[4])).status !== 200; tries++) {
        assert.ok(tries < 100, 'the last interaction reached the ledger');
        await new Promise((r) => setTimeout(r, 50));
      }

      const note = await (await fetch(`${w.url}/ledger/v1/checkpoint`, asAdmin)).text();
      const cp = openCheckpoint(note, [parseVerifierKey(published)], ORIGIN);
      assert.ok(cp.size >= 5, `checkpoint covers the interactions (size ${cp.size})`);

      const res = await proofOf(ids[2]);
      assert.equal(res.status, 200);
      const bundle = (await res.json()) as InclusionBundle;
      const proved = verifyInclusionBundle(bundle, [published], ORIGIN);
      assert.equal(proved.size, bundle.tree_size);
      assert.ok(bundle.proof.length <= Math.ceil(Math.log2(bundle.tree_size)));
      const leaf = parseLeaf(new TextEncoder().encode(bundle.leaf));
      assert.ok(leaf.kind === 'interaction');
      assert.equal(leaf.id, ids[2]);
      assert.equal(leaf.model, 'gpt-4o-mini');
      assert.ok(leaf.account_id, 'the leaf names the account');
      assert.ok(!bundle.leaf.includes('secret question'), 'prompt text is only a commitment');
      assert.ok(!bundle.leaf.includes('127.0.0.1'), 'the client IP is only a commitment');
      // A forged leaf does not verify against the same proof.
      assert.throws(() => verifyInclusionBundle({ ...bundle, leaf: bundle.leaf.replace('"gpt-4o-mini"', '"gpt-4o"') }, [published], ORIGIN));

      // The audit query is admin-only; it answers who used the model, from where.
      const query = `${w.url}/admin/ledger/v1/query?account=${leaf.account_id}`;
      assert.equal((await fetch(query)).status, 401);
      assert.equal((await fetch(`${w.url}/ledger/v1/query`)).status, 404, 'no unauthenticated query route on the public side');
      const q = await fetch(query, { headers: { authorization: `Bearer ${w.adminToken}` } });
      assert.equal(q.status, 200);
      const result = (await q.json()) as { interactions: { id: string; client_ip: string | null }[] };
      assert.deepEqual(result.interactions.map((r) => r.id).sort(), [...ids].sort());
      assert.ok(result.interactions.every((r) => r.client_ip === '127.0.0.1'));

      const metrics = await (await fetch(`${w.url}/metrics`)).text();
      assert.match(metrics, /^warden_ledger_appended_total \d+/m);
      assert.match(metrics, /^warden_ledger_dropped_total 0$/m);
    } finally {
      await w.close();
    }

    // Offline, from the file alone: the whole log verifies with the published key.
    const storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
    try {
      const vkey = parseSignerKey(readFileSync(join(dir, 'ledger.key'), 'utf8').trim()).verifier();
      const report = await verifyLedger(storage, { origin: ORIGIN, verifiers: [vkey] });
      assert.deepEqual(report.problems, []);
      assert.ok(report.size >= 5 && report.latestCheckpoint?.size === report.size, 'closing signed a final checkpoint of everything');
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
