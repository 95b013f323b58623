/**
 * `warden redteam`: run a scenario against a live Warden. Creates the orgs, accounts and keys
 * through the admin API as they are first needed, sends each event's request to the gateway with
 * the simulated client address in X-Forwarded-For (the gateway must trust the sender as a proxy),
 * on a compressed schedule, with bounded concurrency, request count and duration; records what got
 * through (status, refusals, rate limits, shaped answers) and what enforcement it observed.
 *
 * Time compression changes nothing on the gateway: every limit and detector runs on its real clock.
 * It only makes each account's requests arrive `speedup` times closer together than in the
 * simulation, which makes rate limits bite harder than they would in production, never softer.
 *
 * What the clients met (a 429, a shaped answer, a refusal) mixes the detector's verdicts with the
 * account's limits and the policy's rules. After the run, the gateway's record of each request
 * (`/admin/usage/interactions`: the verdict in force, the limit that refused it, the policy rules)
 * tells them apart: `detector` scores the verdicts alone, as `warden scan` and `warden eval` score
 * the detector offline, and each request's `cause` says which of the three the client met.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { wireBiasMap } from './logit.ts';
import { EMBED_DIMS } from './embed.ts';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { HttpAdminClient } from '../admin/client.ts';
import { verdictRank, type VerdictLevel } from '../detect/verdict.ts';
import type { InteractionEvent } from '../events/index.ts';
import { DETECTION_SCHEMA, evaluate, type DetectionResult, type EvalReport } from './eval.ts';
import { generateTraffic, type LabelLine } from './generator.ts';
import type { SimAccount } from './population.ts';
import type { PromptCorpus } from './prompts.ts';
import { renderSvg, renderText } from './report.ts';
import type { Scenario } from './scenario.ts';
import { TOOL_CATALOGUE } from './textgen.ts';
import { answerPieces, hashString, Rng } from '../mock/text.ts';
import type { EventMessage } from '../events/index.ts';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export interface RedteamOptions {
  /** Base URL of the gateway (127.0.0.1 / localhost only). */
  target: string;
  /** Admin API base URL (default: the target). */
  adminUrl?: string;
  adminToken: string;
  scenario: Scenario;
  prompts?: string | PromptCorpus;
  /** Simulated seconds per wall-clock second (default: fit the scenario into maxDurationS). */
  speedup?: number;
  /** Stop after this many requests (default 20,000). */
  maxRequests?: number;
  /** Stop after this long, seconds (default 300). */
  maxDurationS?: number;
  /** Requests in flight at most (default 32). */
  concurrency?: number;
  /** Per-request timeout, ms (default 60,000). */
  timeoutMs?: number;
  /** Output directory for labels, events, results, detection, report (null: none written). */
  outDir?: string | null;
  /** Organic clients honour Retry-After on 429 (default true); campaigns do not wait. */
  honourRetryAfter?: boolean;
  log?: (line: string) => void;
  /** How long to wait for the gateway to record the last requests before reading its record, ms (default 30,000). */
  recordWaitMs?: number;
  /** Called once an account exists on the gateway (tests use it to apply operator actions). */
  onProvisioned?: (account: SimAccount, gatewayAccountId: string) => Promise<void> | void;
}

/** One request as sent and answered. */
export interface RequestOutcome {
  seq: number;
  /** The gateway's id of the request (`x-warden-request-id`: the id of its recorded event). */
  request_id: string | null;
  /** Simulated time of the request. */
  sim_ts: string;
  /** Wall-clock time it was sent. */
  sent_at: string;
  account_id: string;
  sim_account_id: string;
  population: string;
  adaptive: boolean;
  flavour: string;
  model: string;
  status: number;
  error_code: string | null;
  /** Rate-limit / verdict headers the gateway returned (retry-after, x-ratelimit-*, x-warden-*). */
  headers: Record<string, string>;
  latency_ms: number;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  /** The traffic model's output tokens for the request (answer and reasoning), to read `output_tokens` against. */
  simulated_output_tokens: number;
  /** Signs the answer was shaped: requested reasoning/logprobs/n missing, or output capped. */
  shaped: string[];
  /** The gateway's record of the request, read after the run (null: not found, or not readable). */
  gateway: GatewayRecord | null;
  /**
   * What the client met (429, shaped answer, refusal), by its source: `verdict` when the verdict in
   * force on the request (the detector's, or an operator's) reached that level, else `limit` for a
   * 429 (the account's, key's or organisation's limits) and `policy` for the rest (policy rules,
   * tier, account status). Null when the client met nothing or the record was not found.
   */
  cause: 'verdict' | 'limit' | 'policy' | null;
}

/** What the gateway recorded of a request's enforcement (its event, as the admin API reads it). */
export interface GatewayRecord {
  verdict: VerdictLevel | null;
  limit: { allowed: boolean; scope: string; limit: string } | null;
  policy: string[];
  shaping: string[];
}

export interface PopulationSummary {
  sent: number;
  ok: number;
  rate_limited: number;
  refused: number;
  other_4xx: number;
  server_errors: number;
  transport_errors: number;
  shaped: number;
  /** Requests a verdict in force held (429, shaped or refused with the verdict at that level). */
  by_verdict: number;
  deferred: number;
  output_tokens: number;
}

