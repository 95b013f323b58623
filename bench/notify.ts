/**
 * What notifications cost.
 *
 * 1. The detector with the notifier listening (one webhook, every notification type, levels from
 *    watch) against the same detector with no listener, over the same scenario (a hydra campaign
 *    and organic traffic): CPU time, alternated, `--rounds` times; the figure is the ratio.
 * 2. Delivery: N notifications through one webhook to a local receiver (signed, in order, one at
 *    a time) against N plain `fetch` POSTs of the same bodies one at a time (the baseline).
 *
 *   node --expose-gc --import tsx bench/notify.ts [--rounds 7] [--deliveries 2000]
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { DetectorEngine, buildLabelledEvents, type PromptPool } from '../src/detect/index.ts';
import { Notifier, notification, notifyConfigSchema, type Notification } from '../src/notify/index.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, deliveries: { type: 'string', default: '2000' } } });
const rounds = Number(values.rounds);
const N = Number(values.deliveries);

const server = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(204); res.end(); }); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
const config = notifyConfigSchema.parse({ queue_max: 1_000_000, webhooks: [{ name: 'bench', url, secret: 'bench-webhook-secret', campaign_level: 'watch', account_level: 'watch' }] });

const pool = JSON.parse(readFileSync(new URL('../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const scenario = buildLabelledEvents(pool, { seed: 21, days: 2, organic: { hobbyist: 300, startup: 10, agent: 6, researcher: 4 }, campaigns: [{ kind: 'hydra', accounts: 80 }, { kind: 'surgical', accounts: 12 }] });
console.log(`# ${scenario.events.length} events; ${machine()}; ${new Date().toISOString()}`);

async function detector(withNotifier: boolean): Promise<{ cpuMs: number; sent: number }> {
  const engine = new DetectorEngine();
  const notifier = new Notifier(config, { log: () => {} });
  let sent = 0;
  if (withNotifier) {
    const notify = notifier.watchVerdicts((id) => engine.campaign(id), (a) => engine.campaignIdOf(a));
    // As the gateway does: off the tick (here counted in the same CPU time, once the ingest is done).
    engine.onVerdict((v) => { setImmediate(() => { notify(v); }); });
    const emit = notifier.emit.bind(notifier);
    notifier.emit = (n: Notification) => { sent++; return emit(n); };
  }
  globalThis.gc?.();
  const t = process.cpuUsage();
  for (const e of scenario.events) engine.ingest(e);
  engine.flush();
  await new Promise((r) => setImmediate(r));
  const u = process.cpuUsage(t);
  await notifier.close(10_000);
  return { cpuMs: (u.user + u.system) / 1000, sent };
}

const bodies = Array.from({ length: N }, (_, i) => notification('test', `bench ${i}`, { i }));
async function deliver(): Promise<number> {
  const notifier = new Notifier(config, { log: () => {} });
  const t = performance.now();
  const outcomes = await Promise.all(bodies.map((n) => notifier.emit(n)));
  const ms = performance.now() - t;
  if (outcomes.some((o) => o[0].status !== 'delivered')) throw new Error('a delivery failed');
  await notifier.close();
  return ms;
}
async function plain(): Promise<number> {
  const t = performance.now();
  for (const n of bodies) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(n) });
    await res.text();
  }
  return performance.now() - t;
}

await detector(false); await detector(true); await plain(); await deliver();
const off: number[] = []; const on: number[] = []; const ratios: number[] = []; let sent = 0;
const base: number[] = []; const hooks: number[] = [];
for (let i = 0; i < rounds; i++) {
  const a = await detector(false);
  const b = await detector(true);
  off.push(a.cpuMs); on.push(b.cpuMs); ratios.push(b.cpuMs / a.cpuMs); sent = b.sent;
  base.push(await plain());
  hooks.push(await deliver());
}
console.log(`| detector | median CPU ms | ratio to no listener (median of rounds, range) |`);
console.log(`|---|---|---|`);
console.log(`| no notifier (baseline) | ${median(off).toFixed(0)} | 1 |`);
console.log(`| notifier listening (${sent} notifications made) | ${median(on).toFixed(0)} | ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}) |`);
console.log('');
console.log(`| ${N} deliveries, one at a time | median ms | per second | ratio to plain POSTs |`);
console.log(`|---|---|---|---|`);
console.log(`| plain fetch POSTs (baseline) | ${median(base).toFixed(0)} | ${Math.round(N / (median(base) / 1000))} | 1 |`);
console.log(`| webhook sender (signed, recorded) | ${median(hooks).toFixed(0)} | ${Math.round(N / (median(hooks) / 1000))} | ${(median(hooks) / median(base)).toFixed(2)} |`);
server.close();
