/**
 * Online mode: the detector as a gateway record-phase hook. `onEvent` only appends to a bounded
 * in-memory queue (constant time, never throws, never blocks the request path); a background
 * drain feeds the engine in batches on later turns of the event loop. Enforcement reads verdicts
 * from the engine itself, which is the `VerdictView` (an in-memory lookup).
 */
import type { GatewayHooks } from '../gateway/lifecycle.ts';
import type { InteractionEvent } from '../events/index.ts';
import type { DetectorEngine } from './engine.ts';

export interface DetectHooksOptions {
  /** Most events waiting for the engine; beyond it the oldest are dropped (and counted). */
  maxQueue?: number;
  /** Events fed to the engine per event-loop turn. */
  batch?: number;
  /** When the gateway is idle, score pending changes after this many ms (0: only on event time). */
  idleFlushMs?: number;
  /**
   * An event stamped more than this many ms after this node's clock is read at this node's time
   * (the detector's copy only; the store keeps what the sending node wrote). Default 60,000; 0: off.
   */
  futureToleranceMs?: number;
  /** The wall clock (tests). */
  now?: () => number;
}

export interface DetectHooks extends GatewayHooks {
  /** Queue one finished interaction for the engine (constant time). */
  onEvent(event: InteractionEvent): void;
  /** Wait until every queued event has reached the engine. */
  drained(): Promise<void>;
  /** Queue length, events dropped because the queue was full, and events read at this node's time because they came from its future. */
  queueStats(): { queued: number; dropped: number; ingested: number; futureClamped: number };
}

/**
 * Gateway hooks that feed `engine` with every finished interaction. As src/cli/detector.ts wires it:
 *
 *   const engine = new DetectorEngine({ config: cfg.detect });
 *   const queue = detectHooks(engine, { batch: 64 });
 *   createGateway({ ..., hooks: [..., queue] });  // record phase: events -> detector
 *   // and the engine is the VerdictView the enforcement hooks read: engine.forAccount(id)
 */
export function detectHooks(engine: DetectorEngine, opts: DetectHooksOptions = {}): DetectHooks {
  const maxQueue = opts.maxQueue ?? 100_000;
  const batch = opts.batch ?? 2_000;
  const idleFlushMs = opts.idleFlushMs ?? 2_000;
  const futureToleranceMs = opts.futureToleranceMs ?? 60_000;
  const now = opts.now ?? Date.now;
  let futureClamped = 0;
  let queue: InteractionEvent[] = [];
  let head = 0;
  let dropped = 0;
  let ingested = 0;
  let scheduled = false;
  let closed = false;
  let idleTimer: NodeJS.Timeout | null = null;
  let waiters: Array<() => void> = [];

  const drain = () => {
    scheduled = false;
    const end = Math.min(queue.length, head + batch);
    for (; head < end; head++) {
      try { engine.ingest(queue[head]); ingested++; } catch { /* a malformed event must not stop the detector */ }
    }
    if (head >= queue.length) {
      queue = []; head = 0;
      const w = waiters; waiters = [];
      for (const f of w) f();
      if (idleFlushMs > 0 && !closed) {
        if (idleTimer) clearTimeout(idleTimer);
        idleTimer = setTimeout(() => { idleTimer = null; if (queue.length === 0) engine.flush(); }, idleFlushMs);
        idleTimer.unref();
      }
    } else schedule();
  };
  const schedule = () => {
    if (!scheduled) { scheduled = true; setImmediate(drain); }
  };

  return {
    name: 'detect',
    onEvent(event: InteractionEvent): void {
      if (closed || !event.account_id) return;
      if (queue.length - head >= maxQueue) { head++; dropped++; }
      // The engine's time is the latest event time it has read: one node whose clock runs ahead
      // would move it (windows, cooldowns, forgetting) for every account. Online, this node's
      // clock bounds it.
      if (futureToleranceMs > 0) {
        const at = now();
        if (Date.parse(event.ts) > at + futureToleranceMs) { event = { ...event, ts: new Date(at).toISOString() }; futureClamped++; }
      }
      queue.push(event);
      schedule();
    },
    drained(): Promise<void> {
      if (queue.length - head === 0) return Promise.resolve();
      return new Promise((resolve) => { waiters.push(resolve); schedule(); });
    },
    queueStats: () => ({ queued: queue.length - head, dropped, ingested, futureClamped }),
    async close(): Promise<void> {
      if (queue.length - head > 0) await new Promise<void>((resolve) => { waiters.push(resolve); schedule(); });
      closed = true;
      if (idleTimer) clearTimeout(idleTimer);
      engine.flush();
    },
  };
}
