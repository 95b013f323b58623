/**
 * Streamed answers under way, kept in the event store so that a node killed mid-stream (SIGKILL,
 * out of memory, power loss) does not lose them: when a stream begins (the upstream accepted), its
 * event as known then is noted as an open interaction; every `events.checkpoint_interval_ms` the
 * tokens each stream under way has sent are written (all in one write, with the recorder's
 * batches, off the requests' path); the stream's event removes its record in the same write. At
 * start, what a killed run of this node left open (and what any node left open longer ago than a
 * stream may last) is recorded as events that ended `interrupted_by_restart`, with the tokens the
 * last checkpoint knew: in the event store (and its usage), the ledger and the detector, as any.
 * See docs/operations.md and docs/event-schema.md.
 */
import { hostname } from 'node:os';
import type { InteractionEvent } from '../events/index.ts';
import type { EventStore } from '../store/index.ts';
import type { InteractionProgress, OpenedInteraction, StoredOpenInteraction } from '../store/index.ts';
import { deliver, interactionEvent } from './interaction-record.ts';
import type { PipelineDeps, Run } from './interaction-state.ts';
import type { EventRecorder } from './recorder.ts';
import { countTextTokens } from './usage.ts';
import { promptChars, promptText } from './request-features.ts';

/** The outcome (`response.finish_reason`) of an interaction a killed node left open, recorded at a later start. */
export const INTERRUPTED_BY_RESTART = 'interrupted_by_restart';

/** `ctx.locals` key: the stream was noted as open (and is checkpointed). Its value: the input tokens counted for the checkpoints, once counted. */
const OPENED_LOCAL = '__opened';

/** Past the longest stream, how long before another node's open record counts as abandoned, ms. */
const ABANDONED_MARGIN_MS = 60_000;

/** Gateways made in this process with port 0 (each needs a name of its own: see nodeId). */
let portZeroGateways = 0;

/**
 * This node's name in the open records: `server.node_id`, or the host name with the port it is
 * configured to listen on (several nodes on one host listen on different ports); with port 0 (a
 * port chosen at start, so nodes on one host cannot be told apart by it) the host name and the
 * process id, and for a second gateway of the same process (an embedding program, a test running
 * two nodes) its number in the process. Called once a gateway.
 */
export function nodeId(configured: string | null, port = 0): string {
  if (configured !== null) return configured;
  if (port > 0) return `${hostname()}:${port}`;
  portZeroGateways++;
  return `${hostname()}:pid${process.pid}${portZeroGateways > 1 ? `.${portZeroGateways}` : ''}`;
}

export interface OpenStreamsOptions {
  node: string;
  checkpointIntervalMs: number;
  streamMaxDurationMs: number;
}

