/**
 * Ledger leaves: canonical JSON (RFC 8785) records of interactions and verdicts.
 *
 * Personal data never enters the tree in clear: each such field is a salted commitment
 * hex(SHA-256(salt || UTF-8(value))) with a fresh random 32-byte salt per field and entry. The
 * values and salts live in a side table outside the tree; erasing them (GDPR, retention) leaves
 * every leaf, proof and checkpoint intact, while anyone holding a value and its salt can still
 * show it is the one committed to. What an auditor needs stays in clear: account, org, key and
 * cluster ids, model, time, token counts, status, enforcement, verdict level and reasons (but an
 * operator's note and name, which are commitments too).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { InteractionEvent } from '../events/index.ts';
import type { Verdict } from '../detect/verdict.ts';
import { ulid } from '../events/index.ts';

/**
 * The schema erasure leaves carry, and interaction and verdict leaves written before /2.
 */
export const LEDGER_RECORD_SCHEMA = 'warden.ledger/1' as const;
/**
 * The format of the records whose fields changed since /1: an interaction records, of its input
 * tokens, those read from and written to the provider's prompt cache (`response.cached_input_tokens`,
 * `response.cache_write_tokens`); a verdict carries `settings_digest` (the detector settings it was
 * reached under), and the `settings` kind records those settings. Erasure records keep /1. Leaves
 * written before keep /1 and are read as they are (an interaction's cache split is unknown).
 */
export const LEDGER_RECORD_SCHEMA_2 = 'warden.ledger/2' as const;
/**
 * The format of verdict records since they say when a decision set for a time lapses
 * (`expires_at`: an operator verdict's, an allow-list entry's; null otherwise). Verdicts written
 * before are /2 (or /1) and are read as they are (their expiry is not recorded). Interactions and
 * settings records keep /2, erasures /1.
 */
export const LEDGER_RECORD_SCHEMA_3 = 'warden.ledger/3' as const;
/**
 * The format of interaction records since they say from which region (ISO 3166-2 subdivision) the
 * client came, as the geographic policy decided by it: `client.subdivision` (the subdivision the
 * range data of `policy.geo.subdivision_files` places the address in, null when it places it in
 * none or none is loaded) and `client.subdivision_data` (the digest of that data, null when none
 * was read), both in clear like the country; and `account.claimed_subdivision`, the subdivision the
 * customer declared, a commitment (erasable, like the other signup facts but the claimed country).
 * Interactions written before are /2 (or /1) and are read as they are (their region is not
 * recorded). Verdicts keep /3, settings /2, erasures /1.
 */
export const LEDGER_RECORD_SCHEMA_4 = 'warden.ledger/4' as const;
/**
 * The format of interaction records since they say which service tier the upstream served the
 * answer on (`response.service_tier`: OpenAI's `default`, `flex`, `priority`, `scale`, Anthropic's
 * `standard`, `priority`, as the upstream named it; null when it named none), in clear: what an
 * operator billing flex and priority apart proves from the log. Otherwise as /4 (regions included).
 * Interactions written before are /4 (or older) and are read as they are (their tier is not
 * recorded). Verdicts keep /3, settings /2, erasures /1.
 */
export const LEDGER_RECORD_SCHEMA_5 = 'warden.ledger/5' as const;
/** The schema new verdict leaves carry (/3: with `expires_at`). */
export const VERDICT_SCHEMA = LEDGER_RECORD_SCHEMA_3;
/** The schema new interaction leaves carry (/5: with the service tier; the regions since /4). */
export const INTERACTION_SCHEMA = LEDGER_RECORD_SCHEMA_5;
export type InteractionSchema = typeof LEDGER_RECORD_SCHEMA | typeof LEDGER_RECORD_SCHEMA_2 | typeof LEDGER_RECORD_SCHEMA_4 | typeof INTERACTION_SCHEMA;
/** Whether an interaction leaf of `schema` records the regions (/4 and later). */
export const recordsRegions = (schema: unknown): boolean => schema === LEDGER_RECORD_SCHEMA_4 || schema === LEDGER_RECORD_SCHEMA_5;
/** An ISO 3166-2 code as the policy's range data and the identity store write it (`UA-43`). */
export const SUBDIVISION_CODE = /^[A-Z]{2}-[A-Z0-9]{1,3}$/;
/** The indexed subject of every settings entry: found through the subject index, never an account or cluster id. */
export const SETTINGS_SUBJECT = 'settings:detector';

