/**
 * Whether an address can be listened on, asked before a server creates anything: `warden serve`
 * checks its ports before it opens the database and writes its keys, so that a mistyped port or
 * host leaves no files behind and fails on the address, not on a data directory it could not
 * write. The socket is bound and closed at once; another process may still take the port before
 * the gateway listens, and that listen then fails as it would have.
 */
import { createServer } from 'node:net';

/** Bind `host:port` and let it go; rejects with what listening there would (EADDRINUSE, EADDRNOTAVAIL, ENOTFOUND, EACCES). */
export async function bindAndRelease(host: string, port: number): Promise<void> {
  // A connection accepted in the instant the socket is bound is closed, not served.
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
