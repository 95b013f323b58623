/**
 * A request refused before its body was read (no valid key, over a limit, too large). What is
 * still coming is read and discarded, never kept or parsed, up to `limit` bytes, so that the
 * connection stays usable; past it (or when more is announced) the connection is closed.
 *
 * Closed gracefully, as RFC 9112 §9.6 asks and nginx does ("lingering close"): Node alone closes a
 * connection whose answer says `connection: close` as soon as the answer is written, with the
 * client's bytes still arriving, and the client's TCP then gets a reset. A client still sending its
 * upload sees that reset (undici on Node 24: `write EPIPE`, the SDKs' "Connection error") instead
 * of the 413 or 401 it was sent. So once the answer is written, Warden half-closes the connection
 * and goes on discarding what comes, for at most `LINGER.ms` and `max(limit, LINGER.minBytes)`
 * bytes, until the body ends or the client closes: the client reads its answer, and no body is
 * read without bound (nor an endless one until the request timeout).
 */
import type http from 'node:http';
import type { Socket } from 'node:net';

/** Requests whose unread body is being discarded, with the headers their refusal was given. */
const dropping = new WeakMap<http.IncomingMessage, Record<string, string>>();

/** How long, and how much (at least), a refused request's body is read after its answer before its connection is closed. */
export const LINGER = { ms: 5_000, minBytes: 16 * 1024 * 1024 };

/**
 * Starts discarding `req`'s unread body; returns the headers its refusal (`res`) is sent with:
 * `connection: close` when more is announced than `limit`. `linger` narrows the bounds (tests).
 */
export function dropUnreadBody(req: http.IncomingMessage, res: http.ServerResponse, limit: number, linger: { ms: number; minBytes: number } = LINGER): Record<string, string> {
  // A refusal passed on to the error handler is dropped once, with the bounds of whoever began.
  const begun = dropping.get(req);
  if (begun) return begun;
  const announced = Number(req.headers['content-length'] ?? 0);
  const headers: Record<string, string> = announced > limit ? { connection: 'close' } : {};
  if (req.complete) return headers;
  dropping.set(req, headers);
  const socket = req.socket as Socket;
  const lingerBytes = Math.max(limit, linger.minBytes);
  let discarded = 0;
  /** Bytes discarded when the lingering began, or null while the connection is still meant to be kept. */
  let lingerFrom: number | null = null;
  let closing = announced > limit;

  const destroyWhenFlushed = () => {
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  };
  /** The answer is written: this side is done (FIN), and what still comes is read until the body or the bounds end. */
  const lingerClose = () => {
    if (lingerFrom !== null || socket.destroyed) return;
    lingerFrom = discarded;
    socket.end();
    if (req.complete) { destroyWhenFlushed(); return; }
    const timer = setTimeout(() => socket.destroy(), linger.ms);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', destroyWhenFlushed);
  };
  // Node's server calls `destroySoon` once an answer with `connection: close` is written; this one lingers instead.
  socket.destroySoon = lingerClose;

  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (lingerFrom !== null) {
      if (discarded - lingerFrom > lingerBytes) socket.destroy();
    } else if (discarded > limit + lingerBytes) {
      socket.destroy(); // the answer is still not written: bounded all the same
    } else if (discarded > limit && !closing) {
      closing = true;
      // Past what is kept for: the connection closes after its answer (which may have said keep-alive).
      if (!res.headersSent) res.shouldKeepAlive = false;
      else if (res.writableFinished) lingerClose();
      else res.once('finish', lingerClose);
    }
  });
  req.once('end', () => {
    if (lingerFrom !== null) destroyWhenFlushed();
    // All read: the connection's later requests are closed as Node closes them.
    else if (Object.hasOwn(socket, 'destroySoon')) delete (socket as Partial<Socket>).destroySoon;
  });
  return headers;
}