/**
 * Names of the personal fields kept as commitments: an interaction's seven (the claimed
 * subdivision since /4), and an operator verdict's free-text note and the operator's name (its
 * `operator_verdict` reason's `detail` and `by`).
 */
export const PRIVATE_FIELDS = ['client_ip', 'user_agent', 'prompt', 'signup_ip', 'email_domain', 'payment_fp', 'claimed_subdivision', 'operator_note', 'operator'] as const;
export type PrivateField = (typeof PRIVATE_FIELDS)[number];

/** A value and the salt that opens its commitment (hex). `value` null: salt kept, value not stored. */
export interface Opening { value: string | null; salt: string }

const utf8 = new TextEncoder();

/** hex(SHA-256(salt || UTF-8(value))). */
export function commitment(value: string, saltHex: string): string {
  return createHash('sha256').update(Buffer.from(saltHex, 'hex')).update(value, 'utf8').digest('hex');
}

/**
 * Salts come from the CSPRNG 32 KiB at a time (one getrandom call per ~170 entries instead of one
 * per entry: it was ~5% of the writer's CPU). Each refill is a new buffer, never reused, so a salt
 * handed out stays unique.
 */
const SALT_POOL_BYTES = 32 * 1024;
let saltPool = randomBytes(SALT_POOL_BYTES);
let saltAt = 0;

/** Salts for one entry's fields. */
class SaltSource {
  take(): Buffer {
    if (saltAt + 32 > saltPool.length) { saltPool = randomBytes(SALT_POOL_BYTES); saltAt = 0; }
    const salt = saltPool.subarray(saltAt, saltAt + 32);
    saltAt += 32;
    return salt;
  }
}

function commit(value: string | null | undefined, field: PrivateField, openings: Partial<Record<PrivateField, Opening>>, salts: SaltSource): string | null {
  if (value === null || value === undefined) return null;
  const salt = salts.take();
  openings[field] = { value, salt: salt.toString('hex') };
  // One hash object, the value hashed as UTF-8 directly: this runs up to seven times per entry.
  return createHash('sha256').update(salt).update(value, 'utf8').digest('hex');
}

export interface InteractionRecord {
  /**
   * `warden.ledger/5` since the service tier is recorded; `/4` before (no tier), since the client's
   * region and the claimed one are recorded; `/2` before (no region fields); `/1` before the prompt
   * cache's split was recorded (no cache fields either).
   */
  schema: InteractionSchema;
  kind: 'interaction';
  id: string;
  ts: string;
  duration_ms: number;
  flavour: string;
  model: string;
  upstream: string | null;
  account_id: string | null;
  org_id: string | null;
  key_id: string | null;
  cluster_id: string | null;
  client: {
    country: string | null; asn: number | null; ip: string | null; user_agent: string | null;
    /**
     * `warden.ledger/4`: the ISO 3166-2 subdivision the policy's range data places the address in
     * (null: in none, or no data read), and the hex digest of that data (`policy subdivision data
     * loaded`, `GET /admin/policy`; null: the policy read none). Absent from /1 and /2 leaves.
     */
    subdivision?: string | null; subdivision_data?: string | null;
  };
  request: {
    stream: boolean; messages: number; chars: number; tools: string[]; bytes: number;
    max_tokens: number | null; n: number | null; logprobs: boolean | null;
    reasoning_effort: string | null; thinking_budget: number | null;
    /**
     * Commitment to the canonical JSON of {system, messages: [{role, text}]} (and
     * `system_documents`, the text of what the system messages attach, when there is any); null if
     * not recorded.
     */
    prompt: string | null;
  };
  response: {
    status: number; error_code: string | null; input_tokens: number; output_tokens: number; reasoning_tokens: number;
    /**
     * `warden.ledger/2`: of `input_tokens`, those read from the provider's prompt cache and those
     * written to it (0 when none). Absent from `warden.ledger/1` leaves.
     */
    cached_input_tokens?: number; cache_write_tokens?: number;
    /** `warden.ledger/5`: the service tier the upstream served the answer on, as it named it; null: it named none. Absent before /5. */
    service_tier?: string | null;
    usage_source: string; tool_calls: number; finish_reason: string | null; output_chars: number; reasoning_chars: number;
  };
  account: {
    created_at: string; tier: string; programme: string; claimed_country: string | null;
    email_domain: string | null; signup_ip: string | null; payment_fp: string | null;
    /** `warden.ledger/4`: commitment to the ISO 3166-2 subdivision the customer declared (null: none). Absent from /1 and /2 leaves. */
    claimed_subdivision?: string | null;
  } | null;
  enforcement: InteractionEvent['enforcement'];
}

