/** A scriptable HTTP upstream for failure tests (hang, error status, drop mid-stream, capture bodies). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RawUpstream {
  url: string;
  requests: { path: string; headers: http.IncomingHttpHeaders; body: string }[];
  /** Resolves when an in-flight upstream request is closed by the gateway (abort propagation). */
  aborted: Promise<void>;
  close(): Promise<void>;
}

export async function startRawUpstream(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<RawUpstream> {
  const requests: RawUpstream['requests'] = [];
  let markAborted!: () => void;
  const aborted = new Promise<void>((r) => { markAborted = r; });
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      res.on('close', () => { if (!res.writableFinished) markAborted(); });
      handler(req, res, body);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    aborted,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

export const CHAT_COMPLETION = {
  id: 'chatcmpl-test', object: 'chat.completion', created: 1, model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
};
