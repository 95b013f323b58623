#!/usr/bin/env node
// The `warden` executable: runs the command line in src/cli/index.ts.
import { main } from './index.ts';

main(process.argv.slice(2)).then(
  (code) => { if (code !== 0) process.exitCode = code; },
  (err) => {
    console.error(`warden: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