export interface VerdictRecord {
  /** /1: written before verdicts named their settings (no `settings_digest`); /2: before they said when they lapse (no `expires_at`). */
  schema: typeof LEDGER_RECORD_SCHEMA | typeof LEDGER_RECORD_SCHEMA_2 | typeof LEDGER_RECORD_SCHEMA_3;
  kind: 'verdict';
  id: string;
  /** When the ledger recorded it. */
  ts: string;
  /** An organisation only for an allow-list entry on it (an organisation carries no verdict of its own). */
  subject: { kind: 'account' | 'cluster' | 'org'; id: string };
  level: string;
  score: number | null;
  reasons: unknown[];
  source: string;
  since: string;
  campaign_id: string | null;
  /** Accounts the verdict covers (cluster members), when the detector names them. */
  accounts: string[];
  /**
   * /2: the digest of the detector settings in force when the detector reached it (a `settings`
   * entry earlier in the log carries them); null for an operator's or screening's verdict, and
   * where the recording node ran no detector. Absent in /1 records.
   */
  settings_digest?: string | null;
  /**
   * /3: when the decision lapses by itself (ISO): an operator verdict or an allow-list entry set
   * for a time; null when it holds until removed, and for the detector's verdicts. Absent in /1 and /2 records.
   */
  expires_at?: string | null;
}

/**
 * The detector settings in force on a node (`warden.ledger/2`): recorded when a node starts with
 * settings other than those of the log's latest settings entry, and named by digest in every
 * detector verdict reached under them. `digest` is hex(SHA-256(RFC 8785 JSON of `settings`)).
 */
export interface SettingsRecord {
  schema: typeof LEDGER_RECORD_SCHEMA_2;
  kind: 'settings';
  id: string;
  ts: string;
  component: 'detector';
  digest: string;
  settings: Record<string, unknown>;
}

/**
 * An account's personal data erased on a deletion request: who asked (the operator, a
 * commitment), why (a commitment), whether a legal hold was overridden, and how much was erased
 * where (counts only). It names the account by id and carries none of its personal data.
 */
export interface ErasureRecord {
  schema: typeof LEDGER_RECORD_SCHEMA;
  kind: 'erasure';
  id: string;
  ts: string;
  subject: { kind: 'account'; id: string };
  override_hold: boolean;
  /** What was erased where: counts by place (e.g. `events`, `ledger_entries`, `account_fields`). */
  erased: Record<string, number>;
  /** Commitments to the operator and the reason (opened from the erasable side table). */
  by: string | null;
  reason: string | null;
}

export type LedgerRecord = InteractionRecord | VerdictRecord | ErasureRecord | SettingsRecord;

/** hex(SHA-256(UTF-8(RFC 8785 JSON of `settings`))): what a verdict's `settings_digest` and a settings entry's `digest` are. */
export function settingsDigest(settings: unknown): string {
  return createHash('sha256').update(canonicalJson(settings), 'utf8').digest('hex');
}

/** The ledger's record of the detector settings in force (see SettingsRecord). */
export function prepareSettings(settings: Record<string, unknown>, opts: { id?: string; now?: number } = {}): PreparedEntry {
  const now = opts.now ?? Date.now();
  const record: SettingsRecord = {
    schema: LEDGER_RECORD_SCHEMA_2, kind: 'settings', id: opts.id ?? `s_${ulid(now)}`, ts: new Date(now).toISOString(),
    component: 'detector', digest: settingsDigest(settings), settings,
  };
  return { record, leaf: canonicalBytes(record), openings: {} };
}