export interface RedteamResult {
  target: string;
  speedup: number;
  started_at: string;
  elapsed_s: number;
  requests: number;
  stopped_by: 'end' | 'max_requests' | 'max_duration';
  accounts_created: number;
  by_population: Record<string, PopulationSummary>;
  /** Observed enforcement as a DetectionResult (sim time), and its evaluation. */
  observed: DetectionResult;
  eval: EvalReport;
  /**
   * The verdicts in force on each request as the gateway recorded them (sim time), and their
   * evaluation: the detector's own view, comparable with `warden scan` + `warden eval` on the
   * simulated traffic. Null when the gateway's record could not be read (see `notes`).
   */
  detector: { detection: DetectionResult; eval: EvalReport; matched: number; unmatched: number } | null;
  /** How to read the two evaluations, one line each. */
  notes: string[];
  /** What makes the run unlike the traffic it simulates (the gateway ignoring the simulated addresses, answers shorter than drawn), one line each. */
  warnings: string[];
  /**
   * Answered requests (200, embeddings left out): output tokens the gateway's upstream wrote, and
   * what the traffic model drew for the same requests (answer and reasoning). Far apart, the
   * detector's readings of answer length are not the offline run's (`warnings` says so).
   */
  answer_lengths: { answered: number; output_tokens: number; simulated_output_tokens: number };
  /**
   * Organic accounts the verdicts held at watch or above, and those of them whose verdict (read
   * after the run, `GET /admin/detect/accounts/:id`) gives a timing reading among its reasons:
   * compressed time brings each account's requests closer together, which moves timing readings
   * the offline run does not see. Null when the verdicts could not be read.
   */
  timing: { organic_flagged: number; with_timing: number; accounts: { account_id: string; organic_kind: string | null; level: VerdictLevel; reasons: string[]; timing: { signal: string; value: number | string; threshold: number | string | null }[] }[] } | null;
}

/** Reasons that read the spacing of an account's requests, which compressed time moves. */
const TIMING_SIGNALS = new Set(['timing_regularity', 'yield_timing_regularity']);

interface VerdictView { level: VerdictLevel; verdict: { reasons: { signal: string; value: number | string; threshold: number | string | null }[] } | null; cluster: { reasons: { signal: string; value: number | string; threshold: number | string | null }[] } | null }

/**
 * For each organic account the verdicts held at watch or above: its verdict's reasons as the
 * admin API gives them after the run, and those that read timing. An account not readable is left
 * out of `accounts` but counted in `organic_flagged`.
 */
async function timingReadings(admin: HttpAdminClient, flagged: { account_id: string; organic_kind: string | null; level: VerdictLevel }[]): Promise<NonNullable<RedteamResult['timing']>> {
  const accounts: NonNullable<RedteamResult['timing']>['accounts'] = [];
  for (const f of flagged) {
    let view: VerdictView;
    try { view = await admin.call('GET', `/detect/accounts/${encodeURIComponent(f.account_id)}`); } catch { continue; }
    const reasons = [...(view.verdict?.reasons ?? []), ...(view.cluster?.reasons ?? [])];
    accounts.push({ ...f, reasons: [...new Set(reasons.map((r) => r.signal))], timing: reasons.filter((r) => TIMING_SIGNALS.has(r.signal)).map((r) => ({ signal: r.signal, value: r.value, threshold: r.threshold })) });
  }
  return { organic_flagged: flagged.length, with_timing: accounts.filter((a) => a.timing.length > 0).length, accounts };
}

/**
 * A warning when the answers came back far shorter than the traffic model drew them (under half
 * its output tokens over 20 answered requests or more): the built-in mock writes its own lengths
 * unless the gateway passes it the red team's answer-length headers.
 */
export function answerLengthWarning(l: RedteamResult['answer_lengths']): string | null {
  if (l.answered < 20 || l.simulated_output_tokens <= 0 || l.output_tokens >= l.simulated_output_tokens / 2) return null;
  const times = l.output_tokens > 0 ? `${(l.simulated_output_tokens / l.output_tokens).toFixed(1)} times shorter than` : 'empty, unlike';
  return `WARNING: the answers were ${times} the traffic model drew them (${l.output_tokens} output tokens against ${l.simulated_output_tokens} over ${l.answered} answered requests): `
    + 'readings of answer length (output/input ratio, harvest yield) see shorter answers than offline. Against the built-in mock, set mock.answer_length_headers: true on the gateway and start it again (docs/mock-upstream.md).';
}

const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');

/**
 * Whether the gateway took the simulated client addresses: it believes X-Forwarded-For only from
 * `server.trusted_proxies`. Asked of the admin API (an account's latest recorded request, as
 * `warden limits explain` reads it) for a few answered accounts; none of the simulated addresses is
 * a loopback one, so a loopback address recorded is the red team's own. Events are written off the
 * request path: an account not recorded yet is asked again, for a few seconds at most.
 */
async function addressWarnings(admin: HttpAdminClient, answered: string[]): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  for (const id of answered.slice(0, 3)) {
    for (;;) {
      let seen: { ip: string | null; from_latest_request: { ip: boolean } | null } | null = null;
      try { seen = await admin.call('GET', `/limits/accounts/${encodeURIComponent(id)}`); } catch { return []; }
      if (seen?.ip && seen.from_latest_request?.ip) {
        if (!isLoopback(seen.ip)) return [];
        return [`WARNING: the gateway recorded the red team's requests from ${seen.ip}, the red team's own address, not the simulated clients' (X-Forwarded-For): add ${seen.ip} to server.trusted_proxies and start it again. `
          + 'Every simulated account shares that one address here, which links them: organic accounts are held that would not be, and the limits per address bite all of them at once.'];
      }
      if (Date.now() > deadline) break;
      await sleep(200);
    }
  }
  return [];
}

interface InteractionRow { id: string; enforcement: { limit: GatewayRecord['limit'] & { retry_after_s?: number | null } | null; verdict: string | null; shaping: string[]; policy: string[] } }

