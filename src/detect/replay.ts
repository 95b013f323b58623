/**
 * Restart: rebuild the detector's in-memory state (windows, links, clusters, verdicts) from the
 * recent events in the event store, so verdicts survive a restart of `warden serve`. Replay runs
 * before the engine serves and before verdict listeners (ledger, fan-out) are attached, so it
 * does not record historical verdicts a second time.
 */
import type { InteractionEvent } from '../events/index.ts';
import type { DetectorEngine } from './engine.ts';

/** What replay needs from an event store (src/store/events.ts `EventStore`). */
export interface ReplaySource {
  iterate(query?: { from?: string }): AsyncIterable<InteractionEvent>;
}

export interface ReplayResult {
  events: number;
  accounts: number;
  from: string;
  seconds: number;
}

/**
 * Feed the engine with the events of the last `hours` (default: the engine's
 * `detect.replay_hours`) before `nowMs`, in store order, then score them. Example:
 *
 *   const engine = new DetectorEngine({ config: cfg.detect });
 *   await replayRecentEvents(engine, stores.events);
 */
export async function replayRecentEvents(engine: DetectorEngine, store: ReplaySource, opts: {
  hours?: number; nowMs?: number; onEvent?: (ev: InteractionEvent) => void;
  /** After a snapshot: start here (ms) if later than `hours` ago, and skip the events the snapshot holds. */
  afterSnapshot?: { fromMs: number; seen: ReadonlySet<string> };
} = {}): Promise<ReplayResult> {
  const hours = opts.hours ?? engine.config.replay_hours;
  const windowFrom = (opts.nowMs ?? Date.now()) - hours * 3_600_000;
  const from = new Date(Math.max(windowFrom, opts.afterSnapshot?.fromMs ?? -Infinity)).toISOString();
  const seen = opts.afterSnapshot?.seen;
  const t0 = performance.now();
  let events = 0;
  if (hours > 0) {
    for await (const ev of store.iterate({ from })) {
      if (seen?.has(ev.id)) continue;
      engine.ingest(ev);
      opts.onEvent?.(ev);
      events++;
    }
    engine.flush();
  }
  return { events, accounts: engine.stats().accounts, from, seconds: (performance.now() - t0) / 1000 };
}
