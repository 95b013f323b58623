/**
 * A client that stops reading its answer: while Warden has bytes waiting for it (the socket over
 * its buffer mark, or the answer ended but not yet taken), a client that takes none of them for
 * `server.write_idle_timeout_ms` has its connection closed. Without this, such a client would hold
 * the connection, the interaction's concurrency slot and the unsent answer for as long as it keeps
 * the TCP connection open. No timer runs while nothing waits for the client.
 */
import type { ServerResponse } from 'node:http';
import { kernelSendQueue } from './kernel-send-queue.ts';

/** Checks per idle period: a stalled client is cut off between 1 and 1.25 idle periods after its last read. */
const CHECKS_PER_PERIOD = 4;

/**
 * Bytes of the connection the kernel has accepted. This moves only when the kernel takes a whole
 * write, which a slow reader's full send buffer (up to several MB) delays by minutes: the kernel's
 * own queue (`kernelSendQueue`) shows the client's reads as they happen, where it can be read.
 */
function bytesTaken(res: ServerResponse): number {
  const s = res.socket;
  return s ? s.bytesWritten - s.writableLength : 0;
}

export class ClientWriteWatch {
  private timer: NodeJS.Timeout | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private taken = 0;
  /** What the kernel held for the client at the last look (null: unknown, or not readable here). */
  private kernelQueued: number | null = null;
  private lastProgressAt = 0;
  private readonly checkEveryMs: number;

  /** `onStalled` runs once, just before the response is destroyed. */
  constructor(private readonly res: ServerResponse, private readonly idleMs: number, private readonly onStalled: () => void) {
    this.checkEveryMs = Math.max(10, Math.floor(idleMs / CHECKS_PER_PERIOD));
    // The whole answer has been handed over: if the socket could not take it, watch its end go.
    res.once('prefinish', () => { if (!res.writableFinished) this.waiting(); });
    res.once('close', () => this.stop());
  }

  /** Bytes wait for the client (a write went over the buffer mark): watch them go. */
  waiting(): void {
    if (this.timer || this.res.destroyed) return;
    this.taken = bytesTaken(this.res);
    this.kernelQueued = null;
    this.lastProgressAt = Date.now();
    this.lookAtKernel();
    this.schedule();
  }

  /** The answer must be out within `idleMs` from now, however slowly the client reads (the stream's end after its duration cap). */
  endWithin(): void {
    if (this.deadline || this.res.destroyed) return;
    this.deadline = setTimeout(() => { if (!this.res.writableFinished) this.cut(); }, this.idleMs);
    this.deadline.unref();
  }

  stop(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.deadline) { clearTimeout(this.deadline); this.deadline = null; }
  }

  private schedule(): void {
    this.timer = setTimeout(this.check, this.checkEveryMs);
    this.timer.unref();
  }

  /** Any fall of the kernel's queue for the client since the last look is progress: the client read. */
  private lookAtKernel(): Promise<void> | null {
    const socket = this.res.socket;
    if (!socket) return null;
    return kernelSendQueue(socket, this.checkEveryMs / 2).then((queued) => {
      if (queued !== null && this.kernelQueued !== null && queued < this.kernelQueued) this.lastProgressAt = Date.now();
      this.kernelQueued = queued;
    });
  }

  private readonly check = (): void => {
    this.timer = null;
    const res = this.res;
    if (res.destroyed || res.writableFinished) return;
    // Nothing waits any more (the socket drained, the stream goes on): watched again at the next backlog.
    if (!res.writableEnded && res.writableLength === 0) return;
    const taken = bytesTaken(res);
    // No socket yet: a pipelined request's answer queued behind the one before it, which the client
    // is still taking. Its wait is not this answer's client failing to read.
    if (taken !== this.taken || !res.socket) {
      this.taken = taken;
      this.lastProgressAt = Date.now();
    }
    const looked = this.lookAtKernel();
    if (!looked) return this.decide();
    looked.then(this.decide, this.decide);
  };

  private readonly decide = (): void => {
    if (this.timer || this.res.destroyed || this.res.writableFinished) return;
    if (Date.now() - this.lastProgressAt >= this.idleMs) this.cut();
    else this.schedule();
  };

  private cut(): void {
    this.stop();
    if (this.res.destroyed) return;
    this.onStalled();
    resetConnection(this.res);
  }
}

/**
 * Close a client's connection with a reset. A graceful close would leave what the kernel still
 * holds for a client that reads nothing (its send buffer, up to several MB) queued behind the
 * client's closed window until the kernel gives up on the orphaned connection, a minute or more
 * later; a reset drops it at once, and tells the client the answer was not delivered whole.
 * A connection that is not plain TCP (TLS) is closed as before.
 */
export function resetConnection(res: ServerResponse): void {
  const socket = res.socket;
  if (socket && !socket.destroyed) {
    try { socket.resetAndDestroy(); } catch { /* not a TCP handle: destroyed below */ }
  }
  res.destroy();
}
