/**
 * Admin routes of the policy capability: screen a signup before creating the account, explain
 * what the policy in force grants a request, and show which policy file is in force.
 */
import { z } from 'zod';
import { ApiFlavour } from '../events/index.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import { VERDICT_LEVELS, type VerdictView } from '../detect/verdict.ts';
import type { IdentityStore } from '../identity/store.ts';
import { VERIFICATION_TIERS, PROGRAMMES } from '../identity/types.ts';
import { parseIp } from './ip.ts';
import { explainRequest, type PolicyRuntime } from './hooks.ts';
import { subjectFacts } from './subject.ts';
import { SanctionsListError } from './sanctions.ts';
import { NetworkListError } from './networks.ts';
import { rescreenSummary, type Rescreener } from './rescreen.ts';
import { WardenError } from '../errors/index.ts';
import { ScreeningInputError } from './screening.ts';
import { SUBDIVISION_CODE } from './subdivisions.ts';

/** An IP address as the policy reads it (IPv4, IPv6, IPv4-mapped IPv6); anything else is a 400 naming the field. */
const IpText = z.string().max(64).refine((s) => parseIp(s) !== null, 'not an IP address');

const ScreenBody = z.strictObject({
  email: z.string().max(320).optional(),
  name: z.string().max(500).optional(),
  organisation: z.string().max(500).optional(),
  signup_ip: IpText.optional(),
  claimed_country: z.string().length(2).toUpperCase().optional(),
  claimed_subdivision: z.string().toUpperCase().regex(SUBDIVISION_CODE, 'an ISO 3166-2 code such as "UA-43"').optional().describe('the region the customer declared (ISO 3166-2), for the policy\'s claimed_subdivision / claimed_region rules'),
});
const ScreeningSchema = z.object({
  decision: z.enum(['allow', 'review', 'block']).describe('block: a hard policy refusal (embargoed region); review: a person should look (disposable email, possible denied party, risky network)'),
  findings: z.array(z.object({ check: z.string(), severity: z.enum(['info', 'review', 'block']), explanation: z.string(), detail: z.record(z.string(), z.unknown()).optional() })),
  ip: z.object({ country: z.string().nullable(), subdivision: z.string().nullable().optional().describe('ISO 3166-2, from policy.geo.subdivision_files (absent: none configured; null: not in the data)'), asn: z.number().nullable(), asn_name: z.string().nullable(), networks: z.array(z.string()) }).nullable(),
  lists: z.object({ digest: z.string(), loaded_at: z.string() }).nullable().describe('the denied-party lists screened against: SHA-256 over the files (GET /admin/policy/sanctions names them); null when none is configured'),
});
const ListsSchema = z.object({
  digest: z.string().describe('SHA-256 over the files\' formats, paths and hashes, in configuration order'),
  loaded_at: z.string(),
  files: z.array(z.object({ format: z.string(), path: z.string(), sha256: z.string(), entries: z.number() })),
}).nullable();
const RescreenSchema = z.object({
  lists: z.object({ digest: z.string(), loaded_at: z.string() }).nullable(),
  started_at: z.string(), finished_at: z.string(), accounts_screened: z.number(), threshold: z.number(),
  action: z.enum(['suspend', 'report']),
  matches: z.array(z.object({
    account_id: z.string(), org_id: z.string().nullable(), field: z.enum(['name', 'organisation']),
    entry: z.string(), entry_digest: z.string().describe('digest of the entry\'s names, kind and programmes: a clearance holds until it changes'),
    source: z.string(), programs: z.array(z.string()), matched_name: z.string(), score: z.number(),
    outcome: z.enum(['held', 'already_suspended', 'cleared', 'reported']),
    cleared: z.object({ by: z.string(), at: z.string(), reason: z.string().nullable() }).nullable().describe('the reactivation that cleared this entry version'),
  })),
});
const SanctionsInfoSchema = z.object({ lists: ListsSchema, last_screening: RescreenSchema.nullable().describe('the last screening of existing accounts on this node since it started') });
const ReloadBody = z.strictObject({ rescreen: z.boolean().default(true).describe('screen every existing account with the reloaded lists (default true)') });
const ExplainBody = z.strictObject({
  account_id: z.string().min(1).max(100).optional().describe('read the account as the gateway does: its organisation, own and effective tier, programme, claimed country and subdivision and verdict in force; the fields below, when given, replace its own'),
  org_id: z.string().min(1).max(100).optional().describe('without account_id: the organisation the account belongs to (its tier raises the effective tier, its rules apply)'),
  tier: z.enum(VERIFICATION_TIERS).optional().describe('the account\'s own tier; required without account_id'),
  programme: z.enum(PROGRAMMES).optional(),
  ip: IpText.optional(),
  claimed_country: z.string().length(2).toUpperCase().optional(),
  claimed_subdivision: z.string().toUpperCase().regex(SUBDIVISION_CODE, 'an ISO 3166-2 code such as "UA-43"').optional().describe('the region the customer declared (ISO 3166-2); with account_id it replaces the account\'s own (what if); its country is the claimed country unless claimed_country is given'),
  verdict: z.enum(VERDICT_LEVELS).optional().describe('default: the account\'s verdict in force with account_id, else none'),
  model: z.string().max(200).default(''),
  flavour: ApiFlavour.default('openai.chat'),
});
const ExplainSchema = z.object({
  subject: z.object({
    account_id: z.string().nullable(), org_id: z.string().nullable(), tier: z.string().describe('effective: the higher of the account\'s own and its organisation\'s'),
    account_tier: z.string(), programme: z.string(), claimed_country: z.string().nullable(), claimed_subdivision: z.string().nullable(), verdict: z.string(),
  }).describe('the facts the policy decided with'),
  client: z.object({
    country: z.string().nullable(), asn: z.number().nullable(), networks: z.array(z.string()),
    subdivision: z.string().nullable().describe('ISO 3166-2, from the subdivision data; null: not in it, or none configured'),
    subdivision_data: z.object({ digest: z.string(), files: z.array(z.object({ path: z.string(), sha256: z.string(), ranges: z.number() })) }).nullable().describe('the subdivision files in force (policy.geo.subdivision_files); null: none'),
  }),
  matched: z.array(z.string()).describe('tiers, programmes, rules and verdict entries that applied, in order'),
  capabilities: z.record(z.string(), z.unknown()).describe('as a policy file writes them; `models` is one allow-list, or `{all_of: [...]}` when several layers each narrowed it'),
  refusal: z.object({ kind: z.string(), source: z.string(), message: z.string() }).nullable(),
});
const NetworkListsSchema = z.object({
  loaded_at: z.string(),
  files: z.array(z.object({
    list: z.enum(['hosting_asns', 'tor_exits', 'vpn_ranges']).describe('the policy.networks key the file comes from, without `_file`'),
    path: z.string(), sha256: z.string(), entries: z.number().describe('hosting: ASNs and name patterns; Tor: exit addresses; VPN: ranges'),
  })),
});
const PolicyInfoSchema = z.object({
  file: z.string(), digest: z.string(), description: z.string().nullable(), rules: z.number(),
  subdivision_data: z.object({
    digest: z.string(), countries: z.array(z.string()), loaded_at: z.string(),
    files: z.array(z.object({ path: z.string(), sha256: z.string(), ranges: z.number() })),
  }).nullable().optional().describe('the subdivision range files (policy.geo.subdivision_files) the policy in force was compiled against, read with it at each reload; null: none configured'),
});