/**
 * The gateway's record of the red team's requests, by request id: its events since the run began,
 * paged newest first from the admin API (`GET /admin/usage/interactions`, 500 a page). Events are
 * written off the request path: while some are missing, they are asked again (0.5 s later, then 1,
 * 2, 4 s ...), for `waitMs` at most.
 * A gateway without the route (or a token without access) gives the error's message instead.
 */
export async function gatewayRecords(admin: HttpAdminClient, ids: ReadonlySet<string>, fromMs: number, waitMs = 30_000): Promise<Map<string, GatewayRecord> | string> {
  const found = new Map<string, GatewayRecord>();
  const deadline = Date.now() + waitMs;
  const from = new Date(fromMs - 60_000).toISOString();
  let pause = 500;
  for (;;) {
    const to = new Date(Date.now() + 60_000).toISOString();
    let before: string | null = null;
    do {
      let page: { data: InteractionRow[]; next_before: string | null };
      try {
        page = await admin.call('GET', '/usage/interactions', { query: { from, to, limit: 500, before: before ?? undefined } });
      } catch (err) {
        return (err as Error).message;
      }
      for (const row of page.data) {
        if (!ids.has(row.id) || found.has(row.id)) continue;
        const e = row.enforcement;
        const verdict = e.verdict !== null && verdictRank(e.verdict as VerdictLevel) > 0 ? e.verdict as VerdictLevel : null;
        found.set(row.id, { verdict, limit: e.limit ? { allowed: e.limit.allowed, scope: e.limit.scope, limit: e.limit.limit } : null, policy: e.policy, shaping: e.shaping });
      }
      before = page.next_before;
    } while (before !== null);
    if (found.size >= ids.size || Date.now() > deadline) return found;
    // Each pass reads every event since the run began: wait longer between passes.
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
    pause *= 2;
  }
}

/** Where what the client met came from: a verdict in force at that level, else the limits (429) or the policy. */
export function causeOf(level: VerdictLevel | null, status: number, rec: GatewayRecord | null): RequestOutcome['cause'] {
  if (level === null || rec === null) return null;
  if (rec.verdict !== null && verdictRank(rec.verdict) >= verdictRank(level)) return 'verdict';
  return status === 429 ? 'limit' : 'policy';
}

/** Levels per account on a timeline in simulated time; they only go up (a later, lower level is not a new step). */
function timelinesOf(points: Iterable<{ account_id: string; sim_ts: string; seq: number; level: VerdictLevel | null }>): DetectionResult['accounts'] {
  const timelines = new Map<string, Map<VerdictLevel, string>>();
  for (const o of [...points].sort((x, y) => x.sim_ts.localeCompare(y.sim_ts) || x.seq - y.seq)) {
    if (!o.level || !o.account_id) continue;
    let m = timelines.get(o.account_id);
    if (!m) { m = new Map(); timelines.set(o.account_id, m); }
    if (!m.has(o.level)) m.set(o.level, o.sim_ts);
  }
  return [...timelines].map(([id, m]) => {
    const tl = [...m].map(([level, ts]) => ({ ts, level })).sort((x, y) => x.ts.localeCompare(y.ts) || verdictRank(x.level) - verdictRank(y.level));
    let max = 0;
    const mono = tl.filter((c) => { const r = verdictRank(c.level); if (r > max) { max = r; return true; } return false; });
    return { account_id: id, timeline: mono, first_flag: mono[0] ?? null };
  });
}

/** Refuse anything that is not this machine: the red team must never aim at someone else's service. */
export function assertLocalTarget(url: string): URL {
  const u = new URL(url);
  if (!LOCAL_HOSTS.has(u.hostname)) throw new Error(`redteam targets only 127.0.0.1/localhost, not ${u.hostname}`);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`unsupported protocol ${u.protocol}`);
  return u;
}

// ---------------------------------------------------------------------------------------------
// Wire bodies from events

type Json = Record<string, unknown>;

function toolDefs(names: string[], flavour: string): Json[] {
  return names.map((name) => {
    const t = TOOL_CATALOGUE[name] ?? { description: name, parameters: { type: 'object', properties: {} } };
    if (flavour === 'anthropic.messages') return { name, description: t.description, input_schema: t.parameters };
    if (flavour === 'openai.responses') return { type: 'function', name, description: t.description, parameters: t.parameters };
    return { type: 'function', function: { name, description: t.description, parameters: t.parameters } };
  });
}

/**
 * An Anthropic request with thinking on whose history ends inside a tool-use loop must send back the
 * loop's signed thinking block, which a replayed history does not have: the API refuses it (400), so
 * such a request is replayed without thinking, as the API's own message advises.
 */
export function thinkingRefusedForLoop(ev: InteractionEvent): boolean {
  return ev.flavour === 'anthropic.messages' && Boolean(ev.request.messages.at(-1)?.parts?.tool_result);
}

/** The largest answer length asked for (the gateway passes no larger one: MOCK_LENGTH_MAX in src/gateway/upstream-request.ts). */
const LENGTH_MAX = 131_072;

/**
 * The simulated answer's length, per choice, as the built-in mock's headers ask for it
 * (`x-mock-output-tokens` the answer, `x-mock-reasoning-tokens` the reasoning): a gateway with
 * `mock.answer_length_headers` passes them to its built-in mock, so the answers it records are as
 * long as the traffic model drew them; any other gateway or upstream ignores them (Warden passes
 * them to no configured upstream). None for an answer the simulation did not produce (an
 * upstream error) or an embedding.
 */
