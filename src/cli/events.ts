/** `warden events export`: recorded interaction events as JSONL, filtered, in time order. */
import { parseArgs } from 'node:util';
import { createWriteStream } from 'node:fs';
import { pipeline, type Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { writeJsonlLine } from '../events/index.ts';
import { loadConfig } from '../config/index.ts';
import { openStores } from './stores.ts';

const HELP = `usage: warden events export [--out FILE] [--from ISO] [--to ISO] [--account ID] [--org ID] [--key ID]
                            [--model NAME] [--ip ADDR] [--limit N] [--config FILE]
Writes one JSON object per line (schema warden.interaction/1, see docs/event-schema.md) to FILE or stdout;
a FILE ending in .gz is gzip-compressed (\`warden scan\` and \`warden eval\` read it as it is).`;

export async function runEvents(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'export') {
    console.error(HELP);
    return sub === '--help' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      out: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, account: { type: 'string' },
      org: { type: 'string' }, key: { type: 'string' }, model: { type: 'string' }, ip: { type: 'string' },
      limit: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  const config = loadConfig(values.config);
  const stores = await openStores(config);
  // A .gz file: events go through gzip; `written` settles once the file is complete on disk.
  let out: Writable = process.stdout;
  let written: Promise<void> = Promise.resolve();
  if (values.out) {
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
      from: values.from, to: values.to, accountId: values.account, orgId: values.org, keyId: values.key,
      model: values.model, clientIp: values.ip, limit: values.limit ? Number(values.limit) : undefined,
    })) {
      await writeJsonlLine(out, e);
      n++;
    }
  } finally {
    if (out !== process.stdout) { out.end(); await written; }
    await stores.close();
  }
  if (values.out) console.error(`wrote ${n} events to ${values.out}`);
  return 0;
}