/** The policy in force and its subdivision data, as GET /admin/policy answers. */
function policyInfo(runtime: PolicyRuntime): z.infer<typeof PolicyInfoSchema> {
  const p = runtime.store.current;
  const v = runtime.subdivisions?.version ?? null;
  return {
    file: runtime.store.path, digest: p.digest, description: p.document.description ?? null, rules: p.document.rules.length,
    subdivision_data: v && { digest: v.digest, countries: v.countries, loaded_at: v.loaded_at, files: v.files },
  };
}

/** Where explain reads a named account from: the identity store, and the detector's verdicts in force. */
export interface PolicyAdminDeps {
  identity: Pick<IdentityStore, 'getAccount' | 'getOrg'>;
  verdicts: VerdictView;
  /** Screening of existing accounts (reload and re-screen routes); absent: those routes are not served. */
  rescreener?: Rescreener;
  log?: (line: string) => void;
}

export function policyAdminRoutes(runtime: PolicyRuntime, deps: PolicyAdminDeps): AdminRouteRegistrar {
  return (r) => {
    r.component('SignupScreening', ScreeningSchema);
    r.route({
      method: 'POST', path: '/policy/screen', operationId: 'screenSignup', tag: 'policy',
      summary: 'Screen a signup: disposable email, denied-party lists (fuzzy), region and network of the signup IP',
      description: 'Run before creating the account; nothing is stored. Each finding explains itself (which list, which entry, how similar).',
      body: ScreenBody, response: ScreeningSchema,
      handler: ({ body }) => {
        try { return runtime.screener.screen(body); } catch (err) {
          if (err instanceof ScreeningInputError) throw new WardenError('WARDEN_INVALID_REQUEST', err.message, { param: err.field });
          throw err;
        }
      },
    });
    r.route({
      method: 'POST', path: '/policy/explain', operationId: 'explainPolicy', tag: 'policy',
      summary: 'What the policy in force grants (or refuses) a request with these facts, and why',
      description: 'With account_id, the account is read as the gateway reads its caller (organisation, own and effective tier, programme, claimed country, verdict in force), so organisation and claimed-country rules and a verify verdict decide as they do on the gateway.',
      body: ExplainBody, response: ExplainSchema, errors: { 404: 'no account or organisation with that id' },
      handler: async ({ body }) => {
        const s = await subjectFacts(deps.identity, {
          accountId: body.account_id, orgId: body.org_id, tier: body.tier, programme: body.programme, claimedCountry: body.claimed_country,
          claimedSubdivision: body.claimed_subdivision,
        });
        const verdict = body.verdict ?? (s.accountId !== null ? deps.verdicts.forAccount(s.accountId).level : 'none');
        const e = explainRequest(runtime, { ...s, ip: body.ip ? parseIp(body.ip) : null, model: body.model, flavour: body.flavour, verdict });
        return {
          subject: { account_id: s.accountId, org_id: s.orgId, tier: s.tier, account_tier: s.accountTier, programme: s.programme, claimed_country: s.claimedCountry, claimed_subdivision: s.claimedSubdivision, verdict },
          client: { country: e.geo.country, asn: e.geo.asn, networks: e.network.reasons, subdivision: e.subdivision, subdivision_data: e.subdivisionData }, matched: e.matched, capabilities: e.capabilities, refusal: e.refusal,
        };
      },
    });
    r.route({
      method: 'GET', path: '/policy/networks', operationId: 'getNetworkLists', tag: 'policy',
      summary: 'The network lists in force on this node (hosting ASNs, Tor exits, VPN ranges): each file\'s path, SHA-256 and entry count',
      response: NetworkListsSchema,
      handler: () => runtime.networkLists,
    });
    r.route({
      method: 'POST', path: '/policy/networks/reload', operationId: 'reloadNetworkLists', tag: 'policy',
      summary: 'Read the configured network lists again (no restart); the next request is classified with them',
      description: 'All files are parsed before any is used: a malformed or unreadable file is a 409 naming file and line, and the lists in force stay. Each node reads its own files: reload every node (or send it SIGHUP).',
      response: NetworkListsSchema, errors: { 409: 'a list file is malformed or unreadable; the lists in force are unchanged' },
      handler: () => {
        try {
          return runtime.reloadNetworks();
        } catch (err) {
          if (err instanceof NetworkListError) throw new WardenError('WARDEN_CONFLICT', `${err.message}; the network lists in force are unchanged (loaded ${runtime.networkLists.loaded_at})`);
          throw err;
        }
      },
    });
    const rescreener = deps.rescreener;
    if (rescreener) {
      r.route({
        method: 'GET', path: '/policy/sanctions', operationId: 'getSanctionsLists', tag: 'policy',
        summary: 'The denied-party lists in force on this node (each file\'s SHA-256 and entry count) and its last screening of existing accounts',
        response: SanctionsInfoSchema,
        handler: () => ({ lists: runtime.sanctions?.version ?? null, last_screening: rescreener.last }),
      });
      const run = async (reload: boolean, rescreen: boolean) => {
        try {
          if (!rescreen) { runtime.reloadSanctions(); return { lists: runtime.sanctions?.version ?? null, screening: null }; }
          const report = await rescreener.run({ reload });
          deps.log?.(rescreenSummary(report));
          return { lists: runtime.sanctions?.version ?? null, screening: report };
        } catch (err) {
          if (err instanceof SanctionsListError) throw new WardenError('WARDEN_CONFLICT', `${err.message}; the lists in force are unchanged (sha256 ${runtime.sanctions?.version.digest ?? 'none'})`);
          throw err;
        }
      };
      const RunSchema = z.object({ lists: ListsSchema, screening: RescreenSchema.nullable() });
      r.route({
        method: 'POST', path: '/policy/sanctions/reload', operationId: 'reloadSanctionsLists', tag: 'policy',
        summary: 'Read the configured denied-party lists again (no restart) and screen every existing account with them',
        description: 'All files are read before any is used: a malformed or unreadable file is a 409 naming file and line, and the lists in force stay. Each node reads its own files: reload every node (or send it SIGHUP). A potential match holds the account (policy.screening.on_match: suspend) unless an operator cleared that version of the entry.',
        body: ReloadBody, response: RunSchema, errors: { 409: 'a list file is malformed or unreadable; the lists in force are unchanged' },
        handler: ({ body }) => run(true, body.rescreen),
      });
      r.route({
        method: 'POST', path: '/policy/sanctions/rescreen', operationId: 'rescreenAccounts', tag: 'policy',
        summary: 'Screen every existing account against the lists in force (names of accounts and of their organisations)',
        response: RunSchema,
        handler: () => run(false, true),
      });
    }
    r.route({
      method: 'GET', path: '/policy', operationId: 'getPolicy', tag: 'policy',
      summary: 'The policy file in force (hot-reloaded; an invalid edit leaves the previous one in force)',
      response: PolicyInfoSchema,
      handler: () => policyInfo(runtime),
    });
    r.route({
      method: 'POST', path: '/policy/reload', operationId: 'reloadPolicy', tag: 'policy',
      summary: 'Read the policy file and the subdivision range files again (no restart); the next request is decided with them',
      description: 'The range files are read and the policy compiled against them before either is used: a malformed or unreadable file, or a policy the new data cannot decide, is a 409 naming why, and the policy and data in force stay. The policy file and the range files are also reloaded when one of them changes (policy.watch). Each node reads its own files: reload every node (or send it SIGHUP).',
      response: PolicyInfoSchema, errors: { 409: 'the policy file or a subdivision range file is invalid; the policy and data in force are unchanged' },
      handler: () => {
        if (!runtime.store.reload()) {
          throw new WardenError('WARDEN_CONFLICT', `${runtime.store.lastError?.message ?? 'the policy was not reloaded'}; the policy in force is unchanged (digest ${runtime.store.current.digest.slice(0, 12)})`);
        }
        return policyInfo(runtime);
      },
    });
  };
}
