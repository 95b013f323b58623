/**
 * Admin routes for the detector, mounted by the admin API (inside its token check) at
 * /admin/detect:
 *
 *   GET    /admin/detect/accounts         flagged accounts (level, score, cluster, campaign, last seen, strongest signal), or a campaign's or cluster's members (?level=&campaign=&cluster=&sort=&limit=&offset=)
 *   GET    /admin/detect/accounts/:id     effective level, verdict with its explanation, cluster, the link that brought it there, indicators
 *   GET    /admin/detect/clusters         clusters above none (?min_members=2&limit=100)
 *   GET    /admin/detect/clusters/:id     one cluster: members, evidence, score, campaign
 *   GET    /admin/detect/campaigns        named campaigns: members, timeline, volume, targets, evidence
 *   GET    /admin/detect/campaigns/:id    one campaign by its id or its cluster's (ids merged away answer with where they went)
 *   GET    /admin/detect/stats            accounts in memory and forgotten, clusters, campaigns, link keys, events
 *   POST   /admin/detect/snapshot         write a snapshot of the detector's state now (before an upgrade, a move) -> 201
 *   GET    /admin/detect/allow            allow-list in force, with who added each entry and why
 *   GET    /admin/detect/allow/shadow     each entry (or one) with what its accounts would be held at without it (?account=&org=&limit=)
 *   POST   /admin/detect/allow            {account | org, note?}: never above none            -> 201
 *   DELETE /admin/detect/allow            {account | org, reason?} (body or query string)    -> 204
 *   GET    /admin/detect/verdicts         operator verdicts in force
 *   POST   /admin/detect/verdicts         {kind, id, level, note?, expires_at?}: operator verdict, and whom it does not reach -> 201
 *   DELETE /admin/detect/verdicts         {kind, id, reason?} (body or query string)          -> 204
 *   GET    /admin/detect/changes          operator changes to both, newest first, with who and why (?limit=100)
 *
 * Changes take effect at once on this node (the engine is the verdict view enforcement reads).
 * With an overrides store they are also stored, and put back into the engine at the next start
 * (`applyOverrides`); a change that cannot be stored is refused (500) and not applied.
 */
import { z } from 'zod';
import { WardenError } from '../errors/index.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import type { Campaign, DetectorEngine } from './engine.ts';
import { VERDICT_LEVELS } from './verdict.ts';
import { recordedText } from '../identity/schemas.ts';
import { MemoryDetectOverridesStore, type DetectOverrideChange, type DetectOverridesStore } from './overrides.ts';
import type { SnapshotHeader } from './snapshot.ts';

export interface DetectAdminOptions {
  /** Route prefix, relative to where the routes are mounted; default `/detect`. */
  prefix?: string;
  /** Where operator changes are stored to survive a restart (none: held in memory only). */
  overrides?: DetectOverridesStore;
  /** Write a snapshot now (none: snapshots are off on this node). */
  snapshot?: { path: string; save(): Promise<SnapshotHeader> };
  /**
   * Whether an account or organisation exists (the identity store): an allow-list entry or an
   * operator verdict for an id it does not know is refused (404), so a mistyped id does not
   * become an override that never applies. The detector need not have seen the account yet.
   */
  exists?: (kind: 'account' | 'org', id: string) => Promise<boolean>;
  /**
   * The accounts an organisation holds now (the identity store): an org's allow-list entry covers
   * these (and those the detector has seen in it), not accounts added to the org later, unless the
   * operator asks for them (`new_accounts: true`). None: the accounts the detector has seen in it.
   */
  orgAccounts?: (org: string) => Promise<string[]>;
  /**
   * With one detector for several nodes: why a verdict set now does not reach the replicas yet
   * (the worker cannot reach Redis), or null while verdicts are published. None: a single node.
   */
  unpublished?: () => string | null;
  /**
   * The name, email and organisation of accounts (the identity store), for the listings of
   * accounts: one call for a whole page, unknown ids left out. None: those fields are null.
   */
  accountNames?: (ids: string[]) => Promise<Map<string, AccountNames>>;
}

/** What a listing shows beside an account's id (its signup name and email, its organisation). */
export interface AccountNames { name: string | null; email: string | null; org_id: string | null; org_name: string | null }

const Level = z.enum(VERDICT_LEVELS);

/** A campaign with the ids merged into it, and, when asked for by one of those, a note saying so. */
export function withMerges(engine: DetectorEngine, c: Campaign, asked: string): Campaign & { merged_from?: string[]; merged?: { from: string; into: string } } {
  const from = [...new Set([...engine.mergedFrom(c.id), ...engine.mergedFrom(c.cluster_id)])];
  const redirected = asked !== c.id && asked !== c.cluster_id;
  return { ...c, ...(from.length ? { merged_from: from } : {}), ...(redirected ? { merged: { from: asked, into: c.id } } : {}) };
}
const Id = z.string().min(1).max(200);
const IdParams = z.strictObject({ id: Id });

const Reason = z.object({
  signal: z.string(), value: z.union([z.number(), z.string()]), threshold: z.union([z.number(), z.string()]).nullable(),
  weight: z.number().optional(), detail: z.string().optional(),
  by: z.string().optional().describe('who set an operator verdict (the x-warden-actor of the request)'),
});
const Subject = z.object({ kind: z.enum(['account', 'cluster']), id: z.string() });
export const VerdictSchema = z.object({
  subject: Subject,
  level: Level,
  score: z.number().nullable().describe('Overall score (0..1); null for operator verdicts'),
  reasons: z.array(Reason),
  source: z.enum(['detector', 'operator']),
  since: z.string(),
  campaign_id: z.string().nullable().optional(),
  expires_at: z.string().nullable().optional(),
  merged_into: z.string().nullable().optional().describe('an operator cluster verdict whose cluster merged into another: that cluster (the strictest operator verdict it carries applies)'),
});
const MergedNote = z.object({ from: z.string(), into: z.string() })
  .describe('the id asked for merged into another: this answer is the one it merged into');
