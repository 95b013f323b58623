// A separate limiter client for the multi-process tests: for each scenario it is sent, builds its
// own Limiter on the shared Redis, waits for `go`, runs the scenario and reports what it saw.
import { Redis } from 'ioredis';
import { Limiter, type LimitRequest } from '../limiter.ts';
import { limitsConfigSchema } from '../config.ts';

interface RunMessage {
  type: 'run';
  mode: 'rate' | 'concurrency' | 'hold';
  config: Record<string, unknown>;
  request: LimitRequest;
  durationMs: number;
  loops: number;
  oracleKey?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let spec: RunMessage | null = null;

process.on('message', (msg: RunMessage | { type: 'go' }) => {
  if (msg.type === 'run') { spec = msg; void prepare(msg); }
  else if (msg.type === 'go') void go();
});

let limiter: Limiter | null = null;
const oracle = new Redis('redis://127.0.0.1:6379');
process.send!({ type: 'started' });

async function prepare(m: RunMessage) {
  await limiter?.close();
  limiter = new Limiter({ config: limitsConfigSchema.parse(m.config) });
  await limiter.ready();
  process.send!({ type: 'ready' });
}

async function go() {
  const m = spec!;
  const limiter = current();
  if (m.mode === 'hold') {
    const d = await limiter.decide(m.request);
    process.send!({ type: 'held', allowed: d.allowed });
    return; // keep the lease and never settle: the parent kills this process
  }
  const deadline = Date.now() + m.durationMs;
  const decisions: [number, number][] = [];
  let maxInFlight = 0;
  const loop = async () => {
    while (Date.now() < deadline) {
      const d = await limiter.decide(m.request);
      if (d.mode !== 'backend') throw new Error(`backend not used: ${d.backendError}`);
      decisions.push([d.nowUs, d.allowed ? 1 : 0]);
      if (m.mode === 'concurrency') {
        if (d.allowed) {
          const n = await oracle.incr(m.oracleKey!);
          maxInFlight = Math.max(maxInFlight, n);
          await sleep(Math.random() * 3);
          await oracle.decr(m.oracleKey!);
          await limiter.settle(d.reservation!, { inputTokens: 0, outputTokens: 0 });
        } else await sleep(Math.random());
      }
    }
  };
  await Promise.all(Array.from({ length: m.loops }, loop));
  process.send!({ type: 'done', decisions, maxInFlight });
}

function current(): Limiter {
  if (!limiter) throw new Error('no run prepared');
  return limiter;
}
