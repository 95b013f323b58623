/**
 * `warden scan`: the detector over logs (src/detect/scan.ts), with partners' indicators when
 * asked (`--intel bundle.json`, src/cases): past logs hunted for another provider's campaign.
 * The sharing key comes from WARDEN_INTEL_KEY or the configuration's cases.sharing_key.
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { loadConfig, resolveSecret } from '../config/index.ts';
import { runScanCli, SharedIndicators, type VerdictLevel } from '../detect/index.ts';
import { stixToIndicators, IMPORT_LEVELS } from '../cases/index.ts';

export async function runScan(argv: string[], io: { stdout?: Writable; stderr?: Writable; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const err = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const bundles: string[] = [];
  let level: VerdictLevel = 'throttle';
  const rest: string[] = [];
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--intel' || a === '--intel-level') {
      const v = argv[++i];
      if (v === undefined) { err.write(`warden scan: ${a} needs a value\n`); return 2; }
      if (a === '--intel') bundles.push(v);
      else if ((IMPORT_LEVELS as readonly string[]).includes(v)) level = v as VerdictLevel;
      else { err.write(`warden scan: --intel-level is one of ${IMPORT_LEVELS.join(', ')}\n`); return 2; }
      continue;
    }
    if (a === '--config') configPath = argv[i + 1];
    rest.push(a);
  }
  if (!bundles.length) return runScanCli(rest, io);
  let key: string | null;
  try { key = env.WARDEN_INTEL_KEY ?? resolveSecret(loadConfig(configPath, env).cases.sharing_key, env); } catch (e) {
    err.write(`warden scan: cannot read config: ${(e as Error).message}\n`);
    return 2;
  }
  if (!key) { err.write('warden scan: --intel needs the sharing key agreed with the partner: set WARDEN_INTEL_KEY or cases.sharing_key\n'); return 2; }
  const intel = new SharedIndicators(key);
  for (const file of bundles) {
    try {
      const r = stixToIndicators(JSON.parse(readFileSync(file, 'utf8')), { sharingKey: key, level });
      intel.add(r.indicators);
      for (const s of r.skipped) err.write(`warden scan: ${file}: skipped ${s.id}: ${s.reason}\n`);
    } catch (e) {
      err.write(`warden scan: cannot read indicators ${file}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  return runScanCli(rest, io, { intel });
}
