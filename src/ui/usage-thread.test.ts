// The SQLite usage queries in their worker thread: a slow dashboard query over a large events
// table does not stall the gateway (model requests and the main thread's event loop stay prompt,
// where the same query in this thread blocks it), and the thread's failures are reported: a bad
// query rejects with a clear error, a crashed thread is restarted, close() ends it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { openSqlite, SqliteEventStore, type SqliteDb } from '../store/index.ts';
import { resolveWorkerEntry } from '../store/worker-entry.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';
import { sqliteUsageStore } from './usage.ts';
import { UsageThread, UsageThreadError, usageSidePath } from './usage-thread.ts';

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-usage-thread-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** `count` events over the 23 hours before `endMs` (inside a 24-hour range queried a little later), written with one prepared INSERT in one transaction. */
function fillEvents(db: SqliteDb, count: number, endMs: number): void {
  new SqliteEventStore(db); // the events table
  const template = JSON.stringify(sampleEvent(0, { id: '@ID@', ts: '@TS@', account_id: '@ACCT@', client: { ip: '@IP@', user_agent: 'load', country: 'NL', asn: 64500 } }));
  const [a, rest1] = template.split('"@ID@"');
  const [b, rest2] = rest1.split('"@TS@"');
  const insert = db.prepare('INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES (?, ?, ?, NULL, NULL, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const id = `01LOAD${String(i).padStart(20, '0')}`;
      const ts = new Date(endMs - 23 * 3600_000 + Math.floor((i / count) * 23 * 3600_000)).toISOString();
      const acct = `acct_${i % 3000}`;
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const body = `${a}"${id}"${b}"${ts}"${rest2}`.replace('"@ACCT@"', `"${acct}"`).replace('"@IP@"', `"${ip}"`);
      insert.run(id, ts, acct, 'gpt-4o-mini', ip, i % 10 === 0 ? 429 : 200, body);
    }
  })();
}

/** How late a 5 ms timer fires while something runs: worst, 99th percentile, and the time lost to ticks later than `LATENESS_BOUND_MS` in all. */
function latenessProbe(): { stop(): { max: number; p99: number; blockedMs: number } } {
  const late: number[] = [];
  let timer: NodeJS.Timeout;
  const arm = () => {
    const at = performance.now();
    timer = setTimeout(() => { late.push(performance.now() - at - 5); arm(); }, 5);
  };
  arm();
  return {
    stop: () => {
      clearTimeout(timer);
      late.sort((a, b) => a - b);
      const blockedMs = late.filter((l) => l > LATENESS_BOUND_MS).reduce((a, b) => a + b, 0);
      return { max: late[late.length - 1] ?? 0, p99: late[Math.floor(late.length * 0.99)] ?? 0, blockedMs };
    },
  };
}

const EVENTS = 150_000;
const LATENESS_BOUND_MS = 50;

