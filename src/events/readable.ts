/**
 * A cheap check that a parsed event can be read by the fields consumers dereference (the
 * detector's request features, windows and link keys), for logs read without the full schema
 * validation (which costs more than the detector itself). Logs written by other tools often leave
 * out fields they have no value for: a missing container or count gets its empty value, in place;
 * a field of the wrong type is reported, so the event can be skipped and the reader told why.
 */
import { parseIsoMs } from './time.ts';
import { VerificationTier } from './schema.ts';

const TIERS: ReadonlySet<unknown> = new Set(VerificationTier.options);

/** The schema version this reader knows; a log without one is read as this version. */
const SCHEMA = 'warden.interaction/1';

/** Empty sampling parameters: what a request that set none records. */
function noParams(): Record<string, unknown> {
  return {
    max_tokens: null, temperature: null, top_p: null, n: null, logprobs: null, top_logprobs: null,
    reasoning_effort: null, thinking_budget: null, stop: false, seed: null, response_format: null,
  };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const optional = (x: unknown, type: 'string' | 'number' | 'boolean') => x === null || x === undefined || typeof x === type;
const num = (x: unknown) => x === null || typeof x === 'number';
const str = (x: unknown) => x === null || typeof x === 'string';

// Events as Warden writes them have every field: named reads of those (fast on objects of one
// shape) decide most events; the loops below complete or explain the rest.
const paramsComplete = (p: Record<string, unknown>) => num(p.max_tokens) && num(p.temperature) && num(p.top_p) && num(p.n)
  && (p.logprobs === null || typeof p.logprobs === 'boolean') && num(p.top_logprobs) && str(p.reasoning_effort)
  && num(p.thinking_budget) && num(p.seed) && str(p.response_format);
const countsComplete = (r: Record<string, unknown>) => typeof r.status === 'number' && typeof r.input_tokens === 'number'
  && typeof r.output_tokens === 'number' && typeof r.reasoning_tokens === 'number' && typeof r.tool_calls === 'number'
  && Number.isFinite(r.input_tokens) && Number.isFinite(r.output_tokens) && Number.isFinite(r.reasoning_tokens)
  && (r.input_tokens as number) >= 0 && (r.output_tokens as number) >= 0 && (r.reasoning_tokens as number) >= 0 && (r.tool_calls as number) >= 0;
const accountComplete = (a: Record<string, unknown>) => typeof a.created_at === 'string' && TIERS.has(a.tier)
  && typeof a.programme === 'string' && str(a.email_domain) && str(a.payment_fp) && str(a.signup_ip)
  && optional(a.email_pattern, 'string') && optional(a.first_used_at, 'string');

const PARAM_TYPES: Array<[string, 'string' | 'number' | 'boolean']> = [
  ['max_tokens', 'number'], ['temperature', 'number'], ['top_p', 'number'], ['n', 'number'], ['logprobs', 'boolean'],
  ['top_logprobs', 'number'], ['reasoning_effort', 'string'], ['thinking_budget', 'number'], ['seed', 'number'], ['response_format', 'string'],
];
const COUNTS = ['input_tokens', 'output_tokens', 'reasoning_tokens', 'tool_calls'] as const;
const ACCOUNT_STRINGS = ['created_at', 'tier', 'programme', 'email_domain', 'payment_fp', 'signup_ip', 'email_pattern', 'first_used_at'] as const;

/**
 * Make `ev` readable, completing missing fields in place. Returns null when it can be used, else
 * the first problem as "path: what was expected".
 */
export function readableEvent(ev: unknown): string | null {
  if (!isObject(ev)) return 'the line is not a JSON object';
  if (ev.schema !== SCHEMA && ev.schema !== undefined) return `schema: expected ${SCHEMA}, got ${JSON.stringify(ev.schema).slice(0, 60)}`;
  if (typeof ev.ts !== 'string' || !Number.isFinite(parseIsoMs(ev.ts))) return 'ts: expected an ISO 8601 time with its zone';
  if (!optional(ev.account_id, 'string')) return 'account_id: expected a string or null';
  if (!optional(ev.org_id, 'string')) return 'org_id: expected a string or null';
  if (ev.model === undefined || ev.model === null) ev.model = '';
  else if (typeof ev.model !== 'string') return 'model: expected a string';

  const client = ev.client;
  if (client === undefined || client === null) ev.client = { ip: null, user_agent: null, country: null, asn: null };
  else if (!isObject(client)) return 'client: expected an object';
  else {
    if (!optional(client.ip, 'string')) return 'client.ip: expected a string';
    if (!optional(client.user_agent, 'string')) return 'client.user_agent: expected a string or null';
    if (!optional(client.asn, 'number')) return 'client.asn: expected a number or null';
  }

  const req = ev.request;
  if (!isObject(req)) return 'request: expected an object';
  const messages = req.messages;
  if (!Array.isArray(messages)) return 'request.messages: expected an array';
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isObject(m)) return `request.messages.${i}: expected an object`;
    if (typeof m.role !== 'string') return `request.messages.${i}.role: expected a string`;
    if (!optional(m.text, 'string')) return `request.messages.${i}.text: expected a string or null`;
    if (m.parts !== undefined && m.parts !== null && !isObject(m.parts)) return `request.messages.${i}.parts: expected an object of counts`;
  }
  if (!optional(req.system, 'string')) return 'request.system: expected a string or null';
  const docs = req.system_documents;
  if (docs !== undefined && docs !== null) {
    if (!isObject(docs) || !optional(docs.text, 'string')) return 'request.system_documents: expected a message ({role, text, chars...})';
    for (const k of ['documents_unread', 'documents_unreadable'] as const) {
      if (docs[k] !== undefined && !(Number.isInteger(docs[k]) && (docs[k] as number) >= 0)) return `request.system_documents.${k}: expected a count`;
    }
  }
  const refs = req.item_references;
  if (refs !== undefined && (!Array.isArray(refs) || refs.length > 64 || refs.some((id) => typeof id !== 'string'))) return 'request.item_references: expected at most 64 ids (strings)';
  if (req.item_references_omitted !== undefined && !(Number.isInteger(req.item_references_omitted) && (req.item_references_omitted as number) >= 0)) return 'request.item_references_omitted: expected a count';
  const omitted = req.messages_omitted;
  if (omitted !== undefined && omitted !== null && (!isObject(omitted) || !isObject(omitted.roles) || (omitted.parts !== undefined && !isObject(omitted.parts)))) {
    return 'request.messages_omitted: expected {count, chars, roles, parts}';
  }
  if (req.tools === undefined || req.tools === null) req.tools = [];
  else if (!Array.isArray(req.tools)) return 'request.tools: expected an array of tool names';
  else for (let i = 0; i < req.tools.length; i++) if (typeof req.tools[i] !== 'string') return 'request.tools: expected an array of tool names';
  if (req.params === undefined || req.params === null) req.params = noParams();
  else if (!isObject(req.params)) return 'request.params: expected an object';
  else if (!paramsComplete(req.params)) {
    const p = req.params;
    for (const [k, type] of PARAM_TYPES) {
      if (p[k] === undefined) p[k] = null;
      else if (!optional(p[k], type)) return `request.params.${k}: expected a ${type} or null`;
    }
  }

  const res = ev.response;
  if (res === undefined || res === null) {
    ev.response = { status: 200, error_code: null, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: null, ttfb_ms: null, output_chars: 0, reasoning_chars: 0 };
  } else if (!isObject(res)) return 'response: expected an object';
  else if (!countsComplete(res)) {
    if (res.status === undefined || res.status === null) res.status = 200;
    else if (typeof res.status !== 'number') return 'response.status: expected a number';
    for (const k of COUNTS) {
      const v = res[k];
      if (v === undefined || v === null) res[k] = 0;
      else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return `response.${k}: expected a count (a number, 0 or more)`;
    }
  }

  const acct = ev.account;
  if (acct === undefined) ev.account = null;
  else if (acct !== null) {
    if (!isObject(acct)) return 'account: expected an object or null';
    if (!accountComplete(acct)) {
      for (const k of ACCOUNT_STRINGS) if (!optional(acct[k], 'string')) return `account.${k}: expected a string or null`;
      if (acct.tier === undefined || acct.tier === null) acct.tier = 'unverified'; // as an account table without the column reads
      else if (!TIERS.has(acct.tier)) return `account.tier: expected one of ${VerificationTier.options.join(', ')}`;
    }
  }
  return null;
}