/** The ledger's record of an erasure (see ErasureRecord). */
export function prepareErasure(e: { accountId: string; by: string | null; reason: string | null; overrideHold: boolean; erased: Record<string, number>; now?: number }): PreparedEntry {
  const openings: PreparedEntry['openings'] = {};
  const salts = new SaltSource();
  const now = e.now ?? Date.now();
  const record: ErasureRecord = {
    schema: LEDGER_RECORD_SCHEMA, kind: 'erasure', id: `x_${ulid(now)}`, ts: new Date(now).toISOString(),
    subject: { kind: 'account', id: e.accountId }, override_hold: e.overrideHold, erased: { ...e.erased },
    by: commit(e.by || null, 'operator', openings, salts), reason: commit(e.reason || null, 'operator_note', openings, salts),
  };
  return { record, leaf: canonicalBytes(record), openings };
}

/** A record ready to append: the leaf bytes and what goes to the erasable side table. */
export interface PreparedEntry {
  record: LedgerRecord;
  leaf: Uint8Array;
  openings: Partial<Record<PrivateField, Opening>>;
}

/** RFC 8785 bytes of a record. Non-finite numbers (not representable in JSON) become strings. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8.encode(canonicalText(value));
}

/** The text of canonicalBytes (the leaf as a string). */
export function canonicalText(value: unknown): string {
  return serialise(value, true);
}

const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** String.prototype.isWellFormed (Node >= 20) is much cheaper than the regular expression. */
const wellFormed: (s: string) => boolean = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
  ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
  : (s) => !LONE_SURROGATE.test(s);

/**
 * RFC 8785 (JCS) serialisation of plain JSON data: object keys sorted by UTF-16 code units,
 * ECMAScript number and string serialisation (what JSON.stringify does), no whitespace.
 * Rejects what JCS forbids (non-finite numbers, lone surrogates). Equivalent to the
 * `canonicalize` package on such data (checked by a property test) and several times faster,
 * which matters on the append path.
 */
export function canonicalJson(v: unknown): string {
  return serialise(v, false);
}

/** `lenient`: non-finite numbers are written as the strings "NaN", "Infinity", "-Infinity" instead of rejected. */
function serialise(v: unknown, lenient: boolean): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string': {
      // Most values (ids, models, hashes, timestamps) are printable ASCII with nothing to escape.
      if (PLAIN_ASCII.test(v)) return '"' + v + '"';
      if (!wellFormed(v)) throw new Error('lone surrogates are not allowed in canonical JSON');
      return JSON.stringify(v);
    }
    case 'number':
      if (!Number.isFinite(v)) {
        if (lenient) return JSON.stringify(String(v));
        throw new Error('non-finite numbers are not allowed in canonical JSON');
      }
      // Number::toString, as JSON.stringify writes finite numbers (-0 included: "0").
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + (v[i] === undefined ? 'null' : serialise(v[i], lenient));
        return s + ']';
      }
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj);
      // Records are built in a fixed key order; sort only when it is not already canonical.
      for (let i = 1; i < keys.length; i++) if (keys[i - 1] > keys[i]) { keys.sort(); break; }
      let s = '{';
      let first = true;
      for (const k of keys) {
        const x = obj[k];
        if (x === undefined) continue;
        s += (first ? '' : ',') + serialise(k, lenient) + ':' + serialise(x, lenient);
        first = false;
      }
      return s + '}';
    }
    default:
      throw new Error(`cannot serialise a ${typeof v} in canonical JSON`);
  }
}

/** Build the leaf for one interaction event. */
export function prepareInteraction(e: InteractionEvent, opts: { clusterId?: string | null; keepPromptText?: boolean } = {}): PreparedEntry {
  const openings: Partial<Record<PrivateField, Opening>> = {};
  const salts = new SaltSource();
  const record = interactionRecord(e, opts.clusterId ?? null, (value, field) => commit(value, field, openings, salts));
  // The commitment always goes in the tree; the prompt text itself only if configured. The salt
  // is kept either way, so whoever holds the text can later show it is the one committed to.
  if (openings.prompt && !opts.keepPromptText) openings.prompt = { value: null, salt: openings.prompt.salt };
  return { record, leaf: canonicalBytes(record), openings };
}

