/**
 * A small transparency-log witness (c2sp.org/tlog-witness): `warden witness serve`. It knows a
 * set of logs (origin and the log's verifier keys), keeps in its own SQLite file the latest
 * checkpoint it cosigned for each (size and root hash), and answers POST /add-checkpoint: it
 * cosigns (c2sp.org/tlog-cosignature, cosignature/v1) a checkpoint only when it is signed by the
 * log's key and a consistency proof shows it extends what the witness cosigned last. A log that
 * shows another history to someone else, or rewrites its own after the witness saw it, cannot
 * get that history cosigned.
 *
 * Answers, as the protocol says: 404 unknown origin, 403 no trusted log signature, 400 malformed
 * or old size above the checkpoint's, 409 (`text/x.tlog.size`, the size it holds) when the old size
 * is not the size it cosigned last or the same size comes with another root, 422 a consistency
 * proof that does not verify, 200 the cosignature line. The check and the update are one
 * transaction, so two requests cannot roll the witness back. Refusals that prove the log
 * misbehaved (409 on a root, 422) are logged and kept in the witness's file as evidence.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { migrateSqlite, openSqlite, type SqliteDb } from '../store/sqlite.ts';
import { MAX_ADD_CHECKPOINT_BYTES, parseAddCheckpoint, type Cosigner } from './cosign.ts';
import { EMPTY_ROOT, ProofError, verifyConsistency } from './merkle.ts';
import { NoteError, openNote, parseVerifierKey, type NoteVerifier } from './note.ts';

const MIGRATIONS = [
  `CREATE TABLE witness_logs (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, updated_at TEXT NOT NULL);
   CREATE TABLE witness_refusals (id INTEGER PRIMARY KEY, origin TEXT NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, body TEXT NOT NULL, at TEXT NOT NULL);`,
];

/** A log the witness cosigns for: its origin and the verifier keys its checkpoints are signed with. */
export interface WitnessedLog { origin: string; keys: NoteVerifier[] }

/** Parse `ORIGIN=VKEY[,VKEY...]` (or a bare VKEY, whose key name is the origin, as a Warden ledger's is). */
export function parseWitnessedLog(spec: string): WitnessedLog {
  const eq = spec.indexOf('=');
  const origin = eq >= 0 ? spec.slice(0, eq) : null;
  const keys = (eq >= 0 ? spec.slice(eq + 1) : spec).split(',').map((k) => parseVerifierKey(k.trim()));
  return { origin: origin ?? keys[0].name, keys };
}

export interface WitnessOptions {
  key: Cosigner;
  /** The witness's SQLite file (its state: latest cosigned size and root per log). */
  dbPath: string;
  logs: readonly WitnessedLog[];
  host?: string;
  port?: number;
  log?: (line: string) => void;
  now?: () => number;
}

export interface RunningWitness { server: Server; url: string; db: SqliteDb; close(): Promise<void> }

interface Answer { status: number; body: string; type?: string; refusal?: string }

