// A webhook receiver on a real socket for tests: answers each POST as told, records what it got.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface Received { headers: IncomingMessage['headers']; body: string }

/** A receiver answering each POST with what `answer` says, recording what it got. */
export async function receiver(answer: (n: number, req: IncomingMessage) => { status: number; body?: string; headers?: Record<string, string>; delayMs?: number }) {
  const got: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      const a = answer(got.length, req);
      setTimeout(() => { res.writeHead(a.status, a.headers ?? {}); res.end(a.body ?? ''); }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hooks/T0KEN/secret-path`, got, close: () => new Promise((r) => server.close(r)) };
}