/** How a personal field becomes its commitment (null for a value that is null). */
export type CommitField = (value: string | null, field: PrivateField) => string | null;

/** The canonical JSON of the prompt an interaction's `request.prompt` commits to, null when no text was recorded. */
function promptJson(e: InteractionEvent): string | null {
  const msgs = e.request.messages;
  const attached = e.request.system_documents;
  const recorded = e.request.system !== null || msgs.some((m) => m.text !== null);
  return recorded
    ? serialise({
      system: e.request.system,
      messages: msgs.map((m) => ({ role: m.role, text: m.text })),
      ...(attached ? { system_documents: attached.text } : {}),
    }, true)
    : null;
}

/**
 * The interaction record of an event, its personal fields committed by `commitField`: fresh salts
 * when appending, the stored ones when an event is checked against its leaf (reconcile.ts), in the
 * schema the leaf was written in (`warden.ledger/1` leaves have no cache split, /1 and /2 no regions).
 */
export function interactionRecord(e: InteractionEvent, clusterId: string | null, commitField: CommitField, schema: InteractionSchema = INTERACTION_SCHEMA): InteractionRecord {
  const msgs = e.request.messages;
  const attached = e.request.system_documents;
  const cache = schema !== LEDGER_RECORD_SCHEMA
    ? { cached_input_tokens: e.response.cached_input_tokens ?? 0, cache_write_tokens: e.response.cache_write_tokens ?? 0 }
    : {};
  const regions = recordsRegions(schema);
  const tier = schema === INTERACTION_SCHEMA ? { service_tier: e.response.service_tier ?? null } : {};
  return {
    schema,
    kind: 'interaction',
    id: e.id,
    ts: e.ts,
    duration_ms: e.duration_ms,
    flavour: e.flavour,
    model: e.model,
    upstream: e.upstream,
    account_id: e.account_id,
    org_id: e.org_id,
    key_id: e.key_id,
    cluster_id: clusterId,
    client: {
      country: e.client.country,
      asn: e.client.asn,
      ip: commitField(e.client.ip ?? null, 'client_ip'),
      user_agent: commitField(e.client.user_agent ?? null, 'user_agent'),
      ...(regions ? { subdivision: e.client.subdivision ?? null, subdivision_data: e.client.subdivision_data ?? null } : {}),
    },
    request: {
      stream: e.request.stream,
      // The request's, those its event left out included (the prompt commitment covers the text it kept).
      messages: msgs.length + (e.request.messages_omitted?.count ?? 0),
      chars: msgs.reduce((s, m) => s + m.chars, 0) + (e.request.system?.length ?? 0) + (attached?.chars ?? 0) + (e.request.messages_omitted?.chars ?? 0),
      tools: e.request.tools,
      bytes: e.request.bytes,
      max_tokens: e.request.params.max_tokens,
      n: e.request.params.n,
      logprobs: e.request.params.logprobs,
      reasoning_effort: e.request.params.reasoning_effort,
      thinking_budget: e.request.params.thinking_budget,
      prompt: commitField(promptJson(e), 'prompt'),
    },
    response: {
      status: e.response.status,
      error_code: e.response.error_code,
      input_tokens: e.response.input_tokens,
      output_tokens: e.response.output_tokens,
      reasoning_tokens: e.response.reasoning_tokens,
      ...cache,
      ...tier,
      usage_source: e.response.usage_source,
      tool_calls: e.response.tool_calls,
      finish_reason: e.response.finish_reason,
      output_chars: e.response.output_chars,
      reasoning_chars: e.response.reasoning_chars,
    },
    account: e.account
      ? {
          created_at: e.account.created_at,
          tier: e.account.tier,
          programme: e.account.programme,
          claimed_country: e.account.claimed_country,
          email_domain: commitField(e.account.email_domain ?? null, 'email_domain'),
          signup_ip: commitField(e.account.signup_ip ?? null, 'signup_ip'),
          payment_fp: commitField(e.account.payment_fp ?? null, 'payment_fp'),
          ...(regions ? { claimed_subdivision: commitField(e.account.claimed_subdivision ?? null, 'claimed_subdivision') } : {}),
        }
      : null,
    enforcement: e.enforcement,
  };
}

