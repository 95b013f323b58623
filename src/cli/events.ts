/** `warden events export`: recorded interaction events as JSONL, filtered, in time order. */
import { parseArgs } from 'node:util';
import { createWriteStream } from 'node:fs';
import { writeJsonlLine } from '../events/index.ts';
import { loadConfig } from '../config/index.ts';
import { openStores } from './stores.ts';

const HELP = `usage: warden events export [--out FILE] [--from ISO] [--to ISO] [--account ID] [--org ID] [--key ID]
                            [--model NAME] [--ip ADDR] [--limit N] [--config FILE]
Writes one JSON object per line (schema warden.interaction/1, see docs/event-schema.md) to FILE or stdout.`;

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
  const out = values.out ? createWriteStream(values.out) : process.stdout;
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
    if (out !== process.stdout) await new Promise<void>((r) => (out as NodeJS.WritableStream).end(r));
    await stores.close();
  }
  if (values.out) console.error(`wrote ${n} events to ${values.out}`);
  return 0;
}
