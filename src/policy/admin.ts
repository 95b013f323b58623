/**
 * Admin routes of the policy capability: screen a signup before creating the account, explain
 * what the policy in force grants a request, and show which policy file is in force.
 */
import { z } from 'zod';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import { VERDICT_LEVELS } from '../detect/verdict.ts';
import { VERIFICATION_TIERS, PROGRAMMES } from '../identity/types.ts';
import { parseIp } from './ip.ts';
import { explainRequest, type PolicyRuntime } from './hooks.ts';

/** An IP address as the policy reads it (IPv4, IPv6, IPv4-mapped IPv6); anything else is a 400 naming the field. */
const IpText = z.string().max(64).refine((s) => parseIp(s) !== null, 'not an IP address');

const ScreenBody = z.strictObject({
  email: z.string().max(320).optional(),
  name: z.string().max(500).optional(),
  organisation: z.string().max(500).optional(),
  signup_ip: IpText.optional(),
  claimed_country: z.string().length(2).toUpperCase().optional(),
});
const ScreeningSchema = z.object({
  decision: z.enum(['allow', 'review', 'block']).describe('block: a hard policy refusal (embargoed region); review: a person should look (disposable email, possible denied party, risky network)'),
  findings: z.array(z.object({ check: z.string(), severity: z.enum(['info', 'review', 'block']), explanation: z.string(), detail: z.record(z.string(), z.unknown()).optional() })),
  ip: z.object({ country: z.string().nullable(), asn: z.number().nullable(), asn_name: z.string().nullable(), networks: z.array(z.string()) }).nullable(),
});
const ExplainBody = z.strictObject({
  tier: z.enum(VERIFICATION_TIERS),
  programme: z.enum(PROGRAMMES).default('none'),
  ip: IpText.optional(),
  claimed_country: z.string().length(2).toUpperCase().optional(),
  verdict: z.enum(VERDICT_LEVELS).default('none'),
  model: z.string().max(200).default(''),
  flavour: z.enum(['openai.chat', 'openai.responses', 'anthropic.messages', 'openai.completions', 'openai.embeddings']).default('openai.chat'),
  account_id: z.string().max(100).optional(),
});
const ExplainSchema = z.object({
  client: z.object({ country: z.string().nullable(), asn: z.number().nullable(), networks: z.array(z.string()) }),
  matched: z.array(z.string()).describe('tiers, programmes, rules and verdict entries that applied, in order'),
  capabilities: z.record(z.string(), z.unknown()).describe('as a policy file writes them; `models` is one allow-list, or `{all_of: [...]}` when several layers each narrowed it'),
  refusal: z.object({ kind: z.string(), source: z.string(), message: z.string() }).nullable(),
});
const PolicyInfoSchema = z.object({ file: z.string(), digest: z.string(), description: z.string().nullable(), rules: z.number() });

export function policyAdminRoutes(runtime: PolicyRuntime): AdminRouteRegistrar {
  return (r) => {
    r.component('SignupScreening', ScreeningSchema);
    r.route({
      method: 'POST', path: '/policy/screen', operationId: 'screenSignup', tag: 'policy',
      summary: 'Screen a signup: disposable email, denied-party lists (fuzzy), region and network of the signup IP',
      description: 'Run before creating the account; nothing is stored. Each finding explains itself (which list, which entry, how similar).',
      body: ScreenBody, response: ScreeningSchema,
      handler: ({ body }) => runtime.screener.screen(body),
    });
    r.route({
      method: 'POST', path: '/policy/explain', operationId: 'explainPolicy', tag: 'policy',
      summary: 'What the policy in force grants (or refuses) a request with these facts, and why',
      body: ExplainBody, response: ExplainSchema,
      handler: ({ body }) => {
        const e = explainRequest(runtime, {
          ip: body.ip ? parseIp(body.ip) : null, tier: body.tier, accountTier: body.tier, programme: body.programme, accountId: body.account_id ?? null, orgId: null,
          model: body.model, flavour: body.flavour, claimedCountry: body.claimed_country ?? null, verdict: body.verdict,
        });
        return { client: { country: e.geo.country, asn: e.geo.asn, networks: e.network.reasons }, matched: e.matched, capabilities: e.capabilities, refusal: e.refusal };
      },
    });
    r.route({
      method: 'GET', path: '/policy', operationId: 'getPolicy', tag: 'policy',
      summary: 'The policy file in force (hot-reloaded; an invalid edit leaves the previous one in force)',
      response: PolicyInfoSchema,
      handler: () => {
        const p = runtime.store.current;
        return { file: runtime.store.path, digest: p.digest, description: p.document.description ?? null, rules: p.document.rules.length };
      },
    });
  };
}