export function answerLengthHeaders(ev: InteractionEvent): Record<string, string> {
  const res = ev.response;
  if (ev.flavour === 'openai.embeddings' || (res.status !== 200 && res.status !== 499)) return {};
  const n = Math.max(1, ev.request.params.n ?? 1);
  const reasoning = Math.min(LENGTH_MAX, Math.round(res.reasoning_tokens / n));
  const answer = Math.min(LENGTH_MAX, Math.round(Math.max(0, res.output_tokens - res.reasoning_tokens) / n));
  return { 'x-mock-output-tokens': String(answer), 'x-mock-reasoning-tokens': String(reasoning) };
}

/**
 * An earlier answer in a conversation's history at its simulated length. The traffic model keeps a
 * short stand-in of each (`text`) and the answer's full length (`chars`), which its input tokens
 * count; sent as the stand-in, the gateway would count a fraction of the input (about 2% of the
 * history's answers on `smoke`), and read the answers' output/input ratio that much higher than
 * offline. The stand-in comes first, then prose of the built-in mock's kind up to `chars`, drawn
 * from the account, the stand-in and the length: the same turn is sent the same in every later
 * request of its conversation, and no two accounts send the same filler. Only plain answers are
 * filled: tool calls and every user, system and tool text are sent as they are.
 */
export function historyAnswerText(m: EventMessage, accountId: string): string {
  const text = m.text ?? '';
  if (m.role !== 'assistant' || m.parts || m.chars <= text.length) return text;
  const rng = new Rng(hashString(`${accountId}\u0000${text}\u0000${m.chars}`));
  // Pieces are short words (one token each): about 5 characters apiece, a few more drawn than needed.
  const fill = answerPieces(Math.ceil((m.chars - text.length) / 4) + 8, rng).join('');
  return (text ? `${text}\n\n${fill.trimStart()}` : fill.trimStart()).slice(0, m.chars);
}

/** The HTTP request (path, headers, body) that reproduces an event's request in its wire format. */
export function wireRequest(ev: InteractionEvent, secret: string): { path: string; headers: Record<string, string>; body: Json } {
  const r = ev.request;
  const p = r.params;
  const tools = r.tools;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': ev.client.user_agent ?? 'warden-redteam',
    'x-forwarded-for': ev.client.ip,
    ...answerLengthHeaders(ev),
  };
  let callN = 0;
  const toolName = () => (tools.length ? tools[callN % tools.length] : 'tool');
  if (ev.flavour === 'anthropic.messages') {
    headers['x-api-key'] = secret;
    headers['anthropic-version'] = '2023-06-01';
    const messages: Json[] = [];
    let lastToolId: string | null = null;
    for (const m of r.messages) {
      const text = historyAnswerText(m, ev.account_id ?? '');
      if (m.parts?.tool_use) {
        lastToolId = `toolu_${String(++callN).padStart(4, '0')}`;
        messages.push({ role: 'assistant', content: [...(text ? [{ type: 'text', text }] : []), { type: 'tool_use', id: lastToolId, name: toolName(), input: {} }] });
      } else if (m.parts?.tool_result && lastToolId) {
        messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: lastToolId, content: text }] });
        lastToolId = null;
      } else messages.push({ role: m.role === 'assistant' ? 'assistant' : 'user', content: text || '.' });
    }
    const body: Json = { model: ev.model, max_tokens: p.max_tokens ?? 1024, messages, stream: r.stream };
    if (r.system) body.system = r.system;
    if (p.temperature !== null) body.temperature = p.temperature;
    if (p.top_p !== null) body.top_p = p.top_p;
    if (p.thinking_budget !== null && !thinkingRefusedForLoop(ev)) body.thinking = { type: 'enabled', budget_tokens: p.thinking_budget };
    if (tools.length) { body.tools = toolDefs(tools, ev.flavour); if (r.tool_choice) body.tool_choice = { type: r.tool_choice === 'auto' ? 'auto' : 'any' }; }
    return { path: '/v1/messages', headers, body };
  }
  headers.authorization = `Bearer ${secret}`;
  if (ev.flavour === 'openai.embeddings') {
    // Each input a message of the event; the size the simulated answer was sketched at.
    const body: Json = { model: ev.model, input: r.messages.map((m) => m.text ?? '') };
    if (ev.model.startsWith('text-embedding-3')) body.dimensions = ev.response.embeddings?.dimensions ?? EMBED_DIMS;
    return { path: '/v1/embeddings', headers, body };
  }
  if (ev.flavour === 'openai.responses') {
    const input: Json[] = [];
    for (const m of r.messages) {
      if (m.role === 'tool') {
        const id = `call_${++callN}`;
        input.push({ type: 'function_call', call_id: id, name: toolName(), arguments: '{}' });
        input.push({ type: 'function_call_output', call_id: id, output: m.text ?? '' });
      } else input.push({ role: m.role === 'assistant' ? 'assistant' : 'user', content: historyAnswerText(m, ev.account_id ?? '') });
    }
    const body: Json = { model: ev.model, input, stream: r.stream };
    if (r.system) body.instructions = r.system;
    if (p.max_tokens !== null) body.max_output_tokens = p.max_tokens;
    if (p.temperature !== null) body.temperature = p.temperature;
    if (p.top_logprobs !== null) body.top_logprobs = p.top_logprobs;
    if (p.reasoning_effort !== null) body.reasoning = { effort: p.reasoning_effort };
    if (p.response_format) body.text = { format: { type: p.response_format } };
    if (tools.length) { body.tools = toolDefs(tools, ev.flavour); if (r.tool_choice) body.tool_choice = r.tool_choice; }
    return { path: '/v1/responses', headers, body };
  }
  const messages: Json[] = [];
  if (r.system) messages.push({ role: 'system', content: r.system });
  const msgs = r.messages;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (m.role === 'assistant' && !m.text && msgs[i + 1]?.role === 'tool') {
      const id = `call_${++callN}`;
      messages.push({ role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: toolName(), arguments: '{}' } }] });
      messages.push({ role: 'tool', tool_call_id: id, content: msgs[i + 1].text ?? '' });
      i++;
    } else if (m.role === 'tool') {
      const id = `call_${++callN}`;
      messages.push({ role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: toolName(), arguments: '{}' } }] });
      messages.push({ role: 'tool', tool_call_id: id, content: m.text ?? '' });
    } else messages.push({ role: m.role === 'assistant' ? 'assistant' : 'user', content: historyAnswerText(m, ev.account_id ?? '') });
  }
  const body: Json = { model: ev.model, messages, stream: r.stream };
  if (r.stream) body.stream_options = { include_usage: true };
  if (p.max_tokens !== null) body.max_completion_tokens = p.max_tokens;
  if (p.temperature !== null) body.temperature = p.temperature;
  if (p.top_p !== null) body.top_p = p.top_p;
  if (p.n !== null) body.n = p.n;
  if (p.logprobs !== null) body.logprobs = p.logprobs;
  if (p.top_logprobs !== null) body.top_logprobs = p.top_logprobs;
  // A map with the simulated one's counts (see wireBiasMap): distinct maps stay distinct.
  if (p.logit_bias) body.logit_bias = wireBiasMap(p.logit_bias);
  if (p.reasoning_effort !== null) body.reasoning_effort = p.reasoning_effort;
  if (p.seed !== null) body.seed = p.seed;
  if (p.response_format) body.response_format = { type: p.response_format };
  if (tools.length) { body.tools = toolDefs(tools, ev.flavour); if (r.tool_choice) body.tool_choice = r.tool_choice; }
  return { path: '/v1/chat/completions', headers, body };
}