test('a slow dashboard query does not stall the gateway: model requests and the event loop stay prompt (in-thread, they did not)', { timeout: 180_000 }, async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'warden.db');
    const config = parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: path }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 },
      // The probe requests below measure the event loop, not the limits: a loaded machine makes the
      // query slow and the probes many (a CI run met the account's tokens per minute), so the
      // limits and the detector's verdicts are off.
      limits: { enabled: false }, detect: { enabled: false },
    });
    const w = await startWarden(config, { log: () => {} });
    const other = openSqlite(path);
    // This connection's in-thread query below copies rows while the gateway's writers hold the
    // same files: on a loaded machine their locks outlast the store's 5 s busy timeout (a CI run
    // met SQLITE_BUSY there). What is measured is the stall, not the wait for a lock.
    other.pragma('busy_timeout = 60000');
    try {
      fillEvents(other, EVENTS, Date.now() - 60_000);
      const chat = async () => {
        const t = performance.now();
        const res = await fetch(`${w.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${w.demoKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }] }),
        });
        assert.equal(res.status, 200, `a probe request was answered ${res.status}: ${res.status === 200 ? '' : await res.text()}`);
        await res.arrayBuffer();
        return performance.now() - t;
      };
      await chat(); // warm
      // Baseline in the same run (the machine may be shared): the same model requests, no dashboard query.
      const base = latenessProbe();
      const baseChats: number[] = [];
      for (const until = performance.now() + 2000; performance.now() < until;) { baseChats.push(await chat()); await sleep(10); }
      const baseLateness = base.stop();
      console.log(`# baseline: ${baseChats.length} model requests, slowest ${Math.max(...baseChats).toFixed(1)} ms; event-loop lateness max ${baseLateness.max.toFixed(1)} ms, p99 ${baseLateness.p99.toFixed(1)} ms`);

      // The dashboard's first overview: the catch-up copy of every event, then the aggregations.
      const probe = latenessProbe();
      const t0 = performance.now();
      let done = false;
      const overview = fetch(`${w.url}/admin/usage/summary?range=24h`, { headers: { authorization: `Bearer ${w.adminToken}` } })
        .then(async (r) => ({ status: r.status, body: await r.json() as { totals: { requests: number; limited: number } } }))
        .finally(() => { done = true; });
      const chats: number[] = [];
      while (!done) { chats.push(await chat()); await sleep(10); }
      const { status, body } = await overview;
      const queryMs = performance.now() - t0;
      const lateness = probe.stop();
      assert.equal(status, 200);
      assert.ok(body.totals.requests >= EVENTS, `counted ${body.totals.requests}`);
      assert.ok(body.totals.limited >= EVENTS / 10);
      assert.ok(existsSync(usageSidePath(path)), 'usage_rows kept in the side file');
      chats.sort((x, y) => x - y);
      const slowestChat = chats[chats.length - 1];
      console.log(`# worker: overview ${queryMs.toFixed(0)} ms; meanwhile ${chats.length} model requests, slowest ${slowestChat.toFixed(1)} ms; event-loop lateness max ${lateness.max.toFixed(1)} ms, p99 ${lateness.p99.toFixed(1)} ms`);
      assert.ok(queryMs > 10 * LATENESS_BOUND_MS, `the query is slow (${queryMs.toFixed(0)} ms), or this test proves nothing`);
      assert.ok(chats.length >= 10, `model requests were served while the query ran (${chats.length})`);
      // No absolute latency bound here: on a machine running other test files at once a 99th
      // percentile of 94 ms was measured against a baseline p99 of 46 ms (Node 24, full suite), with
      // the query thread doing its job. What the thread must show is relative, in the same run: the
      // event loop is stalled for a far smaller share of the query's time than when the same query
      // runs in this thread (below). The figures are printed for whoever reads the log.
      const chatP95 = chats[Math.floor(chats.length * 0.95)];
      console.log(`# worker: model requests p95 ${chatP95.toFixed(1)} ms (baseline slowest ${Math.max(...baseChats).toFixed(1)} ms)`);

      // The same first query in this thread (the previous behaviour) blocks the event loop for its whole length.
      const inline = sqliteUsageStore(other, { thread: 'inline' });
      assert.equal(inline.thread, 'inline');
      const probe2 = latenessProbe();
      const t1 = performance.now();
      const same = await inline.summary({ from: new Date(Date.now() - 24 * 3600_000).toISOString(), to: new Date().toISOString() });
      const inlineMs = performance.now() - t1;
      const inlineLateness = probe2.stop();
      console.log(`# in-thread: same overview ${inlineMs.toFixed(0)} ms; event-loop lateness max ${inlineLateness.max.toFixed(1)} ms`);
      // Same answer in both threads (the model requests made since then add served ones, not limited ones).
      assert.equal(same.totals.limited, body.totals.limited);
      assert.ok(same.totals.requests >= body.totals.requests);
      // In this thread the query runs as a few synchronous steps: its worst stall measured 169-335 ms
      // on the 2-core VM (five runs), against about 10 ms with the query thread.
      assert.ok(inlineLateness.max > 2 * LATENESS_BOUND_MS, `in-thread lateness ${inlineLateness.max.toFixed(1)} ms`);
      // The share of the query's time the event loop was stalled: a loaded machine adds hiccups to
      // both (one worst tick of 2 s was measured with the thread at load 15), but in this thread the
      // query itself is the stall.
      const stalled = lateness.blockedMs / queryMs;
      const inlineStalled = inlineLateness.blockedMs / inlineMs;
      assert.ok(stalled < inlineStalled / 2, `event loop stalled ${(100 * stalled).toFixed(1)}% of the query's time with the query thread (worst tick ${lateness.max.toFixed(1)} ms), ${(100 * inlineStalled).toFixed(1)}% in this thread (worst ${inlineLateness.max.toFixed(1)} ms)`);
    } finally {
      other.close();
      await w.close();
    }
  });
});