export class OpenStreams {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: EventStore,
    private readonly recorder: EventRecorder,
    private readonly deps: PipelineDeps,
    private readonly opts: OpenStreamsOptions,
  ) {}

  /** Whether the event store keeps open interactions. */
  get enabled(): boolean {
    return typeof this.store.takeOpenInteractions === 'function';
  }

  /** A stream began (its head sent, the upstream having accepted): noted with the recorder's next write. */
  opened(run: Run): void {
    if (!this.enabled) return;
    run.ctx.locals.set(OPENED_LOCAL, null);
    const node = this.opts.node;
    // What the hooks keep with the record (the limits' reservation), taken now: it may be settled before the record is written.
    let notes: Record<string, unknown> | null = null;
    for (const h of this.deps.hooks) {
      if (!h.openNote) continue;
      try {
        const note = h.openNote(run.ctx);
        if (note !== null && note !== undefined) (notes ??= {})[h.name] = note;
      } catch { /* a hook that cannot say: its note is left out */ }
    }
    this.recorder.open(run.ctx.id, (): OpenedInteraction => {
      const now = Date.now();
      const event = interactionEvent(run, {
        status: 200, error_code: null, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0,
        finish_reason: null, ttfb_ms: run.ttfbMs, output_chars: 0, reasoning_chars: 0, answer_id: run.meter.answer, container_id: null,
      }, true, now);
      return { id: run.ctx.id, node, ts: event.ts, input_tokens: run.meter.upstreamInputTokens, event, notes };
    });
  }

  /** Checkpoint the streams under way every `checkpointIntervalMs` (none when 0). */
  start(): void {
    if (!this.enabled || this.opts.checkpointIntervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => this.checkpoint(), this.opts.checkpointIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** What every open stream has sent so far, handed to the recorder (written with its next batch). */
  checkpoint(): number {
    const at = new Date().toISOString();
    const out: InteractionProgress[] = [];
    for (const run of this.deps.running) {
      const { locals } = run.ctx;
      if (!locals.has(OPENED_LOCAL)) continue;
      try {
        const p = run.meter.progress();
        let input = p.input_tokens;
        if (input === null) {
          // Counted once from the prompt kept (as the event would be, with no count from the upstream).
          input = locals.get(OPENED_LOCAL) as number | null;
          if (input === null) { input = countTextTokens(promptText(run.request), promptChars(run.request)); locals.set(OPENED_LOCAL, input); }
        }
        out.push({ id: run.ctx.id, at, ...p, input_tokens: input });
      } catch { /* a stream whose count fails is recorded at its end only */ }
    }
    this.recorder.checkpoint(out);
    return out.length;
  }

  /**
   * Record what a killed run left open: this node's, and any node's begun longer ago than a stream
   * may last. Returns how many. Called at start, before the node serves.
   *
   * Each is handed first to the hooks' `onInterrupted` with the note they kept (the limits charge
   * it), then recorded as any event (the event store, the ledger, the detector). Run again after a
   * crash part-way (an open record stays until its event is written), it does each step at most
   * once more in effect: the event store and the ledger keep one entry per interaction id, and
   * the limits' charge is made once per reservation (docs/operations.md).
   */
  async recover(now = Date.now()): Promise<number> {
    if (!this.enabled) return 0;
    const abandonedBefore = new Date(now - this.opts.streamMaxDurationMs - ABANDONED_MARGIN_MS).toISOString();
    const open = await this.store.takeOpenInteractions!(this.opts.node, abandonedBefore);
    for (const rec of open) {
      const event = interruptedEvent(rec);
      for (const h of this.deps.hooks) {
        if (!h.onInterrupted) continue;
        try { await h.onInterrupted(event, rec.notes?.[h.name] ?? null); } catch { /* must not throw: the event is recorded whatever a hook did */ }
      }
      deliver(this.deps, event);
    }
    return open.length;
  }
}

/**
 * The event of an interaction left open by a killed node: as it began, with what its last
 * checkpoint knew (tokens, characters, its time), ended `interrupted_by_restart`. Its client had
 * the answer's head (200) and the stream cut. Input tokens are the upstream's or the checkpoint's
 * count, else counted from the prompt kept; output tokens a lower bound (what was checkpointed).
 */
export function interruptedEvent(rec: StoredOpenInteraction): InteractionEvent {
  const e = rec.event;
  const input = rec.input_tokens ?? countTextTokens(promptText(e.request), promptChars(e.request));
  const lastSeen = rec.checkpoint_at ?? rec.ts;
  return {
    ...e,
    duration_ms: Math.max(0, Date.parse(lastSeen) - Date.parse(rec.ts)),
    response: {
      ...e.response,
      status: 200,
      error_code: null,
      input_tokens: input,
      output_tokens: rec.output_tokens,
      reasoning_tokens: Math.min(rec.reasoning_tokens, rec.output_tokens),
      usage_source: input === 0 && rec.output_tokens === 0 ? 'none' : 'tokenizer',
      finish_reason: INTERRUPTED_BY_RESTART,
      output_chars: rec.output_chars,
      reasoning_chars: rec.reasoning_chars,
    },
  };
}
