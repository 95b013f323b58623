/**
 * The ledger's audit query in the admin API (`GET /admin/ledger/v1/query`, behind the admin
 * token): registered through the admin route table, so its filters are validated (an unknown or
 * mistyped filter is refused, never ignored), its errors have the admin API's format and it
 * appears in the OpenAPI document. The public transparency routes stay in ./http.ts.
 */
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { WardenError } from '../errors/index.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import { ProofError } from './merkle.ts';
import { LedgerError, type Ledger } from './ledger.ts';
import { QueryError, exportQuery, queryLedger } from './query.ts';
import { reconcileLedger } from './reconcile.ts';
import { normalizeIsoTime } from '../store/iso-time.ts';
import type { EventRowReader } from '../store/event-rows.ts';

const Time = z.string().refine((t) => /^\d{4}-\d{2}-\d{2}/.test(t) && !Number.isNaN(Date.parse(t)), 'an ISO 8601 date or date-time');
const QueryParams = z.strictObject({
  account: z.string().min(1).optional(),
  org: z.string().min(1).optional(),
  cluster: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  ip: z.string().min(1).optional().describe('one client IP'),
  network: z.string().min(1).optional().describe('a client network in CIDR notation (IPv4 or IPv6)'),
  subdivision: z.string().min(1).optional().describe('client regions, ISO 3166-2 comma list (UA-43,UA-40): interactions whose leaf records one (warden.ledger/4), with a summary in `regions`'),
  country: z.string().min(1).optional().describe('client countries, ISO 3166-1 alpha-2 comma list (UA,BY): interactions whose leaf records one'),
  from: Time.optional().describe('inclusive'),
  to: Time.optional().describe('exclusive'),
  limit: z.coerce.number().int().min(1).max(1_000_000).optional().describe('most interactions returned (default 100,000)'),
  format: z.enum(['json', 'csv', 'jsonl']).default('json'),
  openings: z.enum(['true', 'false']).optional().describe('true: each row carries the salts of its clear values (`openings`), to check them against the signed leaves'),
  settings: z.enum(['true', 'false']).optional().describe('true: only the detector settings in force over the window and every verdict recorded in it (no interactions)'),
});
const Openings = z.record(z.string(), z.object({ value: z.string().nullable(), salt: z.string() }))
  .describe('with openings=true: each clear value and the hex salt of its commitment in the leaf, hex(SHA-256(salt || UTF-8(value))); a prompt\'s salt only');
