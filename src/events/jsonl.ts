import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { parseEvent, type InteractionEvent } from './schema.ts';

/**
 * Stream events from a JSONL file or stream, in bounded memory.
 * `validate: false` skips schema validation (JSON.parse only) for fast offline scans.
 * A malformed line throws an error naming its line number.
 */
export async function* readEventsJsonl(
  source: string | Readable,
  opts: { validate?: boolean } = {},
): AsyncGenerator<InteractionEvent> {
  const input = typeof source === 'string' ? createReadStream(source, { encoding: 'utf8' }) : source;
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (line.length === 0) continue;
    try {
      yield opts.validate === false ? (JSON.parse(line) as InteractionEvent) : parseEvent(line);
    } catch (err) {
      throw new Error(`events line ${lineNo}: ${(err as Error).message}`);
    }
  }
}

/** Write one JSON line, honouring backpressure. */
export async function writeJsonlLine(out: Writable, obj: unknown): Promise<void> {
  if (!out.write(JSON.stringify(obj) + '\n')) await once(out, 'drain');
}
