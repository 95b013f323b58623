// `warden events export`: bad times, limits and options are usage errors (exit 2) named as such,
// not an empty export or a raw SQL error; `--out -` is stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore } from '../../src/store/index.ts';
import { sampleEvent } from '../helpers/synthetic-events.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const warden = (args: string[], cwd: string) => runWarden(args, { cwd });

test('events export: invalid --from, --to, --limit and unknown options exit 2; --out - writes to stdout', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-events-export-'));
  try {
    mkdirSync(join(dir, 'data'));
    const db = openSqlite(join(dir, 'data', 'warden.db'));
    const store = new SqliteEventStore(db);
    const events = Array.from({ length: 5 }, (_, i) => sampleEvent(i));
    events[3].response.upstream_request_id = 'req_from_the_apps_log';
    await store.appendBatch(events);
    await store.close();
    db.close();

    const bad: Array<[string[], RegExp]> = [
      [['--from', 'notadate'], /--from must be an ISO 8601/],
      [['--to', 'notadate'], /--to must be an ISO 8601/],
      [['--limit', 'abc'], /--limit must be a positive integer/],
      [['--limit', '2.5'], /--limit must be a positive integer/],
      [['--limit', '0'], /--limit must be a positive integer/],
      [['--bogus'], /Unknown option '--bogus'/],
      // An empty path would silently export the default configuration's events.
      [['--config='], /--config needs a file/],
      [['-c', ''], /--config needs a file/],
    ];
    await Promise.all(bad.map(async ([args, message]) => {
      const r = await warden(['events', 'export', ...args, '--out', 'x.jsonl'], dir);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /no such column|datatype mismatch|wrote/);
    }));
    assert.equal(existsSync(join(dir, 'x.jsonl')), false, 'nothing written on a usage error');

    // The reads below are independent of each other: run at once (each is a process of its own).
    writeFileSync(join(dir, 'old.jsonl'), 'stale\n', { mode: 0o644 });
    chmodSync(join(dir, 'old.jsonl'), 0o644);
    const exportsTo = ['events.jsonl', 'events.jsonl.gz', 'old.jsonl'];
    const [out, byUpstream, byWarden, ...written] = await Promise.all([
      warden(['events', 'export', '--out', '-', '--from', '2026-06-01T12:00:01Z', '--limit', '3'], dir),
      warden(['events', 'export', '--request-id', 'req_from_the_apps_log'], dir),
      warden(['events', 'export', '--request-id', events[1].id], dir),
      ...exportsTo.map((name) => warden(['events', 'export', '--out', name], dir)),
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(out.stdout.trim().split('\n').map((l) => JSON.parse(l).ts), ['2026-06-01T12:00:01.000Z', '2026-06-01T12:00:02.000Z', '2026-06-01T12:00:03.000Z']);
    assert.equal(existsSync(join(dir, '-')), false, 'no file named -');

    // An app's logged request id finds its event: the upstream's, or Warden's own.
    assert.equal(byUpstream.code, 0, byUpstream.stderr);
    assert.deepEqual(byUpstream.stdout.trim().split('\n').map((l) => JSON.parse(l).id), [events[3].id]);
    assert.deepEqual(byWarden.stdout.trim().split('\n').map((l) => JSON.parse(l).id), [events[1].id]);

    // An export holds prompts, emails' domains and IPs: 0600 like the data files, also when it replaces a file.
    for (const [i, name] of exportsTo.entries()) {
      const r = written[i];
      assert.equal(r.code, 0, r.stderr);
      assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, `${name} is readable by its owner only`);
    }
    assert.equal(readFileSync(join(dir, 'old.jsonl'), 'utf8').trim().split('\n').length, 5, 'the replaced file holds the export only');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('event store: the limit is a bound count; a limit that is not an integer is refused by name', async () => {
  const db = openSqlite(':memory:');
  const store = new SqliteEventStore(db);
  await store.appendBatch(Array.from({ length: 5 }, (_, i) => sampleEvent(i)));
  const read = async (limit: number) => { const out = []; for await (const e of store.iterate({ limit })) out.push(e); return out; };
  assert.equal((await read(2)).length, 2);
  for (const limit of [2.5, Number.NaN, -1]) await assert.rejects(read(limit), /limit must be a non-negative integer/);
  db.close();
});

test('events export --ip takes any spelling of an address and refuses a non-address; events erase --account blanks the account\'s events', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-events-ip-'));
  try {
    mkdirSync(join(dir, 'data'));
    const db = openSqlite(join(dir, 'data', 'warden.db'));
    const store = new SqliteEventStore(db);
    await store.appendBatch(Array.from({ length: 6 }, (_, i) => sampleEvent(i, { client: { ip: i < 3 ? '127.0.0.1' : '2001:db8::1', user_agent: 'ua', country: null, asn: null } })));
    await store.close();
    db.close();

    const lines = (out: string) => out.trim().split('\n').filter(Boolean).length;
    // Reads and usage errors at once (each a process of its own), then the erase and what it left.
    const spellings = [['127.0.0.1', 3], ['::ffff:127.0.0.1', 3], ['2001:DB8:0:0::1', 3]] as const;
    const [bad, noAccount, ...found] = await Promise.all([
      warden(['events', 'export', '--ip', 'not-an-ip'], dir),
      warden(['events', 'erase'], dir),
      ...spellings.map(([spelling]) => warden(['events', 'export', '--ip', spelling], dir)),
    ]);
    for (const [i, [spelling, n]] of spellings.entries()) {
      const r = found[i];
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lines(r.stdout), n, `--ip ${spelling} finds the events of that address`);
    }
    assert.equal(bad.code, 2, 'a non-address is a usage error');
    assert.match(bad.stderr, /--ip must be an IP address/);

    assert.equal(noAccount.code, 2, 'erase needs --account');
    const erase = await warden(['events', 'erase', '--account', 'acct_0'], dir);
    assert.equal(erase.code, 0, erase.stderr);
    assert.match(erase.stdout, /erased personal data of 1 events of acct_0/);
    const exported = (await warden(['events', 'export', '--account', 'acct_0'], dir)).stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(exported.map((e) => [e.client.ip, e.client.user_agent, e.request.messages[0].text, typeof e.erased_at]), [['', null, null, 'string']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('events export writes a client\'s text with no raw control for the terminal, and it reads back exact', { timeout: 120_000 }, async () => {
  // A model name and a prompt are what the client sent (U+202E reads backwards, U+2028 breaks the
  // line in some terminals); a user agent may hold bytes 0x80-0xFF, read as C1 controls (U+009B is a one-byte CSI).
  const model = 'gpt\u001b]0;pwned\u0007\u009b2J\u202eevil';
  const userAgent = 'ua\u0085\u009b31m\u007f';
  const prompt = 'first\u2028second\u2029third \u2066isolate\u2069 \u200fmark';
  const dir = mkdtempSync(join(tmpdir(), 'warden-events-inert-'));
  try {
    mkdirSync(join(dir, 'data'));
    const db = openSqlite(join(dir, 'data', 'warden.db'));
    const store = new SqliteEventStore(db);
    const event = sampleEvent(0, { model });
    event.client.user_agent = userAgent;
    event.request.messages[0].text = prompt;
    await store.appendBatch([event]);
    await store.close();
    db.close();
    const [toStdout, toFile] = await Promise.all([warden(['events', 'export'], dir), warden(['events', 'export', '--out', 'events.jsonl'], dir)]);
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.equal(toFile.code, 0, toFile.stderr);
    for (const [where, text] of [['stdout', toStdout.stdout], ['a file', readFileSync(join(dir, 'events.jsonl'), 'utf8')]]) {
      const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.exec(text);
      assert.equal(raw, null, `${where}: no raw control or bidirectional control: ${JSON.stringify(text)}`);
      const e = JSON.parse(text.trim());
      assert.deepEqual([e.model, e.client.user_agent, e.request.messages[0].text], [model, userAgent, prompt], `${where}: the values read back as recorded`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
