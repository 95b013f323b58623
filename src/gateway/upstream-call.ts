/**
 * One request to an upstream, as an undici dispatch handler. The response body is handed to a
 * consumer chunk by chunk (no stream object, no promise per chunk), and the call is aborted
 * directly, without an AbortSignal and its listeners. This is the request path's share of what
 * `Pool.request` would do: the headers Warden reads, the body as text or as chunks with
 * backpressure, and the errors undici reports (timeouts, resets, aborts), unchanged.
 */
import type { Dispatcher } from 'undici';

/** What the gateway reads from the upstream's response head. */
export interface UpstreamHead {
  statusCode: number;
  /** content-type, '' if absent (several: joined with commas). */
  contentType: string;
  retryAfter: string | null;
  /** Headers passed back to the client (those named when the call was made, each present once). */
  passed: Record<string, string>;
  /**
   * The upstream's rate-limit headers (`HeaderPick.rateLimit`, each present once), read on a 429
   * only and passed back then (src/gateway/upstream-request.ts); Warden's describe other answers.
   */
  rateLimit: Record<string, string>;
}

/** Receives the response body. */
export interface BodyConsumer {
  /** A chunk; return false to pause the upstream until `resume()` is called. */
  data(chunk: Buffer): boolean;
  /** The body was read to its end. */
  end(): void;
  /** The call failed (or was aborted) after the head arrived. */
  error(err: Error): void;
}

/**
 * The response headers the gateway reads, by length: a raw header name is decoded only if its
 * length matches one. The rate-limit headers are looked for on a 429 only (`byLength429`), so an
 * answer's decodes no more names than before they were read.
 */
export class HeaderPick {
  readonly byLength = new Map<number, string[]>();
  readonly byLength429 = new Map<number, string[]>();
  constructor(readonly passed: readonly string[], readonly rateLimit: readonly string[] = []) {
    const index = (map: Map<number, string[]>, names: readonly string[]) => {
      for (const n of names) {
        const l = map.get(n.length);
        if (l) l.push(n); else map.set(n.length, [n]);
      }
    };
    index(this.byLength, ['content-type', 'retry-after', ...passed]);
    index(this.byLength429, ['content-type', 'retry-after', ...passed, ...rateLimit]);
  }
}

export class UpstreamCall implements Dispatcher.DispatchHandler {
  /** Resolves with the response head, or with the error if the call failed before it. */
  readonly head: Promise<UpstreamHead | Error>;
  /** The upstream has nothing more to send: body read to its end, or the call failed. */
  done = false;
  /**
   * When the request was written to the upstream, ms; null while it waits in the pool for a
   * connection (or if it never got one). The upstream's work on it starts here.
   */
  sentAt: number | null = null;
  private abortFn: ((err: Error) => void) | null = null;
  private reason: Error | null = null;
  private resolveHead!: (h: UpstreamHead | Error) => void;
  private headSeen = false;
  private resumeFn: (() => void) | null = null;
  private consumer: BodyConsumer | null = null;
  private queue: Buffer[] = [];
  private paused = false;
  private ended = false;
  private failure: Error | null = null;
  // bytes(): the body collected here
  private chunks: Buffer[] | null = null;
  private resolveBytes: ((body: Buffer) => void) | null = null;
  private rejectBytes: ((err: Error) => void) | null = null;

  constructor(private readonly pick: HeaderPick) {
    this.head = new Promise<UpstreamHead | Error>((resolve) => { this.resolveHead = resolve; });
  }

  /** Stop the call (no-op once the upstream is done). Its error reaches the consumer or `head`. */
  abort(reason: Error): void {
    if (this.done || this.reason) return;
    this.reason = reason;
    // Not started yet (queued for a connection): aborted as soon as it starts.
    this.abortFn?.(reason);
  }

  /** The whole body as UTF-8 text (a leading byte-order mark dropped, as undici's `text()` does). */
  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  /** The whole body, a leading UTF-8 byte-order mark dropped. */
  bytes(): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.chunks = [];
      this.resolveBytes = resolve;
      this.rejectBytes = reject;
      this.consume(this);
    });
  }

  // The consumer for bytes().
  /** @internal */ data(c: Buffer): boolean { this.chunks!.push(c); return true; }
  /** @internal */ end(): void {
    const chunks = this.chunks!;
    const b = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const bom = b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
    this.resolveBytes!(bom ? b.subarray(3) : b);
  }
  /** @internal */ error(err: Error): void { this.rejectBytes!(err); }

  /** Start receiving the body (chunks that arrived before this are delivered first). */
  consume(c: BodyConsumer): void {
    this.consumer = c;
    this.deliver();
  }

  /** The consumer can take more after returning false from `data`. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.deliver();
    if (!this.paused) this.resumeFn?.();
  }

  private deliver(): void {
    const c = this.consumer;
    if (!c) return;
    if (this.failure) { this.queue = []; c.error(this.failure); return; }
    while (this.queue.length && !this.paused) {
      if (!c.data(this.queue.shift()!)) this.paused = true;
    }
    if (this.ended && !this.paused && this.queue.length === 0) { this.ended = false; c.end(); }
  }

  // undici's handler interface

  onConnect(abort: (err?: Error) => void): void {
    if (this.reason) abort(this.reason);
    else this.abortFn = abort;
  }

  onRequestSent(): void {
    this.sentAt = Date.now();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[] | null, resume: () => void): boolean {
    this.sentAt ??= Date.now(); // an upstream that answers before it has read the whole body
    if (statusCode < 200) return true;
    this.resumeFn = resume;
    const passed: Record<string, string> = {};
    const seen = new Map<string, string[]>();
    const raw = rawHeaders ?? [];
    const wanted = statusCode === 429 ? this.pick.byLength429 : this.pick.byLength;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const candidates = wanted.get(raw[i].length);
      if (!candidates) continue;
      const name = raw[i].toString('latin1').toLowerCase();
      if (!candidates.includes(name)) continue;
      const v = raw[i + 1].toString('latin1');
      const prev = seen.get(name);
      if (prev) prev.push(v); else seen.set(name, [v]);
    }
    for (const name of this.pick.passed) { const vs = seen.get(name); if (vs && vs.length === 1) passed[name] = vs[0]; }
    const rateLimit: Record<string, string> = {};
    if (statusCode === 429) for (const name of this.pick.rateLimit) { const vs = seen.get(name); if (vs && vs.length === 1) rateLimit[name] = vs[0]; }
    const ct = seen.get('content-type');
    const ra = seen.get('retry-after');
    this.headSeen = true;
    this.resolveHead({ statusCode, contentType: ct ? ct.join(',') : '', retryAfter: ra && ra.length === 1 ? ra[0] : null, passed, rateLimit });
    return true;
  }

  onData(chunk: Buffer): boolean {
    const c = this.consumer;
    if (c && !this.paused && this.queue.length === 0) {
      if (c.data(chunk)) return true;
      this.paused = true;
      return false;
    }
    this.queue.push(chunk);
    return !this.paused;
  }

  onComplete(): void {
    this.done = true;
    this.ended = true;
    this.deliver();
  }

  onError(err: Error): void {
    this.done = true;
    if (!this.headSeen) { this.resolveHead(err); return; }
    this.failure = err;
    this.deliver();
  }
}
