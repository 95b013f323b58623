// Two `warden serve` on one PostgreSQL store with the same server.node_id: the second refuses to
// start, naming the key (each would otherwise take the other's live streams for ones a killed run
// left open); once the first stops, the name is free and a node starts with it at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { spawnServe, until } from '../helpers/serve-process.ts';
import { TEST_POSTGRES_URL } from '../helpers/postgres.ts';

test('a second live node with the same server.node_id refuses to start; the name is free once the first stops', { timeout: 180_000 }, async () => {
  const schema = `node_id_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const dir = mkdtempSync(join(tmpdir(), 'warden-node-id-'));
  const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  writeFileSync(join(dir, 'w.yaml'), `server: {port: 0, node_id: gw-a, node_lease_ms: 3000}\nstore: {driver: postgres, postgres_url: ${JSON.stringify(url)}}\nledger: {enabled: false}\nlog: {level: info}\n`);
  const env = { WARDEN_LOG_LEVEL: '' };
  const first = spawnServe(['-c', 'w.yaml'], { cwd: dir, env });
  let third: ReturnType<typeof spawnServe> | null = null;
  try {
    await first.listening();
    const second = spawnServe(['-c', 'w.yaml'], { cwd: dir, env });
    const exited = new Promise<string>((r) => second.proc.once('exit', (c) => r(`exit ${c}`)));
    const outcome = await Promise.race([exited, second.listening().then(() => 'listening', () => exited)]);
    await second.stop();
    assert.ok(outcome.startsWith('exit ') && outcome !== 'exit 0', `the second node does not start (${outcome}): ${second.output()}`);
    assert.match(second.output(), /server\.node_id "gw-a" is held by another running node/, 'it says which key and which name');
    assert.ok(!/Warden listening on/.test(second.output()), 'it never listened');
    // The first still serves, and still holds the name.
    const { rows } = await admin.query(`SELECT node FROM ${schema}.warden_nodes`);
    assert.deepEqual(rows.map((r) => r.node), ['gw-a'], 'one row, the first node\'s');
    await first.stop();
    const { rows: after } = await admin.query(`SELECT node FROM ${schema}.warden_nodes`);
    assert.deepEqual(after, [], 'a node stopped cleanly frees its name');
    third = spawnServe(['-c', 'w.yaml'], { cwd: dir, env });
    await third.listening();
    await until('the third node holds the name', async () => (await admin.query(`SELECT node FROM ${schema}.warden_nodes`)).rows.length === 1 || undefined);
  } finally {
    await first.stop();
    await third?.stop();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
});
