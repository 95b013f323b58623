/**
 * Policy hooks for gateway tests from an inline policy document: the YAML is written to a
 * temporary file (the policy reads a file, as `warden serve` does), not watched, geography off; the
 * watermark on when a master secret is given; `verdicts` stands in for the detector's. `cleanup()` removes the file once the test is over.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayHooks } from '../../src/gateway/index.ts';
import type { VerdictView } from '../../src/detect/verdict.ts';
import { policyConfigSchema } from '../../src/policy/config.ts';
import { policyHooks } from '../../src/policy/hooks.ts';
import { watermarkConfigSchema } from '../../src/watermark/config.ts';

export function inlinePolicyHooks(yaml: string, opts: { watermarkSecret?: string; policy?: Record<string, unknown>; watermark?: Record<string, unknown>; verdicts?: VerdictView } = {}): { hooks: GatewayHooks; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, yaml);
  const hooks = policyHooks({
    config: {
      policy: policyConfigSchema.parse({ file, watch: false, geo: { enabled: false }, ...(opts.policy ?? {}) }),
      watermark: watermarkConfigSchema.parse(opts.watermarkSecret ? { enabled: true, master_secret: opts.watermarkSecret, ...(opts.watermark ?? {}) } : { enabled: false }),
    },
    verdicts: opts.verdicts,
  });
  return { hooks, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
