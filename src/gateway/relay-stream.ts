/**
 * The interaction's relay phase for streamed answers: the upstream's events forwarded as they
 * come (scanned in place, or parsed and rewritten by the output transformers), with backpressure,
 * the duration cap, and an error framed as the API's own in-stream error when it ends early.
 */
import type { FastifyReply } from 'fastify';
import { WardenError, openaiErrorCode, renderErrorBody } from '../errors/index.ts';
import { KEEPALIVE_FRAME, StreamKeepAlive } from './stream-keepalive.ts';
import type { BodyConsumer, UpstreamCall } from './upstream-call.ts';
import type { OutputTransformer, SseEvent } from './lifecycle.ts';
import { SseEventFailed, SseParser, SseScanner, dropUsageNull, formatSse, type ParsedSse, type SseSink } from './sse.ts';
import { mergeHeaders } from './headers.ts';
import { mapUpstreamFailure, withoutProviderAccount } from './upstream-request.ts';
import { STREAM_BUFFER_BYTES } from './relay.ts';
import { abortRun, type PipelineDeps, type Run } from './interaction-state.ts';

export const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' } as const;

/**
 * Warden's own error in a stream already under way, framed as the API's own in-stream errors:
 * Chat Completions and legacy completions a bare `data:` error object; Anthropic an `error`
 * event; Responses an `error` event then `response.failed`, numbered on from the events sent.
 */
export function streamErrorEvent(run: Run, err: WardenError): string {
  const { ctx } = run;
  if (ctx.flavour === 'openai.responses') {
    const seq = (run.meter.firstSequence ?? 0) + run.eventsSent;
    // OpenAI's codes (a failed response's is never null), Warden's beside them.
    const code = openaiErrorCode(err.code);
    const error = { code: code ?? 'server_error', message: err.message };
    const response = {
      id: run.meter.answer, object: 'response', created_at: Math.floor(ctx.startedAt / 1000), status: 'failed',
      error, incomplete_details: null, model: ctx.model, output: [], usage: null,
    };
    return `event: error\ndata: ${JSON.stringify({ type: 'error', code, message: err.message, param: err.param, warden_code: err.code, sequence_number: seq })}\n\n`
      + `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', response, sequence_number: seq + 1 })}\n\n`;
  }
  const body = JSON.stringify(renderErrorBody(err, ctx.wire));
  return ctx.wire === 'anthropic' ? `event: error\ndata: ${body}\n\n` : `data: ${body}\n\n`;
}

/**
 * An upstream's own error in its stream: Chat Completions' and legacy completions' `{"error": ...}`
 * chunk, Anthropic's and Responses' `error` event, Responses' `response.failed`.
 */
function isUpstreamErrorEvent(data: Record<string, any>, event: string | undefined): boolean {
  return event === 'error' || data.type === 'error' || data.type === 'response.failed' || (data.error !== null && typeof data.error === 'object');
}

