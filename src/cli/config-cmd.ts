/** `warden config check|defaults`: validate a config file, or print every key with its default. */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { checkEnvSettings, loadConfig, parseConfig, upstreamSchema } from '../config/index.ts';
import { missingOcrModels } from '../documents/ocr.ts';
import { keepsReasoningSealBesideDatabase, noiseKeyWarning, shippedFile } from '../policy/hooks.ts';
import { loadPolicyFile, uncoveredSubdivisions } from '../policy/policy-file.ts';
import { loadSubdivisions } from '../policy/subdivisions.ts';

const HELP = `usage: warden config check [-c, --config FILE]   validate FILE (or warden.yaml / $WARDEN_CONFIG) with env overrides
       warden config defaults                    print the complete configuration with every default, as YAML
                                                 (with a commented example upstream entry and its defaults)`;

export async function runConfig(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'help' || argv.some((a) => a === '--help' || a === '-h')) { console.log(HELP); return 0; }
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    // A mistyped option is a usage error, as on the other commands.
    if (!(err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw err;
    console.error(`warden config: ${(err as Error).message}\n${HELP}`);
    return 2;
  }
  if (values.help || !sub) { console.log(HELP); return sub ? 0 : 2; }
  if (sub === 'defaults') { process.stdout.write(withUpstreamExample(stringify(parseConfig({})))); return 0; }
  if (sub === 'check') {
    const cfg = loadConfig(values.config);
    checkEnvSettings(cfg);
    const d = cfg.documents;
    // As the gateway: a reader only when documents are read and prompts recorded.
    const missing = d.read_images && cfg.events.record_prompts !== 'none' ? missingOcrModels({ languages: d.ocr_languages, dir: d.ocr_models_dir }) : [];
    if (missing.length) { console.error(`invalid configuration:\n  documents.ocr_languages: ${missing.join('\n  documents.ocr_languages: ')}`); return 1; }
    if (cfg.policy.enabled) {
      // The policy file is checked by `warden policy check`; here it is read only for what the configuration lacks for it.
      let doc = null;
      try { doc = loadPolicyFile(cfg.policy.file ?? shippedFile('policy/default.yaml')).document; } catch { /* reported by policy check and at start */ }
      // One SQLite server generates the key once and keeps it beside the database (as `serve` does): nothing to warn of.
      const warning = doc && !keepsReasoningSealBesideDatabase(cfg) && noiseKeyWarning(cfg.policy, doc, process.env);
      if (warning) console.error(`policy.reasoning_seal_secret: ${warning}`);
      // A rule naming a subdivision the configured data cannot decide: refused at start (or, not required, a warning).
      if (doc) {
        const g = cfg.policy.geo;
        let subs = null;
        try { subs = g.enabled && g.subdivision_files.length > 0 ? loadSubdivisions(g.subdivision_files) : null; } catch (err) {
          console.error(`invalid configuration:\n  policy.geo.subdivision_files: ${(err as Error).message}`); return 1;
        }
        const problems = uncoveredSubdivisions(doc, { subdivisionData: subs && { covers: (c) => subs.covers(c), digest: subs.version.digest }, requireSubdivisionData: g.require_subdivision_data, unknownSubdivision: g.unknown_subdivision });
        if (problems.length > 0 && g.require_subdivision_data) { console.error(`invalid configuration:\n${problems.map((p) => `  policy ${p.path}: ${p.message}`).join('\n')}`); return 1; }
        for (const p of problems) console.error(`policy.geo.unknown_subdivision: WARNING ${p.path}: ${p.message.replace(/: (configure it|add data covering it), or set .*$/, '')}; unknown_subdivision (${g.unknown_subdivision}) decides for every client of that country`);
      }
    }
    console.log(`configuration is valid (store: ${cfg.store.driver}, upstreams: ${cfg.upstreams.length || 'built-in mock'})`);
    return 0;
  }
  console.error(HELP);
  return 2;
}

/**
 * `upstreams` is empty by default (the built-in mock answers), so the settings of an entry and their
 * defaults (timeouts, connection pool, both wire formats) would appear nowhere: print one entry,
 * its required keys with example values and every other key at its default, as comments above the key.
 */
function withUpstreamExample(yaml: string): string {
  const example = upstreamSchema.parse({ name: 'openai', base_url: 'https://api.openai.com', models: ['gpt-*'] });
  const lines = [
    'An upstream entry: name, base_url and models are required (example values here); the other keys',
    'show their defaults (api_key: null sends no key; env:NAME reads it from the environment).',
    ...stringify({ upstreams: [example] }).trimEnd().split('\n'),
  ].map((line) => `# ${line}`);
  return yaml.replace(/^upstreams: \[\]$/m, (entry) => `${lines.join('\n')}\n${entry}`);
}
