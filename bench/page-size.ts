/**
 * The SQLite database's page size: what 16 KB pages cost or save against SQLite's 4 KB default,
 * for every kind of work `warden serve` does on its one database file (events, identity, cases,
 * batches) and for the reads the dashboard and the admin API make, and for the ledger's own file.
 *
 * Two files, one of each page size, are filled alike and kept open side by side; every phase runs
 * on both, one after the other (the order swapped each round and each phase), and each phase's CPU
 * (process.cpuUsage: the work runs on this thread, the usage queries inline) is divided by its
 * operations. Reported per operation: the median over `--rounds` of each size's cost, and the
 * median of the per-round ratio 16 KB / 4 KB (paired, so a loaded machine moves both sides alike).
 * The events are written at 256, 64, 16 and 1 a batch as the writer thread does (sqliteEventInserter,
 * tokens handed over); the other phases use the stores' own methods. `--sizes 8192,16384` compares
 * two other sizes (the first is the baseline of the ratio).
 *
 * Last, each round's first file is rebuilt with the second size's pages as `warden store compact`
 * does (time, CPU, sizes).
 *
 *   node --import tsx bench/page-size.ts [--rounds 5] [--accounts 1000] [--events 25600] [--ledger 10000] [--sizes 4096,16384]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openSqlite, migrateSqlite, type SqliteDb } from '../src/store/index.ts';
import { SQLITE_EVENT_MIGRATIONS } from '../src/store/events.ts';
import { compactSqliteFile } from '../src/store/compact.ts';
import { ROLLUP_TOKEN_COUNT, rollupTokens } from '../src/store/usage-rollup.ts';
import { eventRow } from '../src/store/event-writer.ts';
import { sqliteEventInserter } from '../src/store/event-insert.ts';
import { SqliteIdentityStore, SqliteAnswerOwnersStore } from '../src/identity/index.ts';
import { SqliteCaseStore, type CaseFile } from '../src/cases/index.ts';
import { SqliteBatchStore, type BatchRecord } from '../src/batches/index.ts';
import { sqliteUsageStore } from '../src/ui/index.ts';
import { Ledger, SqliteLedgerStorage, generateSigner } from '../src/ledger/index.ts';
import type { InteractionEvent } from '../src/events/index.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: {
  rounds: { type: 'string', default: '5' }, accounts: { type: 'string', default: '1000' }, events: { type: 'string', default: '25600' },
  ledger: { type: 'string', default: '10000' }, sizes: { type: 'string', default: '4096,16384' },
} });
const ROUNDS = Number(values.rounds);
const ACCOUNTS = Number(values.accounts);
const EVENTS = Number(values.events);
const LEDGER = Number(values.ledger);
const SIZES = values.sizes!.split(',').map(Number);
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-pages-'));
const signer = generateSigner('bench.warden/ledger');
const cpuUs = () => { const c = process.cpuUsage(); return c.user + c.system; };

/** A new file at `pageSize` bytes a page, opened as Warden opens its database. */
function create(path: string, pageSize: number, durability: 'normal' | 'full' = 'normal'): SqliteDb {
  return openSqlite(path, { durability, pageSize });
}

interface Side {
  size: number; path: string; db: SqliteDb;
  identity: SqliteIdentityStore; cases: SqliteCaseStore; batches: SqliteBatchStore;
  usage: ReturnType<typeof sqliteUsageStore>; insert: ReturnType<typeof sqliteEventInserter>; owners: SqliteAnswerOwnersStore;
  accounts: string[]; keys: { id: string; secret: string }[]; org: string;
}

/** cost[phase][size] = µs an operation, one per round; ratio[phase] = 16 KB / 4 KB per round. */
const cost = new Map<string, Map<number, number[]>>();
const ops = new Map<string, string>();
function note(phase: string, size: number, us: number, n: number, unit: string): void {
  if (!cost.has(phase)) cost.set(phase, new Map());
  const m = cost.get(phase)!;
  m.set(size, [...(m.get(size) ?? []), us / n]);
  ops.set(phase, unit);
}

