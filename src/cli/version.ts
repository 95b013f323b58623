// Warden's own version, read from its package.json (the CLI's `--version`, and what the ledger records with the detector's settings).

/**
 * Warden's version from its package.json: the nearest one above `moduleUrl` named like ours, so
 * that it is found from the source (src/cli/) and from the compiled build (dist/src/cli/) alike.
 */
export async function packageVersion(moduleUrl: string): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  let dir = dirname(fileURLToPath(moduleUrl));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    let pkg: { name?: string; version?: string };
    try { pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')); } catch { continue; }
    if (pkg.name === 'warden-gateway' && pkg.version) return pkg.version;
  }
  throw new Error('cannot find Warden\'s package.json');
}
