// A shared (PostgreSQL) ledger whose latest checkpoint someone who can write the database re-signed
// with a key of their own, recorded in ledger_keys: a node with the log's real key is refused at
// start, and the refusal says the other key is known only from the database (it is not a key to copy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openPostgres } from '../store/index.ts';
import { Ledger } from './ledger.ts';
import { generateSigner, signCheckpoint, type NoteSigner } from './note.ts';
import { PostgresLedgerStorage } from './postgres.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const URL = process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ORIGIN = 'warden.test/shared-ledger';

async function postgresUp(): Promise<boolean> {
  const pool = openPostgres(URL, { max: 1 });
  try { await pool.query('SELECT 1'); return true; } catch { return false; } finally { await pool.end().catch(() => {}); }
}
const skip = !(await postgresUp()) && `no PostgreSQL at ${URL}`;

const openNode = (schema: string, signers: NoteSigner[]) => Ledger.open({
  storage: new PostgresLedgerStorage(openPostgres(URL, { max: 4 }), schema, { ownsPool: true }),
  origin: ORIGIN, signers, checkpointIntervalMs: 60_000, batchMax: 32, groupCommitMs: 2, writer: 'inline',
});

test('a shared ledger re-signed with a key only its database records: the node with the real key is refused, told the key comes from the database', { skip }, async () => {
  const schema = `ledger_untrusted_${randomBytes(6).toString('hex')}`;
  const pool = openPostgres(URL, { max: 2 });
  try {
    const own = generateSigner(ORIGIN);
    const node = await openNode(schema, [own]);
    for (let i = 0; i < 3; i++) await node.appendInteraction(sampleEvent(i));
    await node.checkpoint();
    await node.close();

    const intruder = generateSigner(ORIGIN);
    const storage = new PostgresLedgerStorage(openPostgres(URL, { max: 2 }), schema, { ownsPool: true });
    const latest = (await storage.latestCheckpoint())!;
    await storage.recordKeys([intruder.verifier().toString()]);
    const note = signCheckpoint({ origin: ORIGIN, size: latest.size, rootHash: latest.root, extensions: [] }, [intruder]);
    await storage.putCheckpoint({ size: latest.size, root: latest.root, note, created_at: new Date(Date.parse(latest.created_at) + 1000).toISOString() });
    await storage.close();

    await assert.rejects(openNode(schema, [own]), (err: Error) => {
      assert.match(err.message, /is not the key that signs/, err.message);
      assert.ok(err.message.includes(`${intruder.verifier().toString()} is known to this node only because the ledger's database records it`), err.message);
      assert.match(err.message, /warden ledger verify --key/, err.message);
      return true;
    });
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.query('DELETE FROM schema_migrations WHERE component = $1', [`ledger.${schema}`]).catch(() => {});
    await pool.end();
  }
});