/** The reason an operator verdict carries (the operator's note in `detail`, the operator in `by`). */
export const OPERATOR_SIGNAL = 'operator_verdict';
/**
 * Reasons written by an operator's hand: setting a verdict, clearing one, and adding or removing
 * an allow-list entry (each with its note or reason, and who).
 */
const OPERATOR_SIGNALS: ReadonlySet<unknown> = new Set([OPERATOR_SIGNAL, 'operator_verdict_cleared', 'operator_allow_list_added', 'operator_allow_list_removed', 'operator_screening_cleared']);

/**
 * What the ledger records as a verdict: the detector's and operators' verdicts, allow-list entries
 * (an organisation's too), and denied-party screening's holds and their clearances (`source: "screening"`).
 */
export type RecordedVerdict = Omit<Verdict, 'subject' | 'source'> & { subject: VerdictRecord['subject']; source: Verdict['source'] | 'screening' };

/**
 * Build the leaf for one verdict. An operator's reason keeps its note and the operator's name as
 * commitments (the first such reason; a further one, which Warden never writes, loses them).
 */
export function prepareVerdict(v: RecordedVerdict, opts: { accounts?: readonly string[]; id?: string; now?: number; settingsDigest?: string | null } = {}): PreparedEntry {
  const openings: PreparedEntry['openings'] = {};
  const salts = new SaltSource();
  let committed = false;
  const reasons = (v.reasons as unknown[]).map((r) => {
    const o = r as { signal?: unknown; detail?: unknown; by?: unknown };
    if (!o || typeof o !== 'object' || !OPERATOR_SIGNALS.has(o.signal)) return r;
    const text = (x: unknown) => (typeof x === 'string' && x !== '' ? x : null);
    const first = !committed;
    committed = true;
    const { by: _by, ...rest } = o;
    const by = first ? commit(text(o.by), 'operator', openings, salts) : null;
    return { ...rest, detail: first ? commit(text(o.detail), 'operator_note', openings, salts) : null, ...(by ? { by } : {}) };
  });
  const record: VerdictRecord = {
    schema: VERDICT_SCHEMA,
    kind: 'verdict',
    id: opts.id ?? `v_${ulid(opts.now)}`,
    ts: new Date(opts.now ?? Date.now()).toISOString(),
    subject: { kind: v.subject.kind, id: v.subject.id },
    level: v.level,
    score: v.score,
    reasons,
    source: v.source,
    since: v.since,
    campaign_id: v.campaign_id ?? null,
    accounts: [...(opts.accounts ?? [])].sort(),
    // Only the detector's verdicts are reached under its settings.
    settings_digest: v.source === 'detector' ? opts.settingsDigest ?? null : null,
    expires_at: v.expires_at ?? null,
  };
  return { record, leaf: canonicalBytes(record), openings };
}

/** A verdict's operator reason with its note and operator opened (null where erased or absent). */
export function openOperatorReason(rec: VerdictRecord, openings: PreparedEntry['openings'] | null): unknown[] {
  let first = true;
  return rec.reasons.map((r) => {
    const o = r as { signal?: unknown };
    if (!o || typeof o !== 'object' || !OPERATOR_SIGNALS.has(o.signal) || !first) return r;
    first = false;
    const { by: _by, ...rest } = r as Record<string, unknown>;
    const by = openings?.operator?.value ?? null;
    return { ...rest, detail: openings?.operator_note?.value ?? null, ...(by !== null ? { by } : {}) };
  });
}

/** The commitments of a verdict's operator reason, by field (for verification). */
export function operatorCommitments(rec: VerdictRecord): { operator_note: string | null; operator: string | null } {
  const o = rec.reasons.find((r) => !!r && typeof r === 'object' && OPERATOR_SIGNALS.has((r as { signal?: unknown }).signal)) as { detail?: unknown; by?: unknown } | undefined;
  const hex = (x: unknown) => (typeof x === 'string' ? x : null);
  return { operator_note: hex(o?.detail), operator: hex(o?.by) };
}

