/**
 * The main thread's side of the ledger's writer: how the writer worker is located and started
 * (from source under tsx, or from the compiled dist/), the message protocol, and the two links
 * the Ledger talks through: `WorkerLink` (writer in a worker thread, the default) and
 * `InlineLink` (same writer code in this thread, for storages a worker cannot reopen).
 */
import type { Worker } from 'node:worker_threads';
import { resolveWorkerEntry, startWorker, type WorkerEntry } from '../store/worker-entry.ts';
import type { EraseFilter, WriterConnection } from './storage.ts';
import { LedgerError, type SignedCheckpoint, type WireError } from './types.ts';
import { WriterLoop, type LedgerWriter, type WriteItem, type WriteResult } from './writer.ts';

/** What the writer thread needs to open the log (plain data: it crosses the thread boundary). */
export interface WriterInit {
  connection: WriterConnection;
  origin: string;
  /** Signing keys in their exported form (PRIVATE+KEY+...): the writer signs checkpoints. */
  signerKeys: string[];
  trustedKeys: string[];
  keepPromptText: boolean;
  batchMax: number;
  checkpointIntervalMs: number;
  groupCommitMs: number;
  expect: { size: number; checkpoint: { size: number; rootHash: string } | null } | null;
}

export type WriterFault = 'exit' | 'exit-mid-commit' | 'exit-after-commit';

export type ToWriter =
  | { type: 'append'; items: WriteItem[] }
  | { type: 'call'; id: number; op: 'checkpoint' | 'erase' | 'close'; filter?: EraseFilter }
  | { type: 'fault'; mode: WriterFault };

export type FromWriter =
  | { type: 'ready'; size: number; latest: SignedCheckpoint | null; verifiers: string[] }
  | { type: 'fatal'; error: WireError }
  | { type: 'committed'; results: WriteResult[]; size: number }
  | { type: 'checkpoint'; cp: SignedCheckpoint }
  | { type: 'error'; error: WireError }
  | { type: 'storage'; down: string | null; outageMs: number }
  | { type: 'reply'; id: number; value?: unknown; error?: WireError };

export type { WorkerEntry } from '../store/worker-entry.ts';

/**
 * Locate the writer worker next to `moduleUrl` (this file's import.meta.url): `writer-worker.js`
 * from the compiled dist/, or `writer-worker.ts` through a bootstrap that registers tsx first
 * when running from source (see resolveWorkerEntry in src/store/worker-entry.ts).
 */
export function resolveWriterWorker(
  moduleUrl: string,
  opts: { execArgv?: readonly string[]; resolve?: (specifier: string) => string } = {},
): WorkerEntry {
  return resolveWorkerEntry(moduleUrl, 'writer-worker', opts);
}

/** What a link reports to the Ledger. */
export interface LinkHandlers {
  committed(results: WriteResult[], size: number): void;
  checkpoint(cp: SignedCheckpoint): void;
  /** Background failures (e.g. a checkpoint that could not be signed). */
  error(err: LedgerError): void;
  /** The writer's storage became unreachable (`down`) or answers again (null). */
  storage(down: string | null): void;
  /** The writer thread died (not on close). Pending requests have been rejected. */
  exit(err: Error): void;
}

export interface WriterState { size: number; latest: SignedCheckpoint | null; verifiers: string[] }

/** The Ledger's handle on its writer. */
export interface WriterLink {
  readonly mode: 'worker' | 'inline';
  send(items: WriteItem[]): void;
  checkpoint(): Promise<SignedCheckpoint>;
  erase(filter: EraseFilter): Promise<number>;
  /** Commit what was sent, sign a final checkpoint, close the writer's storage. */
  close(): Promise<SignedCheckpoint | null>;
  /** Stop at once (no final checkpoint). */
  terminate(): Promise<void>;
  /** Whether entries are waiting: an idle writer thread does not keep the process alive. */
  setBusy(busy: boolean): void;
  fault?(mode: WriterFault): void;
}

/** The writer in this thread (storages a worker cannot reopen, or `writer: 'inline'`). */
export class InlineLink implements WriterLink {
  readonly mode = 'inline' as const;
  private readonly loop: WriterLoop;

  constructor(writer: LedgerWriter, opts: { batchMax: number; checkpointIntervalMs: number; groupCommitMs: number }, handlers: LinkHandlers) {
    this.loop = new WriterLoop(writer, opts, {
      committed: (results, size) => handlers.committed(results, size),
      checkpoint: (cp) => handlers.checkpoint(cp),
      error: (err) => handlers.error(err instanceof LedgerError ? err : LedgerError.fromWire(LedgerError.toWire(err))),
      storage: (down) => handlers.storage(down),
    });
  }

  send(items: WriteItem[]): void { this.loop.push(items); }
  checkpoint(): Promise<SignedCheckpoint> { return this.loop.checkpoint(); }
  erase(filter: EraseFilter): Promise<number> { return this.loop.erase(filter); }
  close(): Promise<SignedCheckpoint | null> { return this.loop.close(); }
  /** Stop committing without waiting for a commit under way (its storage is closed next, which ends it). */
  async terminate(): Promise<void> { this.loop.stop(); }
  setBusy(): void {}
}