const InteractionRowSchema = z.object({
  index: z.number(), id: z.string(), ts: z.string(), account_id: z.string().nullable(), org_id: z.string().nullable(), key_id: z.string().nullable(),
  cluster_id: z.string().nullable(), model: z.string(), flavour: z.string(), status: z.number(), input_tokens: z.number(), output_tokens: z.number(),
  reasoning_tokens: z.number(),
  service_tier: z.string().nullable().describe('the service tier the upstream served the answer on, as it named it (warden.ledger/5; null: none named, or a leaf written before the tier was recorded)'),
  service_tier_recorded: z.boolean().describe('the leaf records the service tier (warden.ledger/5); false for leaves written before'),
  tool_calls: z.number(), client_ip: z.string().nullable().describe('null once erased'), user_agent: z.string().nullable(),
  country: z.string().nullable(), asn: z.number().nullable(),
  subdivision: z.string().nullable().describe('the client\'s ISO 3166-2 subdivision as the policy\'s range data placed it (null: in none, no data read, or a leaf written before regions were recorded)'),
  subdivision_data: z.string().nullable().describe('hex SHA-256 digest of the subdivision data the policy read (null: none)'),
  claimed_subdivision: z.string().nullable().describe('the subdivision the customer declared, opened from the erasable side table (null: none, erased, or not recorded)'),
  region_recorded: z.boolean().describe('the leaf records the region (warden.ledger/4); false for leaves written before'),
  verdict_in_force: z.string().nullable(), shaping: z.array(z.string()),
  error_code: z.string().nullable().describe('the refusal\'s or failure\'s code (WARDEN_REGION_BLOCKED...); null when served'),
  policy: z.array(z.string()).describe('what the policy decided and why: rules matched (rule:<id>), networks (network:vpn:<label>), refusals (refused:<kind>)'),
  erased: z.boolean(), openings: Openings.optional(),
});
const VerdictRowSchema = z.object({
  index: z.number(), id: z.string(), ts: z.string(), subject_kind: z.enum(['account', 'cluster', 'org']), subject_id: z.string(), level: z.string(),
  score: z.number().nullable(), source: z.string(), since: z.string(), campaign_id: z.string().nullable(), accounts: z.array(z.string()), reasons: z.array(z.unknown()),
  settings_digest: z.string().nullable().describe('the detector settings it was reached under (a row of `settings`); null for other verdicts and those logged before verdicts named them'),
  expires_at: z.string().nullable().describe('when an operator verdict or an allow-list entry set for a time lapses; null when it does not, and for verdicts logged before this was recorded (warden.ledger/1 and /2 leaves)'),
  openings: Openings.optional(),
});
const SettingsRowSchema = z.object({
  index: z.number(), id: z.string(), ts: z.string(), component: z.string(),
  digest: z.string().describe('hex(SHA-256(RFC 8785 JSON of settings)), as verdicts name it'),
  settings: z.record(z.string(), z.unknown()).describe('the Warden version and the detect settings that decide verdicts'),
  changed: z.array(z.string()).nullable().describe('settings that differ from the settings entry before it (null: the log\'s first)'),
  verdicts: z.number().describe('verdicts of this result reached under these settings'),
});
const AccountUsageSchema = z.object({
  account_id: z.string().nullable(), org_id: z.string().nullable(), requests: z.number(),
  refused: z.number().describe('requests Warden refused: 403 denied, 429 limited'), errors: z.number().describe('failed requests: 4xx other than 401, 403 and 429, and 5xx (as the dashboard counts them)'), input_tokens: z.number(), output_tokens: z.number(),
  reasoning_tokens: z.number(), models: z.record(z.string(), z.number()), ips: z.array(z.string()), countries: z.array(z.string()),
  subdivisions: z.array(z.string()).describe('client subdivisions the leaves record'),
  subdivision_unrecorded: z.number().describe('requests whose leaves predate the region (warden.ledger/1, /2)'), asns: z.array(z.number()),
  first_ts: z.string(), last_ts: z.string(),
  latest_verdict: z.object({ level: z.string(), ts: z.string(), subject: z.string(), reasons: z.array(z.unknown()) }).nullable()
    .describe('the most recent verdict logged about the account or its clusters, whatever its level'),
  verdict_in_force: z.object({ level: z.string(), ts: z.string(), subject: z.string().nullable(), source: z.string().nullable() }).nullable()
    .describe('the level enforced on the account\'s last interaction, and the logged verdict that set it (subject kind:id, detector or operator)'),
});
export const LedgerQueryResultSchema = z.object({
  schema: z.literal('warden.ledger-query/1'),
  query: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).describe('the filters answered (times in UTC)'),
  tree_size: z.number().describe('entries in the log when it was read'),
  checkpoint: z.object({ size: z.number(), root_hash: z.string().describe('base64'), note: z.string().describe('the signed note'), created_at: z.string() }).nullable()
    .describe('the latest signed checkpoint when the log was read (null: none yet)'),
  interactions: z.array(InteractionRowSchema), verdicts: z.array(VerdictRowSchema),
  settings: z.array(SettingsRowSchema).describe('the detector settings in force over the window: at `from`, recorded within it, and any a returned verdict names'),
  usage: z.array(AccountUsageSchema),
  truncated: z.boolean().describe('the limit cut the interactions short'),
  regions: z.object({
    subdivisions: z.array(z.string()), countries: z.array(z.string()),
    interactions: z.number().describe('interactions whose leaf records one of the regions asked for, over all the other filters select (not only those returned)'),
    served: z.number().describe('of them, status below 400'), refused: z.number().describe('403 and 429'), errors: z.number().describe('other 4xx and 5xx'), unauthenticated: z.number().describe('401'),
    accounts: z.number().describe('distinct accounts among them'), first_ts: z.string().nullable(), last_ts: z.string().nullable(),
    region_unrecorded: z.number().describe('with subdivision: interactions the other filters select whose leaves predate regions (warden.ledger/1, /2): region unknown, neither counted in nor ruled out'),
    region_unrecorded_in_country: z.number().describe('of region_unrecorded, those whose country is the country of a subdivision asked for'),
    no_region_data: z.number().describe('with subdivision: warden.ledger/4 interactions for which no subdivision data was read (region unknown)'),
    scanned: z.number().describe('interaction leaves read to answer: the matching ones, and those whose region columns were not filled yet (the others are counted through the region index)'),
  }).optional().describe('with subdivision or country: what the region filter found'),
  usage_scope: z.enum(['all', 'returned']).describe('what `usage` adds up: all matching interactions, or only the returned ones when `truncated` (not the accounts\' totals then)'),
});

