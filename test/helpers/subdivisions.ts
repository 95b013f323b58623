/**
 * Fixtures of the policy tests on region (subdivision) range files: a policy that denies four
 * Ukrainian regions, the committed range data and a copy with the Kyiv block moved to Crimea, an
 * operator's file replacement, and a policy question from an address.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { explainRequest, type PolicyRuntime } from '../../src/policy/hooks.ts';
import { parseIp } from '../../src/policy/ip.ts';

export const policyFixture = (name: string) => new URL(`../fixtures/policy/${name}`, import.meta.url).pathname;
export const SANCTIONED_UA_POLICY = 'version: 1\nregions:\n  sanctioned_ua: [UA-43, UA-40, UA-14, UA-09]\nrules:\n  - { id: sanctioned-regions, when: { region: sanctioned_ua }, action: deny, code: region_blocked }\n';
export const UA_SUBDIVISIONS = readFileSync(policyFixture('subdivisions-ua.csv'), 'utf8');
/** The same data with the Kyiv block (192.0.2.160-191) re-assigned to Crimea. */
export const KYIV_AS_CRIMEA = UA_SUBDIVISIONS.replace('192.0.2.160,192.0.2.191,UA-30,Kyiv', '192.0.2.160,192.0.2.191,UA-43,moved');

/** Replace a file as an operator should: written beside, renamed over. */
export function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.new`, text);
  renameSync(`${file}.new`, file);
}

/** The policy's answer for an unverified keyless request from `ip`. */
export const askFrom = (rt: PolicyRuntime, ip: string) => explainRequest(rt, {
  ip: parseIp(ip), tier: 'unverified', accountTier: 'unverified', programme: 'none', accountId: null, orgId: null,
  model: '', flavour: 'openai.chat', claimedCountry: null, claimedSubdivision: null, verdict: 'none',
});
