// Runs the `warden` command once as a child process and resolves with its exit status and output,
// a non-zero exit included (the tests assert on usage errors), so each CLI test does not wrap
// execFile itself. The child gets no NODE_OPTIONS and no WARDEN_CONFIG from the test runner's
// environment, so only what the test passes configures it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WARDEN } from './node-args.ts';

export interface WardenRun { code: number; stdout: string; stderr: string }

export interface WardenRunOptions {
  cwd?: string;
  /** Added to (and overriding) the runner's environment. */
  env?: NodeJS.ProcessEnv;
  timeout?: number;
  maxBuffer?: number;
}

export function runWarden(args: string[], options: WardenRunOptions = {}): Promise<WardenRun> {
  const { cwd, env = {}, timeout, maxBuffer } = options;
  return promisify(execFile)(process.execPath, [...WARDEN, ...args], {
    cwd, timeout, maxBuffer, env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '', ...env },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}