const ReconcileParams = z.strictObject({
  from: Time.optional().describe('interactions that started at or after this time'),
  to: Time.optional().describe('and before this one (exclusive)'),
  start: z.coerce.number().int().min(0).optional().describe('first ledger index (an index range instead of a time range)'),
  end: z.coerce.number().int().min(0).optional().describe('ledger index the range stops before'),
  lag: z.coerce.number().int().min(0).max(86_400).optional().describe('seconds (default 60): an interaction that ended this recently may be in one store and not yet the other, and is counted as pending'),
  examples: z.coerce.number().int().min(1).max(10_000).optional().describe('examples kept per kind of mismatch (default 20)'),
});
const FieldDifferenceSchema = z.object({
  field: z.string().describe('the leaf\'s path (`response.output_tokens`), or `column:NAME` for a column of the events table'),
  leaf: z.unknown().optional(), store: z.unknown().optional(),
  committed: z.literal(true).optional().describe('a personal field: the store\'s value does not open the leaf\'s commitment (no values shown)'),
});
export const LedgerReconcileResultSchema = z.object({
  schema: z.literal('warden.ledger-reconcile/1'),
  range: z.object({ from: z.string().nullable(), to: z.string().nullable(), start: z.number().nullable(), end: z.number().nullable() }),
  tree_size: z.number(), checkpoint: z.object({ size: z.number(), root_hash: z.string() }).nullable().describe('the latest signed checkpoint when read (`warden ledger verify` checks the log itself)'),
  lag_ms: z.number(), leaves: z.number().describe('interaction leaves compared'), events: z.number().describe('stored events looked up in the log'),
  matched: z.number(),
  altered: z.object({ count: z.number(), examples: z.array(z.object({ index: z.number(), id: z.string(), ts: z.string(), account_id: z.string().nullable(), fields: z.array(FieldDifferenceSchema) })) }),
  missing: z.object({ count: z.number(), examples: z.array(z.object({ index: z.number(), id: z.string(), ts: z.string(), account_id: z.string().nullable(), model: z.string() })) })
    .describe('leaves whose event is not in the store'),
  unrecorded: z.object({ count: z.number(), examples: z.array(z.object({ id: z.string(), ts: z.string(), account_id: z.string().nullable(), model: z.string(), status: z.number(), input_tokens: z.number(), output_tokens: z.number() })) })
    .describe('stored events without a leaf'),
  pending: z.object({ leaves: z.number(), events: z.number() }).describe('ended within the lag: may not be in both stores yet'),
  expired: z.number().describe('leaves whose events events.retention_days deleted'),
  before_ledger: z.number().describe('events older than the log\'s first entry'),
  unchecked: z.object({ store_erased: z.number(), ledger_erased: z.number() }).describe('events compared without their personal fields (erased)'),
  ok: z.boolean().describe('nothing altered, missing or without a leaf'),
});

const STATUS: Record<LedgerError['code'], number> = {
  LEDGER_NOT_FOUND: 404, LEDGER_BAD_REQUEST: 400, LEDGER_OVERLOADED: 503, LEDGER_CLOSED: 503, LEDGER_INCONSISTENT: 500, LEDGER_UNAVAILABLE: 503,
  // Only ever reported (onError), never thrown at a caller.
  LEDGER_KEY_MISMATCH: 500, LEDGER_WITNESS: 502,
};

/** A ledger failure as an admin API error. */
function adminError(err: unknown): unknown {
  if (err instanceof QueryError) return new WardenError('WARDEN_INVALID_REQUEST', err.message, err.param ? { param: err.param } : {});
  if (err instanceof ProofError || err instanceof RangeError) return new WardenError('WARDEN_INVALID_REQUEST', err.message);
  if (err instanceof LedgerError) {
    if (err.code === 'LEDGER_BAD_REQUEST') return new WardenError('WARDEN_INVALID_REQUEST', err.message);
    if (err.code === 'LEDGER_NOT_FOUND') return new WardenError('WARDEN_NOT_FOUND', err.message);
    return new WardenError('WARDEN_INTERNAL', err.message, { status: STATUS[err.code] });
  }
  return err;
}

