/**
 * Test support: past logs holding a campaign, scanned into the detector state a Warden started on
 * `dir/warden.db` reads at start-up (`warden scan --state dir/warden.db.detector`). The dashboard
 * tests open their pages on what this leaves behind.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildLabelledEvents, runScanCli, type PromptPool } from '../../src/detect/index.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

type LabelledOptions = Parameters<typeof buildLabelledEvents>[1];

/**
 * Builds the labelled traffic from the repo's prompt fixture, writes it as JSONL and scans it.
 * `alter`: what is written and scanned instead of the events built (the same accounts under the
 * ids of accounts the test made, say); the result holds what was scanned.
 */
export async function scanPastLogs(
  dir: string, options: LabelledOptions,
  alter?: (events: InteractionEvent[]) => InteractionEvent[] | Promise<InteractionEvent[]>,
): Promise<ReturnType<typeof buildLabelledEvents>> {
  const pool = JSON.parse(readFileSync(new URL('../fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const built = buildLabelledEvents(pool, options);
  const past = alter ? { ...built, events: await alter(built.events) } : built;
  const logs = join(dir, 'past.jsonl');
  writeFileSync(logs, past.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const quiet = () => new Writable({ write(_c, _e, cb) { cb(); } });
  const code = await runScanCli([logs, '--state', join(dir, 'warden.db.detector')], { stdout: quiet(), stderr: quiet() });
  if (code !== 0) throw new Error(`scanning the past logs exited ${code}`);
  return past;
}
