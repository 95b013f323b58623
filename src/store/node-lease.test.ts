// Nodes sharing a PostgreSQL event store hold their names (`server.node_id`) while they run: a
// second live node with a name already held is refused, naming the key; a name whose node was
// killed (its row no longer renewed) is taken over once its lease lapsed; a node stopped cleanly
// frees its name at once; a node whose name was taken over while it was out of touch says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PostgresEventStore, NodeIdInUseError } from './index.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';

test('PostgreSQL: one live node per server.node_id; a killed node\'s name is taken over after its lease, a stopped node\'s at once', { timeout: 60_000 }, async () => {
  await withPgSchema('node_lease', async (pool) => {
    const a = new PostgresEventStore(pool);
    const b = new PostgresEventStore(pool);
    assert.ok(a.holdNode, 'the PostgreSQL store holds node names');
    const held = await a.holdNode('gw-1', { leaseMs: 1500 });
    // A second node with the same name, while the first renews it: refused.
    await assert.rejects(b.holdNode!('gw-1', { leaseMs: 1500 }), (err: unknown) => {
      assert.ok(err instanceof NodeIdInUseError, `refused as a name in use: ${err}`);
      assert.match(err.message, /server\.node_id "gw-1" is held by another running node/, 'the message names the key and the name');
      return true;
    });
    // Another name is free.
    const other = await b.holdNode!('gw-2', { leaseMs: 1500 });
    // Stopped cleanly: the name is free at once.
    await held.release();
    const again = await b.holdNode!('gw-1', { leaseMs: 1500 });
    assert.notEqual(again.instance, held.instance, 'held by the new process');
    await again.release();
    await other.release();
    // A node killed holding its name (its row left, never renewed again): taken over once its lease lapsed.
    await pool.query("INSERT INTO warden_nodes (node, instance, started_at, heartbeat_at, lease_ms) VALUES ('gw-3', 'killed', now(), now(), 1500)");
    const taken = await a.holdNode('gw-3', { leaseMs: 1500 });
    const { rows } = await pool.query("SELECT instance FROM warden_nodes WHERE node = 'gw-3'");
    assert.deepEqual(rows.map((r) => r.instance), [taken.instance], 'the killed node\'s row is taken over');
    // Taken over by another while this node could not renew it: the next renewal says so.
    const lost: boolean[] = [];
    const mine = await a.holdNode('gw-4', { leaseMs: 60_000, onLost: (l) => lost.push(l) });
    await pool.query("UPDATE warden_nodes SET instance = 'someone-else', heartbeat_at = now() WHERE node = 'gw-4'");
    assert.equal(await mine.renew(), false, 'no longer held');
    assert.deepEqual(lost, [true], 'told once that it was lost');
    await taken.release();
    await mine.release();
    const { rows: left } = await pool.query("SELECT node, instance FROM warden_nodes ORDER BY node");
    assert.deepEqual(left, [{ node: 'gw-4', instance: 'someone-else' }], 'each node frees only its own row');
  });
});
