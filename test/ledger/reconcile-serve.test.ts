// `warden ledger reconcile` after real traffic through `warden serve`: every event the server
// stored rebuilds its leaf exactly (served, streamed, refused and keyless requests, on both API
// flavours), so a clean store reconciles with no lag at all; one edited afterwards does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { ledgerCliRunner } from '../helpers/ledger-cli.ts';

test('serve: the events of real traffic reconcile with their leaves; an edited token count afterwards is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-reconcile-serve-'));
  try {
    const config = parseConfig({
      server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' },
      mock: { latency_ms: 0, tokens_per_second: 0 }, ledger: { origin: 'api.warden.test/ledger', checkpoint_interval_ms: 50, key: '' },
    });
    const w = await startWarden(config, { log: () => {} });
    let sent = 0;
    try {
      const auth = { authorization: `Bearer ${w.demoKey}`, 'content-type': 'application/json', 'user-agent': `reconcile-test/${'x'.repeat(1500)}` };
      const chat = (body: object, headers: Record<string, string> = auth) => fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });
      for (let i = 0; i < 3; i++) {
        const r = await chat({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `question ${i}` }], max_tokens: 50 + i });
        assert.equal(r.status, 200); await r.text(); sent++;
      }
      const streamed = await chat({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream please' }] });
      await streamed.text(); sent++;
      const anthropic = await fetch(`${w.url}/v1/messages`, {
        method: 'POST', headers: { 'x-api-key': w.demoKey!, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 64, system: 'terse', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await anthropic.text(); sent++;
      const bad = await fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers: auth, body: '{not json' });
      assert.equal(bad.status, 400); await bad.text(); sent++;
      const keyless = await chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'who am i' }] }, { 'content-type': 'application/json' });
      assert.equal(keyless.status, 401); await keyless.text(); sent++;

      // The admin API answers the same check on the running server (the newest interactions may still be on their way: pending).
      const asAdmin = { headers: { authorization: `Bearer ${w.adminToken}` } };
      const live = await fetch(`${w.url}/admin/ledger/v1/reconcile`, asAdmin);
      assert.equal(live.status, 200);
      const liveReport = await live.json() as { schema: string; ok: boolean; matched: number; pending: { leaves: number; events: number } };
      assert.equal(liveReport.schema, 'warden.ledger-reconcile/1');
      assert.equal(liveReport.ok, true, JSON.stringify(liveReport));
      assert.equal((await fetch(`${w.url}/admin/ledger/v1/reconcile`)).status, 401, 'behind the admin token');
      for (const bad of ['from=2026-06-01&start=3', 'start=5&end=2', 'from=yesterday', 'lag=-1', 'stat=1']) {
        const r = await fetch(`${w.url}/admin/ledger/v1/reconcile?${bad}`, asAdmin);
        assert.equal(r.status, 400, `${bad}: ${await r.text()}`);
      }
    } finally {
      // Closing writes what both stores hold queued.
      await w.close();
    }

    const run = ledgerCliRunner({ ledger: config.ledger, store: config.store, events: config.events });
    const clean = await run('reconcile', '--json', '--lag', '0');
    const report = JSON.parse(clean.out);
    assert.equal(clean.code, 0, `the server's own events match their leaves: ${clean.out}${clean.err}`);
    assert.equal(report.leaves, sent, 'every request sent has a leaf');
    assert.equal(report.matched, sent, 'and a stored event that rebuilds it exactly');

    const db = new Database(join(dir, 'warden.db'));
    const id = (db.prepare('SELECT id FROM events WHERE status = 200 ORDER BY id LIMIT 1').get() as { id: string }).id;
    db.prepare("UPDATE events SET body = json_set(body, '$.response.output_tokens', 1) WHERE id = ?").run(id);
    db.close();
    const edited = await run('reconcile', '--json');
    assert.equal(edited.code, 1);
    assert.deepEqual(JSON.parse(edited.out).altered.examples.map((a: { id: string; fields: { field: string }[] }) => [a.id, a.fields.map((f) => f.field)]), [[id, ['response.output_tokens']]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
