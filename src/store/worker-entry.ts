import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * How to start a worker thread whose entry module sits beside the calling module, both from source
 * (`node --import tsx`, .ts files) and from the compiled dist/ (.js files). Used by the ledger's
 * writer thread and the dashboard's usage-query thread. Imports nothing else from Warden.
 */

/** How to start a worker: pass `filename`, `eval` and `execArgv` to `new Worker(...)`. */
export interface WorkerEntry {
  /** A file URL (compiled .js), or bootstrap code to evaluate (source .ts: registers tsx first). */
  filename: string | URL;
  eval: boolean;
  /** execArgv for the worker (the parent's, filtered). */
  execArgv: string[];
}

const VALUE_FLAG = /^(?:--(import|loader|experimental-loader|require|input-type|eval|print)|-(e|p))(=|$)/;

/**
 * The parent's execArgv for a worker, without what would break or duplicate there: tsx loader
 * flags (the source bootstrap registers tsx itself; compiled code needs none) and the `node -e`
 * flags (--eval/--print and their code, --input-type, which makes a worker started from a file fail).
 */
export function workerExecArgv(parent: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i];
    const m = VALUE_FLAG.exec(a);
    if (m) {
      const inline = m[3] === '=';
      const value = inline ? a.slice(a.indexOf('=') + 1) : parent[i + 1];
      if (m[1] === undefined || m[1] === 'input-type' || m[1] === 'eval' || m[1] === 'print' || /^tsx(\/|$)/.test(value ?? '')) {
        if (!inline) i++;
        continue;
      }
    }
    out.push(a);
  }
  return out;
}

/**
 * Locate the worker module `name` (without extension) next to `moduleUrl` (the caller's
 * import.meta.url). From the compiled dist/ (a .js module) the worker is `<name>.js` and needs
 * nothing else. From source (a .ts module, run with `node --import tsx`) the worker is
 * `<name>.ts`; tsx does not activate itself in worker threads on every Node version (its
 * `--import` hook only registers in the main thread on Node 20), so the worker starts from a
 * two-line bootstrap that registers tsx's loader through its API and then imports the entry.
 * Other flags of the parent's execArgv pass through. `preload` names plain-JavaScript packages the
 * bootstrap imports before tsx registers: tsx's hooks read every module they load through its
 * transformer, which makes a large one slow to load (pdf.js: 1 s instead of 0.14 s); the entry's
 * own import of it then finds it loaded.
 */
export function resolveWorkerEntry(
  moduleUrl: string,
  name: string,
  opts: { execArgv?: readonly string[]; resolve?: (specifier: string) => string; preload?: readonly string[] } = {},
): WorkerEntry {
  const execArgv = workerExecArgv(opts.execArgv ?? process.execArgv);
  const fromSource = /\.[cm]?ts$/.test(new URL(moduleUrl).pathname);
  if (!fromSource) return { filename: new URL(`./${name}.js`, moduleUrl), eval: false, execArgv };
  const entry = new URL(`./${name}.ts`, moduleUrl).href;
  const resolve = opts.resolve ?? ((s: string) => import.meta.resolve(s));
  const loader = resolve('tsx/esm/api');
  const preload = (opts.preload ?? []).map((s) => `import(${JSON.stringify(resolve(s))})`).join(', ');
  const code = `Promise.all([${preload}]).then(() => import(${JSON.stringify(loader)})).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return { filename: code, eval: true, execArgv };
}

/**
 * Start the worker `entry` describes. V8 and process-wide flags of the parent (`--max-old-space-size`,
 * `--trace-gc`, `--expose-gc`...) are refused in a worker's execArgv, and a refusal would stop the
 * thread that writes events or the ledger; such flags are left out, which is what they mean anyway
 * (they already apply to the whole process). Node names the refused flags in its error.
 */
export function startWorker(entry: WorkerEntry, options: Omit<WorkerOptions, 'eval' | 'execArgv'> = {}): Worker {
  let execArgv = entry.execArgv;
  for (;;) {
    try {
      return new Worker(entry.filename, { ...options, eval: entry.eval, execArgv });
    } catch (err) {
      const refused = refusedFlags(err);
      const kept = execArgv.filter((a) => !refused.has(a));
      if (refused.size === 0 || kept.length === execArgv.length) throw err;
      execArgv = kept;
      entry.execArgv = kept; // the next worker from this entry starts at once
    }
  }
}

function refusedFlags(err: unknown): Set<string> {
  if (!(err instanceof Error) || (err as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return new Set();
  const list = err.message.slice(err.message.indexOf(': ') + 2);
  return new Set(list.split(', ').map((s) => s.trim()).filter(Boolean));
}

/**
 * The nice value of Warden's background threads (event writer, ledger writer, dashboard usage
 * queries). On a busy machine the scheduler then gives the threads serving requests about nine
 * tenths of a contended core: a batch insert or a WAL checkpoint no longer halves the gateway's
 * speed while it runs. A background thread still gets its share, so it is slowed, never starved.
 */
export const BACKGROUND_NICE = 10;

/**
 * Lower the calling thread's scheduling priority to `nice` (Linux schedules threads one by one;
 * raising one's own nice needs no privilege). Call it first thing in a worker thread's entry.
 * Returns the thread's nice value afterwards, or null where per-thread priority is not available
 * (other systems, no /proc): there it does nothing.
 */
export function lowerThreadPriority(nice = BACKGROUND_NICE): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return null;
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return getPriority(tid);
  } catch {
    return null;
  }
}
