/** `warden store compact`: rebuild the SQLite files with the page size new files get (docs/operations.md). */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, type WardenConfig } from '../config/index.ts';
import { SQLITE_PAGE_SIZE, validPageSize } from '../store/sqlite.ts';
import { compactSqliteFile, type CompactResult } from '../store/compact.ts';
import { lockSqliteForServe, type ServeLock } from '../store/serve-lock.ts';
import { resolveLedgerSetup } from '../ledger/open.ts';
import { usageSidePath } from '../ui/usage-thread.ts';

export const STORE_HELP = `usage: warden store compact [--page-size BYTES] [-c FILE | --config FILE]
Rebuilds Warden's SQLite files with BYTES-byte pages (default ${SQLITE_PAGE_SIZE}, what new files get; a power
of two from 512 to 65536) and without their free pages: the database (store.sqlite_path), the
dashboard's usage file beside it (<database>-usage) and the ledger's file (ledger.sqlite_path),
those that exist. A file created by an older release keeps SQLite's 4 KB pages until it is rebuilt
(docs/operations.md, "The SQLite files' page size"). Run it with warden serve stopped: it takes the
server's lock on the files and refuses while a server or any other process has one open. Each file
is copied beside itself, its tables' rows counted in both, and renamed over the original, which
stays whole until then: each file needs as much free space in its directory as it takes. Exits 1
when a file could not be rebuilt (the others are), 2 on a usage error.`;

interface Io { out(line: string): void; err(line: string): void; env?: NodeJS.ProcessEnv }
const consoleIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

export async function runStore(argv: string[], io: Io = consoleIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') { io.out(STORE_HELP); return 0; }
  if (sub !== 'compact') { io.err(`warden store: ${sub === undefined ? 'a command is needed' : `unknown command ${sub}`}\n${STORE_HELP}`); return 2; }
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { 'page-size': { type: 'string' }, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    io.err(`warden store compact: ${(err as Error).message.split(/\.\s/)[0]}\n${STORE_HELP}`);
    return 2;
  }
  if (values.help) { io.out(STORE_HELP); return 0; }
  const pageSize = values['page-size'] === undefined ? SQLITE_PAGE_SIZE : Number(values['page-size']);
  if (!validPageSize(pageSize)) { io.err(`warden store compact: --page-size ${values['page-size']}: a power of two from 512 to 65536 (bytes)\n${STORE_HELP}`); return 2; }
  const config = loadConfig(values.config, io.env ?? process.env);
  const { databases, files } = sqliteFiles(config);
  if (files.length === 0) {
    io.err('warden store compact: no SQLite file to rebuild here (the store and the ledger are on PostgreSQL, or their files do not exist yet)');
    return 1;
  }
  // The server's own lock on each database it serves: refused, naming the server, while one runs.
  const locks: ServeLock[] = [];
  try {
    for (const db of databases) locks.push(lockSqliteForServe(db));
  } catch (err) {
    for (const l of locks) l.release();
    io.err(`warden store compact: ${(err as Error).message}`);
    return 1;
  }
  let failed = 0;
  try {
    for (const file of files) {
      const t0 = Date.now();
      let r: CompactResult;
      try {
        r = compactSqliteFile(file, pageSize);
      } catch (err) {
        failed++;
        io.err(`warden store compact: ${file}: ${(err as Error).message}`);
        continue;
      }
      io.out(`${file}: pages of ${r.pageSizeBefore} -> ${r.pageSizeAfter} bytes, ${mb(r.bytesBefore)} -> ${mb(r.bytesAfter)}, ${r.tables} tables and ${r.rows.toLocaleString('en-GB')} rows kept, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    for (const l of locks) l.release();
  }
  return failed ? 1 : 0;
}

/** The SQLite files of this configuration that exist: the databases a server locks, and with them the usage side file. */
function sqliteFiles(config: WardenConfig): { databases: string[]; files: string[] } {
  const onDisk = (path: string) => path !== '' && path !== ':memory:' && existsSync(path);
  const databases: string[] = [];
  const files: string[] = [];
  if (config.store.driver === 'sqlite' && onDisk(config.store.sqlite_path)) {
    const db = resolve(config.store.sqlite_path);
    databases.push(db);
    files.push(db);
    if (onDisk(usageSidePath(db))) files.push(usageSidePath(db));
  }
  if ((config.ledger.driver ?? config.store.driver) === 'sqlite') {
    const path = resolveLedgerSetup(config).ledger.sqlite_path;
    if (onDisk(path) && !databases.includes(resolve(path))) {
      databases.push(resolve(path));
      files.push(resolve(path));
    }
  }
  return { databases, files };
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