/** The add-checkpoint decision, given the stored state; pure but for the clock. Exported for tests. */
export function addCheckpoint(db: SqliteDb, logs: readonly WitnessedLog[], key: Cosigner, body: string, now: number): Answer & { origin?: string } {
  let req: ReturnType<typeof parseAddCheckpoint>;
  try { req = parseAddCheckpoint(body); } catch (e) { return { status: 400, body: `malformed request: ${(e as Error).message}\n` }; }
  const { origin } = req.checkpoint;
  const log = logs.find((l) => l.origin === origin);
  if (!log) return { status: 404, body: `unknown log origin ${JSON.stringify(origin)}\n` };
  let text: string;
  try { text = openNote(req.note, log.keys).text; } catch (e) { return { status: 403, body: `checkpoint is not signed by the log's key: ${(e as NoteError).message}\n`, origin }; }
  const { size, rootHash } = req.checkpoint;
  if (req.oldSize > size) return { status: 400, body: `old size ${req.oldSize} is above the checkpoint size ${size}\n`, origin };
  const decide = db.transaction((): Answer => {
    const row = db.prepare('SELECT size, root FROM witness_logs WHERE origin = ?').get(origin) as { size: number; root: Buffer } | undefined;
    const held = row?.size ?? 0;
    if (req.oldSize !== held) return { status: 409, type: 'text/x.tlog.size', body: `${held}\n` };
    if (req.oldSize === size) {
      const heldRoot = row ? new Uint8Array(row.root) : EMPTY_ROOT;
      if (!Buffer.from(heldRoot).equals(Buffer.from(rootHash))) {
        return { status: 409, type: 'text/x.tlog.size', body: `${held}\n`, refusal: `checkpoint of size ${size} has another root than the one cosigned at that size` };
      }
    } else if (req.oldSize === 0) {
      if (req.proof.length !== 0) return { status: 422, body: 'a consistency proof from size 0 must be empty\n', refusal: 'non-empty proof from size 0' };
    } else {
      try {
        verifyConsistency(req.oldSize, size, req.proof, new Uint8Array(row!.root), rootHash);
      } catch (e) {
        if (!(e instanceof ProofError)) throw e;
        return { status: 422, body: `consistency proof from ${req.oldSize} to ${size} does not verify: ${e.message}\n`, refusal: `consistency proof from the cosigned size ${req.oldSize} to ${size} does not verify (${e.message})` };
      }
    }
    const at = new Date(now).toISOString();
    db.prepare('INSERT INTO witness_logs (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, updated_at = excluded.updated_at')
      .run(origin, size, Buffer.from(rootHash), req.note, at);
    return { status: 200, type: 'text/plain; charset=utf-8', body: key.cosign(text, Math.floor(now / 1000)) };
  });
  const answer = decide.immediate();
  if (answer.refusal) {
    db.prepare('INSERT INTO witness_refusals (origin, status, reason, body, at) VALUES (?, ?, ?, ?, ?)').run(origin, answer.status, answer.refusal, body, new Date(now).toISOString());
  }
  return { ...answer, origin };
}

function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) { resolve(null); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Open the witness's state file (created on first use). */
export function openWitnessDb(path: string): SqliteDb {
  const db = openSqlite(path, { durability: 'full' });
  migrateSqlite(db, 'witness', MIGRATIONS);
  return db;
}

/** Start the witness's HTTP server. */
export async function startWitness(opts: WitnessOptions): Promise<RunningWitness> {
  const db = openWitnessDb(opts.dbPath);
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const now = opts.now ?? Date.now;
  const send = (res: ServerResponse, a: Answer) => { res.writeHead(a.status, { 'content-type': a.type ?? 'text/plain; charset=utf-8' }); res.end(a.body); };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/add-checkpoint') return send(res, { status: 404, body: 'not found\n' });
    if (req.method !== 'POST') { res.setHeader('allow', 'POST'); return send(res, { status: 405, body: 'POST only\n' }); }
    readBody(req, MAX_ADD_CHECKPOINT_BYTES).then((body) => {
      if (body === null) return send(res, { status: 413, body: 'request too large\n' });
      const a = addCheckpoint(db, opts.logs, opts.key, body, now());
      if (a.refusal) log(`witness: REFUSED ${a.origin}: ${a.refusal} (answered ${a.status}; request kept in witness_refusals)`);
      else if (a.status !== 200 && a.status !== 409) log(`witness: ${a.status} for ${a.origin ?? 'a request'}: ${a.body.trim()}`);
      send(res, a);
    }, (err: Error) => {
      log(`witness: request failed: ${err.message}`);
      if (!res.headersSent) send(res, { status: 500, body: 'internal error\n' });
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve()); });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server, db, url: `http://${host}:${addr.port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { db.close(); resolve(); }); }),
  };
}