// ---------------------------------------------------------------------------------------------
// Answers

interface Answer { input: number; output: number; reasoning: number; reasoningSeen: boolean; logprobsSeen: boolean; choices: number; finish: string | null }

function usageFrom(obj: Json | undefined, a: Answer): void {
  if (!obj) return;
  const u = obj as Record<string, number | Json | undefined>;
  a.input = Math.max(a.input, Number(u.input_tokens ?? u.prompt_tokens ?? 0) || 0);
  a.output = Math.max(a.output, Number(u.output_tokens ?? u.completion_tokens ?? 0) || 0);
  const det = (u.completion_tokens_details ?? u.output_tokens_details) as Json | undefined;
  if (det && typeof det.reasoning_tokens === 'number') a.reasoning = Math.max(a.reasoning, det.reasoning_tokens);
}

/** Read what matters from a JSON answer or an SSE stream (consumed fully). */
function inspectAnswer(text: string, stream: boolean): Answer {
  const a: Answer = { input: 0, output: 0, reasoning: 0, reasoningSeen: false, logprobsSeen: false, choices: 0, finish: null };
  const visit = (o: Json) => {
    if (o.usage) usageFrom(o.usage as Json, a);
    const msg = o.message as Json | undefined; // anthropic message_start
    if (msg?.usage) usageFrom(msg.usage as Json, a);
    const resp = o.response as Json | undefined; // responses API completed event
    if (resp?.usage) usageFrom(resp.usage as Json, a);
    const t = o.type;
    if (t === 'thinking' || (typeof t === 'string' && (t.includes('reasoning') || t === 'content_block_start' && (o.content_block as Json | undefined)?.type === 'thinking'))) a.reasoningSeen = true;
    if (Array.isArray(o.content)) for (const c of o.content as Json[]) if (c.type === 'thinking' || c.type === 'redacted_thinking') a.reasoningSeen = true;
    if (Array.isArray(o.output)) for (const c of o.output as Json[]) if (c.type === 'reasoning') a.reasoningSeen = true;
    if (Array.isArray(o.choices)) {
      for (const c of o.choices as Json[]) {
        a.choices = Math.max(a.choices, Number(c.index ?? 0) + 1);
        if (c.logprobs) a.logprobsSeen = true;
        if (c.finish_reason) a.finish = String(c.finish_reason);
        const m = (c.message ?? c.delta) as Json | undefined;
        if (m && (m.reasoning_content || m.reasoning)) a.reasoningSeen = true;
      }
    }
    if (o.stop_reason) a.finish = String(o.stop_reason);
    const d = o.delta as Json | undefined;
    if (d?.stop_reason) a.finish = String(d.stop_reason);
    if (d?.type === 'thinking_delta') a.reasoningSeen = true;
  };
  if (!stream) {
    try { visit(JSON.parse(text) as Json); } catch { /* not JSON */ }
    return a;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (!data || data === '[DONE]') continue;
    try { visit(JSON.parse(data) as Json); } catch { /* partial */ }
  }
  return a;
}

function shapingSigns(ev: InteractionEvent, a: Answer, headers: Record<string, string>): string[] {
  const out: string[] = [];
  const p = ev.request.params;
  for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-warden-shap')) out.push(`header:${v}`);
  if (p.thinking_budget !== null && !thinkingRefusedForLoop(ev) && !a.reasoningSeen && a.output > 0) out.push('reasoning:missing');
  if (p.logprobs === true && !a.logprobsSeen) out.push('logprobs:missing');
  if (p.n !== null && p.n > 1 && a.choices > 0 && a.choices < p.n) out.push('n:reduced');
  return out;
}

// ---------------------------------------------------------------------------------------------
// The run

interface Provisioned { accountId: string; secrets: string[] }