/**
 * Parse a leaf back into its record (throws on anything that is not a ledger record): an
 * interaction in `warden.ledger/1`, `/2`, `/4` or `/5`, a verdict in `/1`, `/2` or `/3`, a settings record in `/2`, an erasure in `/1`.
 */
export function parseLeaf(leaf: Uint8Array): LedgerRecord {
  const obj = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(leaf)) as LedgerRecord;
  // /1: interactions (without the cache split), verdicts (without settings_digest) and erasures;
  // /2: interactions (without regions), verdicts (without expires_at) and settings; /3: verdicts;
  // /4 and /5: interactions.
  const known = obj?.schema === LEDGER_RECORD_SCHEMA
    ? obj.kind === 'interaction' || obj.kind === 'verdict' || obj.kind === 'erasure'
    : obj?.schema === LEDGER_RECORD_SCHEMA_2
      ? obj.kind === 'interaction' || obj.kind === 'verdict' || obj.kind === 'settings'
      : obj?.schema === LEDGER_RECORD_SCHEMA_3 ? obj.kind === 'verdict'
        : recordsRegions(obj?.schema) && obj.kind === 'interaction';
  if (!obj || !known || typeof obj.id !== 'string') {
    throw new Error('leaf is not a warden.ledger/1, /2, /3, /4 or /5 record of its kind');
  }
  // The objects readers dereference must be there: a tampered leaf that still parses as JSON
  // (a flipped byte in a key) is reported as a bad record, never crashes its reader.
  const isObject = (v: unknown) => typeof v === 'object' && v !== null;
  const missing = obj.kind === 'interaction'
    ? (['client', 'request', 'response', 'enforcement'] as const).filter((k) => !isObject(obj[k]))
    : obj.kind === 'settings'
      ? [...(isObject(obj.settings) ? [] : ['settings']), ...(typeof obj.digest === 'string' ? [] : ['digest'])]
      : isObject(obj.subject) ? [] : ['subject'];
  if (missing.length) throw new Error(`leaf record lacks ${missing.join(', ')}`);
  if (obj.kind === 'verdict' && obj.schema === LEDGER_RECORD_SCHEMA_3 && obj.expires_at !== null && typeof obj.expires_at !== 'string') {
    throw new Error('warden.ledger/3 verdict lacks expires_at (a time, or null)');
  }
  if (obj.kind === 'interaction' && obj.schema !== LEDGER_RECORD_SCHEMA) {
    const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    const bad = (['cached_input_tokens', 'cache_write_tokens'] as const).filter((k) => !count(obj.response[k]));
    if (bad.length) throw new Error(`${obj.schema} interaction lacks a count in ${bad.map((k) => `response.${k}`).join(', ')}`);
  }
  if (obj.kind === 'interaction' && obj.schema === INTERACTION_SCHEMA) {
    // The tier is a name or null, never absent (an absent tier must not read as "none named").
    const t = obj.response.service_tier;
    if (t !== null && !(typeof t === 'string' && t.length <= 32)) throw new Error('warden.ledger/5 interaction lacks response.service_tier (a name of at most 32 characters, or null)');
  }
  if (obj.kind === 'interaction' && recordsRegions(obj.schema)) {
    // The region fields are each a value of their form or null, never absent: an auditor reads
    // null as "the data placed the address in no region", which an absent field must not fake.
    const code = (v: unknown) => v === null || (typeof v === 'string' && SUBDIVISION_CODE.test(v));
    const hex = (v: unknown) => v === null || (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v));
    const bad = [
      ...(code(obj.client.subdivision) ? [] : ['client.subdivision (an ISO 3166-2 code, or null)']),
      ...(hex(obj.client.subdivision_data) ? [] : ['client.subdivision_data (a hex SHA-256 digest, or null)']),
      ...(obj.account === null || hex(obj.account?.claimed_subdivision) ? [] : ['account.claimed_subdivision (a commitment, or null)']),
    ];
    if (bad.length) throw new Error(`${obj.schema} interaction lacks ${bad.join(', ')}`);
  }
  return obj;
}

