/**
 * Incremental Server-Sent Events parsing (WHATWG EventSource rules, the subset model APIs use):
 * events are separated by a blank line; `event:` and `data:` fields; multi-line data joined by
 * newlines; comments (`:`) ignored. Each parsed event also keeps its raw text so an unchanged
 * event is forwarded byte for byte.
 */
import type { SseEvent } from './lifecycle.ts';

export interface ParsedSse extends SseEvent {
  /** The event exactly as received, including its terminating blank line. */
  raw: string;
}

export class SseParser {
  private buffer = '';

  /** Feed a chunk of text; returns the complete events it finished. */
  push(chunk: string): ParsedSse[] {
    this.buffer += chunk;
    const out: ParsedSse[] = [];
    for (;;) {
      const boundary = findBoundary(this.buffer);
      if (boundary === null) break;
      const raw = this.buffer.slice(0, boundary.end);
      this.buffer = this.buffer.slice(boundary.end);
      const ev = parseBlock(raw.slice(0, boundary.start));
      if (ev) out.push({ ...ev, raw });
    }
    return out;
  }

  /** Whatever is left when the stream ends (an unterminated last event). */
  flush(): ParsedSse[] {
    const rest = this.buffer;
    this.buffer = '';
    if (!rest.trim()) return [];
    const ev = parseBlock(rest);
    return ev ? [{ ...ev, raw: rest.endsWith('\n') ? rest + '\n' : rest + '\n\n' }] : [];
  }
}

function findBoundary(s: string): { start: number; end: number } | null {
  // Blank line: \n\n, \r\n\r\n or \r\r. Model APIs use \n\n; accept the others too.
  const a = s.indexOf('\n\n');
  const b = s.indexOf('\r\n\r\n');
  if (a === -1 && b === -1) return null;
  if (b !== -1 && (a === -1 || b < a)) return { start: b, end: b + 4 };
  return { start: a, end: a + 2 };
}

function parseBlock(block: string): SseEvent | null {
  let event: string | undefined;
  let data: string | null = null;
  for (const rawLine of block.split(/\r?\n/)) {
    if (rawLine === '' || rawLine.startsWith(':')) continue;
    const colon = rawLine.indexOf(':');
    const field = colon === -1 ? rawLine : rawLine.slice(0, colon);
    let value = colon === -1 ? '' : rawLine.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data = data === null ? value : data + '\n' + value;
  }
  if (data === null && event === undefined) return null;
  return event === undefined ? { data: data ?? '' } : { event, data: data ?? '' };
}

/** Serialise an event for the wire. */
export function formatSse(ev: SseEvent): string {
  const lines = ev.data.split('\n').map((l) => `data: ${l}`).join('\n');
  return ev.event !== undefined ? `event: ${ev.event}\n${lines}\n\n` : `${lines}\n\n`;
}
