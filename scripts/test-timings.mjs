// A test reporter that appends one line per top-level test, "file<TAB>milliseconds", to the file
// named by WARDEN_TEST_DURATIONS, synchronously as each test ends (--test-force-exit ends the run
// before a reporter's buffered output is written). scripts/run-tests.mjs lists the slowest files.
import { appendFileSync } from 'node:fs';

export default async function* topLevelDurations(source) {
  const path = process.env.WARDEN_TEST_DURATIONS;
  for await (const event of source) {
    if (!path || (event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0 || !event.data.file) continue;
    appendFileSync(path, `${event.data.file}\t${event.data.details?.duration_ms ?? 0}\n`);
  }
}
