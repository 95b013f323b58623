/**
 * `warden simulate`: write a scenario's events (JSONL, time-ordered) and its ground-truth labels
 * (JSONL, separate file) to disk or stdout, in bounded memory with buffered synchronous writes.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { constants, gzipSync } from 'node:zlib';
import type { PromptCorpus } from './prompts.ts';
import { generateTraffic, type LabelLine } from './generator.ts';
import type { Scenario } from './scenario.ts';

/**
 * Buffered line writer over a file descriptor (`-` is stdout). Retries EAGAIN on pipes. A path
 * ending in `.gz` is gzip-compressed: each buffer becomes one gzip member, and a file of
 * concatenated members is one valid gzip file (gunzip, zcat and `warden scan` read it whole).
 */
export class LineWriter {
  private parts: string[] = [];
  private size = 0;
  private readonly fd: number;
  private readonly own: boolean;
  private readonly gzip: boolean;
  /** Uncompressed bytes written. */
  bytes = 0;

  constructor(path: string, private readonly flushAt = 1 << 20) {
    this.own = path !== '-';
    this.gzip = this.own && path.endsWith('.gz');
    this.fd = this.own ? openSync(path, 'w') : 1;
  }

  line(s: string): void {
    this.parts.push(s, '\n');
    this.size += s.length + 1;
    if (this.size >= this.flushAt) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const plain = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.size = 0;
    this.bytes += plain.length;
    // Level 6 is zlib's default; the simulator's events compress about 13 times.
    const buf = this.gzip ? gzipSync(plain, { level: constants.Z_DEFAULT_COMPRESSION }) : plain;
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(this.fd, buf, off, buf.length - off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
  }

  close(): void {
    this.flush();
    if (this.own) closeSync(this.fd);
  }
}

export interface SimulateOptions {
  scenario: Scenario;
  /** Prompt directory or a loaded corpus (default: the shipped fixtures). */
  prompts?: string | PromptCorpus;
  /** Events JSONL path, `-` for stdout. */
  eventsPath: string;
  /** Labels JSONL path (null: do not write labels). */
  labelsPath: string | null;
  /** Called every `progressEvery` events. */
  onProgress?: (events: number) => void;
  progressEvery?: number;
}

export interface SimulateSummary {
  scenario: string;
  seed: number | string;
  start: string;
  end: string;
  accounts: { organic: number; campaign: number };
  events: number;
  bytes: number;
  elapsed_ms: number;
  /** Events per organic kind and per campaign id. */
  by_population: Record<string, { events: number; accounts_active: number; input_tokens: number; output_tokens: number }>;
}

/** Generate a scenario to files. Synchronous inside (fast path); returns a summary. */
export function simulate(opts: SimulateOptions): SimulateSummary {
  const t0 = performance.now();
  const run = generateTraffic(opts.scenario, { prompts: opts.prompts });
  if (opts.labelsPath) {
    const lw = new LineWriter(opts.labelsPath);
    for (const l of run.labels) lw.line(JSON.stringify(l));
    lw.close();
  }
  const groupOf = new Map<string, string>();
  for (const a of run.accounts) groupOf.set(a.id, a.label.campaign_id ?? a.label.organic_kind ?? 'unknown');
  const by: SimulateSummary['by_population'] = {};
  const active = new Set<string>();
  const w = new LineWriter(opts.eventsPath);
  let n = 0;
  const every = opts.progressEvery ?? 1_000_000;
  try {
    for (const ev of run.events) {
      w.line(JSON.stringify(ev));
      const g = groupOf.get(ev.account_id!)!;
      const s = (by[g] ??= { events: 0, accounts_active: 0, input_tokens: 0, output_tokens: 0 });
      s.events++;
      s.input_tokens += ev.response.input_tokens;
      s.output_tokens += ev.response.output_tokens;
      if (!active.has(ev.account_id!)) { active.add(ev.account_id!); s.accounts_active++; }
      n++;
      if (opts.onProgress && n % every === 0) opts.onProgress(n);
    }
  } finally {
    w.close();
  }
  const campaign = run.accounts.filter((a) => a.campaign).length;
  return {
    scenario: opts.scenario.name, seed: opts.scenario.seed,
    start: new Date(opts.scenario.startMs).toISOString(), end: new Date(opts.scenario.endMs).toISOString(),
    accounts: { organic: run.accounts.length - campaign, campaign }, events: n, bytes: w.bytes,
    elapsed_ms: Math.round(performance.now() - t0), by_population: by,
  };
}

/** Read a labels JSONL file into lines (small: one line per account). */
export function parseLabels(text: string): LabelLine[] {
  const out: LabelLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    out.push(JSON.parse(line) as LabelLine);
  }
  return out;
}