/** The writer in a worker thread. */
export class WorkerLink implements WriterLink {
  readonly mode = 'worker' as const;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private nextCall = 1;
  private closing = false;
  private exited = false;
  private lastError: Error | null = null;
  private busy = false;

  private constructor(private readonly worker: Worker, private readonly handlers: LinkHandlers) {}

  setBusy(busy: boolean): void {
    this.busy = busy;
    this.refresh();
  }

  /** Keep the process alive only while appends or requests are outstanding. */
  private refresh(): void {
    if (this.exited) return;
    if (this.busy || this.calls.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  /**
   * Start a writer thread and wait until it has opened and verified the log. Aborting `signal`
   * before then stops the thread (opening a database that does not answer can take a connect or
   * statement timeout) and rejects with LEDGER_CLOSED once it has exited.
   */
  static start(init: WriterInit, handlers: LinkHandlers, opts: { signal?: AbortSignal; entry?: WorkerEntry } = {}): Promise<{ link: WorkerLink; state: WriterState }> {
    const { signal, entry = resolveWriterWorker(import.meta.url) } = opts;
    if (signal?.aborted) return Promise.reject(new LedgerError('LEDGER_CLOSED', 'the ledger closed before its writer started'));
    return new Promise((resolve, reject) => {
      const worker = startWorker(entry, { workerData: init, name: 'warden-ledger-writer' });
      const link = new WorkerLink(worker, handlers);
      let started = false;
      let aborted = false;
      const abort = () => {
        if (started) return;
        // Messages from here on are ignored; the exit rejects the start.
        aborted = true;
        void worker.terminate();
      };
      signal?.addEventListener('abort', abort, { once: true });
      worker.on('message', (m: FromWriter) => {
        if (aborted) return;
        if (!started) {
          if (m.type === 'ready') {
            started = true;
            signal?.removeEventListener('abort', abort);
            resolve({ link, state: { size: m.size, latest: m.latest, verifiers: m.verifiers } });
          } else if (m.type === 'fatal') {
            started = true;
            signal?.removeEventListener('abort', abort);
            link.closing = true;
            reject(LedgerError.fromWire(m.error));
          }
          return;
        }
        link.onMessage(m);
      });
      worker.on('error', (err) => { link.lastError = err; });
      worker.on('exit', (code) => {
        link.exited = true;
        const err = link.lastError ?? new Error(`ledger writer thread exited with code ${code}`);
        for (const c of link.calls.values()) c.reject(new LedgerError('LEDGER_UNAVAILABLE', `ledger writer stopped: ${err.message}`));
        link.calls.clear();
        if (!started) {
          started = true;
          signal?.removeEventListener('abort', abort);
          reject(aborted
            ? new LedgerError('LEDGER_CLOSED', 'the ledger closed while its writer was starting')
            : new LedgerError('LEDGER_UNAVAILABLE', `ledger writer failed to start: ${err.message}`));
        } else if (!link.closing) {
          handlers.exit(err);
        }
      });
    });
  }

  private onMessage(m: FromWriter): void {
    switch (m.type) {
      case 'committed': this.handlers.committed(m.results, m.size); return;
      case 'checkpoint': this.handlers.checkpoint(m.cp); return;
      case 'error': this.handlers.error(LedgerError.fromWire(m.error)); return;
      case 'storage': this.handlers.storage(m.down); return;
      case 'reply': {
        const c = this.calls.get(m.id);
        if (!c) return;
        this.calls.delete(m.id);
        if (m.error) c.reject(LedgerError.fromWire(m.error));
        else c.resolve(m.value);
        this.refresh();
        return;
      }
      default: return;
    }
  }

  private post(m: ToWriter): void {
    if (this.exited) throw new LedgerError('LEDGER_UNAVAILABLE', 'ledger writer is not running');
    this.worker.postMessage(m);
  }

  private call<T>(op: 'checkpoint' | 'erase' | 'close', filter?: EraseFilter): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.nextCall++;
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.post({ type: 'call', id, op, filter });
        this.refresh();
      } catch (err) {
        this.calls.delete(id);
        reject(err);
      }
    });
  }

  /** Throws DataCloneError for items that cannot cross to the worker (the caller isolates them). */
  send(items: WriteItem[]): void { this.post({ type: 'append', items }); }
  checkpoint(): Promise<SignedCheckpoint> { return this.call('checkpoint'); }
  erase(filter: EraseFilter): Promise<number> { return this.call('erase', filter); }

  async close(): Promise<SignedCheckpoint | null> {
    const cp = await this.call<SignedCheckpoint | null>('close');
    await this.stop(true);
    return cp;
  }

  terminate(): Promise<void> {
    return this.stop(false);
  }

  /** Wait for the thread to end: after a close reply it ends on its own (given 2 s); otherwise stop it now. */
  private async stop(graceful: boolean): Promise<void> {
    this.closing = true;
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    const timer = setTimeout(() => void this.worker.terminate(), graceful ? 2000 : 0);
    await exited;
    clearTimeout(timer);
  }

  fault(mode: WriterFault): void { this.post({ type: 'fault', mode }); }
}
