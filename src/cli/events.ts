/** `warden events export`: recorded interaction events as JSONL, filtered, in time order. */
import { parseArgs } from 'node:util';
import { createWriteStream } from 'node:fs';
import { pipeline, type Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { writeJsonlLine } from '../events/index.ts';
import { loadConfig } from '../config/index.ts';
import { normalizeIsoTime, parsePositiveInt } from '../store/iso-time.ts';
import { openStores } from './stores.ts';

const HELP = `usage: warden events export [--out FILE|-] [--from ISO] [--to ISO] [--account ID] [--org ID] [--key ID]
                            [--model NAME] [--ip ADDR] [--limit N] [-c FILE | --config FILE]
Writes one JSON object per line (schema warden.interaction/1, see docs/event-schema.md) to FILE or stdout
(no --out, or --out -); a FILE ending in .gz is gzip-compressed (\`warden scan\` and \`warden eval\` read it
as it is). --from (inclusive) and --to (exclusive) are ISO 8601: 2026-12-05 (midnight UTC) or
2026-12-05T10:00:00Z; --limit is a positive integer. A usage error exits with 2.`;

function usage(message: string): number {
  console.error(`warden events export: ${message}\n${HELP}`);
  return 2;
}

export async function runEvents(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'export') {
    console.error(HELP);
    return sub === '--help' ? 0 : 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        out: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, account: { type: 'string' },
        org: { type: 'string' }, key: { type: 'string' }, model: { type: 'string' }, ip: { type: 'string' },
        limit: { type: 'string' }, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return usage(`${(err as Error).message.split(/\.\s/)[0]}`);
  }
  if (values.help) { console.log(HELP); return 0; }
  // Checked before anything is opened: times are compared as stored text, the limit is a count.
  const from = values.from === undefined ? undefined : normalizeIsoTime(values.from);
  const to = values.to === undefined ? undefined : normalizeIsoTime(values.to);
  if (from === null) return usage(`--from must be an ISO 8601 date or date-time with its zone, e.g. 2026-12-05 or 2026-12-05T10:00:00Z (got ${JSON.stringify(values.from)})`);
  if (to === null) return usage(`--to must be an ISO 8601 date or date-time with its zone, e.g. 2026-12-05 or 2026-12-05T10:00:00Z (got ${JSON.stringify(values.to)})`);
  const limit = values.limit === undefined ? undefined : parsePositiveInt(values.limit);
  if (limit === null) return usage(`--limit must be a positive integer (got ${JSON.stringify(values.limit)})`);
  // An empty path would silently fall back to the default configuration.
  if (values.config === '') return usage('--config needs a file (got an empty path)');
  const toStdout = values.out === undefined || values.out === '-';
  const config = loadConfig(values.config);
  const stores = await openStores(config);
  // A .gz file: events go through gzip; `written` settles once the file is complete on disk.
  let out: Writable = process.stdout;
  let written: Promise<void> = Promise.resolve();
  if (values.out && !toStdout) {
    const file = createWriteStream(values.out);
    if (values.out.endsWith('.gz')) {
      const gz = createGzip();
      written = new Promise<void>((res, rej) => pipeline(gz, file, (err) => (err ? rej(err) : res())));
      out = gz;
    } else {
      written = new Promise<void>((res, rej) => file.once('finish', () => res()).once('error', rej));
      out = file;
    }
  }
  let n = 0;
  try {
    for await (const e of stores.events.iterate({
      from, to, accountId: values.account, orgId: values.org, keyId: values.key,
      model: values.model, clientIp: values.ip, limit,
    })) {
      await writeJsonlLine(out, e);
      n++;
    }
  } finally {
    if (out !== process.stdout) { out.end(); await written; }
    await stores.close();
  }
  if (!toStdout) console.error(`wrote ${n} events to ${values.out}`);
  return 0;
}
