#!/usr/bin/env node
// The `warden` executable: runs the command line in src/cli/index.ts.
import { main } from './index.ts';

// A reader that stops early (`warden ledger query ... | head`) closes the pipe: end quietly, as
// other command-line tools do, rather than with an unhandled EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => { if (code !== 0) process.exitCode = code; },
  (err) => {
    // A command that failed half-way (a server that could not start) may hold open connections
    // and threads: say why, then end the process rather than hang.
    process.stderr.write(`warden: ${err instanceof Error ? err.message : String(err)}\n`, () => process.exit(1));
  },
);
