// `warden usage export`: a month's usage per organisation, account and model for billing, split at
// the UTC month boundary, the prompt cache's share and batches apart, a rotated key's requests in
// its account's row, refusals counted but not priced.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SqliteEventStore } from '../../src/store/index.ts';
import { sampleEvent } from '../helpers/synthetic-events.ts';
import type { InteractionEvent } from '../../src/events/index.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const warden = (args: string[], cwd: string) => runWarden(args, { cwd });

let dir: string;
const LAST_OF_NOVEMBER = '2026-11-30T23:59:59.999Z';
const FIRST_OF_DECEMBER = '2026-12-01T00:00:00.000Z';

/** One event of `account` (org_a) at `ts`, with the response fields given. */
function ev(n: number, account: string, ts: string, model: string, response: Partial<InteractionEvent['response']>, over: Partial<InteractionEvent> = {}): InteractionEvent {
  const e = sampleEvent(n, { ts, model, account_id: account, org_id: 'org_a', key_id: `key_${account}`, ...over });
  e.response = { ...e.response, ...response };
  return e;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-usage-export-'));
  mkdirSync(join(dir, 'data'));
  // Prices for --priced: claude at 3/15 USD per Mtok (cache reads 0.1x, writes 1.25x by default), gpt-4o-mini at 0.15/0.6 with cached input at 0.075.
  writeFileSync(join(dir, 'warden.yaml'), [
    'limits:', '  prices:',
    '    - { model: "claude-*", input_per_mtok: 3, output_per_mtok: 15 }',
    '    - { model: gpt-4o-mini, input_per_mtok: 0.15, output_per_mtok: 0.6, cache_read_per_mtok: 0.075 }', '',
  ].join('\n'));
  const db = openSqlite(join(dir, 'data', 'warden.db'));
  const store = new SqliteEventStore(db);
  await store.appendBatch([
    // November, the last millisecond: acct_1's cached Claude turn.
    ev(1, 'acct_1', LAST_OF_NOVEMBER, 'claude-sonnet-4-5', { input_tokens: 4012, cached_input_tokens: 3000, cache_write_tokens: 1000, output_tokens: 40, reasoning_tokens: 0 }),
    // December from its first millisecond.
    ev(2, 'acct_1', FIRST_OF_DECEMBER, 'claude-sonnet-4-5', { input_tokens: 2000, cached_input_tokens: 1500, output_tokens: 100, reasoning_tokens: 60 }),
    // the same account after its key was rotated: another key, the same account's row
    ev(3, 'acct_1', '2026-12-15T10:00:00.000Z', 'claude-sonnet-4-5', { input_tokens: 12, output_tokens: 30, reasoning_tokens: 0, usage_source: 'tokenizer' }, { key_id: 'key_acct_1_rotated' }),
    // a request its batch ran, apart from the others
    ev(4, 'acct_1', '2026-12-16T10:00:00.000Z', 'gpt-4o-mini', { input_tokens: 2048, cached_input_tokens: 1024, output_tokens: 10, reasoning_tokens: 0 },
      { client: { ip: '203.0.113.9', user_agent: null, country: null, asn: null, batch_id: 'msgbatch_1' } }),
    ev(5, 'acct_1', '2026-12-16T11:00:00.000Z', 'gpt-4o-mini', { input_tokens: 100, output_tokens: 10, reasoning_tokens: 0, service_tier: 'flex' }),
    // the same model served by a second upstream (failover): one row, or one per upstream
    ev(9, 'acct_1', '2026-12-17T11:00:00.000Z', 'gpt-4o-mini', { input_tokens: 7, output_tokens: 3, reasoning_tokens: 0, service_tier: 'priority' }, { upstream: 'azure-eu' }),
    // refused by a limit: counted, never priced
    ev(6, 'acct_2', '2026-12-20T00:00:00.000Z', 'gpt-4o-mini', { status: 429, error_code: 'WARDEN_RATE_LIMITED', input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none' }),
    ev(7, 'acct_2', '2026-12-31T23:59:59.999Z', 'gpt-4o-mini', { input_tokens: 50, output_tokens: 5, reasoning_tokens: 0 }),
    // January: outside the export of December
    ev(8, 'acct_2', '2027-01-01T00:00:00.000Z', 'gpt-4o-mini', { input_tokens: 999, output_tokens: 999, reasoning_tokens: 0 }),
  ]);
  await store.close();
  db.close();
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

const csv = (text: string) => {
  const [head, ...lines] = text.trim().split('\n');
  const cols = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
};

test('usage export by month: the UTC month boundary splits, cache and batches apart, a rotated key in its account\'s row', { timeout: 120_000 }, async () => {
  const r = await warden(['usage', 'export', '--by', 'month', '--to', '2027-01-01'], dir);
  assert.equal(r.code, 0, r.stderr);
  const rows = csv(r.stdout);
  const find = (period: string, account: string, model: string, batch = 'false') => rows.find((x) => x.period === period && x.account_id === account && x.model === model && x.batch === batch);
  const nov = find('2026-11', 'acct_1', 'claude-sonnet-4-5');
  assert.ok(nov, `November has the last millisecond's request: ${r.stdout}`);
  assert.deepEqual([nov.requests, nov.input_tokens, nov.cached_input_tokens, nov.cache_write_tokens, nov.output_tokens], ['1', '4012', '3000', '1000', '40'], 'November: one cached turn');
  const dec = find('2026-12', 'acct_1', 'claude-sonnet-4-5');
  assert.ok(dec, 'December has the first millisecond\'s request');
  assert.deepEqual([dec.requests, dec.input_tokens, dec.cached_input_tokens, dec.output_tokens, dec.reasoning_tokens, dec.tokenizer_counted], ['2', '2012', '1500', '130', '60', '1'],
    'December: both keys of the account in one row, the tokenizer-counted request flagged');
  const batch = find('2026-12', 'acct_1', 'gpt-4o-mini', 'true');
  const online = find('2026-12', 'acct_1', 'gpt-4o-mini', 'false');
  assert.ok(batch && online, 'a batch\'s requests have their own row');
  assert.deepEqual([batch.requests, batch.input_tokens, batch.cached_input_tokens, online.requests, online.input_tokens], ['1', '2048', '1024', '2', '107']);
  const acct2 = find('2026-12', 'acct_2', 'gpt-4o-mini');
  assert.ok(acct2, 'the other account of the organisation has its row');
  assert.deepEqual([acct2.requests, acct2.refused, acct2.input_tokens], ['2', '1', '50'], 'a refusal is counted as a request, refused');
  assert.ok(!rows.some((x) => x.period === '2027-01'), '--to is exclusive: January is left out');
  assert.equal(rows.filter((x) => x.org_id === 'org_a').length, rows.length, 'every row names its organisation');
});

test('usage export --per-key splits a rotated key\'s requests; --by day; --priced charges as the budgets do; JSONL to a 0600 file', { timeout: 120_000 }, async () => {
  const perKey = csv((await warden(['usage', 'export', '--by', 'month', '--from', '2026-12-01', '--to', '2027-01-01', '--per-key', '--model', 'claude-sonnet-4-5'], dir)).stdout);
  assert.deepEqual(perKey.map((x) => [x.key_id, x.requests]), [['key_acct_1', '1'], ['key_acct_1_rotated', '1']], 'one row per key of the account');

  const upstreams = csv((await warden(['usage', 'export', '--by', 'month', '--from', '2026-12-01', '--to', '2027-01-01', '--per-upstream', '--account', 'acct_1', '--model', 'gpt-4o-mini'], dir)).stdout);
  assert.deepEqual(upstreams.map((x) => [x.upstream, x.batch, x.requests, x.input_tokens]), [['azure-eu', 'false', '1', '7'], ['mock', 'false', '1', '100'], ['mock', 'true', '1', '2048']],
    'a row per upstream that served the model, to set against each provider\'s invoice');

  const tiers = csv((await warden(['usage', 'export', '--by', 'month', '--from', '2026-12-01', '--to', '2027-01-01', '--per-tier', '--account', 'acct_1', '--model', 'gpt-4o-mini'], dir)).stdout);
  assert.deepEqual(tiers.map((x) => [x.service_tier, x.batch, x.requests, x.input_tokens]), [['', 'true', '1', '2048'], ['flex', 'false', '1', '100'], ['priority', 'false', '1', '7']],
    'a row per service tier the upstream served on (empty: it named none), priced apart by the provider');
  const flexOnly = csv((await warden(['usage', 'export', '--by', 'month', '--from', '2026-12-01', '--to', '2027-01-01', '--tier', 'flex', '--account', 'acct_1', '--model', 'gpt-4o-mini'], dir)).stdout);
  assert.deepEqual(flexOnly.map((x) => [x.requests, x.input_tokens]), [['1', '100']], '--tier sums the requests served on one tier only');

  const days = csv((await warden(['usage', 'export', '--account', 'acct_1', '--model', 'claude-sonnet-4-5'], dir)).stdout);
  assert.deepEqual(days.map((x) => x.period), ['2026-11-30', '2026-12-01', '2026-12-15'], 'days by default, in UTC');

  const r = await warden(['usage', 'export', '--by', 'month', '--from', '2026-11-01', '--to', '2027-01-01', '--priced', '--format', 'jsonl', '--out', 'bill.jsonl', '-c', 'warden.yaml'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(join(dir, 'bill.jsonl')).mode & 0o777, 0o600, 'a bill per customer is readable by its owner only');
  const rows = readFileSync(join(dir, 'bill.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const cost = (period: string, account: string, model: string, batch = false) => rows.find((x) => x.period === period && x.account_id === account && x.model === model && x.batch === batch)?.cost_usd;
  // 12 plain input x 3 + 3,000 read x 0.3 + 1,000 written x 3.75 + 40 output x 15 (micro-USD)
  assert.equal(cost('2026-11', 'acct_1', 'claude-sonnet-4-5'), Math.ceil(12 * 3 + 3000 * 0.3 + 1000 * 3.75 + 40 * 15) / 1e6, 'cache reads and writes at their prices');
  assert.equal(cost('2026-12', 'acct_1', 'gpt-4o-mini', true), Math.ceil(1024 * 0.15 + 1024 * 0.075 + 10 * 0.6) / 1e6, 'the model\'s own cache_read_per_mtok');
  assert.equal(cost('2026-12', 'acct_2', 'gpt-4o-mini'), Math.ceil(50 * 0.15 + 5 * 0.6) / 1e6, 'the refused request costs nothing');
});

test('usage export: bad --by, --format, times and unknown options are usage errors (exit 2)', { timeout: 120_000 }, async () => {
  const bad: Array<[string[], RegExp]> = [
    [['--by', 'week'], /--by must be one of hour, day, month/],
    [['--format', 'xlsx'], /--format must be csv or jsonl/],
    [['--from', 'November'], /--from must be an ISO 8601/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of bad) {
    const r = await warden(['usage', 'export', ...args], dir);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
