// Leaked-output attribution from the keys the gateway actually marked with: `warden watermark
// subjects` lists the recorded `enforcement.watermark` keys of a period (cluster keys included, with
// the accounts served under them) as a --subjects-file, and `detect` without subjects uses them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore } from '../../src/store/index.ts';
import { sampleEvent } from '../helpers/synthetic-events.ts';
import { deriveWatermarkKey, watermarkText } from '../../src/watermark/index.ts';
import { FIXTURES } from '../helpers/sse-fixtures.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const MASTER = 'test-master-secret-0123456789abcdef';
const warden = (args: string[], cwd: string) => runWarden(args, { cwd, env: { WARDEN_WATERMARK_SECRET: '' } });

test('watermark subjects lists the recorded keys of a period; detect without subjects finds a cluster-keyed leak and names its accounts', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-wm-subjects-'));
  try {
    mkdirSync(join(dir, 'data'));
    const db = openSqlite(join(dir, 'data', 'warden.db'));
    const store = new SqliteEventStore(db);
    const marked = (n: number, account: string, key: string | null) => {
      const e = sampleEvent(n, { account_id: account });
      return { ...e, enforcement: { ...e.enforcement, watermark: key } };
    };
    // Two accounts linked into a cluster (at level none) answered under its key; a third under its own; one unmarked.
    await store.appendBatch([
      marked(0, 'acct_a', 'wm1:account:acct_a'),
      marked(1, 'acct_a', 'wm1:cluster:clu_084cugz'),
      marked(2, 'acct_b', 'wm1:cluster:clu_084cugz'),
      marked(3, 'acct_c', 'wm1:account:acct_c'),
      marked(4, 'acct_d', null),
      marked(7200, 'acct_e', 'wm1:account:acct_e'), // two hours later: outside the period asked below
    ]);
    await store.close();
    db.close();
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `store:\n  sqlite_path: ${join(dir, 'data', 'warden.db')}\nwatermark:\n  master_secret: ${MASTER}\n`);
    const prose = readFileSync(new URL('assistant-answers.txt', FIXTURES), 'utf8');
    writeFileSync(join(dir, 'leaked.txt'), watermarkText(prose, deriveWatermarkKey(MASTER, { kind: 'cluster', id: 'clu_084cugz' }).key).text);

    const listed = await warden(['watermark', 'subjects', '-c', config, '--from', '2026-06-01', '--to', '2026-06-01T13:00:00Z'], dir);
    assert.equal(listed.code, 0, `subjects exits 0: ${listed.stderr}`);
    const lines = listed.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(/\s+#/)[0]), ['cluster:clu_084cugz', 'account:acct_a', 'account:acct_c'], `the distinct recorded keys of the period, most answers first: ${listed.stdout}`);
    assert.match(lines[0], /# 2 answers .*2 accounts: acct_a, acct_b/, 'a cluster key names the accounts served under it');

    // The listing is a subjects file as it is.
    writeFileSync(join(dir, 'subjects.txt'), listed.stdout);
    const fromFile = await warden(['watermark', 'detect', '-c', config, '--file', 'leaked.txt', '--subjects-file', 'subjects.txt'], dir);
    assert.equal(fromFile.code, 0, `detected with the listed subjects: ${fromFile.stdout}${fromFile.stderr}`);
    assert.match(fromFile.stdout, /WATERMARK DETECTED for wm1:cluster:clu_084cugz/);

    // No subject given: the recorded keys are the candidates, and the accounts behind the key are named.
    const byDefault = await warden(['watermark', 'detect', '-c', config, '--file', 'leaked.txt'], dir);
    assert.equal(byDefault.code, 0, `detect without subjects uses the recorded keys: ${byDefault.stdout}${byDefault.stderr}`);
    assert.match(byDefault.stdout, /WATERMARK DETECTED for wm1:cluster:clu_084cugz/);
    assert.match(byDefault.stdout, /served under wm1:cluster:clu_084cugz: 2 answers .* 2 accounts: acct_a, acct_b/, 'the accounts behind the cluster key');
    assert.match(byDefault.stderr, /candidate keys: the 4 recorded in events/);

    const json = await warden(['watermark', 'subjects', '-c', config, '--account', 'acct_b', '--json'], dir);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).map((s: { subject: string }) => s.subject), ['cluster:clu_084cugz'], '--account narrows to the keys that account was served under');

    const none = await warden(['watermark', 'detect', '-c', config, '--file', 'leaked.txt', '--from', '2027-01-01'], dir);
    assert.equal(none.code, 2, 'no recorded key in the period is a usage error');
    assert.match(none.stderr, /no candidate keys/);
    const bad = await warden(['watermark', 'subjects', '-c', config, '--from', 'yesterday'], dir);
    assert.equal(bad.code, 2, 'a bad time is a usage error');
    assert.match(bad.stderr, /--from must be an ISO 8601/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
