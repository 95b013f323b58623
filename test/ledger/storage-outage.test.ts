// `warden serve` with its ledger on PostgreSQL, through a proxy the test cuts: while the ledger's
// storage is away, entries wait in the queue and the metrics say how far behind the node is; with
// `ledger.required` the node is not ready meanwhile; when it is back, one log line says how long it
// was away and how many entries waited, and every interaction is in the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { openPostgres } from '../../src/store/index.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { TEST_POSTGRES_URL } from '../helpers/postgres.ts';
import { until as waitUntil } from '../helpers/until.ts';

const metric = async (url: string, name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
};
const until = (what: string, ok: () => unknown, ms = 20_000) => waitUntil(what, ok, ms);

test('serve: a ledger storage outage shows in the metrics and, with ledger.required, in /readyz; its end is logged once with what waited', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ledger-outage-'));
  const schema = `ledger_outage_${randomBytes(5).toString('hex')}`;
  const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
  const through = new URL(TEST_POSTGRES_URL);
  through.port = String(proxy.port);
  const pool = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  const lines: string[] = [];
  try {
    const config = parseConfig({
      server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db'), postgres_url: through.href }, log: { level: 'silent' },
      mock: { latency_ms: 0, tokens_per_second: 0 },
      ledger: { driver: 'postgres', postgres_schema: schema, checkpoint_interval_ms: 50, key: '', required: true },
    });
    const w = await startWarden(config, { log: (line) => lines.push(line) });
    try {
      const client = new OpenAI({ apiKey: w.demoKey!, baseURL: `${w.url}/v1`, maxRetries: 0 });
      const ask = (i: number) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] });
      for (let i = 0; i < 3; i++) await ask(i);
      await until('the first interactions are recorded', async () => (await metric(w.url, 'warden_ledger_tree_size')) >= 3);
      assert.equal((await fetch(`${w.url}/readyz`)).status, 200, 'ready while the ledger records');
      assert.equal(await metric(w.url, 'warden_ledger_storage_outage_seconds'), 0, 'no outage yet');

      // The ledger's database goes away; the gateway keeps serving (its identity store is SQLite).
      await proxy.stop();
      for (let i = 3; i < 9; i++) await ask(i);
      await until('the ledger has noticed the outage', async () => (await metric(w.url, 'warden_ledger_storage_outage_seconds')) > 0);
      await new Promise((r) => setTimeout(r, 1200));
      assert.ok((await metric(w.url, 'warden_ledger_storage_outage_seconds')) >= 1, 'the outage\'s length is in the metrics');
      assert.equal(await metric(w.url, 'warden_ledger_pending'), 6, 'the six interactions of the outage wait in the queue (warden_ledger_pending)');
      const notReady = await fetch(`${w.url}/readyz`);
      assert.equal(notReady.status, 503, 'with ledger.required, a node that cannot record is not ready');
      assert.equal(lines.filter((l) => /LEDGER_UNAVAILABLE: the ledger's storage is unreachable/.test(l)).length, 1, `the outage is logged once:\n${lines.join('\n')}`);
      assert.ok(lines.some((l) => /ledger: not ready \(ledger\.required\): the ledger's storage is unreachable/.test(l)), `why it is not ready is logged:\n${lines.join('\n')}`);

      await proxy.start();
      await until('the backlog is written', async () => (await metric(w.url, 'warden_ledger_pending')) === 0);
      const back = lines.filter((l) => /ledger: writer back/.test(l));
      assert.equal(back.length, 1, `the end of the outage is logged once:\n${lines.join('\n')}`);
      const m = /answers again after (\d+\.\d) s; (\d+) entries waited/.exec(back[0]);
      assert.ok(m, `the line says how long and how many: ${back[0]}`);
      assert.ok(Number(m![1]) >= 1, `the outage lasted over a second: ${back[0]}`);
      assert.equal(Number(m![2]), 6, `the six entries that waited: ${back[0]}`);
      assert.equal(await metric(w.url, 'warden_ledger_storage_outage_seconds'), 0, 'the outage is over in the metrics');
      assert.equal(await metric(w.url, 'warden_ledger_storage_outages_total'), 1, 'one outage counted');
      assert.equal((await fetch(`${w.url}/readyz`)).status, 200, 'ready again once the ledger records');
      assert.equal(await metric(w.url, 'warden_ledger_dropped_total'), 0, 'nothing was dropped');
      const n = Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.ledger_entries`)).rows[0].n);
      assert.ok(n >= 9, `every interaction is in the log (${n})`);
    } finally {
      await w.close();
    }
  } finally {
    await proxy.stop();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  }
});
