/**
 * Test support: read recorded SSE fixtures, run events through transformers, and serve them over
 * real HTTP so the official SDKs' stream parsers can check the result.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OutputTransformer, SseEvent } from '../../src/gateway/lifecycle.ts';

export const FIXTURES = new URL('../fixtures/policy/', import.meta.url);

/** Parse SSE text into events (`event:`/`data:` fields, blank-line separated; comment-only blocks are not events). */
export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (event === undefined && data.length === 0) continue;
    out.push(event === undefined ? { data: data.join('\n') } : { event, data: data.join('\n') });
  }
  return out;
}

export function readSseFixture(name: string): SseEvent[] {
  return parseSse(readFileSync(new URL(name, FIXTURES), 'utf8'));
}

export function serialiseSse(events: SseEvent[]): string {
  return events.map((e) => (e.event !== undefined ? `event: ${e.event}\n` : '') + `data: ${e.data}\n\n`).join('');
}

/** Run events through a transformer the way the gateway does (per event, then flush). */
export function runTransformer(t: OutputTransformer | null, events: SseEvent[]): SseEvent[] {
  if (!t?.sse) return events;
  const out: SseEvent[] = [];
  for (const ev of events) {
    const r = t.sse(ev);
    if (r === null) continue;
    if (Array.isArray(r)) out.push(...r); else out.push(r);
  }
  out.push(...(t.flush?.() ?? []));
  return out;
}

/** Serve one canned body for every POST (SSE or JSON) on 127.0.0.1; returns its base URL. */
export async function serveOnce(body: string, contentType: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}