/** Run `phase` on every side, in `order`, timing each: `work` returns how many operations it did. */
async function phase(name: string, unit: string, sides: Side[], work: (s: Side) => Promise<number> | number): Promise<void> {
  for (const s of sides) {
    const t0 = cpuUs();
    const n = await work(s);
    note(name, s.size, cpuUs() - t0, n, unit);
  }
}

const T0 = Date.UTC(2026, 5, 1, 0, 0, 0);
function eventsFor(s: Side, from: number, n: number): InteractionEvent[] {
  // The same events on every side (ids differ: ulid), spread over the accounts and 7 days.
  return Array.from({ length: n }, (_, j) => {
    const i = from + j;
    const a = (i * 7919) % ACCOUNTS;
    return sampleEvent(i, { account_id: s.accounts[a], key_id: s.keys[a].id, org_id: s.org, ts: new Date(T0 + Math.floor(i * (7 * 86_400_000) / (EVENTS * 1.5))).toISOString() });
  });
}

function writeEvents(s: Side, events: InteractionEvent[], batch: number): number {
  for (let i = 0; i < events.length; i += batch) {
    const part = events.slice(i, i + batch);
    const rows = part.map(eventRow);
    const tokens: number[] = new Array(part.length * ROLLUP_TOKEN_COUNT);
    part.forEach((e, j) => rollupTokens(e.response, tokens, j * ROLLUP_TOKEN_COUNT));
    s.insert(rows, tokens);
  }
  return events.length;
}

function caseFile(id: string, members: string[], at: string): CaseFile {
  // About 9 KB of JSON, as a small campaign's case: members with their facts and usage, observables.
  return {
    schema: 'warden.case/1', id, title: `Campaign ${id}`, status: 'open', campaign_id: `camp_${id}`, cluster_id: `clu_${id}`, opened_at: at, updated_at: at,
    campaign: { members, reasons: ['shared payment instrument', 'same prompts in the same order'] } as unknown as CaseFile['campaign'],
    members: members.map((account_id, i) => ({ account_id, tier: 'unverified', created_at: at, requests: 100 + i, input_tokens: 30_000 + i, output_tokens: 90_000 + i, email_domain: 'mail.example', country: 'NL' }) as unknown as CaseFile['members'][number]),
    observables: Array.from({ length: 20 }, (_, i) => ({ kind: 'payment_fp', value: `${i}`.padStart(64, 'f'), accounts: members.length, shareable: true })) as unknown as CaseFile['observables'],
    usage: { requests: 2_000, input_tokens: 600_000, output_tokens: 1_800_000, reasoning_tokens: 0, models: { 'gpt-large': 2_000 }, countries: { NL: 2_000 } },
    events_read: 2_000, events_truncated: false, window_events_scanned: 20_000, window_truncated: false, ledger: null, notes: [],
  };
}

function batchRecord(id: string, s: Side, i: number): BatchRecord {
  return {
    id, account_id: s.accounts[i % ACCOUNTS], org_id: s.org, key_id: s.keys[i % ACCOUNTS].id, client_ip: '203.0.113.7', user_agent: 'sdk/1', anthropic_version: '2023-06-01',
    anthropic_beta: null, status: 'in_progress', created_at: T0 + i, expires_at: T0 + i + 86_400_000, ended_at: null, cancel_initiated_at: null,
  };
}
const items = (n: number, b: number) => Array.from({ length: n }, (_, i) => ({ custom_id: `r${i}`, params: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 256, messages: [{ role: 'user', content: `Batch ${b}, question ${i}: what is ${i} squared, and why? Explain step by step.` }] }) }));
const answer = (i: number) => JSON.stringify({ type: 'succeeded', message: { id: `msg_${i}`, role: 'assistant', content: [{ type: 'text', text: 'The answer, step by step. '.repeat(12) }], usage: { input_tokens: 30, output_tokens: 150 } } });