/**
 * The audit query, for the admin API (`registrars`); mount it where `/admin` prefixes it. With
 * `events` (the event store's rows), the reconciliation of the store against the leaves too.
 */
export function ledgerAdminRoutes(ledger: Ledger, opts: { prefix?: string; events?: EventRowReader; retentionDays?: number | null } = {}): AdminRouteRegistrar {
  const prefix = opts.prefix ?? '/ledger/v1';
  return (r) => {
    const events = opts.events;
    if (events) {
      r.component('LedgerReconcileResult', LedgerReconcileResultSchema);
      r.route({
        method: 'GET', path: `${prefix}/reconcile`, operationId: 'reconcileLedger', tag: 'ledger',
        summary: 'Check the event store against the signed leaves: events altered (which fields), leaves without their event, events without a leaf',
        description: 'As `warden ledger reconcile --json`. Answers 200 whatever it finds: `ok` says whether the store matches. A time range (from, to) or an index range (start, end), not both; default the whole log.',
        errors: { 503: 'the ledger is unavailable' },
        query: ReconcileParams, response: LedgerReconcileResultSchema,
        handler: async ({ query: q }) => {
          const iso = (name: 'from' | 'to') => {
            if (q[name] === undefined) return undefined;
            const t = normalizeIsoTime(q[name]!);
            if (t === null) throw new WardenError('WARDEN_INVALID_REQUEST', `${name} must be an ISO 8601 date or date-time with its zone`, { param: name });
            return t;
          };
          const from = iso('from');
          const to = iso('to');
          if ((from ?? to) !== undefined && (q.start ?? q.end) !== undefined) throw new WardenError('WARDEN_INVALID_REQUEST', 'give a time range (from, to) or an index range (start, end), not both', { param: 'start' });
          if (q.start !== undefined && q.end !== undefined && q.start > q.end) throw new WardenError('WARDEN_INVALID_REQUEST', 'start must not be above end', { param: 'start' });
          try {
            return await reconcileLedger(ledger.storage, events, {
              from, to, start: q.start, end: q.end, examples: q.examples, lagMs: q.lag === undefined ? undefined : q.lag * 1000, retentionDays: opts.retentionDays ?? null,
              // Smaller pages on the server: requests wait at most one page's work (a few tens of ms).
              pageSize: 250,
            });
          } catch (err) { throw adminError(err); }
        },
      });
    }
    r.component('LedgerQueryResult', LedgerQueryResultSchema);
    r.route({
      method: 'GET', path: `${prefix}/query`, operationId: 'queryLedger', tag: 'ledger',
      summary: 'Audit query: interactions (with client IP and user agent while not erased), per-account usage and the verdicts about them',
      description: 'A cluster means its id on interactions plus its member accounts: those its verdicts name and those whose interactions carry its id. format=csv or jsonl exports the interactions.',
      errors: { 503: 'the ledger is unavailable' },
      query: QueryParams, response: LedgerQueryResultSchema,
      alsoProduces: { 'text/csv': z.string(), 'application/x-ndjson': z.string() },
      handler: async ({ query: q, reply }) => {
        let result;
        try {
          result = await queryLedger(ledger.storage, {
            accountId: q.account, orgId: q.org, clusterId: q.cluster, keyId: q.key, model: q.model,
            ip: q.ip, network: q.network, from: q.from, to: q.to, limit: q.limit, openings: q.openings === 'true', settings: q.settings === 'true',
            subdivisions: q.subdivision === undefined ? undefined : [q.subdivision], countries: q.country === undefined ? undefined : [q.country],
            // Smaller pages on the server, a turn of the event loop between them (as reconcile).
            pageSize: 250,
          });
        } catch (err) { throw adminError(err); }
        if (q.format === 'json') return result;
        const body = new PassThrough();
        reply.type(q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
        void exportQuery(result, q.format, body).then(() => body.end(), (err) => body.destroy(err));
        return reply.send(body);
      },
    });
  };
}
