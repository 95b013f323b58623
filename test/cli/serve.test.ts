// `warden serve` on its embedded default: a newcomer gets a working gateway (mock model, SQLite,
// demo key printed once, admin API with a generated token), and the data survives a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { Writable } from 'node:stream';
import { buildLabelledEvents, runScanCli, type PromptPool } from '../../src/detect/index.ts';

test('embedded default: demo key works, admin API works, restart keeps data and prints no new key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-'));
  try {
    const config = parseConfig({ server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
    const lines: string[] = [];
    const w = await startWarden(config, { log: (l) => lines.push(l) });
    assert.ok(w.demoKey, 'a demo key on first start');
    assert.ok(lines.some((l) => l.includes(w.demoKey!)), 'shown once on the console');
    const client = new OpenAI({ apiKey: w.demoKey!, baseURL: `${w.url}/v1`, maxRetries: 0 });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
    assert.ok(res.choices[0].message.content);
    // The detector learns from the interaction off the request path; its state shows in /metrics.
    let metrics = '';
    for (let t = 0; t < 50 && !/^warden_detect_events_total 1$/m.test(metrics); t++) {
      await new Promise((r) => setTimeout(r, 20));
      metrics = await (await fetch(`${w.url}/metrics`)).text();
    }
    assert.match(metrics, /^warden_detect_events_total 1$/m);
    assert.match(metrics, /^warden_detect_accounts 1$/m);
    assert.match(metrics, /^warden_detect_accounts_forgotten_total 0$/m);
    assert.match(metrics, /^warden_detect_events_dropped_total 0$/m);

    const tokenFile = join(dir, 'admin-token');
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600, 'admin token file is private');
    const token = readFileSync(tokenFile, 'utf8').trim();
    const accounts = await fetch(`${w.url}/admin/accounts`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(accounts.status, 200);
    const unauth = await fetch(`${w.url}/admin/accounts`);
    assert.equal(unauth.status, 401);

    // An operator suspends an account and allow-lists a partner org: in force now, and after a restart.
    const post = async (url: string, path: string, body: object) => {
      const r = await fetch(`${url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.ok(r.status < 300, `${path}: ${r.status} ${await r.clone().text()}`);
      return r.json() as Promise<any>;
    };
    const fraud = await post(w.url, '/accounts', { name: 'fraud', email: 'f@example.org', tier: 'email_verified' });
    const fraudKey = (await post(w.url, `/accounts/${fraud.id}/keys`, { name: 'k' })).secret as string;
    const suspension = await post(w.url, '/detect/verdicts', { kind: 'account', id: fraud.id, level: 'suspend', note: 'chargebacks' });
    const partner = await post(w.url, '/orgs', { name: 'evaluation partner' });
    await post(w.url, '/detect/allow', { org: partner.id, note: 'evaluation partner' });
    const asFraud = (url: string) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${fraudKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal((await asFraud(w.url)).status, 403);
    await w.close();

    const db = readFileSync(join(dir, 'warden.db'));
    assert.ok(!db.includes(Buffer.from(w.demoKey!)), 'the key secret is not stored in the database');

    const lines2: string[] = [];
    const w2 = await startWarden(config, { log: (l) => lines2.push(l) });
    assert.equal(w2.demoKey, null, 'no second demo key');
    const refused = await asFraud(w2.url);
    assert.equal(refused.status, 403, 'the suspension survived the restart');
    assert.match(await refused.text(), /WARDEN_ACCOUNT_SUSPENDED/);
    const verdicts = await (await fetch(`${w2.url}/admin/detect/verdicts`, { headers: { authorization: `Bearer ${token}` } })).json() as any;
    assert.deepEqual(verdicts.data.map((v: any) => [v.subject.id, v.level, v.since, v.reasons[0].detail]), [[fraud.id, 'suspend', suspension.since, 'chargebacks']]);
    const allow = await (await fetch(`${w2.url}/admin/detect/allow`, { headers: { authorization: `Bearer ${token}` } })).json() as any;
    assert.deepEqual(allow.orgs, [partner.id]);
    const lifted = await fetch(`${w2.url}/admin/detect/verdicts?kind=account&id=${fraud.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    assert.equal(lifted.status, 204);
    assert.equal((await asFraud(w2.url)).status, 200, 'lifted');
    const again = new OpenAI({ apiKey: w.demoKey!, baseURL: `${w2.url}/v1`, maxRetries: 0 });
    await again.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello again' }] });
    let n = 0;
    for await (const _e of w2.stores.events.iterate()) n++;
    await w2.gateway.recorder.flush();
    for await (const _e of w2.stores.events.iterate({ afterId: '0' })) n += 0;
    assert.ok(n >= 1, 'events from the first run are still there');
    await w2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the detector comes back from its snapshot at restart, and replays only what was stored after it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-snapshot-'));
  const running = new Set<Awaited<ReturnType<typeof startWarden>>>();
  try {
    const base = { server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } };
    const config = parseConfig(base);
    // Events the detector holds, whether it saw them live, read them from its snapshot or replayed them.
    const detected = async (url: string, n: number) => {
      const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
      let events = -1;
      for (let t = 0; t < 100 && events !== n; t++) {
        if (t > 0) await new Promise((r) => setTimeout(r, 20));
        events = ((await (await fetch(`${url}/admin/detect/stats`, { headers: { authorization: `Bearer ${token}` } })).json()) as { events: number }).events;
      }
      return events;
    };
    const chat = async (url: string, key: string, k: number) => {
      const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
      for (let i = 0; i < k; i++) await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] });
    };
    const start = async (cfg = config) => {
      const lines: string[] = [];
      const w = await startWarden(cfg, { log: (l) => lines.push(l) });
      running.add(w);
      const close = w.close.bind(w);
      w.close = async () => { running.delete(w); await close(); };
      return { w, lines };
    };

    const first = await start();
    const key = first.w.demoKey!;
    await chat(first.w.url, key, 3);
    assert.equal(await detected(first.w.url, 3), 3);
    await first.w.close();
    const snapshot = join(dir, 'warden.db.detector');
    assert.equal(statSync(snapshot).mode & 0o777, 0o600, 'written at shutdown, private');
    const older = readFileSync(snapshot);

    // Restart: the state is read back, and the three events (stored too) are not counted twice.
    const second = await start();
    assert.ok(second.lines.some((l) => /^detect: state of .* read from .*warden\.db\.detector \(1 accounts\)/.test(l)), second.lines.join('\n'));
    assert.equal(await detected(second.w.url, 3), 3);
    await chat(second.w.url, key, 2);
    assert.equal(await detected(second.w.url, 5), 5);
    await second.w.close();

    // As after a crash: the last snapshot holds three events, the store five; the two after it are replayed.
    writeFileSync(snapshot, older);
    const third = await start();
    assert.ok(third.lines.some((l) => /^detect: 2 stored events replayed/.test(l)), third.lines.join('\n'));
    assert.equal(await detected(third.w.url, 5), 5);
    await third.w.close();

    // Other upstreams, policy, network lists, limits and stream length, detection settings alike:
    // the snapshot written at shutdown is read back, nothing is replayed.
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, readFileSync(new URL('../../policy/default.yaml', import.meta.url)));
    const torFile = join(dir, 'tor-exits.txt');
    writeFileSync(torFile, '185.220.101.1\n');
    const reconfigured = await start(parseConfig({
      ...base, server: { port: 0, stream_max_duration_ms: 120_000 },
      upstreams: [{ name: 'elsewhere', base_url: 'http://127.0.0.1:9', models: ['*'] }],
      policy: { file: policyFile, networks: { tor_exits_file: torFile } },
      limits: { estimate: { default_max_tokens: 1024 } },
    }));
    assert.ok(reconfigured.lines.some((l) => /^detect: state of .* read from .*warden\.db\.detector \(1 accounts\)/.test(l)), reconfigured.lines.join('\n'));
    assert.ok(!reconfigured.lines.some((l) => /not used|replayed/.test(l)), reconfigured.lines.join('\n'));
    assert.equal(await detected(reconfigured.w.url, 5), 5);
    await reconfigured.w.close();

    // Other detection settings: the snapshot is not used, and the stored events rebuild the state.
    const fourth = await start(parseConfig({ ...base, detect: { link_threshold: 1.2 } }));
    assert.ok(fourth.lines.some((l) => /snapshot .* not used \(the detection settings .* changed since it was written\); rebuilding from 72 h/.test(l)), fourth.lines.join('\n'));
    assert.equal(await detected(fourth.w.url, 5), 5);
    await fourth.w.close();
  } finally {
    for (const w of running) await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a scan of past logs seeds the gateway\'s detector: warden scan --state, then serve from that state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-seed-'));
  try {
    const pool = JSON.parse(readFileSync(new URL('../fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
    const past = buildLabelledEvents(pool, { seed: 3, days: 2, organic: { hobbyist: 30, startup: 2 }, campaigns: [{ kind: 'hydra', accounts: 30 }] });
    const logs = join(dir, 'past.jsonl');
    writeFileSync(logs, past.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const state = join(dir, 'seed.detector');
    const scanned = await runScanCli([logs, '--state', state, '--report', join(dir, 'report.json')], { stdout: new Writable({ write(_c, _e, cb) { cb(); } }), stderr: new Writable({ write(_c, _e, cb) { cb(); } }) });
    assert.equal(scanned, 0);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { accounts: Array<{ account_id: string; level: string }> };
    const flagged = report.accounts.filter((a) => a.level !== 'none' && a.level !== 'watch');
    assert.ok(flagged.length >= 20, 'the past holds a campaign');

    const lines: string[] = [];
    const w = await startWarden(parseConfig({ server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, detect: { snapshot: { path: state } } }), { log: (l) => lines.push(l) });
    try {
      assert.ok(lines.some((l) => /^detect: state of .* read from .*seed\.detector/.test(l)), lines.join('\n'));
      const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
      const account = async (id: string) => (await (await fetch(`${w.url}/admin/detect/accounts/${id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { level: string; cluster_id: string | null };
      for (const a of flagged.slice(0, 5)) assert.equal((await account(a.account_id)).level, a.level, a.account_id);
      const stats = (await (await fetch(`${w.url}/admin/detect/stats`, { headers: { authorization: `Bearer ${token}` } })).json()) as { events: number };
      assert.equal(stats.events, past.events.length);
    } finally { await w.close(); }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a restart after a start with no traffic says the detector had no events yet, not 1970', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-'));
  try {
    const config = parseConfig({ server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
    await (await startWarden(config, { demo: false, log: () => {} })).close();
    assert.ok(statSync(join(dir, 'warden.db.detector')).size > 0, 'a snapshot was written on stopping');
    const lines: string[] = [];
    await (await startWarden(config, { demo: false, log: (l) => lines.push(l) })).close();
    const read = lines.find((l) => l.startsWith('detect: ') && l.includes('read from'));
    assert.ok(read, lines.join('\n'));
    assert.match(read, /^detect: state \(no events yet\) read from .*warden\.db\.detector \(0 accounts\)/);
    assert.doesNotMatch(lines.join('\n'), /1970/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('upgrading from a release that created the data files 0644: they are made 0600 at start, and each is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-serve-'));
  const mode = (path: string) => statSync(path).mode & 0o777;
  let older: Database.Database | null = null;
  try {
    const db = join(dir, 'warden.db');
    const config = parseConfig({ server: { port: 0 }, store: { sqlite_path: db }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
    await (await startWarden(config, { demo: false, log: () => {} })).close();
    // What an older release leaves: every file 0644 (the umask's default), a -wal and -shm still
    // there (here held by a connection that stays open, as after a crash).
    older = new Database(db);
    older.pragma('journal_mode = WAL');
    older.exec('CREATE TABLE IF NOT EXISTS older_release (x TEXT); INSERT INTO older_release VALUES (1)');
    const files = ['warden.db', 'warden.db-wal', 'warden.db-shm', 'ledger.db', 'warden.db.detector', 'admin-token', 'ledger.key'].map((f) => join(dir, f));
    for (const f of files) chmodSync(f, 0o644);
    // A mode an operator chose for a backup group (no access for others) is theirs.
    const grouped = join(dir, 'warden.db-usage');
    writeFileSync(grouped, '');
    chmodSync(grouped, 0o640);

    const lines: string[] = [];
    const w = await startWarden(config, { demo: false, log: (l) => lines.push(l) });
    try {
      for (const f of files) {
        assert.equal(mode(f), 0o600, `${f} is private after the upgrade`);
        assert.ok(lines.some((l) => l === `files: ${f} was mode 0644, readable by other local users; made 0600 (it holds private data)`), `the start says ${f} was changed:\n${lines.join('\n')}`);
      }
      assert.equal(mode(grouped), 0o640, 'a file open to its group only is left as the operator set it');
      assert.ok(!lines.some((l) => l.includes(grouped)), 'and not named');
    } finally {
      await w.close();
    }
    // Nothing left to change: a second start says nothing about files.
    const again: string[] = [];
    older.close(); older = null;
    await (await startWarden(config, { demo: false, log: (l) => again.push(l) })).close();
    assert.ok(!again.some((l) => l.startsWith('files: ')), `no file named on a start with private files:\n${again.join('\n')}`);
  } finally {
    older?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