export const ClusterSchema = z.object({
  id: z.string(), members: z.array(z.string()), actors: z.number().describe('members scored as distinct actors'), level: Level, score: z.number(), requests: z.number(),
  campaign_id: z.string().nullable(), reasons: z.array(Reason),
  size: z.number().optional().describe('members in all (`members` may list only the first ones)'),
  flagged_at: z.string().nullable().optional(),
  merged_from: z.array(z.string()).optional().describe('cluster ids that merged into this one (remembered ids only)'),
  merged: MergedNote.optional(),
});
const ClusterListItem = ClusterSchema.extend({ size: z.number().describe('members in all; `members` lists the first 20') });
export const CampaignSchema = z.object({
  id: z.string(), cluster_id: z.string(), level: Level, score: z.number(), members: z.array(z.string()),
  first_seen: z.string(), last_seen: z.string(), flagged_at: z.string(),
  volume: z.object({ requests: z.number(), output_tokens: z.number() }),
  timeline: z.array(z.tuple([z.string(), z.number()])).describe('hourly request counts, oldest first, from when each account was linked (what an account sent before is in volume.requests, not here)'),
  targets: z.record(z.string(), z.number()), evidence: z.array(Reason),
  merged_from: z.array(z.string()).optional().describe('campaign and cluster ids that merged into this campaign (remembered ids only)'),
  merged: MergedNote.optional(),
});
const Weighed = z.object({
  source: z.enum(['allow_list', 'operator_account', 'operator_cluster', 'detector_account', 'detector_cluster']),
  subject: z.object({ kind: z.enum(['account', 'cluster', 'org']), id: z.string() }), level: Level,
});
const Precedence = z.object({
  decided_by: Weighed.nullable().describe('the verdict that decides `level`; null when none applies'),
  outranked: z.array(Weighed.extend({ why: z.enum(['less_severe', 'tie', 'replaced', 'allow_listed', 'exempted']) })).describe('the other verdicts weighed, and why each does not decide'),
  summary: z.string(),
});
const Exemption = z.object({ kind: z.enum(['account', 'org', 'operator_none']), id: z.string() });
/** The answer to setting an operator verdict: the verdict, and whom the allow-list keeps it from. */
const VerdictSet = VerdictSchema.extend({
  not_enforced: z.array(z.object({ account: z.string(), tier: z.string(), detail: z.string() })).optional()
    .describe('a `verify` verdict on accounts already identity verified (or enterprise), as their latest request recorded: it does not refuse them (the policy\'s verify stops at identity_verified)'),
  not_reached: z.array(z.object({ account: z.string(), exempt_by: Exemption })).describe('accounts the verdict does not reach: those the allow-list exempts (the account itself, or a member of the cluster), by their entry, and members an operator\'s `none` on the account exempts (`operator_none`)'),
  not_published: z.string().optional()
    .describe('several nodes (detect.mode worker): the worker cannot reach Redis now, so the verdict is set and stored but the replicas do not enforce it until the worker publishes it, once Redis answers; why, and since when'),
});
const AccountView = z.object({
  account_id: z.string(),
  level: Level.describe('the level in force (allow-list, operator verdicts and cluster included)'),
  verdict: VerdictSchema.nullable(),
  account_verdict: VerdictSchema.nullable(),
  cluster: ClusterSchema.nullable(),
  link: z.object({
    at: z.string(), with: z.string().describe('the cluster, or the single account, it was linked to (its id then)'),
    rule: z.enum(['shared_evidence', 'replacement_head', 'fleet_software', 'declared_org']),
    evidence: z.array(z.object({ kind: z.string(), weight: z.number() })).describe('each kind of evidence found, weighed (software before its cap)'),
    software_counted: z.number(), total: z.number(), threshold: z.number(),
  }).nullable().describe('the link that brought the account into its cluster (its latest); null when it is linked to nobody'),
  indicators: z.array(z.object({ signal: z.string(), value: z.number(), threshold: z.number().nullable(), saturation: z.number().nullable(), contribution: z.number() })),
  precedence: Precedence.describe('which verdict decides the level in force and which it outranks: the allow-list exempts; otherwise the more severe of the account\'s (operator, else detector) and its cluster\'s (operator, else detector)'),
  shadow: z.object({
    exempt_by: z.object({ kind: z.enum(['account', 'org']), id: z.string() }).describe('the allow-list entry that exempts the account'),
    level: Level.describe('the level that would be in force without the allow-list'),
    verdict: VerdictSchema.nullable().describe('the verdict that would be in force, with its signals, values and thresholds; null at none'),
    precedence: Precedence.describe('which verdict would decide, and which it would outrank'),
    cluster: z.object({ id: z.string(), level: Level, score: z.number(), size: z.number(), actors: z.number(), campaign_id: z.string().nullable() }).nullable(),
  }).nullable().optional().describe('an allow-listed account: what it would be held at without the allow-list (the detector keeps scoring it); null when no entry exempts it'),
});
const StatsSchema = z.object({
  events: z.number(), accounts: z.number(), forgotten: z.number(), clusters: z.number(), campaigns: z.number(), linkKeys: z.number(), ticks: z.number(),
  event_time: z.string().nullable().describe('event time of the latest event seen; null before the first'),
  evict_idle_hours: z.number(), operator_verdicts: z.number(), allow_list: z.number(),
});
const AllowList = z.object({ accounts: z.array(z.string()), orgs: z.array(z.string()) });
const AllowEntry = z.object({
  kind: z.enum(['account', 'org']), id: z.string(), note: z.string().nullable(),
  by: z.string().nullable().describe('who added it (the x-warden-actor of the request); null if added before this was kept'),
  created_at: z.string(),
  expires_at: z.string().nullable().describe('when the entry lapses by itself; null: until removed'),
  new_accounts: z.boolean().describe('an org entry: true when it also covers accounts added to the org after it was made (created in it or moved into it); false when it covers only `accounts`'),
  accounts: z.array(z.string()).nullable().describe('an org entry that covers only the accounts the org held when it was made: those; null otherwise'),
});
/** Beside an account's id in a listing: who it is, as the identity store has it (null when it has not that account). */
const AccountNamesShape = {
  name: z.string().nullable().describe('the account\'s name (identity store); null when it has none, or the store has no such account'),
  email: z.string().nullable().describe('the account\'s email (identity store)'),
  org_id: z.string().nullable().describe('its organisation (identity store)'),
  org_name: z.string().nullable().describe('its organisation\'s name'),
};
const ShadowRowSchema = z.object({
  account_id: z.string(), ...AccountNamesShape, level: Level.describe('the level it would be held at without the allow-list'),
  decided_by: z.enum(['operator_account', 'operator_cluster', 'detector_account', 'detector_cluster']).nullable().describe('the verdict that would decide it'),
  score: z.number().nullable().describe('the score of that verdict; null for an operator\'s'),
  cluster_id: z.string().nullable(), campaign_id: z.string().nullable(), last_seen: z.string().nullable(),
  top_signal: z.object({ signal: z.string(), value: z.number(), contribution: z.number() }).nullable(),
});
const AllowShadowSchema = z.object({
  kind: z.enum(['account', 'org']), id: z.string(),
  note: z.string().nullable(), by: z.string().nullable().describe('who added it; null for an entry of the configuration or one stored before this was kept'),
  created_at: z.string().nullable().describe('when it was added through this API; null for an entry of the configuration'),
  expires_at: z.string().nullable().describe('when the entry lapses by itself; null: until removed'),
  new_accounts: z.boolean(),
  covered: z.number().describe('accounts the entry covers that the detector holds'),
  unseen: z.array(z.string()).describe('accounts an org entry names that the detector has not seen (or has forgotten)'),
  levels: z.record(z.string(), z.number()).describe('covered accounts by the level they would be held at without the entry'),
  highest: Level,
  accounts: z.array(ShadowRowSchema).describe('the covered accounts that would be held above none, most severe first (at most `limit`)'),
});
const AllowShadowQuery = z.strictObject({
  account: Id.optional(), org: Id.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('accounts listed per entry'),
});
const AllowListView = AllowList.extend({
  entries: z.array(AllowEntry).describe('the entries added through this API, with who added them and why (those from the configuration, detect.allow, have none)'),
});
const ChangeSchema = z.object({
  at: z.string(), action: z.enum(['set', 'clear', 'merge']),
  kind: z.enum(['allow_account', 'allow_org', 'verdict_account', 'verdict_cluster']), subject: z.string(),
  level: Level.nullable().describe('the level set or cleared (null for allow-list entries)'),
  note: z.string().nullable().describe('the note given when setting, the reason given when clearing, what a merge did'),
  by: z.string().nullable().describe('the operator (x-warden-actor); null for a merge, which the detector made'),
});
const ChangesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
const SnapshotWritten = z.object({ path: z.string(), event_time: z.string().nullable().describe('null before the detector has seen an event'), events: z.number(), accounts: z.number(), bytes: z.number(), serialise_ms: z.number() });

