/**
 * A TCP proxy to a server (PostgreSQL, Redis) that a test can stop and start again on the same
 * port: stopped, the server is unreachable for whoever connects through it, as in an outage.
 * Stalled, it is the server that accepts connections and never answers (a database stuck on its
 * disk, a network path that drops packets): connections are accepted and kept open, nothing goes
 * through either way, on them or on those already open. Delayed, every chunk is forwarded `ms`
 * late, both ways (a slow network path, a loaded Redis): what is sent still arrives, in order.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Refuse new connections and cut the open ones. */
  stop(): Promise<void>;
  /** Accept connections again, on the same port (and forward them, after stop() or stall()). */
  start(): Promise<void>;
  /** Accept connections and answer nothing, on new and open connections alike (start() ends it, cutting them). */
  stall(): Promise<void>;
  /** Forward every chunk `ms` late from now on, on open and new connections (0: at once again). */
  delay(ms: number): void;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  let stalled = false;
  let delayMs = 0;
  // Chunks go through in order: each is written once the ones before it were.
  const forward = (from: Socket, to: Socket) => {
    let last = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const wait = delayMs;
      if (wait === 0) { last = last.then(() => { to.write(chunk); }); return; }
      const due = Date.now() + wait;
      last = last.then(() => new Promise<void>((resolve) => setTimeout(() => { if (!to.destroyed) to.write(chunk); resolve(); }, Math.max(0, due - Date.now()))));
    });
    from.on('end', () => { void last.then(() => to.end()); });
  };
  const hold = (sock: Socket) => { sock.unpipe(); sock.pause(); };
  const listen = async () => {
    const s = createServer((client) => {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      client.on('error', () => client.destroy());
      if (stalled) { client.pause(); return; }
      const upstream = connect(targetPort, targetHost);
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      for (const sock of [client, upstream]) sock.on('error', () => { client.destroy(); upstream.destroy(); });
      forward(client, upstream);
      forward(upstream, client);
    });
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, '127.0.0.1', () => resolve()); });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const cut = () => { for (const sock of sockets) sock.destroy(); };
  await listen();
  return {
    get port() { return port; },
    async stop() {
      const s = server;
      server = null;
      stalled = false;
      cut();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async start() {
      if (stalled) { stalled = false; cut(); }
      if (!server) await listen();
    },
    delay(ms: number) { delayMs = ms; },
    async stall() {
      stalled = true;
      for (const sock of sockets) hold(sock);
      if (!server) await listen();
    },
  };
}
