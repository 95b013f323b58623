// How a test starts Node on one of Warden's own modules in a child process (the `warden` command, a
// worker script, a crash child). `npm test` runs the tests compiled (scripts/run-tests.mjs --compiled:
// every module has its .js beside it in .test-build/), so a child runs the compiled module too, as
// `npm start` and an installed `warden` do, with no loader to start; a test run from source
// (`node --import tsx`, scripts/run-tests.mjs without --compiled) starts the .ts through tsx.
import { fileURLToPath } from 'node:url';

/** True when the tests run compiled (this helper is a .js module), false from source through tsx. */
export const COMPILED = /\.js$/.test(new URL(import.meta.url).pathname);

/**
 * The Node arguments that run the module `source` (the URL of a .ts file, e.g.
 * `new URL('./worker.ts', import.meta.url)`): its compiled .js when the tests run compiled, else
 * `--import tsx` and the .ts. Append the module's own arguments.
 */
export function nodeArgs(source: URL | string): string[] {
  const url = new URL(source);
  if (!/\.ts$/.test(url.pathname)) throw new Error(`nodeArgs: ${url.href} is not a .ts module`);
  if (COMPILED) return [fileURLToPath(new URL(url.href.replace(/\.ts$/, '.js')))];
  return ['--import', import.meta.resolve('tsx'), fileURLToPath(url)];
}

/** The Node arguments that run the `warden` command (src/cli/main.ts); append its arguments. */
export const WARDEN = nodeArgs(new URL('../../src/cli/main.ts', import.meta.url));
