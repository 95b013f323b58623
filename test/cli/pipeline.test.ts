// The offline loop an operator runs from the command line: `warden simulate` writes events and
// ground-truth labels, `warden scan` runs the detector over them, `warden eval` scores the result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parseConfig } from '../../src/config/index.ts';
import { openStores } from '../../src/cli/stores.ts';
import type { InteractionEvent } from '../../src/events/index.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WARDEN } from '../helpers/node-args.ts';

const run = promisify(execFile);
const warden = (args: string[], cwd: string) =>
  run(process.execPath, [...WARDEN, ...args], { cwd, maxBuffer: 64 << 20, env: { ...process.env, NODE_OPTIONS: '' } });

test('simulate -> scan -> eval from the CLI: campaigns found, organic accounts untouched', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-pipeline-'));
  try {
    const sim = await warden(['simulate', '--preset', 'smoke', '--seed', '7', '--out', 'ev.jsonl', '--labels', 'lab.jsonl'], dir);
    assert.match(sim.stdout + sim.stderr, /events/);
    const firstEvent = JSON.parse(readFileSync(join(dir, 'ev.jsonl'), 'utf8').split('\n', 1)[0]);
    assert.equal(firstEvent.schema, 'warden.interaction/1');

    const scan = await warden(['scan', 'ev.jsonl', '--report', 'det.json'], dir);
    assert.match(scan.stdout, /campaigns:/);

    await warden(['eval', '--detections', 'det.json', '--labels', 'lab.jsonl', '--events', 'ev.jsonl', '--out', 'rep'], dir);
    for (const f of ['report.json', 'report.txt', 'report.svg']) assert.ok(existsSync(join(dir, 'rep', f)), f);
    const report = JSON.parse(readFileSync(join(dir, 'rep', 'report.json'), 'utf8'));
    assert.equal(report.schema, 'warden.eval/1');
    assert.ok(report.campaigns.length >= 3);
    for (const c of report.campaigns) assert.ok(c.accounts_flagged > 0, `${c.campaign_id} flagged`);
    assert.ok(report.totals.organic_accounts > 0);
    assert.equal(report.totals.organic_accounts_flagged, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate and events export write gzip when the file name asks for it, and scan reads it as it reads plain JSONL', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-export-'));
  try {
    // The simulator writes .gz too, one gzip member per megabyte buffer: 1,500 events make several.
    const simArgs = ['simulate', '--preset', 'smoke', '--seed', '3', '--max-events', '1500', '--labels', 'none'];
    await Promise.all([warden([...simArgs, '--out', 'sim.jsonl'], dir), warden([...simArgs, '--out', 'sim.jsonl.gz'], dir)]);
    assert.deepEqual(gunzipSync(readFileSync(join(dir, 'sim.jsonl.gz'))), readFileSync(join(dir, 'sim.jsonl')));
    const events = readFileSync(join(dir, 'sim.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as InteractionEvent);
    assert.ok(readFileSync(join(dir, 'sim.jsonl')).length > 2 << 20, 'more than two buffers');
    const db = join(dir, 'warden.db');
    const stores = await openStores(parseConfig({ store: { sqlite_path: db } }));
    await stores.events.appendBatch(events);
    await stores.close();
    writeFileSync(join(dir, 'warden.yaml'), `store:\n  sqlite_path: ${JSON.stringify(db)}\n`);

    await warden(['events', 'export', '--out', 'ex.jsonl'], dir);
    await warden(['events', 'export', '--out', 'ex.jsonl.gz'], dir);
    const plain = readFileSync(join(dir, 'ex.jsonl'));
    assert.equal(plain.toString('utf8').trim().split('\n').length, events.length);
    assert.deepEqual(gunzipSync(readFileSync(join(dir, 'ex.jsonl.gz'))), plain, 'the .gz file holds the same lines');

    const [a, b, c] = await Promise.all(['ex.jsonl', 'ex.jsonl.gz', 'sim.jsonl.gz'].map((f) => warden(['scan', f, '--json'], dir)));
    const summary = (out: string) => { const { seconds: _s, ...rest } = JSON.parse(out); return rest; };
    assert.deepEqual(summary(b.stdout), summary(a.stdout));
    assert.deepEqual(summary(c.stdout), summary(a.stdout), 'a file of several gzip members reads whole');
    assert.equal(summary(a.stdout).events, events.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every command lists in `warden help`', async () => {
  const { stdout } = await warden(['help'], tmpdir());
  for (const name of ['serve', 'scan', 'simulate', 'redteam', 'eval', 'policy', 'watermark', 'ledger']) assert.match(stdout, new RegExp(`\\b${name}\\b`));
});

test('a server that cannot start says why and exits 1, with its store already open (it does not hang)', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-fail-'));
  try {
    const t0 = Date.now();
    const failed = await run(process.execPath, [...WARDEN, 'serve', '--db', join(dir, 'w.db'), '--port', '0'], {
      cwd: dir, env: { ...process.env, NODE_OPTIONS: '', WARDEN_DETECT__MODE: 'replica', WARDEN_REDIS__URL: '' }, timeout: 20_000,
    }).then(() => null, (err: { code: number; stderr: string; killed: boolean }) => err);
    assert.ok(failed, 'the command fails');
    assert.equal(failed.killed, false, 'it ended by itself');
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^warden: detect\.mode is replica: nodes share the detector through Redis, set redis\.url$/m);
    assert.ok(Date.now() - t0 < 15_000);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