export function streamAnswer(
  deps: PipelineDeps, run: Run, reply: FastifyReply, call: UpstreamCall,
  transformers: OutputTransformer[], stripUsageChunk: boolean, passHeaders: Record<string, string>,
): Promise<void> {
  const { ctx } = run;
  const res = reply.raw;
  reply.hijack();
  run.status = 200;
  res.writeHead(200, mergeHeaders(passHeaders, ctx.responseHeaders, SSE_HEADERS));
  // Noted in the event store (with the recorder's next write), so that a node killed mid-stream records it at its next start.
  deps.opened?.(run);
  // The stream's timers (first-event header flush, duration cap, keep-alive) are armed once what
  // the upstream has already sent is relayed, and only if the stream is still going then: an
  // answer that came whole with its head (a fast or cached one) ends without any.
  let headerTimer: NodeJS.Timeout | undefined;
  let timer: NodeJS.Timeout | undefined;
  let keepAlive: StreamKeepAlive | null = null;
  const startedAt = Date.now();
  const armTimers = (): void => {
    // The headers go out with the first event (one write instead of two); if the upstream is slow to
    // send one, they go out on their own shortly after, so the client sees the stream has started.
    if (!res.headersSent) {
      headerTimer = setTimeout(() => { if (!res.headersSent && !res.destroyed) res.flushHeaders(); }, 20);
      headerTimer.unref();
    }
    timer = setTimeout(() => {
      abortRun(run, new WardenError('WARDEN_STREAM_TOO_LONG', `The answer exceeded the maximum stream duration of ${deps.streamMaxDurationMs} ms and was ended.`));
      // Its end (the error event) must go out within the write timeout, however slowly the client reads.
      run.watch.endWithin();
    }, Math.max(1, deps.streamMaxDurationMs - (Date.now() - startedAt)));
    timer.unref();
    keepAlive = new StreamKeepAlive(deps.streamKeepaliveMs ?? 0, KEEPALIVE_FRAME[ctx.wire], write, () => waiting);
  };

  // Backpressure: when the client's socket holds more than STREAM_BUFFER_BYTES, the upstream is
  // paused until it drains (or the client goes away, which aborts the call).
  let waiting = false;
  const onDrain = () => { waiting = false; call.resume(); };
  const write = (out: Buffer | string): boolean => {
    if (res.destroyed) return false;
    keepAlive?.wrote();
    if (res.write(out) || res.writableLength <= STREAM_BUFFER_BYTES) return true;
    if (!waiting) { waiting = true; res.once('drain', onDrain); }
    run.watch.waiting();
    return false;
  };
  /** Forward events; false: pause the upstream. */
  const send = (out: Buffer): boolean => {
    // Time to the answer's first event: keep-alive comments (OpenRouter's come at once) do not count.
    if (run.ttfbMs === null && run.eventsSent > 0) run.ttfbMs = Date.now() - ctx.startedAt;
    // Usage was asked for on the client's behalf: each chunk's `"usage":null` goes too.
    return write(stripUsageChunk ? dropUsageNull(out) : out);
  };
  // The event-by-event work every stream needs: usage accounting, hiding the usage chunk we asked
  // for, and the upstream's own error events without Warden's account ids and credential (as its
  // error bodies are): an event to send in place of the upstream's.
  const other = (ev: SseEvent): boolean | SseEvent => {
    if (ev.data === '[DONE]') { run.meter.done(); return true; }
    if (ev.data === '') return true;
    let data: Record<string, any> | null = null;
    try { data = JSON.parse(ev.data); } catch { data = null; }
    if (!data) return true;
    run.meter.observeEvent(data, ev.event);
    if (isUpstreamErrorEvent(data, ev.event)) {
      const clean = withoutProviderAccount(ev.data, run.upstream?.apiKey ?? null);
      if (clean !== ev.data) return ev.event === undefined ? { data: clean } : { event: ev.event, data: clean };
    }
    return !(stripUsageChunk && data.usage && Array.isArray(data.choices) && data.choices.length === 0);
  };

  /**
   * The upstream's bytes scanned in place by `sink` and forwarded as received: `data` for each
   * chunk, `tail` when the upstream ended (what the scanner still holds, then `closing`).
   */
  const scanning = (sink: SseSink, closing: () => void = () => {}) => {
    const scanner = new SseScanner();
    return {
      data: (chunk: Buffer): boolean => {
        const out = scanner.push(chunk, sink);
        return out ? send(out) : !res.destroyed;
      },
      tail: (): void => {
        const out = scanner.flush(sink);
        if (out) send(out);
        closing();
      },
    };
  };

  let data: (chunk: Buffer) => boolean;
  /** The upstream ended: what is left of the stream. */
  let tail: () => void;
  /** The stream is over before the upstream ended (what output transformers still hold). */
  let rest: () => void = () => {};
  if (transformers.length === 0) {
    // Nothing rewrites events: scan the upstream's bytes in place and forward them as received.
    const sink: SseSink = {
      simple: (c, ds, de, name) => run.meter.scanDelta(c, ds, de, name) && ++run.eventsSent > 0,
      other: (ev) => {
        const kept = other(ev);
        if (kept !== false) run.eventsSent++;
        return kept;
      },
    };
    ({ data, tail } = scanning(sink));
  } else {
    /**
     * One event through the meter and the transformers: true when it goes out as the upstream
     * sent it, else the events to send in its place (none: it is left out).
     */
    const treat = (ev: SseEvent): true | SseEvent[] => {
      if (ev.data === '[DONE]') run.meter.done();
      const simple = ev.data === '[DONE]' || ev.data === '' || run.meter.observeDeltaFast(ev.data, ev.event);
      const kept = simple || other(ev);
      if (kept === false) return [];
      // (An upstream error event cleaned of Warden's account is what the transformers see.)
      const original: SseEvent = kept === true ? { event: ev.event, data: ev.data } : kept;
      let batch: SseEvent[] = [original];
      for (const t of transformers) {
        if (!t.sse) continue;
        const next: SseEvent[] = [];
        for (const e of batch) {
          const r = t.sse(e);
          if (r === null || r === undefined) continue;
          if (Array.isArray(r)) next.push(...r); else next.push(r);
        }
        batch = next;
      }
      run.eventsSent += batch.length;
      for (const e of batch) run.meter.observeSentEvent(e.data, e.event);
      // An event every transformer passed on untouched goes out as the upstream's own bytes.
      return batch.length === 1 && batch[0] === original && kept === true ? true : batch;
    };
    /** `treat`, and if it throws on the event that closed the answer, the answer's closing failed. */
    const treatClosing = (ev: SseEvent): true | SseEvent[] => {
      const closed = run.meter.closed;
      try {
        return treat(ev);
      } catch (err) {
        if (!closed && run.meter.closed) run.closingFailed = true;
        throw err;
      }
    };
    rest = () => {
      let out = '';
      for (const t of transformers) if (t.flush) for (const e of t.flush()) { out += formatSse(e); run.eventsSent++; run.meter.observeSentEvent(e.data, e.event); }
      if (out) write(out);
    };
    const judged = transformers.filter((t) => t.sse);
    if (judged.every((t) => t.passes)) {
      // Every transformer can tell from an event's text that it leaves it alone (most text deltas):
      // those are scanned in place and forwarded as received, as without transformers; the others
      // are decoded and rewritten. The bytes sent are the same either way.
      const sink: SseSink = {
        simple: (c, ds, de, name) => {
          const text = c.text.substring(ds, de);
          for (const t of judged) if (!t.passes!(text, name)) return false;
          if (!run.meter.scanDelta(c, ds, de, name)) return false;
          run.eventsSent++;
          // The start of the answer as sent (the event as the transformers would have seen it).
          if (run.meter.readsSentHead) run.meter.observeSentEvent(c.buf.toString('utf8', ds, de), name);
          return true;
        },
        other: (ev) => {
          const out = treatClosing(ev);
          return out === true || (out.length === 0 ? false : out);
        },
      };
      // Once the upstream ended, what the output transformers still hold follows.
      ({ data, tail } = scanning(sink, rest));
    } else {
      const parser = new SseParser({ comments: true });
      const emit = (events: ParsedSse[]): boolean => {
        const out: Buffer[] = [];
        for (const ev of events) {
          try {
            if (ev.comment) { out.push(ev.raw); continue; } // keep-alive comments: not events, passed on as they are
            const sent = treatClosing(ev);
            if (sent === true) out.push(ev.raw);
            else for (const e of sent) out.push(Buffer.from(formatSse(e)));
          } catch (err) {
            throw new SseEventFailed(err, out.length === 0 ? null : out.length === 1 ? out[0] : Buffer.concat(out));
          }
        }
        return out.length ? send(out.length === 1 ? out[0] : Buffer.concat(out)) : !res.destroyed;
      };
      data = (chunk) => emit(parser.push(chunk));
      tail = () => {
        emit(parser.flush());
        rest();
      };
    }
  }

  return new Promise<void>((resolve) => {
    let isOver = false;
    const over = () => {
      isOver = true;
      if (timer) clearTimeout(timer);
      if (headerTimer) clearTimeout(headerTimer);
      keepAlive?.stop();
      if (waiting) res.off('drain', onDrain);
      resolve();
    };
    // An event the meter or a transformer chokes on ends the stream with an error event, as an
    // upstream failure does; the events before it in the same chunk were accepted and go out first.
    const failed = (err: unknown): unknown => {
      if (!(err instanceof SseEventFailed)) return err;
      if (err.before) send(err.before);
      return err.cause;
    };
    // The stream is ended before the upstream's body (the upstream failed or dropped, the duration
    // cap, an event that could not be handled). After the upstream's closing event the answer is
    // whole: it ends as it would have, with what the output transformers still hold, and no error.
    const cut = (err: unknown): void => {
      if (!run.meter.closed || run.closingFailed || res.destroyed || res.writableEnded) {
        streamFailed(deps, run, res, err);
        return;
      }
      try { rest(); } catch { /* the answer went out whole; what a transformer held back is lost */ }
      run.finished = true;
      res.end();
    };
    const consumer: BodyConsumer = {
      // (This also runs from the client socket's 'drain', outside undici.)
      data: (chunk) => {
        try {
          return data(chunk);
        } catch (err) {
          const cause = failed(err);
          cut(cause);
          call.abort(cause instanceof Error ? cause : new Error(String(cause)));
          over();
          return false;
        }
      },
      end: () => {
        try {
          tail();
          run.finished = true;
          res.end();
        } catch (err) {
          cut(failed(err));
        }
        over();
      },
      error: (err) => {
        cut(err);
        over();
      },
    };
    call.consume(consumer);
    if (!isOver) armTimers();
  });
}

/** The upstream failed mid-stream: tell the client in-band and close. */
function streamFailed(deps: PipelineDeps, run: Run, res: FastifyReply['raw'], err: unknown): void {
  if (res.destroyed || res.writableEnded) return; // client went away: recorded by the close handler
  const werr = mapUpstreamFailure(err, run.ctx);
  run.errorCode = werr.code;
  run.status = werr.status;
  deps.log.warn({ id: run.ctx.id, code: werr.code }, 'stream ended by error');
  res.write(streamErrorEvent(run, werr));
  run.finished = true;
  res.end();
}
