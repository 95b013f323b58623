/**
 * Incremental Server-Sent Events parsing (WHATWG EventSource rules, the subset model APIs use):
 * events are separated by a blank line; `event:` and `data:` fields; multi-line data joined by
 * newlines; comments (`:`) ignored. Works on bytes: each parsed event keeps its raw bytes so an
 * unchanged event is forwarded exactly as received, without re-encoding.
 */
import type { SseEvent } from './lifecycle.ts';

export interface ParsedSse extends SseEvent {
  /** The event exactly as received, including its terminating blank line. */
  raw: Buffer;
}

const LF = 0x0a;
const CR = 0x0d;

export class SseParser {
  private pending: Buffer | null = null;

  /** Feed a chunk of bytes; returns the complete events it finished. */
  push(chunk: Buffer): ParsedSse[] {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: ParsedSse[] = [];
    let start = 0;
    // Scan for a blank line: LF LF, or CR LF CR LF.
    for (let i = buf.indexOf(LF, start); i !== -1 && i < buf.length; i = buf.indexOf(LF, i + 1)) {
      let end = -1;
      if (buf[i + 1] === LF) end = i + 2;
      else if (buf[i + 1] === CR && buf[i + 2] === LF) end = i + 3;
      if (end === -1) continue;
      const raw = buf.subarray(start, end);
      const ev = parseBlock(raw.toString('utf8'));
      if (ev) out.push({ ...ev, raw });
      start = end;
      i = end - 1;
    }
    this.pending = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    return out;
  }

  /** Whatever is left when the stream ends (an unterminated last event). */
  flush(): ParsedSse[] {
    const rest = this.pending;
    this.pending = null;
    if (!rest || rest.toString('utf8').trim() === '') return [];
    const text = rest.toString('utf8');
    const ev = parseBlock(text);
    return ev ? [{ ...ev, raw: Buffer.from(text.endsWith('\n') ? text + '\n' : text + '\n\n') }] : [];
  }
}

function parseBlock(block: string): SseEvent | null {
  // Fast path: the common single-line `data: ...` event.
  if (block.startsWith('data: ') && block.indexOf('\n') === block.length - 2) {
    return { data: block.slice(6, block.length - 2) };
  }
  let event: string | undefined;
  let data: string | null = null;
  for (const rawLine of block.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
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
