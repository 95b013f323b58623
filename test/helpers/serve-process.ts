/**
 * `warden serve` run as a child process, as an operator runs it: its stdout (the JSON log) and
 * stderr (start-up lines) collected line by line, with waits on conditions rather than on time.
 * The test runner silences Warden's log (WARDEN_LOG_LEVEL=silent); these children log at the level
 * their configuration sets.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { WARDEN } from './node-args.ts';
import { until } from './until.ts';

export { until };

export interface ServeProcess {
  proc: ChildProcess;
  /** Lines of stdout (the JSON log) and of stderr, as they came. */
  out: string[];
  err: string[];
  /** The stdout lines that parse as JSON. */
  json(): any[];
  /** Everything logged so far, stdout then stderr. */
  output(): string;
  /** The URL of the listening line; fails if the process ends first. */
  listening(ms?: number): Promise<string>;
  /** The demo key printed at start-up (`--demo`). */
  demoKey(): Promise<string>;
  /** SIGTERM if still running, and wait for the exit. */
  stop(): Promise<void>;
}

export function spawnServe(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ServeProcess {
  const proc = spawn(process.execPath, [...WARDEN, 'serve', ...args], {
    cwd: opts.cwd, env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '', WARDEN_LOG_LEVEL: '', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const err: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => out.push(l));
  createInterface({ input: proc.stderr! }).on('line', (l) => err.push(l));
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const output = () => [...out, ...err].join('\n');
  const fromStderr = (re: RegExp) => () => err.map((l) => re.exec(l)?.[1]).find(Boolean);
  return {
    proc, out, err, output,
    json: () => out.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean),
    listening: (ms = 60_000) => until(() => `listening (log: ${output()})`, () => {
      const url = fromStderr(/^Warden listening on (\S+)/)();
      if (!url && !running()) assert.fail(`serve exited with ${proc.exitCode ?? proc.signalCode}: ${output()}`);
      return url;
    }, ms),
    demoKey: () => until('the demo key', fromStderr(/demo API key .*: (wk_live_\S+)/)),
    async stop() {
      if (!running()) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
