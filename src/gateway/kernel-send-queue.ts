/**
 * Bytes the kernel still holds for a TCP connection's peer (not yet sent, or sent and not yet
 * acknowledged): on Linux, the `tx_queue` column of /proc/self/net/tcp and tcp6. It falls as the
 * client reads (its TCP window reopens), where Node only sees the socket take more once a third of
 * a send buffer of up to several MB has drained. Elsewhere, or where the tables cannot be read: null.
 *
 * The tables list every socket of the network namespace, so one reading serves every caller for
 * `maxAgeMs`: at most one read per period for the whole process, however many clients are watched.
 */
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';

const TABLES = ['/proc/self/net/tcp', '/proc/self/net/tcp6'];
/** TCP states (the `st` column) of sockets that are not connections: listening, TIME_WAIT. */
const NOT_CONNECTED = new Set(['0A', '06']);

let readable = process.platform === 'linux';
let snapshot: { at: number; queues: Promise<Map<string, number | null>> } | null = null;

const port = (address: string): number => parseInt(address.slice(address.lastIndexOf(':') + 1), 16);

/** `local port/remote port` -> bytes queued; null where two connections share both ports (different addresses): unknown. */
async function readQueues(): Promise<Map<string, number | null>> {
  const queues = new Map<string, number | null>();
  let read = false;
  for (const table of TABLES) {
    let text: string;
    try { text = await readFile(table, 'utf8'); } catch { continue; }
    read = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue ...
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || NOT_CONNECTED.has(f[3])) continue;
      const key = `${port(f[1])}/${port(f[2])}`;
      const queued = parseInt(f[4].slice(0, f[4].indexOf(':')), 16);
      queues.set(key, queues.has(key) ? null : queued);
    }
  }
  if (!read) readable = false;
  return queues;
}

export async function kernelSendQueue(socket: Socket, maxAgeMs: number): Promise<number | null> {
  if (!readable || socket.localPort === undefined || socket.remotePort === undefined) return null;
  const now = Date.now();
  if (!snapshot || now - snapshot.at > maxAgeMs) snapshot = { at: now, queues: readQueues() };
  return (await snapshot.queues).get(`${socket.localPort}/${socket.remotePort}`) ?? null;
}
