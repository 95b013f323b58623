/**
 * The first requests after `warden serve` starts: ten chat completions one after another against
 * a fresh Warden (SQLite, built-in mock with no latency), for each detector tick length given.
 *   node --import tsx bench/first-requests.ts [TICK_SECONDS]   (default: 5 and 0.2)
 * A flush of the idle detector before its first event once made the first request wait while the
 * engine stepped its clock from 0 to now one tick at a time.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/index.ts';
import { startWarden } from '../src/cli/serve.ts';
for (const tick of (process.argv[2] ? [Number(process.argv[2])] : [5, 0.2])) {
  const dir = mkdtempSync(join(tmpdir(), 'tick-'));
  const w = await startWarden(parseConfig({ server: { port: 0 }, store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 }, detect: { tick_seconds: tick } }), { log: () => {} });
  const t = performance.now();
  for (let i = 0; i < 10; i++) {
    const r = await fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${w.demoKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) });
    await r.text();
  }
  console.log('tick', tick, (performance.now() - t).toFixed(0), 'ms for 10');
  await w.close();
}
