/**
 * `warden mock-upstream`: runs the mock model server in the foreground until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { createMockUpstream, type MockUpstreamOptions } from './server.ts';

const USAGE = `Usage: warden mock-upstream [options]

Runs the built-in mock model server (OpenAI Chat Completions, Responses, Models and
Anthropic Messages wire formats) until interrupted.

Options:
  --host <addr>               interface to listen on (default 127.0.0.1)
  --port <n>                  port, 0 for any free port (default 8081)
  --latency-ms <ms>           delay before the first byte of each response (default 0)
  --tokens-per-second <n>     output pacing, 0 for as fast as possible (default 0)
  --seed <n>                  seed mixed into every answer (default 0)
  --models <list>             comma-separated accepted model names or * patterns
  --api-key-env <NAME>        require the credential held in environment variable NAME
  -h, --help                  show this help
`;

export interface MockCliIO {
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Stops the server when aborted (in addition to SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once the server is listening. */
  onListening?: (url: string) => void;
}

function nonNegativeNumber(name: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`--${name} must be a non-negative ${integer ? 'integer' : 'number'}, got "${value}"`);
  }
  return n;
}

/**
 * Parses `argv` (the arguments after `mock-upstream`), starts the server, prints its URL and
 * resolves with the exit code once the server has stopped (0), or at once on bad arguments (2).
 */
export async function runMockUpstreamCli(argv: string[], io: MockCliIO = {}): Promise<number> {
  const out = io.stdout ?? ((line: string) => process.stdout.write(line + '\n'));
  const err = io.stderr ?? ((line: string) => process.stderr.write(line + '\n'));
  let options: MockUpstreamOptions;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'latency-ms': { type: 'string' },
        'tokens-per-second': { type: 'string' },
        seed: { type: 'string' },
        models: { type: 'string' },
        'api-key-env': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      out(USAGE);
      return 0;
    }
    const port = nonNegativeNumber('port', values.port, true) ?? 8081;
    if (port > 65535) throw new Error(`--port must be at most 65535, got ${port}`);
    let apiKey: string | null = null;
    if (values['api-key-env'] !== undefined) {
      apiKey = process.env[values['api-key-env']] ?? null;
      if (!apiKey) throw new Error(`environment variable ${values['api-key-env']} is empty or unset`);
    }
    options = {
      host: values.host ?? '127.0.0.1',
      port,
      latencyMs: nonNegativeNumber('latency-ms', values['latency-ms'], false) ?? 0,
      tokensPerSecond: nonNegativeNumber('tokens-per-second', values['tokens-per-second'], false) ?? 0,
      seed: nonNegativeNumber('seed', values.seed, true) ?? 0,
      apiKey,
      models: values.models ? values.models.split(',').map((m) => m.trim()).filter((m) => m.length > 0) : undefined,
    };
  } catch (e) {
    err(`warden mock-upstream: ${(e as Error).message}`);
    err(USAGE);
    return 2;
  }

  const mock = await createMockUpstream(options);
  out(`mock upstream listening on ${mock.url}`);
  out(`  OpenAI base URL:    ${mock.url}/v1`);
  out(`  Anthropic base URL: ${mock.url}`);
  io.onListening?.(mock.url);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop, { once: true });
  });
  await mock.close();
  out('mock upstream stopped');
  return 0;
}
