/**
 * `warden witness ...`: a transparency-log witness for Warden ledgers (and any C2SP log).
 *
 *   warden witness keygen --name NAME --out FILE [--force]   create a witness key (file mode 0600), print its verifier key
 *   warden witness key --key FILE                            print the verifier key of a witness key file
 *   warden witness serve --key FILE --db FILE --log ORIGIN=VKEY[,VKEY]... [--listen HOST:PORT]
 *
 * `serve` answers POST /add-checkpoint (c2sp.org/tlog-witness) until SIGINT or SIGTERM. It needs no
 * warden.yaml: a witness runs apart from the log it watches, ideally on another machine, by
 * another operator. Exit codes: 0 success, 1 error, 2 usage error.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { generateCosigner, parseCosignerPrivateKey } from './cosign.ts';
import { parseWitnessedLog, startWitness, type RunningWitness } from './witness.ts';

export const WITNESS_USAGE = `usage: warden witness <command> [options]
  keygen --name NAME --out FILE [--force]     create a witness key (mode 0600); prints its verifier key
  key --key FILE                              print the verifier key of a witness key file
  serve --key FILE --db FILE --log ORIGIN=VKEY[,VKEY]... [--listen HOST:PORT]
                                              cosign checkpoints of these logs (POST /add-checkpoint);
                                              default --listen 127.0.0.1:7380
`;

class UsageError extends Error {}

export interface WitnessCliDeps {
  stdout?: Writable;
  stderr?: Writable;
  /** Called with the running witness (tests); `serve` then returns at once instead of waiting for a signal. */
  onServing?: (w: RunningWitness) => void;
}

export async function runWitnessCli(argv: string[], deps: WitnessCliDeps = {}): Promise<number> {
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  const print = (s: string) => out.write(`${s}\n`);
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') { out.write(WITNESS_USAGE); return cmd ? 0 : 2; }
  try {
    const spec: Record<string, Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>> = {
      keygen: { name: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } },
      key: { key: { type: 'string' } },
      serve: { key: { type: 'string' }, db: { type: 'string' }, log: { type: 'string', multiple: true }, listen: { type: 'string' } },
    };
    if (!spec[cmd]) throw new UsageError(`unknown witness command ${cmd}`);
    let values: Record<string, string | string[] | boolean | undefined>;
    try {
      const parsed = parseArgs({ args: rest, options: spec[cmd], allowPositionals: false, strict: true });
      values = parsed.values as typeof values;
    } catch (e) { throw new UsageError(`witness ${cmd}: ${(e as Error).message.split(/\.\s/)[0]}`); }
    const need = (n: string) => {
      const v = values[n];
      if (typeof v !== 'string' || !v) throw new UsageError(`witness ${cmd}: --${n} is required`);
      return v;
    };
    const readKey = (file: string) => {
      let text: string;
      try { text = readFileSync(file, 'utf8'); } catch (e) { throw new UsageError(`--key ${file}: ${(e as Error).message}`); }
      return parseCosignerPrivateKey(text.trim());
    };
    switch (cmd) {
      case 'keygen': {
        const file = need('out');
        if (existsSync(file) && values.force !== true) throw new Error(`${file} exists; refusing to overwrite a witness key (use --force)`);
        const key = generateCosigner(need('name'));
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, key.exportPrivate() + '\n', { mode: 0o600 });
        print(String(key.verifier()));
        return 0;
      }
      case 'key':
        print(String(readKey(need('key')).verifier()));
        return 0;
      case 'serve': {
        const key = readKey(need('key'));
        const dbPath = need('db');
        const logSpecs = (values.log as string[] | undefined) ?? [];
        if (!logSpecs.length) throw new UsageError('witness serve: give at least one --log ORIGIN=VKEY (the log\'s origin and its checkpoint verifier key)');
        const logs = logSpecs.map((l) => { try { return parseWitnessedLog(l); } catch (e) { throw new UsageError(`--log ${l}: ${(e as Error).message}`); } });
        const listen = (values.listen as string | undefined) ?? '127.0.0.1:7380';
        const m = /^(.*):(\d{1,5})$/.exec(listen);
        if (!m) throw new UsageError('--listen must be HOST:PORT');
        const host = m[1].replace(/^\[(.*)\]$/, '$1');
        const running = await startWitness({ key, dbPath, logs, host, port: Number(m[2]), log: print });
        print(`witness ${String(key.verifier())} listening on ${running.url} (logs: ${logs.map((l) => l.origin).join(', ')})`);
        if (deps.onServing) { deps.onServing(running); return 0; }
        await new Promise<void>((resolve) => {
          const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); void running.close().then(resolve); };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        return 0;
      }
    }
    return 2;
  } catch (e) {
    err.write(`warden witness: ${(e as Error).message}\n`);
    if (e instanceof UsageError) { err.write(WITNESS_USAGE); return 2; }
    return 1;
  }
}