const AccountRowSchema = z.object({
  account_id: z.string(), ...AccountNamesShape, level: Level.describe('the level in force (allow-list, operator verdicts and cluster included)'),
  score: z.number().nullable().describe('the score of the verdict in force; null for an operator\'s or the allow-list\'s'),
  account_score: z.number().describe('the account\'s own harvest score, 0 to 1'),
  cluster_id: z.string().nullable(), campaign_id: z.string().nullable(),
  last_seen: z.string().nullable().describe('event time of its latest request; null when the detector has not seen it'),
  requests: z.number().describe('requests the detector has read from it'),
  top_signal: z.object({ signal: z.string(), value: z.number(), contribution: z.number() }).nullable().describe('its behaviour signal adding the most to its score; null when none adds anything'),
});
const ACCOUNT_SORTS = ['level', 'score', 'requests', 'last_seen'] as const;
const AccountsQuery = z.strictObject({
  level: Level.optional().describe('only accounts at this level in force'),
  campaign: Id.optional().describe('the members of this campaign (its id or its cluster\'s), whatever their level'),
  cluster: Id.optional().describe('the members of this cluster, whatever their level'),
  sort: z.enum(ACCOUNT_SORTS).default('level').describe('most severe, highest score, most requests or latest first (ties: level, score, requests)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
});
type AccountRowView = Omit<z.infer<typeof AccountRowSchema>, keyof typeof AccountNamesShape>;
const rank = (l: string) => VERDICT_LEVELS.indexOf(l as (typeof VERDICT_LEVELS)[number]);
const BY: Record<(typeof ACCOUNT_SORTS)[number], (a: AccountRowView, b: AccountRowView) => number> = {
  level: (a, b) => rank(b.level) - rank(a.level),
  score: (a, b) => (b.score ?? b.account_score) - (a.score ?? a.account_score),
  requests: (a, b) => b.requests - a.requests,
  last_seen: (a, b) => (b.last_seen ?? '').localeCompare(a.last_seen ?? ''),
};
/** Sorted by `sort`, then by level, score, requests and id: a page boundary falls in the same place each time. */
const accountOrder = (sort: (typeof ACCOUNT_SORTS)[number]) => (a: AccountRowView, b: AccountRowView) =>
  BY[sort](a, b) || BY.level(a, b) || BY.score(a, b) || BY.requests(a, b) || a.account_id.localeCompare(b.account_id);

const ClustersQuery = z.strictObject({
  min_members: z.coerce.number().int().min(2).max(100_000).default(2).describe('at least 2'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  level: Level.optional().describe('only clusters at this level (default: every level above none)'),
});
// Notes are printed in tables and the allow-list's lines, with who wrote them: the change history's
// rule for free text (line breaks become spaces; other controls and bidi controls are refused).
const Note = recordedText(500);
const Expiry = z.iso.datetime({ offset: true }).refine((t) => Date.parse(t) > Date.now(), 'expires_at must be in the future');
const AllowInput = z.strictObject({
  account: Id.optional(), org: Id.optional(), note: Note.optional(),
  expires_at: Expiry.optional().describe('the entry lapses then (none: until removed)'),
  new_accounts: z.boolean().optional().describe('an org entry: also cover accounts created in or moved into the org later (default false: only the accounts it holds now)'),
});
// DELETE takes the subject as POST takes it: other fields of the POST body (a note) are ignored.
const AllowSubject = z.object({ account: Id.optional(), org: Id.optional() });
/** Why an entry is removed or a verdict cleared: recorded with who did it, as a note is when setting. */
const ClearReason = { reason: Note.optional() };
const AllowDelete = AllowSubject.extend(ClearReason);
/** The same subject in the query string, where there is no POST body to echo: an unknown parameter is a typo, refused. */
const AllowDeleteQuery = z.strictObject({ ...AllowDelete.shape });
const SubjectInput = z.strictObject({ kind: z.enum(['account', 'cluster']), id: Id });
const SubjectQuery = z.strictObject({ kind: z.enum(['account', 'cluster']).optional(), id: Id.optional(), ...ClearReason });
// A DELETE body may be the POST body it undoes: its level, note and expiry are ignored.
const SubjectBody = z.object({ kind: z.enum(['account', 'cluster']).optional(), id: Id.optional(), ...ClearReason });
const VerdictInput = SubjectInput.extend({
  level: Level,
  note: Note.default('operator decision'),
  /** Lapses then (a suspension pending review, say); none: until cleared. */
  expires_at: Expiry.optional(),
});

const NO_NAMES: AccountNames = { name: null, email: null, org_id: null, org_name: null };

const invalid = (message: string, param?: string) => new WardenError('WARDEN_INVALID_REQUEST', message, param ? { param } : {});

/** Exactly one of account or org, from the body or (DELETE) the query string. */
function oneOf(b: { account?: string; org?: string }): { account?: string; org?: string } {
  if (!!b.account === !!b.org) throw invalid('give exactly one of account or org', b.account ? 'org' : 'account');
  return b.account ? { account: b.account } : { org: b.org };
}

/** DELETE takes its subject from the JSON body or, for clients that cannot send one, the query string. */
function bodyOrQuery<T extends object>(body: T, query: T): T {
  return Object.keys(body).length ? body : query;
}

/** The detector's admin routes (registered through the admin API's route table). */
export function detectAdminRoutes(engine: DetectorEngine, opts: DetectAdminOptions = {}): AdminRouteRegistrar {
  const prefix = opts.prefix ?? '/detect';
  // Without a store, operator changes (and who made them) are held in memory only.
  const store = opts.overrides ?? new MemoryDetectOverridesStore();
  /** Store a change first: one the store refused is not applied, so memory and store agree. */
  const stored = async (write: (s: DetectOverridesStore) => Promise<unknown>): Promise<void> => {
    try { await write(store); } catch (err) {
      throw new WardenError('WARDEN_INTERNAL', `the change could not be stored, so it was not applied: ${(err as Error).message}`);
    }
  };
  const mustExist = async (kind: 'account' | 'org', id: string, param: string) => {
    if (opts.exists && !await opts.exists(kind, id)) {
      throw new WardenError('WARDEN_NOT_FOUND', `no ${kind === 'org' ? 'organisation' : 'account'} ${id} (overrides name existing ${kind === 'org' ? 'organisations' : 'accounts'}; the detector need not have seen it yet)`, { param });
    }
  };
  const tag = 'detector';
  // An entry set for a time lapsed: the store forgets it and the change log says so (no operator).
  engine.onAllowListChange((c) => {
    if (!c.lapsed) return;
    const kind = c.subject.kind === 'account' ? 'allow_account' as const : 'allow_org' as const;
    void (async () => {
      await store.remove(kind, c.subject.id);
      await store.record({ at: c.at, action: 'clear', kind, subject: c.subject.id, level: null, note: c.note, by: null });
    })().catch(() => { /* removed again at the next start (applyOverrides) */ });
  });
  /** The audit trail: a change that cannot be logged is refused like one that cannot be stored. */
  const log = (c: Omit<DetectOverrideChange, 'at'>) => stored((s) => s.record({ at: new Date().toISOString(), ...c }));
  // Two clusters that both carried an operator verdict merged: the other verdict is stored with
  // where it went (put back there at start) and the merge is logged.
  engine.onOperatorMerge(({ cluster, verdicts: [inForce, other] }) => {
    void (async () => {
      // An update of the stored row, not a read then an upsert: a clear landing in between stays cleared.
      await store.setMergedInto(other.subject.id, cluster);
      await store.record({
        at: new Date().toISOString(), action: 'merge', kind: 'verdict_cluster', subject: other.subject.id, level: other.level, by: null,
        note: `merged into ${cluster}, whose operator verdict ${inForce.level} (set on ${inForce.subject.id}) is the stricter and applies; this one is kept and applies if that one is cleared or lapses`,
      });
    })().catch(() => { /* the merge still holds in memory; the ledger has its record */ });
  });
  const STORE_FAILED = 'the change could not be stored, so it was not applied';
  /** Rows with their accounts' names, email and organisation: one read of the identity store for them all. */
  const named = async <T extends { account_id: string }>(rows: T[]): Promise<(T & AccountNames)[]> => {
    const names = opts.accountNames && rows.length ? await opts.accountNames(rows.map((r) => r.account_id)) : null;
    return rows.map((r) => {
      const n = names?.get(r.account_id) ?? NO_NAMES;
      return { ...r, name: n.name, email: n.email, org_id: n.org_id, org_name: n.org_name };
    });
  };

  return (r) => {
    r.component('Verdict', VerdictSchema);
    r.component('Cluster', ClusterSchema);
    r.component('Campaign', CampaignSchema);

    r.route({
      method: 'GET', path: `${prefix}/accounts`, operationId: 'detectAccounts', tag,
      summary: 'Flagged accounts (above none), or a campaign\'s or a cluster\'s members: level, score, cluster, campaign, last seen, requests, strongest signal',
      errors: { 404: 'no such campaign or cluster' },
      query: AccountsQuery, response: z.object({ total: z.number(), data: z.array(AccountRowSchema) }),
      handler: async ({ query }) => {
        if (query.campaign && query.cluster) throw invalid('give campaign or cluster, not both', 'cluster');
        let ids: string[] | undefined;
        if (query.campaign) {
          const c = engine.campaign(query.campaign);
          if (!c) throw new WardenError('WARDEN_NOT_FOUND', `no campaign ${query.campaign}`, { param: 'campaign' });
          ids = c.members;
        } else if (query.cluster) {
          const c = engine.cluster(query.cluster, Number.MAX_SAFE_INTEGER);
          if (!c) throw new WardenError('WARDEN_NOT_FOUND', `no cluster ${query.cluster}`, { param: 'cluster' });
          ids = c.members;
        }
        const rows = engine.accountRows(ids).filter((a) => !query.level || a.level === query.level).sort(accountOrder(query.sort));
        return { total: rows.length, data: await named(rows.slice(query.offset, query.offset + query.limit)) };
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/accounts/:id`, operationId: 'detectAccount', tag,
      summary: 'An account as the detector sees it: level in force, verdict with its explanation, cluster, indicators',
      params: IdParams, response: AccountView,
      handler: ({ params: { id } }) => {
        const known = engine.clusterMembers(id).length > 0;
        const effective = engine.forAccount(id);
        if (!known && effective.level === 'none' && !effective.verdict) throw new WardenError('WARDEN_NOT_FOUND', `the detector has not seen account ${id}`);
        const cluster = effective.clusterId ? engine.cluster(effective.clusterId, 100) : null;
        return {
          account_id: id,
          level: effective.level,
          verdict: effective.verdict,
          account_verdict: engine.accountVerdict(id),
          cluster,
          link: engine.accountLink(id),
          indicators: engine.accountIndicators(id).map((i) => ({ signal: i.signal, value: Math.round(i.value * 1000) / 1000, threshold: i.threshold, saturation: i.saturation, contribution: Math.round(i.contribution * 1000) / 1000 })),
          precedence: engine.verdictPrecedence(id),
          shadow: engine.shadowVerdict(id),
        };
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/clusters`, operationId: 'detectClusters', tag,
      summary: 'Clusters of linked accounts, above none unless `level` is given',
      query: ClustersQuery, response: z.object({ total: z.number(), data: z.array(ClusterListItem) }),
      handler: ({ query }) => {
        const all = engine.clusterSummaries(Math.max(2, query.min_members)).filter((c) => (query.level ? c.level === query.level : c.level !== 'none'));
        return { total: all.length, data: all.slice(0, query.limit).map((c) => ({ ...c, size: c.members.length, members: c.members.slice(0, 20) })) };
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/clusters/:id`, operationId: 'detectCluster', tag,
      summary: 'One cluster: members, actors, score, level, campaign, reasons',
      params: IdParams, response: ClusterSchema,
      handler: ({ params }) => {
        const c = engine.cluster(params.id);
        if (!c) throw new WardenError('WARDEN_NOT_FOUND', `no cluster ${params.id}`);
        const from = engine.mergedFrom(c.id);
        return { ...c, ...(from.length ? { merged_from: from } : {}), ...(c.id !== params.id ? { merged: { from: params.id, into: c.id } } : {}) };
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/campaigns/:id`, operationId: 'detectCampaign', tag,
      summary: 'One campaign by its id or its cluster\'s; an id that merged into another answers with the one it merged into',
      params: IdParams, response: CampaignSchema,
      handler: ({ params }) => {
        const c = engine.campaign(params.id);
        if (!c) throw new WardenError('WARDEN_NOT_FOUND', `no campaign ${params.id}`);
        return withMerges(engine, c, params.id);
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/campaigns`, operationId: 'detectCampaigns', tag,
      summary: 'Named campaigns: members, timeline, volume, targets, evidence',
      response: z.object({ data: z.array(CampaignSchema) }),
      handler: () => ({ data: engine.campaigns().map((c) => withMerges(engine, c, c.id)) }),
    });

    r.route({
      method: 'POST', path: `${prefix}/snapshot`, operationId: 'detectSnapshot', tag, status: 201,
      summary: 'Write a snapshot of the detector\'s state now (before an upgrade, or to move the worker)',
      errors: { 409: 'snapshots are off on this node', 500: 'the snapshot could not be written' },
      response: SnapshotWritten,
      handler: async () => {
        const snap = opts.snapshot;
        if (!snap) throw new WardenError('WARDEN_CONFLICT', 'snapshots are off on this node: set detect.snapshot.path (PostgreSQL) or detect.snapshot.enabled');
        let h: SnapshotHeader;
        try { h = await snap.save(); } catch (err) {
          throw new WardenError('WARDEN_INTERNAL', `the snapshot could not be written: ${(err as Error).message}`);
        }
        return { path: snap.path, event_time: h.events > 0 ? h.event_time : null, events: h.events, accounts: h.accounts, bytes: h.bytes, serialise_ms: h.serialise_ms };
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/stats`, operationId: 'detectStats', tag,
      summary: 'Accounts in memory and forgotten, clusters, campaigns, link keys, events, event time, overrides in force',
      response: StatsSchema,
      handler: () => ({
        ...engine.stats(),
        event_time: engine.eventTimeMs ? new Date(engine.eventTimeMs).toISOString() : null,
        evict_idle_hours: engine.config.evict_idle_hours,
        operator_verdicts: engine.manualVerdicts().length,
        allow_list: (({ accounts, orgs }) => accounts.length + orgs.length)(engine.allowList()),
      }),
    });

    r.route({
      method: 'GET', path: `${prefix}/allow`, operationId: 'detectAllowList', tag,
      summary: 'The allow-list in force (accounts and organisations never above none), with who added each entry',
      response: AllowListView,
      handler: async () => {
        const inForce = engine.allowList();
        // An entry set for a time that lapsed is not listed (the store forgets it on the lapse, or at the next start).
        const entries = (await store.list()).filter((o) => (o.kind === 'allow_account' && inForce.accounts.includes(o.subject)) || (o.kind === 'allow_org' && inForce.orgs.includes(o.subject)))
          .map((o) => {
            const kind = o.kind === 'allow_account' ? 'account' as const : 'org' as const;
            const scope = engine.allowEntryScope({ [kind]: o.subject });
            return { kind, id: o.subject, note: o.note, by: o.by ?? null, created_at: o.created_at, expires_at: scope.expires_at, new_accounts: kind === 'org' && scope.members === null, accounts: scope.members };
          });
        return { ...inForce, entries };
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/allow/shadow`, operationId: 'detectAllowShadow', tag,
      summary: 'The allow-list entries in force (or the one named), with what the detector would hold their accounts at without them',
      description: 'For each entry: the accounts it covers that the detector holds, by the level each would be held at without the allow-list, and those above none '
        + '(level, the verdict that would decide, score, cluster, campaign, strongest signal), most severe first. An entry\'s `expires_at` says how long it runs: '
        + 'renew it or let it lapse. Give `account` or `org` for one entry (404 when not on the allow-list).',
      errors: { 404: 'not on the allow-list' },
      query: AllowShadowQuery, response: z.object({ data: z.array(AllowShadowSchema) }),
      handler: async ({ query }) => {
        if (query.account && query.org) throw invalid('give account or org, not both', 'org');
        const subject = query.account ? { account: query.account } : query.org ? { org: query.org } : undefined;
        const shadows = engine.allowShadow(subject, query.limit);
        if (subject && !shadows.length) throw new WardenError('WARDEN_NOT_FOUND', 'not on the allow-list');
        const stored = new Map((await store.list()).filter((o) => o.kind === 'allow_account' || o.kind === 'allow_org').map((o) => [`${o.kind === 'allow_account' ? 'account' : 'org'}:${o.subject}`, o]));
        // Every entry's accounts named in one read.
        const accounts = await named(shadows.flatMap((e) => e.accounts));
        let at = 0;
        return {
          data: shadows.map((e) => {
            const o = stored.get(`${e.kind}:${e.id}`);
            const mine = accounts.slice(at, at += e.accounts.length);
            return { ...e, accounts: mine, note: o?.note ?? null, by: o?.by ?? null, created_at: o?.created_at ?? null };
          }),
        };
      },
    });

    r.route({
      method: 'POST', path: `${prefix}/allow`, operationId: 'detectAllow', tag, status: 201,
      summary: 'Allow-list an account or an organisation (never above none)',
      description: 'Give exactly one of `account` or `org`; it must exist in identity (404 otherwise). '
        + 'An org entry covers the accounts the org holds now (answered in `covers.accounts`), not accounts created in or moved into it later, unless `new_accounts` is true: '
        + 'a decision about a partner\'s accounts does not pass on to an account someone adds to its org afterwards. `expires_at`: the entry lapses then.',
      errors: { 404: 'no such account or organisation', 500: STORE_FAILED },
      body: AllowInput, response: AllowList.extend({
        added: AllowSubject,
        covers: z.object({
          accounts: z.array(z.string()).nullable().describe('the accounts the entry covers; null for an org entry that covers every account the org holds, later ones included'),
          new_accounts: z.boolean(), expires_at: z.string().nullable(),
        }).describe('what the entry covers and until when'),
      }),
      handler: async ({ body, actor }) => {
        const subject = oneOf(body);
        if (subject.account) await mustExist('account', subject.account, 'account');
        else await mustExist('org', subject.org!, 'org');
        if (subject.account && body.new_accounts !== undefined) throw invalid('new_accounts applies to an org entry only', 'new_accounts');
        const kind = subject.account ? 'allow_account' as const : 'allow_org' as const;
        const expiresAt = body.expires_at ? new Date(body.expires_at).toISOString() : null;
        // An org entry covers the accounts the org holds now (identity's, and those the detector saw in it), unless asked for later ones too.
        const members = subject.org && body.new_accounts !== true
          ? [...new Set([...(opts.orgAccounts ? await opts.orgAccounts(subject.org) : []), ...engine.accountsInOrg(subject.org)])].sort()
          : null;
        const createdAt = new Date().toISOString();
        await stored((s) => s.put({ kind, subject: (subject.account ?? subject.org)!, level: null, note: body.note ?? null, created_at: createdAt, expires_at: expiresAt, by: actor, members }));
        await log({ action: 'set', kind, subject: (subject.account ?? subject.org)!, level: null, note: body.note ?? null, by: actor });
        engine.allow(subject, { note: body.note ?? null, by: actor ?? null }, { expiresAt, members, since: createdAt });
        return {
          ...engine.allowList(), added: subject,
          covers: { accounts: subject.account ? [subject.account] : members, new_accounts: !!subject.org && members === null, expires_at: expiresAt },
        };
      },
    });

    r.route({
      method: 'DELETE', path: `${prefix}/allow`, operationId: 'detectDisallow', tag, status: 204,
      summary: 'Remove an account or organisation from the allow-list (subject and reason in the body or the query string)',
      description: 'Who removed it (`x-warden-actor`) and the `reason` given are recorded in the change log (`GET /detect/changes`).',
      errors: { 404: 'not on the allow-list', 500: STORE_FAILED },
      query: AllowDeleteQuery, body: AllowDelete, response: z.void(),
      handler: async ({ body, query, actor }) => {
        const given = bodyOrQuery(body, query);
        const subject = oneOf(given);
        const before = engine.allowList();
        const present = subject.account ? before.accounts.includes(subject.account) : before.orgs.includes(subject.org!);
        if (!present) throw new WardenError('WARDEN_NOT_FOUND', 'not on the allow-list');
        const kind = subject.account ? 'allow_account' as const : 'allow_org' as const;
        await stored((s) => s.remove(kind, (subject.account ?? subject.org)!));
        await log({ action: 'clear', kind, subject: (subject.account ?? subject.org)!, level: null, note: given.reason ?? null, by: actor });
        engine.disallow(subject, { note: given.reason ?? null, by: actor ?? null });
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/verdicts`, operationId: 'detectOperatorVerdicts', tag,
      summary: 'Operator verdicts in force', response: z.object({ data: z.array(VerdictSchema) }),
      handler: () => ({ data: engine.manualVerdicts() }),
    });

    r.route({
      method: 'POST', path: `${prefix}/verdicts`, operationId: 'detectSetVerdict', tag, status: 201,
      summary: 'Set an operator verdict on an account or a cluster (it replaces the detector\'s on that subject)',
      description: 'An account must exist in identity (the detector need not have seen it yet); a cluster must be one the detector holds. '
        + 'An account is held at the more severe of its own verdict and its cluster\'s, so neither lowers the other; the allow-list exempts, and `not_reached` names the accounts it keeps this verdict from.',
      errors: { 404: 'no such account or cluster', 500: STORE_FAILED },
      body: VerdictInput, response: VerdictSet,
      handler: async ({ body, actor }) => {
        const { kind, id, level, note } = body;
        const expiresAt = body.expires_at ? new Date(body.expires_at).toISOString() : null;
        // A cluster id that merged away is looked up as the cluster it went into; a verdict is set on a live id.
        const live = kind === 'cluster' ? engine.cluster(id, 0) : null;
        if (kind === 'cluster' && !live) throw new WardenError('WARDEN_NOT_FOUND', `no cluster ${id}`, { param: 'id' });
        if (live && live.id !== id) throw new WardenError('WARDEN_NOT_FOUND', `cluster ${id} merged into ${live.id}: set the verdict on ${live.id}`, { param: 'id' });
        if (kind === 'account') await mustExist('account', id, 'id');
        const since = new Date().toISOString();
        await stored((s) => s.put({ kind: kind === 'account' ? 'verdict_account' : 'verdict_cluster', subject: id, level, note, created_at: since, expires_at: expiresAt, by: actor }));
        await log({ action: 'set', kind: kind === 'account' ? 'verdict_account' : 'verdict_cluster', subject: id, level, note, by: actor });
        const set = engine.setManualVerdict({ kind, id }, level, note, since, expiresAt, actor)!;
        const exempt = kind === 'account' ? engine.exemption(id) : null;
        const notReached = kind === 'cluster' ? engine.clusterExemptions(id) : exempt ? [{ account: id, exempt_by: exempt }] : [];
        // `verify` refuses only accounts not yet identity verified (the policy's verdicts.verify):
        // on one already verified it shapes or limits at most. Said, so the operator can choose another level.
        const notEnforced = level === 'verify' ? (kind === 'account' ? [id] : engine.cluster(id)?.members ?? []).flatMap((a) => {
          const tier = engine.accountTier(a);
          return tier === 'identity_verified' || tier === 'enterprise'
            ? [{ account: a, tier, detail: `verify: account is ${tier}; verify refuses only accounts below identity_verified, so it is still served (shaped or limited as the policy's verify says): suspend it, or lower its tier, to stop it` }]
            : [];
        }) : [];
        // Set and stored, but the replicas learn of it only through Redis: say so while the worker cannot reach it.
        const notPublished = opts.unpublished?.() ?? null;
        return { ...set, not_reached: notReached, ...(notEnforced.length ? { not_enforced: notEnforced } : {}), ...(notPublished ? { not_published: notPublished } : {}) };
      },
    });

    r.route({
      method: 'DELETE', path: `${prefix}/verdicts`, operationId: 'detectClearVerdict', tag, status: 204,
      summary: 'Clear an operator verdict (subject and reason in the body or the query string)',
      description: 'Who cleared it (`x-warden-actor`) and the `reason` given are recorded in the change log (`GET /detect/changes`) and, as the verdict\'s `operator_verdict_cleared` reason, in the ledger\'s verdict record.',
      errors: { 404: 'no operator verdict on that subject', 500: STORE_FAILED },
      query: SubjectQuery, body: SubjectBody, response: z.void(),
      handler: async ({ body, query, actor }) => {
        const given = bodyOrQuery(body, query);
        const subject = parseSubject(given);
        const had = engine.manualVerdicts().find((v) => v.subject.kind === subject.kind && v.subject.id === subject.id);
        if (!had) throw new WardenError('WARDEN_NOT_FOUND', `no operator verdict on ${subject.kind} ${subject.id}`);
        const kind = subject.kind === 'account' ? 'verdict_account' as const : 'verdict_cluster' as const;
        await stored((s) => s.remove(kind, subject.id));
        await log({ action: 'clear', kind, subject: subject.id, level: had.level, note: given.reason ?? null, by: actor });
        engine.clearManualVerdict(subject, given.reason ?? null, actor);
      },
    });

    r.route({
      method: 'GET', path: `${prefix}/changes`, operationId: 'detectOverrideChanges', tag,
      summary: 'Operator changes to the allow-list and operator verdicts, newest first: set, cleared (with who and why), carried through a cluster merge',
      query: ChangesQuery, response: z.object({ data: z.array(ChangeSchema) }),
      handler: async ({ query }) => ({ data: await store.changes(query.limit) }),
    });
  };
}

function parseSubject(b: { kind?: 'account' | 'cluster'; id?: string }): { kind: 'account' | 'cluster'; id: string } {
  if (!b.kind) throw invalid('kind: give account or cluster', 'kind');
  if (!b.id) throw invalid('id: give the account or cluster id', 'id');
  return { kind: b.kind, id: b.id };
}

/** Admin paths only the detector worker serves: the detector's, and cases and intel, which read its engine. */
// An account's erasure too: it reaches the detector's state and the case files, which only the worker holds.
const WORKER_ONLY = /^\/(detect|cases|intel)(\/|$)|^\/accounts\/[^/]+\/erase$/;

/**
 * What a replica says of the routes only the worker serves, naming the worker from its lease: the
 * 421's message, and the dashboard's note on its detector and cases pages. The holder is
 * host:pid:random, with ` port=N` from a worker that knows its port (WorkerLease); with the port the
 * sentence gives the URL to call.
 */
export async function replicaNotice(workerLease: () => Promise<string | null>): Promise<string> {
  let where = '';
  let call = 'http://<worker>:<port>';
  try {
    const holder = await workerLease();
    const at = holder ? /^(.*):(\d+):[0-9a-f]+(?: port=(\d+))?$/.exec(holder) : null;
    if (at?.[3]) call = `http://${at[1]}:${at[3]}`;
    where = at ? ` (host ${at[1]}, pid ${at[2]}${at[3] ? `, port ${at[3]}` : ''})` : holder ? ` (${holder})` : ' (none holds the worker lease now: is it running?)';
  } catch { /* Redis unreachable: the message names no host */ }
  return `this node is a detector replica (detect.mode: replica): the detector, cases and intel admin routes (and account erasure) are served by the detector worker node${where}; call its admin API (e.g. warden detect --url ${call})`;
}

/**
 * What a replica answers on the admin routes only the worker serves, which it does not have: 421
 * Misdirected Request (the request is fine, this node cannot answer it, another can) naming the
 * worker from its lease, rather than a 404 that reads as a typo or another version. For the admin
 * API's `misdirected` option (its not-found handler asks, behind the token check); `path` is
 * relative to the admin prefix. Null for any other path.
 */
export function replicaMisdirected(workerLease: () => Promise<string | null>): (path: string) => Promise<WardenError | null> {
  return async (path) => {
    if (!WORKER_ONLY.test(path)) return null;
    return new WardenError('WARDEN_DETECTOR_REPLICA', await replicaNotice(workerLease));
  };
}