test('query thread: a failed query rejects with a clear error and the thread goes on; a crash is reported and the next query restarts it; close ends it', { timeout: 60_000 }, async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'events.db');
    const db = openSqlite(path);
    fillEvents(db, 100, Date.now());
    const exits: Error[] = [];
    const thread = new UsageThread(path, { onExit: (err) => exits.push(err) });
    assert.equal(thread.running, false, 'started by the first query, not before');

    await assert.rejects(thread.call('run', ['SELECT no_such_column FROM events', []]), (err: unknown) => {
      assert.ok(err instanceof UsageThreadError);
      assert.match(err.message, /usage query failed \(run\): no such column: no_such_column/);
      assert.equal(err.code, 'SQLITE_ERROR');
      return true;
    });
    const rows = await thread.call<{ n: number }[]>('run', ['SELECT COUNT(*) AS n FROM events', []]);
    assert.equal(rows[0].n, 100, 'the thread still answers, reading the attached database');
    assert.equal(thread.starts, 1);

    // A crash with a query in flight: the query rejects, the exit is reported, the next query restarts the thread.
    const inFlight = thread.call('run', ['SELECT COUNT(*) AS n FROM events', []]);
    thread.fault();
    const second = thread.call('run', ['SELECT 1', []]);
    const [a, b] = await Promise.allSettled([inFlight, second]);
    // The in-flight query may have been answered before the fault arrived; the one after it cannot be.
    assert.equal(b.status, 'rejected');
    assert.match(String((b as PromiseRejectedResult).reason.message), /usage query thread stopped during run/);
    assert.ok(a.status === 'fulfilled' || /stopped/.test(String(a.reason.message)));
    assert.equal(exits.length, 1);
    assert.match(exits[0].message, /exited with code 70/);
    const again = await thread.call<{ n: number }[]>('run', ['SELECT COUNT(*) AS n FROM events', []]);
    assert.equal(again[0].n, 100);
    assert.equal(thread.starts, 2, 'restarted once');

    await thread.close();
    assert.equal(thread.running, false);
    assert.equal(exits.length, 1, 'close is not a crash');
    await assert.rejects(thread.call('run', ['SELECT 1', []]), /usage store is closed/);
    db.close();
  });
});

test('query thread: a worker that cannot start fails the query with the reason', { timeout: 30_000 }, async () => {
  await withDir(async (dir) => {
    const exits: Error[] = [];
    const thread = new UsageThread(join(dir, 'events.db'), {
      entry: { filename: 'throw new Error("cannot load the usage worker")', eval: true, execArgv: [] },
      onExit: (err) => exits.push(err),
    });
    await assert.rejects(thread.call('newest'), /usage query thread stopped during newest: cannot load the usage worker/);
    assert.equal(exits.length, 1);
    await thread.close();
  });
});

test('query thread: a worker that stops on a value that is not an Error fails the query with that value, not "undefined"', { timeout: 30_000 }, async () => {
  await withDir(async (dir) => {
    const exits: Error[] = [];
    const thread = new UsageThread(join(dir, 'events.db'), {
      entry: { filename: 'throw "database is locked by another process"', eval: true, execArgv: [] },
      onExit: (err) => exits.push(err),
    });
    await assert.rejects(thread.call('newest'), /usage query thread stopped during newest: database is locked by another process$/);
    assert.match(exits[0]?.message ?? '', /database is locked by another process/, 'the exit log carries the cause');
    await thread.close();
  });
});

test('sqliteUsageStore: a file database gets the query thread, an in-memory one stays in this thread', async () => {
  await withDir(async (dir) => {
    const mem = openSqlite(':memory:');
    const inMemory = sqliteUsageStore(mem);
    assert.equal(inMemory.thread, 'inline');
    await inMemory.close();
    mem.close();
    const file = openSqlite(join(dir, 'events.db'));
    fillEvents(file, 10, Date.now());
    const usage = sqliteUsageStore(file);
    assert.equal(usage.thread, 'worker');
    const latest = await usage.interactions({ limit: 3 });
    assert.equal(latest.length, 3);
    await usage.close();
    await assert.rejects(usage.interactions({ limit: 1 }), /usage store is closed/);
    file.close();
  });
  // From the compiled dist/, the worker is the .js file beside the module.
  const dist = resolveWorkerEntry('file:///srv/warden/dist/src/ui/usage-thread.js', 'usage-worker', { execArgv: [] });
  assert.deepEqual([String(dist.filename), dist.eval], ['file:///srv/warden/dist/src/ui/usage-worker.js', false]);
});
