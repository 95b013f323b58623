/**
 * A request refused from its headers (no valid key), before its body was read. What is still
 * coming is read and discarded, never kept or parsed, up to `limit` bytes, so that the connection
 * stays usable; past it (or when more is announced) the connection is closed: Node alone would
 * read an endless body until the request timeout, for a client that gave no valid key.
 */
import type http from 'node:http';

/** Starts discarding `req`'s unread body; the headers the refusal is sent with (`connection: close` when it will be cut). */
export function dropUnreadBody(req: http.IncomingMessage, limit: number): Record<string, string> {
  const announced = Number(req.headers['content-length'] ?? 0);
  if (announced > limit) return { connection: 'close' };
  if (!req.complete) {
    let discarded = 0;
    req.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > limit) req.socket.destroy();
    });
  }
  return {};
}
