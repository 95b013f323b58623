/**
 * Mock upstream benchmark: how close the mock comes to a server that does no work at all.
 * In one run, each in its own process:
 *   baseline  node:http, parses the JSON body, answers with a fixed pre-serialised body of the same shape
 *   mock      the built-in mock upstream (no latency, unpaced)
 * Closed-loop throughput (requests/s) and open-loop latency at 1,000 requests/s, non-streaming
 * and streaming, reported as ratios of the baseline.
 *
 *   node --import tsx bench/mock.ts [--seconds 4] [--concurrency 32]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { closedLoop, machine, openLoop, startChild, type LoadTarget } from './lib.ts';
import { createMockUpstream } from '../src/mock/index.ts';

const role = process.argv[2];

if (role === 'serve-mock') {
  const m = await createMockUpstream({ host: '127.0.0.1', port: 0, recordRequests: 0 });
  console.log(JSON.stringify({ url: m.url }));
} else if (role === 'serve-baseline') {
  // Bodies captured from the mock itself so both sides send the same bytes.
  const json = process.argv[3];
  const sse = process.argv[4];
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: boolean };
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.end(sse);
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
        res.end(json);
      }
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address() as { port: number };
    console.log(JSON.stringify({ url: `http://127.0.0.1:${addr.port}` }));
  });
} else {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, concurrency: { type: 'string', default: '32' } } });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const script = fileURLToPath(import.meta.url);

  const chat = (stream: boolean) =>
    JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Summarise the plot of a short story about a lighthouse keeper.' }], max_tokens: 64, stream });
  const messages = JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 64, messages: [{ role: 'user', content: 'Summarise the plot of a short story about a lighthouse keeper.' }] });

  const mock = await startChild(script, ['serve-mock']);
  const sample = async (body: string) => (await fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text();
  const baseline = await startChild(script, ['serve-baseline', await sample(chat(false)), await sample(chat(true))]);

  const target = (url: string, path: string, body: string): LoadTarget => ({
    url,
    path,
    headers: { 'content-type': 'application/json', authorization: 'Bearer bench', 'anthropic-version': '2023-06-01' },
    body,
  });
  const rows: string[] = [];
  const scenarios: [string, string, string][] = [
    ['chat, non-streaming (64 tokens)', '/v1/chat/completions', chat(false)],
    ['chat, streaming (64 tokens)', '/v1/chat/completions', chat(true)],
  ];
  for (const [name, path, body] of scenarios) {
    await closedLoop(target(baseline.url, path, body), concurrency, 1); // warm-up
    await closedLoop(target(mock.url, path, body), concurrency, 1);
    const base = await closedLoop(target(baseline.url, path, body), concurrency, seconds);
    const m = await closedLoop(target(mock.url, path, body), concurrency, seconds);
    await openLoop(target(baseline.url, path, body), 1000, 1); // warm-up: the open loop's own connections
    const baseLat = await openLoop(target(baseline.url, path, body), 1000, seconds);
    await openLoop(target(mock.url, path, body), 1000, 1);
    const mockLat = await openLoop(target(mock.url, path, body), 1000, seconds);
    rows.push(
      `| ${name} | ${Math.round(base.rps)} | ${Math.round(m.rps)} | ${(m.rps / base.rps).toFixed(2)} | ${baseLat.p50.toFixed(2)} / ${baseLat.p99.toFixed(2)} | ${mockLat.p50.toFixed(2)} / ${mockLat.p99.toFixed(2)} | ${m.errors + base.errors + mockLat.errors + baseLat.errors} |`,
    );
  }
  const anthropic = await closedLoop(target(mock.url, '/v1/messages', messages), concurrency, seconds);

  console.log(`Mock upstream benchmark, ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
  console.log(`closed loop: ${concurrency} connections, ${seconds} s; open loop: 1,000 requests/s, ${seconds} s\n`);
  console.log('| scenario | baseline req/s | mock req/s | mock / baseline | baseline p50 / p99 ms @1k/s | mock p50 / p99 ms @1k/s | errors |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\nAnthropic messages, non-streaming (64 tokens): ${Math.round(anthropic.rps)} req/s (errors ${anthropic.errors})`);
  for (const c of [mock, baseline]) c.proc.kill('SIGTERM');
}