/** The clear-text columns a storage backend indexes for queries; derived from the record only. */
export interface EntryColumns {
  id: string;
  kind: 'interaction' | 'verdict' | 'erasure' | 'settings';
  ts: string;
  account_id: string | null;
  org_id: string | null;
  key_id: string | null;
  cluster_id: string | null;
  model: string | null;
  subject_id: string | null;
  level: string | null;
}

export function entryColumns(r: LedgerRecord): EntryColumns {
  if (r.kind === 'interaction') {
    return { id: r.id, kind: r.kind, ts: r.ts, account_id: r.account_id, org_id: r.org_id, key_id: r.key_id, cluster_id: r.cluster_id, model: r.model, subject_id: null, level: r.enforcement.verdict };
  }
  // Found by its subject, not as the account's entry: erasing the account's entries again must
  // not erase who erased them and why.
  if (r.kind === 'erasure') return { id: r.id, kind: r.kind, ts: r.ts, account_id: null, org_id: null, key_id: null, cluster_id: null, model: null, subject_id: r.subject.id, level: null };
  // Settings entries are few (one per start with changed settings): all found through the subject index.
  if (r.kind === 'settings') return { id: r.id, kind: r.kind, ts: r.ts, account_id: null, org_id: null, key_id: null, cluster_id: null, model: null, subject_id: SETTINGS_SUBJECT, level: null };
  return {
    id: r.id, kind: r.kind, ts: r.ts,
    account_id: r.subject.kind === 'account' ? r.subject.id : null,
    org_id: r.subject.kind === 'org' ? r.subject.id : null, key_id: null,
    cluster_id: r.subject.kind === 'cluster' ? r.subject.id : null,
    model: null, subject_id: r.subject.id, level: r.level,
  };
}

/**
 * What an entry's region columns say (`region_state`), as a query by region reads them without its
 * leaf: `recorded`, a `warden.ledger/4` interaction whose subdivision data was read (its
 * subdivision null when the data placed the address in none); `no_data`, one for which none was
 * read (`client.subdivision_data` null); `unrecorded`, an interaction written before regions were
 * recorded (`/1`, `/2`); `none`, any other entry (and a leaf that is not an interaction record).
 * A storage row without a state (null) has not been filled yet: its leaf says.
 */
export type RegionState = 'recorded' | 'no_data' | 'unrecorded' | 'none';

/** The region columns of an entry: only what its leaf holds in clear (the client's country and subdivision), never the claimed one. */
export interface RegionColumns {
  region_state: RegionState;
  client_country: string | null;
  client_subdivision: string | null;
}

const NO_REGION: RegionColumns = { region_state: 'none', client_country: null, client_subdivision: null };

/**
 * The region columns of an entry of kind `kind` (its indexed column) whose leaf is `record` (null:
 * the leaf is not a record). They classify the leaf exactly as a query reading it does
 * (query.ts): a subdivision matches when it is present and equal, a country likewise; a leaf
 * without `client.subdivision` is unrecorded, one with `client.subdivision_data` null has no data.
 */
export function regionColumns(kind: string, record: LedgerRecord | null): RegionColumns {
  if (kind !== 'interaction' || record?.kind !== 'interaction') return NO_REGION;
  const { country, subdivision, subdivision_data: data } = record.client;
  return {
    region_state: subdivision === undefined ? 'unrecorded' : data === null ? 'no_data' : 'recorded',
    client_country: typeof country === 'string' ? country : null,
    client_subdivision: typeof subdivision === 'string' ? subdivision : null,
  };
}

/** The region columns of a stored leaf (the fill of entries written before the columns existed). */
export function regionColumnsOfLeaf(kind: string, leaf: Uint8Array): RegionColumns {
  let record: LedgerRecord | null = null;
  try { record = parseLeaf(leaf); } catch { /* not a record: verify names it */ }
  return regionColumns(kind, record);
}

/** Where a prepared entry's private side goes: the client IP also feeds IP/CIDR queries. */
export function privateIp(p: PreparedEntry): string | null {
  return p.openings.client_ip?.value ?? null;
}
