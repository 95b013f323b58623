/**
 * Keep-alives on a stream the client has received nothing on for `server.stream_keepalive_s`: a
 * reasoning model may think for minutes before (or between) its events, and a proxy or load
 * balancer with an idle timeout (60 s is common) would cut the connection. What is sent is what
 * the SDKs already skip: Anthropic's own `ping` event (the API sends it too), and on the OpenAI
 * routes an SSE comment line, which every SSE parser ignores (OpenAI's API has no ping of its own
 * on Chat Completions; OpenRouter sends comments the same way).
 *
 * Only ever written between whole events: the stream's writer hands the socket whole events
 * (the scanner and the parser hold back a partial one), and the keep-alive goes through the same
 * writer between its writes.
 */
import type { WireFlavour } from '../errors/index.ts';

export const KEEPALIVE_FRAME: Record<WireFlavour, string> = {
  // Byte for byte what Anthropic's API sends.
  anthropic: 'event: ping\ndata: {"type": "ping"}\n\n',
  openai: ': keep-alive\n\n',
};

export class StreamKeepAlive {
  private lastWriteAt = Date.now();
  private timer: NodeJS.Timeout | null = null;

  /**
   * `write` sends the frame through the stream's own writer; `paused`: the client is not taking what it has (a keep-alive would only add to its backlog).
   */
  constructor(
    private readonly intervalMs: number,
    private readonly frame: string,
    private readonly write: (frame: string) => boolean,
    private readonly paused: () => boolean,
  ) {
    if (intervalMs > 0) this.arm(intervalMs);
  }

  /** Something went out to the client: the silence starts again. */
  wrote(): void {
    this.lastWriteAt = Date.now();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  // One timer per stream, not one reset per event: it fires at the end of the interval counted
  // from the last write it knows of, and sleeps again for what is left if there was one since.
  private tick(): void {
    this.timer = null;
    const silentMs = Date.now() - this.lastWriteAt;
    if (silentMs >= this.intervalMs) {
      // A client not taking its backlog gets nothing more (the write watch deals with it); a proxy
      // sees bytes flowing to it meanwhile. Either way, look again an interval on.
      if (!this.paused()) this.write(this.frame);
      this.wrote();
      this.arm(this.intervalMs);
      return;
    }
    this.arm(this.intervalMs - silentMs);
  }
}