let sideCount = 0;
async function openSide(size: number): Promise<Side> {
  const path = join(dir, `${sideCount++}-${size}.db`);
  const db = create(path, size);
  if (db.pragma('page_size', { simple: true }) !== size) throw new Error(`page size ${size} not taken: ${db.pragma('page_size', { simple: true })}`);
  migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS);
  const identity = new SqliteIdentityStore(db);
  return {
    size, path, db, identity, cases: new SqliteCaseStore(db), batches: new SqliteBatchStore(db),
    usage: sqliteUsageStore(db, { thread: 'inline' }), insert: sqliteEventInserter(db), owners: new SqliteAnswerOwnersStore(db),
    accounts: [], keys: [], org: (await identity.createOrg({ name: 'bench' })).id,
  };
}

console.log(`# ${machine()}; ${new Date().toISOString()}; page sizes ${SIZES.join(' / ')}; ${ROUNDS} rounds, ${ACCOUNTS} accounts, ${EVENTS} + ${EVENTS / 2} + 4,000 events a round, ${LEDGER} ledger entries; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const fileBytes = new Map<number, number[]>();
const compactions: { bytes: number; cpuS: number; wallS: number; after: number }[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const sides: Side[] = [];
    for (const size of SIZES) sides.push(await openSide(size));
    // Swapped every phase and every round: neither size always runs first.
    let flip = round % 2;
    const order = () => (flip++ % 2 === 0 ? sides : [...sides].reverse());

    await phase('identity: create an account and its key', 'account', order(), async (s) => {
      for (let i = 0; i < ACCOUNTS; i++) {
        const a = await s.identity.createAccount({ org_id: s.org, email: `u${i}@bench.example`, name: `User ${i}` });
        const k = await s.identity.createKey(a.id, { name: 'default' });
        s.accounts.push(a.id);
        s.keys.push({ id: k.key.id, secret: k.secret });
      }
      return ACCOUNTS;
    });
    const first = new Map(sides.map((s) => [s, eventsFor(s, 0, EVENTS)]));
    await phase('events: write, 256 a batch', 'event', order(), (s) => writeEvents(s, first.get(s)!, 256));
    first.clear();
    const second = new Map(sides.map((s) => [s, eventsFor(s, EVENTS, EVENTS / 2)]));
    await phase('events: write, 64 a batch', 'event', order(), (s) => writeEvents(s, second.get(s)!, 64));
    second.clear();
    // Small batches: what the writer commits when requests are few (a batch is what arrives in 50 ms).
    const small = new Map(sides.map((s) => [s, eventsFor(s, EVENTS * 1.5, 3_200 + 800)]));
    await phase('events: write, 16 a batch', 'event', order(), (s) => writeEvents(s, small.get(s)!.slice(0, 3_200), 16));
    await phase('events: write, 1 a batch', 'event', order(), (s) => writeEvents(s, small.get(s)!.slice(3_200), 1));
    small.clear();
    await phase('answer owners: record, 50 a flush', 'answer', order(), async (s) => {
      for (let f = 0; f < 200; f++) {
        await s.owners.record(Array.from({ length: 50 }, (_, j) => {
          const a = (f * 50 + j) % ACCOUNTS;
          return { id: `resp_${round}_${f}_${j}_${'x'.repeat(40)}`, accountId: s.accounts[a], orgId: s.org, at: new Date(T0 + f * 200).toISOString(), model: 'gpt-large' };
        }));
      }
      return 10_000;
    });
    await phase('answer owners: look one up', 'lookup', order(), async (s) => {
      for (let i = 0; i < 5_000; i++) await s.owners.ownerOf(`resp_${round}_${(i * 7) % 200}_${i % 50}_${'x'.repeat(40)}`);
      return 5_000;
    });
    await phase('identity: authenticate a key (uncached)', 'lookup', order(), async (s) => {
      for (let i = 0; i < 5_000; i++) await s.identity.authenticate(s.keys[(i * 31) % ACCOUNTS].secret);
      return 5_000;
    });
    await phase('identity: last use of keys, 200 a flush', 'key', order(), async (s) => {
      for (let f = 0; f < 20; f++) {
        const usage = new Map<string, number>();
        for (let j = 0; j < 200; j++) usage.set(s.keys[(f * 200 + j * 7) % ACCOUNTS].id, T0 + 86_400_000 * 30 + f * 60_000);
        await s.identity.touchKeys(usage);
      }
      return 4_000;
    });
    await phase('identity: update an account', 'update', order(), async (s) => {
      for (let i = 0; i < 500; i++) await s.identity.updateAccount(s.accounts[(i * 13) % ACCOUNTS], { name: `User ${i} (renamed in round ${round})` });
      return 500;
    });
    await phase('cases: store a case (20 members, ~9 KB)', 'case', order(), async (s) => {
      for (let i = 0; i < 200; i++) await s.cases.putCase(caseFile(`case_${i}`, Array.from({ length: 20 }, (_, j) => s.accounts[(i * 20 + j) % ACCOUNTS]), new Date(T0 + i * 1000).toISOString()));
      return 200;
    });
    await phase('cases: read a case', 'read', order(), async (s) => {
      for (let i = 0; i < 1_000; i++) await s.cases.getCase(`case_${(i * 7) % 200}`);
      return 1_000;
    });
    await phase('batches: create (20 requests), claim, finish, settle', 'batch', order(), async (s) => {
      for (let b = 0; b < 100; b++) await s.batches.create(batchRecord(`msgbatch_${b}`, s, b), items(20, b));
      let now = T0 + 1000;
      for (;;) {
        const claimed = await s.batches.claim(now, 20, 60_000);
        if (claimed.length === 0) break;
        await s.batches.finish(claimed.map((c) => ({ batchId: c.batch.id, idx: c.idx, state: 'succeeded' as const, result: answer(c.idx) })));
        now += 10;
      }
      await s.batches.settle(now);
      return 100;
    });
    const to = new Date(T0 + 8 * 86_400_000).toISOString();
    const from = new Date(T0).toISOString();
    await phase('dashboard: usage rows caught up (first query)', 'event', order(), async (s) => {
      await s.usage.summary({ from, to });
      return EVENTS * 1.5;
    });
    await phase('dashboard: usage summary, 7 days', 'query', order(), async (s) => {
      for (let i = 0; i < 10; i++) await s.usage.summary({ from, to });
      return 10;
    });
    await phase('dashboard: top accounts, 7 days', 'query', order(), async (s) => {
      for (let i = 0; i < 10; i++) await s.usage.top('account', { from, to });
      return 10;
    });
    await phase('dashboard: one account\'s usage, 7 days', 'query', order(), async (s) => {
      for (let i = 0; i < 100; i++) await s.usage.summary({ from, to, accountId: s.accounts[(i * 17) % ACCOUNTS] });
      return 100;
    });
    await phase('dashboard: interactions, a page of 50', 'page', order(), async (s) => {
      let before: string | undefined;
      for (let i = 0; i < 50; i++) {
        const page = await s.usage.interactions({ from, to, limit: 50, before });
        before = page.at(-1)?.id;
      }
      return 50;
    });
    await phase('dashboard: an account\'s interactions, a page of 50', 'page', order(), async (s) => {
      for (let i = 0; i < 200; i++) await s.usage.interactions({ from, to, accountId: s.accounts[(i * 17) % ACCOUNTS], limit: 50 });
      return 200;
    });
    await phase('customer usage by day (the hourly rollup)', 'query', order(), async (s) => {
      for (let i = 0; i < 200; i++) await s.usage.daily({ from, to, accountId: s.accounts[(i * 17) % ACCOUNTS] });
      return 200;
    });
    await phase('admin: accounts, a page of 50', 'page', order(), async (s) => {
      let cursor: string | undefined;
      for (let i = 0; i < 20; i++) {
        const page = await s.identity.listAccounts({ limit: 50, cursor });
        cursor = page.next_cursor ?? undefined;
      }
      return 20;
    });
    for (const s of sides) {
      s.db.pragma('wal_checkpoint(TRUNCATE)');
      fileBytes.set(s.size, [...(fileBytes.get(s.size) ?? []), statSync(s.path).size]);
      await s.usage.close?.();
      await s.identity.close();
      s.db.close();
    }
    // What converting costs: the first size's file rebuilt with the second's pages (warden store compact).
    {
      const s = sides[0];
      const bytes = statSync(s.path).size;
      const t0 = cpuUs(); const w0 = performance.now();
      compactSqliteFile(s.path, SIZES[1]);
      compactions.push({ bytes, cpuS: (cpuUs() - t0) / 1e6, wallS: (performance.now() - w0) / 1000, after: statSync(s.path).size });
    }

    // The ledger's own file (synchronous=FULL): interactions appended through the Ledger, its
    // writer on this thread, its checkpoints signed as they come.
    if (LEDGER > 0) {
      const ledgerEvents = Array.from({ length: LEDGER }, (_, i) => sampleEvent(i));
      await phase('ledger: append an interaction (own file, fsync)', 'entry', order().map((s) => ({ ...s, path: join(dir, `${sideCount++}-ledger-${s.size}.db`) })), async (s) => {
        const storage = new SqliteLedgerStorage(create(s.path, s.size, 'full'), true);
        const ledger = await Ledger.open({ storage, origin: 'bench.warden/ledger', signers: [signer], writer: 'inline', groupCommitMs: 50 });
        await Promise.all(ledgerEvents.map((e) => ledger.appendInteraction(e)));
        await ledger.close();
        return LEDGER;
      });
    }
    for (const f of [...sides.map((s) => s.path)]) for (const x of ['', '-wal', '-shm']) rmSync(f + x, { force: true });
    process.stderr.write(`round ${round + 1}/${ROUNDS} done ${new Date().toISOString().slice(11, 19)}, load ${loadavg()[0].toFixed(1)}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const [A, B] = SIZES;
console.log(`\n| work | unit | ${A / 1024} KB pages, µs | ${B / 1024} KB pages, µs | ${B / 1024} KB / ${A / 1024} KB (median of rounds' ratios) | rounds' ratios |`);
console.log('|---|---|---|---|---|---|');
for (const [name, m] of cost) {
  const a = m.get(A)!; const b = m.get(B)!;
  const ratios = a.map((x, i) => b[i] / x);
  console.log(`| ${name} | ${ops.get(name)} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${median(ratios).toFixed(2)} | ${ratios.map((r) => r.toFixed(2)).join(' ')} |`);
}
console.log(`\nFile size after a round (checkpointed): ${SIZES.map((s) => `${s / 1024} KB pages ${(median(fileBytes.get(s)!) / 1e6).toFixed(1)} MB`).join(', ')}; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const c = compactions[Math.floor(compactions.length / 2)];
console.log(`Rebuilt with ${SIZES[1] / 1024} KB pages (compactSqliteFile, what \`warden store compact\` runs), each round's ${SIZES[0] / 1024} KB file: ${compactions.map((x) => `${(x.bytes / 1e6).toFixed(1)} MB -> ${(x.after / 1e6).toFixed(1)} MB in ${x.wallS.toFixed(1)} s (${x.cpuS.toFixed(1)} s CPU)`).join('; ')}; ${(c.bytes / 1e6 / c.cpuS).toFixed(0)} MB per CPU second in the middle one`);
