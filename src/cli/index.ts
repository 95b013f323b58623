/**
 * cli: the `warden` command line. Each sub-command lives in its capability; this module only
 * dispatches. The executable entry is main.ts.
 * The composition root: imports every capability; nothing imports it.
 */
import { COMMANDS } from './commands.ts';
import { packageVersion } from './version.ts';

function usage(): string {
  const lines = ['usage: warden <command> [options]', '', 'commands:'];
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(width)}  ${c.summary}`);
  lines.push('', 'Run `warden <command> --help` for the options of one command.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  if (name === '--version' || name === 'version') {
    console.log(await packageVersion(import.meta.url));
    return 0;
  }
  // two-word commands first ("events export", "ledger verify" are handled by their module)
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`warden: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await cmd.run(rest)) ?? 0;
}

export { packageVersion } from './version.ts';
