/**
 * One pass over a JSONL file in a fresh process, as `warden scan` runs (for bench/detect.ts):
 *   node --import tsx bench/scan-child.ts readline|reader|scan FILE
 * Prints {events, wall, cpu} (seconds; CPU time of this process, user + system) and, on Linux,
 * `threads`: the CPU of the main thread and of the others (the optimising compiler, the
 * collector's helpers), since the process started. A fresh process holds only what the pass
 * itself keeps, so its collections are those a user's scan would pay.
 */
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { readEventsFast, scanEvents } from '../src/detect/index.ts';
import type { InteractionEvent } from '../src/events/index.ts';

const [mode, file] = process.argv.slice(2);
const t0 = performance.now();
const c0 = process.cpuUsage();
let events = 0;
if (mode === 'readline') {
  // The baseline: a plain line reader (node:readline) and JSON.parse on every line.
  for await (const line of createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })) if (line && (JSON.parse(line) as InteractionEvent).account_id) events++;
} else if (mode === 'reader') {
  for await (const ev of readEventsFast(file)) if (ev.account_id) events++;
} else if (mode === 'scan') {
  events = (await scanEvents(file)).events;
} else throw new Error(`unknown mode ${mode}`);
const cpu = process.cpuUsage(c0);
/** CPU seconds of the main thread and of the process's other threads, from /proc (null elsewhere). */
function threadCpu(): { main: number; other: number } | null {
  try {
    const out = { main: 0, other: 0 };
    for (const t of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const s = (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
      if (t === String(process.pid)) out.main += s; else out.other += s;
    }
    return out;
  } catch { return null; }
}
console.log(JSON.stringify({ events, wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6, threads: threadCpu() }));
