/**
 * A partner's STIX indicator as the tests of threat-intel exchange send it: a system prompt's
 * keyed hash under the sharing key, made by Provider A, valid from 2026 to 2099, with a fresh id.
 * Built by hand, not by the code under test, so that the tests check the wire format itself.
 */
import { randomUUID } from 'node:crypto';
import { keyedHash, sharingKeyId } from '../../src/detect/index.ts';
import { stixId } from '../../src/cases/index.ts';

export function systemPromptIndicator(sharingKey: string, value: string): Record<string, unknown> & { type: string; id: string } {
  return {
    type: 'indicator', spec_version: '2.1', id: `indicator--${randomUUID()}`, created: '2026-01-01T00:00:00.000Z', modified: '2026-01-02T00:00:00.000Z',
    created_by_ref: stixId('identity', 'Provider A'), name: 'system prompt', indicator_types: ['malicious-activity'],
    pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(sharingKey, 'system_prompt', value)}']`, pattern_type: 'stix',
    valid_from: '2026-01-01T00:00:00.000Z', valid_until: '2099-01-01T00:00:00.000Z', confidence: 80, x_warden_key_id: sharingKeyId(sharingKey),
  };
}