function observedLevel(o: RequestOutcome): VerdictLevel | null {
  if (o.status === 403) return o.error_code === 'WARDEN_ACCOUNT_SUSPENDED' ? 'suspend' : 'verify';
  if (o.status === 401 && o.error_code === 'WARDEN_REVOKED_API_KEY') return 'suspend';
  if (o.shaped.length) return 'shape';
  if (o.status === 429) return 'throttle';
  return null;
}

/** Run a scenario against a live gateway. */
export async function runRedteam(opts: RedteamOptions): Promise<RedteamResult> {
  const target = assertLocalTarget(opts.target);
  const adminBase = opts.adminUrl ?? opts.target;
  assertLocalTarget(adminBase);
  const log = opts.log ?? (() => {});
  const maxRequests = opts.maxRequests ?? 20_000;
  const maxDurationMs = (opts.maxDurationS ?? 300) * 1000;
  const concurrency = Math.max(1, opts.concurrency ?? 32);
  const sc = opts.scenario;
  const speedup = opts.speedup ?? Math.max(1, (sc.endMs - sc.startMs) / maxDurationMs);
  const honour = opts.honourRetryAfter ?? true;
  const admin = new HttpAdminClient(adminBase, opts.adminToken, { actor: 'warden-redteam', timeoutMs: 30_000 });
  const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 10_000 });
  const run = generateTraffic(sc, { prompts: opts.prompts });
  const bySimId = new Map<string, SimAccount>(run.accounts.map((a) => [a.id, a]));
  const orgs = new Map<string, Promise<string>>();
  const provisioned = new Map<string, Promise<Provisioned>>();
  const pausedUntil = new Map<string, number>();
  const outcomes: RequestOutcome[] = [];
  const summary: Record<string, PopulationSummary> = {};
  const pop = (a: SimAccount) => a.label.campaign_id ?? a.label.organic_kind ?? 'unknown';
  const sumFor = (k: string) => (summary[k] ??= { sent: 0, ok: 0, rate_limited: 0, refused: 0, other_4xx: 0, server_errors: 0, transport_errors: 0, shaped: 0, by_verdict: 0, deferred: 0, output_tokens: 0 });
  const wallStart = Date.now();

  const wallCreated = (simMs: number) => (simMs <= sc.startMs ? wallStart - (sc.startMs - simMs) : wallStart + (simMs - sc.startMs) / speedup);
  const provision = (a: SimAccount): Promise<Provisioned> => {
    let p = provisioned.get(a.id);
    if (p) return p;
    p = (async () => {
      let orgId = orgs.get(a.orgId);
      if (!orgId) {
        orgId = admin.createOrg({ name: `sim ${a.orgId}`, tier: a.facts.tier, programme: a.facts.programme }).then((o) => o.id);
        orgs.set(a.orgId, orgId);
      }
      const acct = await admin.createAccount({
        org_id: await orgId, name: a.name, email: a.email, tier: a.facts.tier, programme: a.facts.programme,
        signup_ip: a.facts.signup_ip, claimed_country: a.facts.claimed_country, payment_fp: a.facts.payment_fp,
        user_agent: a.client.userAgent, created_at: new Date(Math.min(Date.now(), wallCreated(a.createdMs))).toISOString(),
      });
      const secrets: string[] = [];
      for (let k = 0; k < a.keyIds.length; k++) secrets.push((await admin.createKey(acct.id, { name: `key-${k}`, scopes: ['inference'] })).secret);
      await opts.onProvisioned?.(a, acct.id);
      return { accountId: acct.id, secrets };
    })();
    provisioned.set(a.id, p);
    return p;
  };

  if (opts.outDir) mkdirSync(opts.outDir, { recursive: true });
  const observedEvents: InteractionEvent[] = [];
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const slotFree = () => { const w = wake; wake = null; w?.(); };
  let seq = 0;
  let stoppedBy: RedteamResult['stopped_by'] = 'end';
  let firstSim = -1;

  const send = async (ev: InteractionEvent, a: SimAccount, n: number) => {
    const s = sumFor(pop(a));
    const outcome: RequestOutcome = {
      seq: n, request_id: null, sim_ts: ev.ts, sent_at: new Date().toISOString(), account_id: '', sim_account_id: a.id, population: pop(a), adaptive: a.label.adaptive,
      flavour: ev.flavour, model: ev.model, status: 0, error_code: null, headers: {}, latency_ms: 0, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0,
      simulated_output_tokens: ev.response.output_tokens, shaped: [],
      gateway: null, cause: null,
    };
    try {
      const prov = await provision(a);
      outcome.account_id = prov.accountId;
      const keyIndex = Math.max(0, a.keyIds.indexOf(ev.key_id ?? ''));
      const w = wireRequest(ev, prov.secrets[keyIndex] ?? prov.secrets[0]);
      const t0 = performance.now();
      const res = await request(new URL(w.path, target), {
        method: 'POST', headers: w.headers, body: JSON.stringify(w.body), dispatcher: agent,
        headersTimeout: opts.timeoutMs ?? 60_000, bodyTimeout: opts.timeoutMs ?? 60_000,
      });
      const text = await res.body.text();
      outcome.latency_ms = Math.round(performance.now() - t0);
      outcome.status = res.statusCode;
      const rid = res.headers['x-warden-request-id'];
      outcome.request_id = typeof rid === 'string' ? rid : null;
      for (const [k, v] of Object.entries(res.headers)) {
        if (k === 'retry-after' || k.startsWith('x-ratelimit') || (k.startsWith('x-warden') && k !== 'x-warden-request-id')) outcome.headers[k] = String(v);
      }
      if (res.statusCode >= 400) {
        try { const error = (JSON.parse(text) as { error?: { code?: string; warden_code?: string } }).error; outcome.error_code = error?.warden_code ?? error?.code ?? null; } catch { /* not JSON */ }
      } else {
        const ans = inspectAnswer(text, ev.request.stream);
        outcome.input_tokens = ans.input; outcome.output_tokens = ans.output; outcome.reasoning_tokens = ans.reasoning;
        outcome.shaped = shapingSigns(ev, ans, outcome.headers);
      }
      if (res.statusCode === 429 && honour && !a.campaign) {
        const ra = Number(outcome.headers['retry-after']);
        if (Number.isFinite(ra) && ra > 0) pausedUntil.set(a.id, Date.now() + ra * 1000);
      }
    } catch (err) {
      outcome.status = 0;
      outcome.error_code = `transport:${(err as Error).message.slice(0, 120)}`;
    }
    s.sent++;
    if (outcome.status >= 200 && outcome.status < 300) s.ok++;
    else if (outcome.status === 429) s.rate_limited++;
    else if (outcome.status === 403 || outcome.status === 401) s.refused++;
    else if (outcome.status >= 400 && outcome.status < 500) s.other_4xx++;
    else if (outcome.status >= 500) s.server_errors++;
    else s.transport_errors++;
    if (outcome.shaped.length) s.shaped++;
    s.output_tokens += outcome.output_tokens;
    outcomes.push(outcome);
    if (outcome.account_id) {
      // The event as the red team saw it: gateway ids, observed status and usage, simulated time.
      const seen: InteractionEvent = {
        ...ev, account_id: outcome.account_id, org_id: null, key_id: null,
        response: { ...ev.response, status: outcome.status || 599, error_code: outcome.error_code, input_tokens: outcome.input_tokens, output_tokens: outcome.output_tokens, reasoning_tokens: outcome.reasoning_tokens, usage_source: 'upstream' },
        enforcement: { ...ev.enforcement, verdict: observedLevel(outcome), shaping: outcome.shaped },
      };
      observedEvents.push(seen);
    }
  };

  log(`redteam: ${run.accounts.length} simulated accounts, speedup x${speedup.toFixed(1)}, at most ${maxRequests} requests / ${maxDurationMs / 1000}s, ${concurrency} in flight`);
  for (const ev of run.events) {
    if (seq >= maxRequests) { stoppedBy = 'max_requests'; break; }
    const simMs = Date.parse(ev.ts);
    if (firstSim < 0) firstSim = simMs;
    const due = wallStart + (simMs - firstSim) / speedup;
    if (due - wallStart > maxDurationMs || Date.now() - wallStart > maxDurationMs) { stoppedBy = 'max_duration'; break; }
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const a = bySimId.get(ev.account_id!)!;
    const paused = pausedUntil.get(a.id);
    if (paused !== undefined && Date.now() < paused) { sumFor(pop(a)).deferred++; continue; }
    while (inFlight >= concurrency) await new Promise<void>((r) => { wake = r; });
    inFlight++;
    const n = seq++;
    void send(ev, a, n).finally(() => { inFlight--; slotFree(); });
  }
  while (inFlight > 0) await new Promise<void>((r) => { wake = r; });
  await agent.close();
  const answered = [...new Set(outcomes.filter((o) => o.status === 200 && o.account_id).map((o) => o.account_id))];
  const warnings = await addressWarnings(admin, answered);
  const notes: string[] = [];
  const answer_lengths = { answered: 0, output_tokens: 0, simulated_output_tokens: 0 };
  for (const o of outcomes) {
    if (o.status !== 200 || o.flavour === 'openai.embeddings') continue;
    answer_lengths.answered++;
    answer_lengths.output_tokens += o.output_tokens;
    answer_lengths.simulated_output_tokens += o.simulated_output_tokens;
  }
  const short = answerLengthWarning(answer_lengths);
  if (short) warnings.push(short);

  // The gateway's record of each request: the verdict in force, apart from limits and policy.
  const ids = new Set(outcomes.map((o) => o.request_id).filter((id): id is string => id !== null));
  const records = ids.size ? await gatewayRecords(admin, ids, wallStart, opts.recordWaitMs) : new Map<string, GatewayRecord>();
  if (typeof records === 'string') notes.push(`the gateway's record of the requests could not be read (${records}): no verdicts report, and what the clients met is not told apart by cause`);
  outcomes.sort((x, y) => x.seq - y.seq);
  for (const o of outcomes) {
    o.gateway = typeof records === 'string' || o.request_id === null ? null : records.get(o.request_id) ?? null;
    o.cause = causeOf(observedLevel(o), o.status, o.gateway);
    if (o.cause === 'verdict') sumFor(o.population).by_verdict++;
  }

  // Observed enforcement per account, in simulated time.
  const observed: DetectionResult = {
    schema: DETECTION_SCHEMA, source: 'redteam:observed', generated_at: new Date().toISOString(), time_scale: 1,
    // Levels only go up on this timeline: an observed refusal after a shaped answer keeps the higher level.
    accounts: timelinesOf(outcomes.map((o) => ({ account_id: o.account_id, sim_ts: o.sim_ts, seq: o.seq, level: o.account_id ? observedLevel(o) : null }))),
    clusters: [],
  };
  // Labels with the gateway's account ids, for the accounts actually created.
  const labels: LabelLine[] = [];
  for (const l of run.labels) if (l.type !== 'account') labels.push(l);
  for (const [simId, p] of provisioned) {
    try {
      const prov = await p;
      const a = bySimId.get(simId)!;
      labels.push({ ...a.label, account_id: prov.accountId, org_id: (await orgs.get(a.orgId)) ?? a.orgId });
    } catch { /* creation failed: no label, no events */ }
  }
  // In time order, as warden scan and warden eval read events (answers come back out of order).
  observedEvents.sort((x, y) => x.ts.localeCompare(y.ts));
  const report = await evaluate(observed, labels, () => observedEvents);
  let detector: RedteamResult['detector'] = null;
  let timing: RedteamResult['timing'] = null;
  if (typeof records !== 'string') {
    const matched = outcomes.filter((o) => o.gateway !== null);
    const detection: DetectionResult = {
      schema: DETECTION_SCHEMA, source: 'redteam:verdicts', generated_at: new Date().toISOString(), time_scale: 1,
      accounts: timelinesOf(matched.map((o) => ({ account_id: o.account_id, sim_ts: o.sim_ts, seq: o.seq, level: o.gateway!.verdict }))),
      clusters: [],
    };
    detector = { detection, eval: await evaluate(detection, labels, () => observedEvents), matched: matched.length, unmatched: outcomes.filter((o) => o.request_id !== null).length - matched.length };
    // Organic accounts the verdicts held, and which of them a timing reading helped hold.
    const kindOf = new Map(labels.filter((l): l is Extract<LabelLine, { type: 'account' }> => l.type === 'account').map((l) => [l.account_id, l]));
    const organicFlagged = detection.accounts
      .map((a) => ({ account_id: a.account_id, label: kindOf.get(a.account_id), level: a.timeline.at(-1)?.level ?? null }))
      .filter((a): a is { account_id: string; label: Extract<LabelLine, { type: 'account' }>; level: VerdictLevel } => a.level !== null && a.label !== undefined && a.label.campaign_id === null)
      .map((a) => ({ account_id: a.account_id, organic_kind: a.label.organic_kind, level: a.level }));
    timing = await timingReadings(admin, organicFlagged);
    if (timing.with_timing > 0) {
      notes.push(`${timing.with_timing} of the ${timing.organic_flagged} organic accounts the verdicts held (at watch or above) have a timing reading among their verdict's reasons (timing_regularity, yield_timing_regularity): `
        + `at x${speedup.toFixed(0)} each account's requests arrive ${speedup.toFixed(0)} times closer together on the gateway's clock, which the detector reads, so their gaps spread less than offline (see timing in the result).`);
    }
    if (detector.unmatched > 0) notes.push(`${detector.unmatched} requests answered by the gateway were not found in its record (not written yet, or pruned): the verdicts report leaves them out`);
    const byLimits = report.totals.organic_accounts_flagged - detector.eval.totals.organic_accounts_flagged;
    if (byLimits > 0) {
      notes.push(`${byLimits} of the ${report.totals.organic_accounts} organic accounts met limits or policy (429, shaped answers) and no verdict at that level: what the clients met counts them, the verdicts report does not. `
        + `At x${speedup.toFixed(0)} time each account's limits bite ${speedup.toFixed(0)} times harder than in production; the policy's shaping applies to every account of its tier or network.`);
    }
  }
  if (opts.outDir) {
    const lines = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n') + (xs.length ? '\n' : '');
    writeFileSync(join(opts.outDir, 'events.jsonl'), lines(observedEvents));
    writeFileSync(join(opts.outDir, 'results.jsonl'), lines(outcomes));
    writeFileSync(join(opts.outDir, 'labels.jsonl'), labels.map((l) => JSON.stringify(l)).join('\n') + '\n');
    writeFileSync(join(opts.outDir, 'observed-detection.json'), JSON.stringify(observed, null, 1) + '\n');
    writeFileSync(join(opts.outDir, 'report.json'), JSON.stringify(report, null, 1) + '\n');
    writeFileSync(join(opts.outDir, 'report.txt'), renderText(report));
    writeFileSync(join(opts.outDir, 'report.svg'), renderSvg(report));
    if (detector) {
      writeFileSync(join(opts.outDir, 'verdicts-detection.json'), JSON.stringify(detector.detection, null, 1) + '\n');
      writeFileSync(join(opts.outDir, 'verdicts-report.json'), JSON.stringify(detector.eval, null, 1) + '\n');
      writeFileSync(join(opts.outDir, 'verdicts-report.txt'), renderText(detector.eval));
    }
  }
  return {
    target: target.origin, speedup, started_at: new Date(wallStart).toISOString(), elapsed_s: (Date.now() - wallStart) / 1000,
    requests: seq, stopped_by: stoppedBy, accounts_created: [...provisioned.keys()].length, by_population: summary, observed, eval: report, detector, notes, warnings,
    answer_lengths, timing,
  };
}

/** A readable summary of what got through, per population. */
export function renderRedteamSummary(r: RedteamResult): string {
  const rows = Object.entries(r.by_population).sort(([a], [b]) => a.localeCompare(b));
  const head = ['population', 'sent', 'ok', '429', '401/403', 'other 4xx', '5xx', 'transport', 'shaped', 'by verdict', 'deferred', 'output tokens'];
  const body = rows.map(([k, s]) => [k, s.sent, s.ok, s.rate_limited, s.refused, s.other_4xx, s.server_errors, s.transport_errors, s.shaped, r.detector ? s.by_verdict : '-', s.deferred, s.output_tokens].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  const l = r.answer_lengths;
  const lengths = l.answered ? `answers: ${l.output_tokens} output tokens over ${l.answered} answered requests, ${l.simulated_output_tokens} drawn by the traffic model (${(l.output_tokens / Math.max(1, l.simulated_output_tokens)).toFixed(2)} of it)` : 'answers: none';
  return [`redteam against ${r.target}: ${r.requests} requests in ${r.elapsed_s.toFixed(1)}s (x${r.speedup.toFixed(1)} time, stopped by ${r.stopped_by}), ${r.accounts_created} accounts created`, fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt), lengths].join('\n') + '\n';
}

