// A private redis-server for outage tests (its own port, no persistence): started, killed and
// started again on the same port, which is what a Redis restart that lost its data looks like to
// the nodes. Every server still running when the test file ends is killed.
import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

const running = new Set<ChildProcess>();
after(() => { for (const s of running) s.kill('SIGKILL'); });

/** A TCP port nothing listens on (at the time of asking). */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start redis-server on `port` and wait until it answers: up to 30 s, since a loaded machine
 * (the whole suite at once) can take seconds to start a process; a server that exits first (its
 * port taken meanwhile) is named with what it printed.
 */
export async function startRedis(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let output = '';
  const keep = (b: Buffer) => { output = (output + b.toString()).slice(-2000); };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  proc.once('exit', () => running.delete(proc));
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) break;
    try { await probe.connect(); await probe.ping(); probe.disconnect(); return proc; } catch { probe.disconnect(); await new Promise((r) => setTimeout(r, 50)); }
  }
  probe.disconnect();
  const how = proc.exitCode !== null || proc.signalCode !== null ? `exited (${proc.exitCode ?? proc.signalCode})` : 'did not answer within 30 s';
  throw new Error(`redis-server on port ${port} ${how}: ${output.trim().split('\n').slice(-5).join(' | ')}`);
}

/** Kill it (SIGKILL: no shutdown, its data is gone). */
export async function stopRedis(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}
