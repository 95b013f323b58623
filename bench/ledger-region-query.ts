/**
 * `warden ledger query --subdivision` on a big log: N interactions (1 in 100 from UA-43, the rest
 * spread over other regions) in a SQLite ledger, then queries by region against a baseline in the
 * same run: the same pages of interaction rows read without parsing any leaf (what the query's
 * index-only filters pay). The subdivision and the country are indexed (the entries' region
 * columns): a region query reads the matching leaves and counts the others in the database. Then
 * the same log as upgraded from before the columns (none filled): the query reads and parses every
 * leaf, the fill (region-fill.ts) fills them, and the query is run again. Reports CPU time per
 * 1,000 interactions of the log and the heap's growth (rows are read a page at a time: memory
 * follows the rows returned, not N).
 *
 *   node --expose-gc --import tsx bench/ledger-region-query.ts [--events 100000]
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { Ledger, SqliteLedgerStorage, generateSigner } from '../src/ledger/index.ts';
import { queryLedger } from '../src/ledger/query.ts';
import { fillRegionColumns } from '../src/ledger/region-fill.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';
import { machine } from './lib.ts';
import { openSqlite } from '../src/store/sqlite.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' } } });
const N = Number(values.events);
const origin = 'bench.warden/region-query';
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-region-'));
const REGIONS = ['UA-30', 'UA-46', 'PL-MZ', 'DE-BE', 'NL-NH', 'US-CA'];

async function main() {
  const storage = SqliteLedgerStorage.open(join(dir, 'ledger.db'));
  const t0 = performance.now();
  const ledger = await Ledger.open({ storage, origin, signers: [generateSigner(origin)], checkpointIntervalMs: 60_000, batchMax: 2048, maxQueue: 200_000 });
  for (let i = 0; i < N; i += 2000) {
    const batch = Array.from({ length: Math.min(2000, N - i) }, (_, k) => {
      const n = i + k;
      const sub = n % 100 === 0 ? 'UA-43' : REGIONS[n % REGIONS.length];
      return sampleEvent(n, { client: { ip: `203.0.113.${n % 250}`, user_agent: 'ua', country: sub.slice(0, 2), asn: 64500, subdivision: sub, subdivision_data: 'c'.repeat(64) } });
    });
    await Promise.all(batch.map((e) => ledger.appendInteraction(e)));
  }
  await ledger.checkpoint();
  const fillS = (performance.now() - t0) / 1000;

  const measure = async (name: string, run: () => Promise<string>) => {
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    let peak = heap0;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().heapUsed); }, 2);
    const load = loadavg()[0];
    const cpu0 = process.cpuUsage();
    const what = await run();
    const cpu = process.cpuUsage(cpu0);
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    clearInterval(sampler);
    return { name, what, cpuS: (cpu.user + cpu.system) / 1e6, heapMb: (peak - heap0) / 1e6, load };
  };
  const rows: Awaited<ReturnType<typeof measure>>[] = [];
  for (let round = 0; round < 2; round++) {
    rows.push(await measure('baseline: every interaction row read, no leaf parsed', async () => {
      let after = -1; let n = 0;
      for (;;) {
        const page = await storage.query({ kind: 'interaction', afterIndex: after, limit: 2000 });
        n += page.length;
        if (page.length < 2000) break;
        after = page[page.length - 1].entry.index;
      }
      return `${n} rows`;
    }));
    rows.push(await measure('--subdivision UA-43 (1% of the log)', async () => {
      const r = await queryLedger(storage, { subdivisions: ['UA-43'] });
      return `${r.interactions.length} returned, ${r.regions!.scanned} leaves read`;
    }));
    rows.push(await measure('--subdivision UA-30 --limit 1000 (1/6 of the log; rows past the limit counted)', async () => {
      const r = await queryLedger(storage, { subdivisions: ['UA-30'], limit: 1000 });
      return `${r.interactions.length} returned of ${r.regions!.interactions}, ${r.regions!.scanned} leaves read`;
    }));
    rows.push(await measure('--subdivision UA-43 --from/--to (a tenth of the log by time)', async () => {
      const from = sampleEvent(0).ts; const to = sampleEvent(Math.floor(N / 10)).ts;
      const r = await queryLedger(storage, { subdivisions: ['UA-43'], from, to });
      return `${r.interactions.length} returned, ${r.regions!.scanned} leaves read`;
    }));
  }
  // The same log as a ledger of the release before the region columns (ledger version 1), opened
  // by this one: the migration adds the columns and builds their indexes; none is filled.
  await ledger.close();
  const path = join(dir, 'ledger.db');
  const old = openSqlite(path, { durability: 'full' });
  old.exec(`DROP INDEX ledger_entries_subdivision; DROP INDEX ledger_entries_country; DROP INDEX ledger_entries_region_unknown; DROP INDEX ledger_entries_region_unfilled;
    ALTER TABLE ledger_entries DROP COLUMN region_state; ALTER TABLE ledger_entries DROP COLUMN client_country; ALTER TABLE ledger_entries DROP COLUMN client_subdivision;
    DELETE FROM schema_migrations WHERE component = 'ledger' AND version = 2; VACUUM;`);
  old.close();
  const upgraded: Awaited<ReturnType<typeof measure>>[] = [];
  let storage2: SqliteLedgerStorage | null = null;
  upgraded.push(await measure('migration 2 on the version 1 file (columns added, indexes built)', async () => {
    const t1 = performance.now();
    storage2 = SqliteLedgerStorage.open(path);
    return `${(performance.now() - t1).toFixed(0)} ms wall`;
  }));
  const upgradedStorage: SqliteLedgerStorage = storage2!;
  upgraded.push(await measure('upgraded log, columns not filled: --subdivision UA-43', async () => {
    const r = await queryLedger(upgradedStorage, { subdivisions: ['UA-43'] });
    return `${r.interactions.length} returned, ${r.regions!.scanned} leaves read`;
  }));
  upgraded.push(await measure('the fill of the region columns (region-fill.ts, 500 rows a transaction)', async () => {
    const f = await fillRegionColumns(upgradedStorage);
    return `${f.filled} entries filled`;
  }));
  upgraded.push(await measure('filled: --subdivision UA-43', async () => {
    const r = await queryLedger(upgradedStorage, { subdivisions: ['UA-43'] });
    return `${r.interactions.length} returned, ${r.regions!.scanned} leaves read`;
  }));
  await upgradedStorage.close();
  console.log(`\nLedger query by region, ${new Date().toISOString()}, ${machine()}, SQLite`);
  console.log(`${N} interactions in the log (filled in ${fillS.toFixed(1)} s)\n`);
  console.log('| query | CPU time | per 1,000 interactions of the log | against the baseline | peak heap growth | load (1 min) | result |');
  console.log('|---|---|---|---|---|---|---|');
  for (let round = 0; round < 2; round++) {
    const base = rows[round * 4];
    for (const r of rows.slice(round * 4, round * 4 + 4)) {
      console.log(`| ${r.name} | ${r.cpuS.toFixed(2)} s | ${(r.cpuS / N * 1000 * 1000).toFixed(2)} ms | ${(r.cpuS / base.cpuS).toFixed(2)}x | ${r.heapMb.toFixed(0)} MB | ${r.load.toFixed(1)} | ${r.what} |`);
    }
  }
  for (const r of upgraded) {
    console.log(`| ${r.name} | ${r.cpuS.toFixed(2)} s | ${(r.cpuS / N * 1000 * 1000).toFixed(2)} ms | ${(r.cpuS / rows[4].cpuS).toFixed(2)}x | ${r.heapMb.toFixed(0)} MB | ${r.load.toFixed(1)} | ${r.what} |`);
  }
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
