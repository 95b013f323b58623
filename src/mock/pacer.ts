/**
 * Writes a prepared SSE stream at a given token rate, with optional injected faults. Events
 * that are due together go out in one socket write; with no rate limit the whole stream is a
 * single write.
 */
import type { ServerResponse } from 'node:http';

/** One SSE message and how many output tokens it carries (0 for structural events). */
export interface Frame {
  data: string;
  tokens: number;
  /** Responses API `sequence_number` of this event, if it has one. */
  seq?: number;
}

/** A fault to inject into a stream after a number of token-carrying events. */
export type StreamFault =
  | { kind: 'stall'; after: number }
  | { kind: 'drop'; after: number }
  | { kind: 'error'; after: number };

export interface PaceOptions {
  /** Output tokens per second; 0 sends everything at once. */
  tokensPerSecond: number;
  fault?: StreamFault | null;
  /** SSE text for an in-stream error (used by the `error` fault), given the index of the first frame not sent. */
  errorFrame?: (nextFrame: number) => string;
  /** Called once when the stream is finished, failed or abandoned. */
  onDone?: () => void;
}

/** A running paced stream; `cancel()` stops its timer (used on server shutdown). */
export interface PacedStream {
  cancel(): void;
}

export function paceStream(res: ServerResponse, frames: Frame[], opts: PaceOptions): PacedStream {
  const tps = opts.tokensPerSecond;
  const start = performance.now();
  let index = 0;
  let sentTokens = 0;
  let tokenFrames = 0;
  let timer: NodeJS.Timeout | null = null;
  let finished = false;

  const finish = () => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    timer = null;
    opts.onDone?.();
  };
  res.once('close', finish);

  const pump = () => {
    timer = null;
    if (finished || res.destroyed) return finish();
    // Token k (1-based) is due at (k - 1) / tps seconds after the first byte.
    const allowed = tps > 0 ? 1 + ((performance.now() - start) * tps) / 1000 + 1e-9 : Number.POSITIVE_INFINITY;
    let out = '';
    const fault = opts.fault;
    while (index < frames.length) {
      const frame = frames[index];
      if (frame.tokens > 0 && sentTokens + frame.tokens > allowed) break;
      // A fault always fires before the stream completes, even if it has fewer token events than `after`.
      // Silent frames (hidden reasoning time) are not events and do not count.
      const isTokenEvent = frame.tokens > 0 && frame.data !== '';
      if (fault && ((isTokenEvent && tokenFrames >= fault.after) || index === frames.length - 1)) {
        // A drop waits until what was sent has left the process: destroying at once would discard it.
        if (fault.kind === 'drop') res.write(out, () => res.destroy());
        else if (fault.kind === 'error') res.end(out + (opts.errorFrame ? opts.errorFrame(index) : ''));
        else if (out) res.write(out);
        // stall: keep the connection open and send nothing more.
        if (fault.kind !== 'stall') finish();
        return;
      }
      out += frame.data;
      sentTokens += frame.tokens;
      if (isTokenEvent) tokenFrames++;
      index++;
    }
    if (index >= frames.length) {
      res.end(out);
      finish();
      return;
    }
    if (out) res.write(out);
    const dueAt = start + ((sentTokens + frames[index].tokens - 1) * 1000) / tps;
    timer = setTimeout(pump, Math.max(0, dueAt - performance.now()));
  };
  pump();

  return {
    cancel() {
      if (timer) clearTimeout(timer);
      timer = null;
      finished = true;
    },
  };
}
