/**
 * The generator's engine: lanes (one per account, several for high-volume products), sessions
 * (chat conversations, agent traces, evaluation runs, batch jobs, harvest requests), and the
 * time-ordered merge of every lane through a binary heap keyed on each lane's next event time.
 * Memory is proportional to the number of lanes, never to the number of events.
 */
import { answerFingerprint, emptyEnforcement, emptyParams, type EventAccountFacts, type EventMessage, type EventParams, type InteractionEvent } from '../events/index.ts';
import { pickAddressInAsn, type ClientAddress } from './netdata.ts';
import type { PromptCorpus, PromptPool } from './prompts.ts';
import { Rng, hashUniform, seededUlid } from './rng.ts';
import type { Scenario, TaskKind } from './scenario.ts';
import type { SimAccount } from './population.ts';
import { USER_AGENTS } from './population.ts';
import {
  answerToItem, gradingPrompt, verifyPrompt, applyTemplate, assistantStandIn, REVIEW_CRITERIA, reviewPayload, CODING_AGENT_SYSTEM, CODING_AGENT_TOOLS, agentHarnessSystem, agentHarnessTools, fabricatedToolResult, disguise, fillerAnswer, HARVEST_AGENT_TOOLS, homework, paraphrase,
  paraphrasedCot, rewriteItem, rubricItem, toolOutputStandIn, type Template, productSystemPrompt, workingSystemPrompt, workingInLanguage, NEXT_ITEM,
} from './textgen.ts';
import { biasSummary, chosenTokens, sweepMap, VOCABULARY } from './logit.ts';
import { EMBED_DIMS, EMBED_MODEL, embeddingCorpus, simulatedEmbeddings } from './embed.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Time-of-week activity profiles (local time; index = day-of-week * 24 + hour, Monday = 0)

export type ProfileName = 'personal' | 'office' | 'developer' | 'consumer' | 'student' | 'operator' | 'flat';

interface Profile { w: Float64Array; max: number; mean: number }

function makeProfile(fn: (dow: number, hour: number) => number): Profile {
  const w = new Float64Array(168);
  let max = 0, sum = 0;
  for (let d = 0; d < 7; d++) for (let h = 0; h < 24; h++) { const v = fn(d, h); w[d * 24 + h] = v; max = Math.max(max, v); sum += v; }
  return { w, max, mean: sum / 168 };
}

const weekend = (d: number) => d >= 5;
export const PROFILES: Record<ProfileName, Profile> = {
  personal: makeProfile((d, h) => (h < 7 ? (h < 2 ? 0.25 : 0.05) : h < 12 ? 0.35 : h < 18 ? 0.55 : 1) * (weekend(d) ? 1.15 : 1)),
  office: makeProfile((d, h) => (weekend(d) ? 0.05 : h < 7 ? 0.02 : h < 9 ? 0.35 : h < 12 ? 1 : h < 13 ? 0.65 : h < 17 ? 1 : h < 19 ? 0.35 : 0.06)),
  developer: makeProfile((d, h) => (h < 7 ? 0.05 : h < 9 ? 0.35 : h < 18 ? 1 : h < 23 ? 0.5 : 0.15) * (weekend(d) ? 0.35 : 1)),
  consumer: makeProfile((d, h) => (h < 6 ? 0.15 : h < 9 ? 0.45 : h < 17 ? 0.85 : h < 23 ? 1 : 0.4) * (weekend(d) ? 0.9 : 1)),
  // Students: afternoons and evenings, late nights before the Monday deadline, quiet Saturdays.
  student: makeProfile((d, h) => (h < 8 ? (h < 2 ? 0.3 : 0.03) : h < 13 ? 0.4 : h < 18 ? 0.8 : 1) * (d === 5 ? 0.3 : d === 6 ? 1.6 : 1)),
  operator: makeProfile((d, h) => (h >= 9 && h < 23 ? 1 : 0.08) * (weekend(d) ? 0.85 : 1)),
  flat: makeProfile(() => 1),
};

function hourOfWeek(ms: number, tzOffsetH: number): number {
  const local = ms + tzOffsetH * HOUR;
  const day = Math.floor(local / DAY);
  const dow = (((day + 3) % 7) + 7) % 7; // 1970-01-01 was a Thursday
  const hour = Math.floor((local - day * DAY) / HOUR);
  return dow * 24 + hour;
}

function profileFor(a: SimAccount): ProfileName {
  if (a.campaign) {
    const m = a.campaign.config.timing.mode;
    return m === 'operator_hours' ? 'operator' : m === 'human' ? 'personal' : 'flat';
  }
  switch (a.kind) {
    case 'hobbyist': return 'personal';
    case 'developer': return 'developer';
    case 'enterprise': return 'office';
    case 'startup': return a.role === 'product' ? 'consumer' : 'developer';
    case 'agent': return 'consumer';
    case 'researcher': return 'developer';
    case 'education': return 'student';
    default: return 'office';
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

/** One request as planned by a session, before the response is drawn. */
export interface SimRequest {
  model: string;
  stream: boolean;
  system: string | null;
  messages: EventMessage[];
  tools: string[];
  toolChoice: string | null;
  params: EventParams;
  outTokens: number;
  reasoningTokens: number;
  toolCalls: number;
  keyIndex: number;
  userAgent: string;
  /** Retry attempt number (0 for the first try). */
  attempt: number;
  /** An embeddings request (`/v1/embeddings`): each message is one input text. */
  embed?: boolean;
  /**
   * The start of the answer's text, as a later request of the session sends it back (its
   * `answer_fp` is this text's); '' for an answer with no text (a tool call); absent: an answer no
   * request sends back.
   */
  answer?: string;
}

interface Session {
  next(t: number): SimRequest;
  /** Gap to the next request of this session (ms), or null when it is over. */
  gap(lastDurationMs: number): number | null;
}

function msg(role: string, text: string, parts?: Record<string, number>, chars = text.length): EventMessage {
  const m: EventMessage = { role, text, chars };
  if (parts) m.parts = parts;
  return m;
}

function lnTokens(rng: Rng, median: number, sigma: number, min = 1): number {
  return Math.max(min, Math.round(rng.lognormal(median, sigma)));
}

const FOLLOW_UPS = [
  'Thanks! Can you make it shorter?', 'Can you explain the second point in more detail?', 'What about edge cases?', 'Could you give an example?',
  'That did not work, I get an error.', 'Great, now can you add comments?', 'Why?', 'Can you rewrite it in a more casual tone?',
  'ok and what if the input is empty?', 'Perfect, thank you.', 'Can you turn that into a table?', 'Is there a simpler way?',
];

/** Products and internal services that run retrieval over their own documents (by hash). */
const RETRIEVAL_PRODUCT_SHARE = 0.4;
/** Developers who try retrieval over their own documents now and then (by hash). */
const DEVELOPER_EMBEDDER_SHARE = 0.2;
/** Batch accounts that embed their records instead of sending them to a chat model (by hash)... */
const EMBEDDING_BATCH_SHARE = 0.3;
/** ...and, of those, the ones that embed a broad public dataset rather than their own records. */
const BROAD_DATASET_SHARE = 0.15;

// ---------------------------------------------------------------------------------------------
// Lanes

export class Lane {
  nextAt = Infinity;
  session: Session | null = null;
  retry: SimRequest | null = null;
  runIndex = 0;
  /** A logit campaign's position in its sweep (requests sent by this lane). */
  probeCursor = 0;
  /** A grading harvest's item under review, and the criteria it has left. */
  judgeItem: { question: string; candidate: string; n: number } | null = null;
  judgeLeft = 0;
  readonly rng: Rng;
  readonly profile: Profile;
  lastAddress: ClientAddress | null = null;
  homeEpoch = -1;
  homeAddress: ClientAddress | null = null;
  private sessionAddress: ClientAddress | null = null;

  constructor(readonly engine: Engine, readonly account: SimAccount, readonly laneIndex: number, readonly seq: number) {
    this.rng = new Rng(engine.scenario.seed, 'lane', account.key, laneIndex);
    this.profile = PROFILES[profileFor(account)];
  }

  get ratePerDay(): number {
    return this.account.rate / this.account.lanes;
  }

  /** Next session start at or after t (thinning of a Poisson process shaped by the profile). */
  nextArrival(t: number): number {
    const a = this.account;
    if (this.ratePerDay <= 0) return Infinity;
    let cur = Math.max(t, a.activeFromMs);
    if (a.kind === 'batch' && a.group && this.laneIndex === 0 && a.seed % 10 < 6) return this.nextCron(cur);
    if (a.campaign && a.campaign.config.timing.mode === 'waves') return this.nextWave(cur);
    const p = this.profile;
    const lambdaMax = (this.ratePerDay / DAY) * (p.max / p.mean);
    for (let guard = 0; guard < 100_000; guard++) {
      cur += this.rng.exp(1 / lambdaMax);
      if (cur >= a.activeToMs) return Infinity;
      if (this.rng.next() * p.max < p.w[hourOfWeek(cur, a.tzOffsetH)]) return cur;
    }
    return Infinity;
  }

  /** Batch jobs run from cron at a fixed local hour, on a share of days set by the rate. */
  private nextCron(t: number): number {
    const a = this.account;
    const hour = a.group!.cronHour;
    const pDay = Math.min(1, this.ratePerDay);
    let day = Math.floor((t + a.tzOffsetH * HOUR) / DAY);
    for (let i = 0; i < 400; i++, day++) {
      const at = day * DAY + hour * HOUR - a.tzOffsetH * HOUR + Math.floor(hashUniform(a.seed, day, 7) * 90_000);
      if (at < t) continue;
      if (at >= a.activeToMs) return Infinity;
      if (hashUniform(a.seed, day, 3) < pDay) return at;
    }
    return Infinity;
  }

  /** Synchronised waves: a campaign-wide schedule; each account joins a wave by a shared hash. */
  private nextWave(t: number): number {
    const a = this.account;
    const rt = a.campaign!;
    const period = rt.wavePeriodMs;
    const timing = rt.config.timing;
    let k = Math.max(0, Math.floor((t - rt.startMs) / period));
    for (let guard = 0; guard < 1_000_000; k++, guard++) {
      const waveAt = rt.startMs + k * period + Math.floor(hashUniform(rt.seed, k, 1) * period * 0.2);
      if (waveAt >= a.activeToMs) return Infinity;
      const at = waveAt + Math.floor(hashUniform(rt.seed, k, a.index + 11) * timing.wave_jitter_s * 1000);
      if (at < t || at < a.activeFromMs) continue;
      if (hashUniform(rt.seed ^ a.index, k, 5) < timing.participation) return at;
    }
    return Infinity;
  }

  /** The client address for a request. */
  address(t: number, newSession: boolean): ClientAddress {
    const n = this.account.net;
    const rng = this.rng;
    if (n.leak && n.leakShare > 0 && rng.chance(n.leakShare)) return rng.pick(n.leak);
    if (n.pool) return n.pool[rng.int(n.pool.length)];
    if (!newSession && this.sessionAddress) return this.sessionAddress;
    let addr: ClientAddress;
    const u = rng.next();
    if (n.fixed.length && u < n.fixedShare) addr = n.fixed.length === 1 ? n.fixed[0] : rng.pick(n.fixed);
    else if (n.mobileAsn !== null && u < n.fixedShare + n.mobileShare) addr = pickAddressInAsn(n.mobileAsn, rng);
    else if (n.homeAsn !== null) {
      // Home addresses are stable for weeks (DHCP leases), then change.
      const epoch = Math.floor((t + (this.account.seed % 20) * DAY) / (21 * DAY));
      if (epoch !== this.homeEpoch || !this.homeAddress) {
        this.homeEpoch = epoch;
        this.homeAddress = pickAddressInAsn(n.homeAsn, new Rng(this.account.seed, 'home', epoch));
      }
      addr = this.homeAddress;
    } else addr = n.fixed[0];
    this.sessionAddress = addr;
    return addr;
  }
}

// ---------------------------------------------------------------------------------------------
// The engine

export interface EngineOptions {
  prompts: PromptCorpus;
}

export class Engine {
  readonly lanes: Lane[] = [];
  private heap: Lane[] = [];
  emitted = 0;

  constructor(readonly scenario: Scenario, readonly accounts: SimAccount[], readonly opts: EngineOptions) {
    let seq = 0;
    for (const a of accounts) {
      for (let l = 0; l < a.lanes; l++) {
        const lane = new Lane(this, a, l, seq++);
        lane.nextAt = lane.nextArrival(scenario.startMs);
        this.lanes.push(lane);
        if (lane.nextAt < scenario.endMs) this.push(lane);
      }
    }
  }

  private less(a: Lane, b: Lane): boolean {
    return a.nextAt < b.nextAt || (a.nextAt === b.nextAt && a.seq < b.seq);
  }

  private push(l: Lane): void {
    const h = this.heap;
    h.push(l);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Lane | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }

  /** Lanes waiting in the heap (for memory diagnostics). */
  get pending(): number {
    return this.heap.length;
  }

  /** Produce the next event in time order, or null at the end of the window. */
  next(): InteractionEvent | null {
    const max = this.scenario.maxEvents;
    if (max !== null && this.emitted >= max) return null;
    const lane = this.pop();
    if (!lane || lane.nextAt >= this.scenario.endMs) return null;
    const t = lane.nextAt;
    const ev = this.step(lane, t);
    if (lane.nextAt < this.scenario.endMs && lane.nextAt < lane.account.activeToMs + HOUR) this.push(lane);
    this.emitted++;
    return ev;
  }

  *events(): Generator<InteractionEvent> {
    for (let ev = this.next(); ev; ev = this.next()) yield ev;
  }

  private step(lane: Lane, t: number): InteractionEvent {
    let req: SimRequest;
    let newSession = false;
    if (lane.retry) {
      req = lane.retry;
      lane.retry = null;
    } else {
      if (!lane.session) { lane.session = this.newSession(lane, t); newSession = true; }
      req = lane.session.next(t);
    }
    const addr = lane.address(t, newSession);
    const ev = buildEvent(this.scenario, lane, t, req, addr);
    // Schedule this lane's next request.
    const failed = ev.response.status >= 500 && ev.response.status !== 499;
    if (failed && req.attempt < 3 && lane.rng.chance(this.scenario.errors.retry_probability)) {
      lane.retry = { ...req, attempt: req.attempt + 1 };
      lane.nextAt = t + ev.duration_ms + (2 ** req.attempt) * 1000 + lane.rng.next() * 1000;
      return ev;
    }
    const g = lane.session ? lane.session.gap(ev.duration_ms) : null;
    if (g !== null) lane.nextAt = t + g;
    else {
      lane.session = null;
      lane.nextAt = lane.nextArrival(t + ev.duration_ms);
    }
    return ev;
  }

  // -------------------------------------------------------------------------------------------
  // Sessions

  private newSession(lane: Lane, t: number): Session {
    const a = lane.account;
    const rng = lane.rng;
    if (a.campaign) return this.harvestSession(lane, t);
    // Retrieval products (decided by hash, so no other account's random stream changes): some
    // sessions embed a user's question, now and then a job indexes the company's documents.
    if ((a.role === 'product' || a.role === 'service') && hashUniform(a.seed, 59, 0) < RETRIEVAL_PRODUCT_SHARE) {
      const u = hashUniform(a.seed, 61, lane.runIndex++);
      if (u < 0.004) return this.embedJob(lane, t, 'subject');
      if (u < 0.35) return this.queryEmbedding(lane, t);
    }
    switch (a.kind) {
      case 'researcher': return rng.chance(0.8) ? this.evalRun(lane, t) : this.chatSession(lane, t);
      case 'batch': {
        // Some batch accounts embed their records instead (search indexes, deduplication); a few
        // of those embed a broad public dataset.
        const embedder = hashUniform(a.seed, 53, 0);
        if (embedder < EMBEDDING_BATCH_SHARE) return this.embedJob(lane, t, embedder < EMBEDDING_BATCH_SHARE * BROAD_DATASET_SHARE ? 'all' : 'subject');
        return this.batchJob(lane, t);
      }
      case 'agent': return this.agentSession(lane, t, 'product');
      case 'developer':
        // Some developers try retrieval on their own documents now and then: a small index
        // (decided by hash, so every other lane's random stream is as before).
        if (hashUniform(a.seed, 73, 0) < DEVELOPER_EMBEDDER_SHARE && hashUniform(a.seed, 79, lane.runIndex++) < 0.15) return this.embedJob(lane, t, 'subject', 150);
        // A quarter of developers on Chat Completions drive some work through a constrained-decoding
        // library (decided by hash, so every other lane's random stream is as before).
        if (a.client.flavour === 'openai.chat' && hashUniform(a.seed, 43, 0) < 0.25 && hashUniform(a.seed, lane.runIndex++, 29) < 0.3) return this.guidedSession(lane, t);
        return rng.chance(0.18) ? this.agentSession(lane, t, 'coding') : this.chatSession(lane, t);
      case 'startup':
        if (a.role !== 'product' && rng.chance(0.15)) return this.agentSession(lane, t, 'coding');
        return a.role === 'product' && a.group?.tools.length && rng.chance(0.5) ? this.agentSession(lane, t, 'product') : this.chatSession(lane, t);
      case 'enterprise':
        if (a.role === 'service' && a.group?.tools.length && rng.chance(0.5)) return this.agentSession(lane, t, 'product');
        if (a.role !== 'service' && rng.chance(0.08)) return this.agentSession(lane, t, 'coding');
        return this.chatSession(lane, t);
      default: return this.chatSession(lane, t);
    }
  }

  private pool(name: PromptPool, rng: Rng): string {
    const p = this.opts.prompts[name];
    return p[rng.int(p.length)];
  }

  /** Prompt pools people of each kind draw from (behaviour, not file of origin). */
  private organicPool(a: SimAccount, rng: Rng): PromptPool {
    switch (a.kind) {
      case 'developer': return rng.weighted({ code: 0.65, chat: 0.25, math: 0.1 });
      case 'startup': return a.role === 'product' ? rng.weighted({ chat: 0.7, code: 0.15, math: 0.15 }) : rng.weighted({ code: 0.6, chat: 0.3, math: 0.1 });
      case 'enterprise': return rng.weighted({ chat: 0.55, code: 0.35, math: 0.1 });
      case 'education': return rng.weighted({ math: 0.45, code: 0.3, chat: 0.25 });
      case 'agent': return rng.weighted({ chat: 0.75, code: 0.15, math: 0.1 });
      default: return rng.weighted({ chat: 0.72, code: 0.14, math: 0.14 });
    }
  }

  private model(lane: Lane, t: number): string {
    const a = lane.account;
    const rng = lane.rng;
    const sc = this.scenario;
    if (a.campaign) {
      const rt = a.campaign;
      if (rt.pivotModel && rt.pivotAtMs !== null && t >= rt.pivotAtMs && rng.chance(rt.config.pivot!.share)) return rt.pivotModel;
      return a.baseModel;
    }
    // Organic adoption of newer models of the family, after a per-account delay.
    for (const m of sc.models) {
      if (m.released_day === null || m.family !== a.client.family || m.name === a.baseModel) continue;
      const rel = sc.startMs + m.released_day * DAY;
      if (rel > a.createdMs && t >= rel + a.adoptionDelayMs && rng.chance(0.6)) return m.name;
    }
    return a.baseModel;
  }

  private reasoningCapable(model: string): boolean {
    const m = this.scenario.models.find((x) => x.name === model);
    return m ? m.reasoning : false;
  }

  /** Sampling and reasoning parameters, as this kind of client sends them. */
  private params(lane: Lane, model: string, opts: { reasoning?: 'off' | 'maybe' | 'high'; temperature?: number | null; maxTokens?: number | null; json?: boolean } = {}): { params: EventParams; reasoningTokens: (rng: Rng) => number } {
    const a = lane.account;
    const rng = lane.rng;
    const p = emptyParams();
    const anthropic = a.client.family === 'anthropic';
    const g = a.group;
    p.temperature = opts.temperature !== undefined ? opts.temperature : g?.temperature ?? (rng.chance(0.65) ? null : rng.pick([0, 0.2, 0.5, 0.7, 1]));
    const mt = opts.maxTokens !== undefined ? opts.maxTokens : g?.maxTokens ?? null;
    p.max_tokens = anthropic ? (mt ?? rng.pick([1024, 2048, 4096, 4096, 8192])) : mt ?? (rng.chance(0.6) ? null : rng.pick([512, 1024, 2048, 4096]));
    if (opts.json) p.response_format = anthropic ? null : 'json_object';
    const capable = this.reasoningCapable(model);
    let effort: string | null = null;
    const want = opts.reasoning ?? 'maybe';
    if (capable && want !== 'off') {
      if (want === 'high') effort = rng.pick(['high', 'high', 'medium']);
      else if (rng.chance(0.3)) effort = rng.pick(['low', 'medium', 'high', 'minimal']);
    }
    if (anthropic) {
      if (effort && effort !== 'minimal') {
        p.thinking_budget = effort === 'high' ? rng.pick([16000, 24000, 32000]) : effort === 'medium' ? rng.pick([4000, 8000]) : 2048;
        p.max_tokens = Math.max(p.max_tokens ?? 0, p.thinking_budget + rng.pick([4096, 8192]));
        p.temperature = null; // extended thinking requires the default temperature
        p.thinking = 'enabled'; // as the gateway records Anthropic's `thinking.type`
      }
    } else {
      p.reasoning_effort = effort;
    }
    // Tokens spent reasoning: Anthropic only with thinking enabled; OpenAI reasoning models
    // reason by default (medium effort) unless told otherwise.
    const median = !capable ? 0
      : anthropic ? (p.thinking_budget ? (effort === 'high' ? 5000 : effort === 'medium' ? 1800 : 700) : 0)
      : effort === 'high' ? 3500 : effort === 'medium' || effort === null ? 900 : effort === 'low' ? 250 : 40;
    const budget = p.thinking_budget;
    return {
      params: p,
      reasoningTokens: (r: Rng) => {
        if (median === 0) return 0;
        const v = lnTokens(r, median, 0.8, 20);
        return budget ? Math.min(budget, v) : v;
      },
    };
  }

  private stream(lane: Lane, share?: number): boolean {
    return lane.rng.chance(share ?? lane.account.client.streamShare);
  }

  private ua(lane: Lane): string {
    return lane.account.client.userAgent;
  }

  /** A human conversation: turns with think time; history grows. */
  private chatSession(lane: Lane, t0: number, host?: { system: string; turnsMean: number }): Session {
    const a = lane.account;
    const rng = lane.rng;
    const turns = Math.min(30, rng.geometric(host?.turnsMean ?? a.turnsMean));
    const history: EventMessage[] = [];
    const model = this.model(lane, t0);
    const stream = this.stream(lane);
    const keyIndex = rng.int(a.keyIds.length);
    const system = host ? host.system : a.role === 'product' || a.role === 'service' || (a.kind === 'enterprise' && rng.chance(0.4)) ? a.group?.system ?? null : rng.chance(0.1) ? 'You are a helpful assistant.' : null;
    const { params, reasoningTokens } = this.params(lane, model);
    let pool = this.organicPool(a, rng);
    let turn = 0;
    let lastOut = 0;
    let lastAnswer = '';
    const engine = this;
    return {
      next(t: number): SimRequest {
        let text: string;
        if (turn === 0 || rng.chance(0.4)) {
          if (a.kind === 'education' && rng.chance(0.55)) {
            // This week's assignment: every student in the cohort gets the same questions.
            const week = Math.floor((t + 3 * DAY) / (7 * DAY));
            const ar = new Rng(a.group!.seed, 'assignment', week, rng.int(6));
            const coding = ar.chance(0.4);
            const q = engine.pool(coding ? 'code' : 'math', ar);
            text = homework(rng, q, coding);
          } else {
            if (turn > 0 && rng.chance(0.3)) pool = engine.organicPool(a, rng);
            text = engine.pool(pool, rng);
          }
        } else text = rng.pick(FOLLOW_UPS);
        if (turn > 0) {
          // The answer served last turn goes back as it was served; the stand-in drawn here as
          // before keeps the rest of the run the same traffic.
          assistantStandIn(pool, rng);
          history.push(msg('assistant', lastAnswer, undefined, lastOut));
        }
        history.push(msg('user', text));
        const out = pool === 'code' ? lnTokens(rng, 450, 0.8, 20) : pool === 'math' ? lnTokens(rng, 320, 0.6, 20) : lnTokens(rng, 300, 0.9, 5);
        lastOut = out * 4;
        lastAnswer = assistantStandIn(pool, new Rng(a.seed, 'answer', t0, turn));
        turn++;
        return { model, stream, system, messages: history.slice(), tools: [], toolChoice: null, params, outTokens: out, reasoningTokens: reasoningTokens(rng), toolCalls: 0, keyIndex, userAgent: engine.ua(lane), attempt: 0, answer: lastAnswer };
      },
      gap(dur: number): number | null {
        if (turn >= turns) return null;
        return dur + rng.lognormal(35_000, 0.9) + Math.min(300_000, lastOut * 8);
      },
    };
  }

  /** An agent loop: tool definitions, tool calls, tool results, a final answer. */
  private agentSession(lane: Lane, t0: number, mode: 'product' | 'coding' | 'harvest', task?: string): Session {
    const a = lane.account;
    const rng = lane.rng;
    const engine = this;
    const anthropic = a.client.family === 'anthropic';
    const responses = a.client.flavour === 'openai.responses';
    let steps: number;
    let tools: string[];
    let system: string | null;
    let first: string;
    let ua = this.ua(lane);
    if (mode === 'coding') {
      steps = Math.min(80, lnTokens(rng, 10, 0.7, 2));
      tools = CODING_AGENT_TOOLS;
      system = CODING_AGENT_SYSTEM;
      first = rng.chance(0.5) ? this.pool('code', rng) : rng.pick(['The tests in the parser module are failing since the last change, can you fix them?', 'Add input validation to the signup form and write tests for it.', 'Refactor the config loader to support environment variable overrides.', 'Why is the build slow? Investigate and propose a fix.', 'Upgrade the project to the latest version of the HTTP client and fix any breaking changes.']);
      ua = USER_AGENTS.codingAgent[a.seed % USER_AGENTS.codingAgent.length];
    } else if (mode === 'product') {
      steps = Math.min(40, rng.geometric(a.turnsMean));
      tools = a.group?.tools.length ? a.group.tools : ['web_search', 'fetch_url'];
      system = a.group?.system ?? null;
      first = this.pool(this.organicPool(a, rng), rng);
    } else {
      const c = a.campaign!.config;
      steps = rng.intIn(c.trace_turns[0], c.trace_turns[1]);
      tools = HARVEST_AGENT_TOOLS.slice(0, 5 + (a.seed % 5));
      system = campaignSystem(a, a.campaign!.agentSystem);
      first = task ?? this.pool('code', rng);
    }
    const model = this.model(lane, t0);
    const stream = mode === 'harvest' ? this.stream(lane) : this.stream(lane);
    const keyIndex = rng.int(a.keyIds.length);
    const reasoning = mode === 'harvest' ? (rng.chance(a.campaign!.config.params.reasoning_share) ? 'high' : 'off') : mode === 'coding' ? 'high' : 'maybe';
    const { params, reasoningTokens } = this.params(lane, model, {
      reasoning,
      maxTokens: mode === 'harvest' ? a.campaign!.config.params.max_tokens : mode === 'coding' ? 32000 : undefined,
      temperature: mode === 'harvest' ? a.campaign!.config.params.temperature : undefined,
    });
    const history: EventMessage[] = [msg('user', first)];
    let step = 0;
    let lastAnswer = '';
    return {
      next(): SimRequest {
        if (step > 0) {
          const tool = rng.pick(tools);
          if (anthropic) {
            // As served (see chatSession), the stand-in drawn as before.
            assistantStandIn('tool', rng);
            history.push(msg('assistant', lastAnswer, { tool_use: 1 }));
            history.push(msg('user', toolOutputStandIn(tool, rng), { tool_result: 1 }));
          } else {
            if (!responses) history.push(msg('assistant', '', undefined, 0));
            history.push(msg('tool', toolOutputStandIn(tool, rng)));
          }
        }
        step++;
        const final = step >= steps;
        const out = final ? lnTokens(rng, 380, 0.8, 10) : lnTokens(rng, mode === 'harvest' ? 260 : 120, 0.7, 10);
        // A step's answer: a line of text before its tool call (Anthropic), a tool call alone (OpenAI).
        lastAnswer = final ? '' : anthropic ? assistantStandIn('tool', new Rng(a.seed, 'answer', t0, step)) : '';
        return {
          model, stream, system, messages: history.slice(), tools, toolChoice: rng.chance(0.8) ? 'auto' : null, params,
          outTokens: out, reasoningTokens: reasoningTokens(rng), toolCalls: final ? 0 : rng.chance(0.85) ? 1 : 2, keyIndex, userAgent: ua, attempt: 0,
          ...(final ? {} : { answer: lastAnswer }),
        };
      },
      gap(dur: number): number | null {
        if (step >= steps) return null;
        return dur + rng.lognormal(mode === 'coding' ? 2500 : 900, 0.9);
      },
    };
  }

  /** A researcher's evaluation run: one benchmark template over hundreds of questions, in order. */
  private evalRun(lane: Lane, t0: number): Session {
    const a = lane.account;
    const rng = lane.rng;
    const engine = this;
    const g = a.group!;
    const kind = rng.weighted({ math: 0.55, code: 0.25, rubric: 0.1, chat: 0.1 });
    const template = (g.templates[kind as TaskKind] ?? [])[0];
    const items = Math.max(20, Math.round(rng.lognormal(a.turnsMean, 0.7)));
    const poolName: PromptPool = kind === 'rubric' || kind === 'chat' ? 'chat' : kind;
    const pool = this.opts.prompts[poolName];
    // Team members run the same benchmark: the offset comes from the lab, not the person.
    let cursor = Math.floor(hashUniform(g.seed, lane.runIndex++, 9) * pool.length);
    const model = this.model(lane, t0);
    const n = rng.chance(0.15) ? rng.pick([5, 10]) : null;
    const logprobs = rng.chance(0.1);
    const { params, reasoningTokens } = this.params(lane, model, { temperature: rng.chance(0.8) ? 0 : rng.pick([0.6, 0.8, 1]), maxTokens: rng.pick([1024, 2048, 4096]), reasoning: rng.chance(0.5) ? 'off' : 'maybe' });
    if (n && a.client.family === 'openai' && a.client.flavour === 'openai.chat') params.n = n;
    if (logprobs && a.client.flavour === 'openai.chat') { params.logprobs = true; params.top_logprobs = 5; }
    if (rng.chance(0.3)) params.seed = 1234;
    // Multiple-choice scoring: the lab's answer-letter tokens pushed up, one answer token, their
    // log-probabilities read (decided by hash, so the run's random stream is as before).
    const letters = a.client.flavour === 'openai.chat' && hashUniform(g.seed, lane.runIndex, 23) < 0.2 ? chosenTokens(g.seed, 0, 4) : null;
    if (letters) { params.max_tokens = 1; params.logprobs = true; params.top_logprobs = 4; }
    const interval = rng.lognormal(1500, 0.5);
    let done = 0;
    return {
      next(): SimRequest {
        const item = pool[cursor++ % pool.length];
        const text = kind === 'rubric' ? applyTemplate(template, `${item}\n\n[The Start of Assistant's Answer]\n${fillerAnswer(rng)}\n[The End of Assistant's Answer]`) : applyTemplate(template, item);
        done++;
        const out = kind === 'chat' ? lnTokens(rng, 12, 0.6) : kind === 'rubric' ? lnTokens(rng, 180, 0.5) : lnTokens(rng, 280, 0.6, 10);
        const messages = [msg('user', text)];
        return { model, stream: false, system: template.system, messages, tools: [], toolChoice: null, params: letters ? { ...params, logit_bias: biasSummary(letters, template.system, messages) } : params, outTokens: out, reasoningTokens: reasoningTokens(rng), toolCalls: 0, keyIndex: 0, userAgent: engine.ua(lane), attempt: 0 };
      },
      gap(dur: number): number | null {
        if (done >= items) return null;
        return Math.max(50, dur * 0.2 + rng.lognormal(interval, 0.35));
      },
    };
  }

  /** A batch job: one template over thousands of records at a steady, concurrency-limited pace. */
  private batchJob(lane: Lane, t0: number): Session {
    const a = lane.account;
    const rng = lane.rng;
    const engine = this;
    const task = a.group!.batch!;
    const items = Math.max(50, Math.round(rng.lognormal(a.turnsMean, 0.8)));
    const model = this.model(lane, t0);
    const { params, reasoningTokens } = this.params(lane, model, { temperature: 0, maxTokens: task.outTokens > 0 ? 256 : 2048, json: task.json, reasoning: 'off' });
    // Some classification jobs answer with one label token: the labels pushed up, their
    // log-probabilities read as the confidence (decided by hash, so the random stream is as before).
    const labels = task.labels > 0 && a.client.flavour === 'openai.chat' && hashUniform(a.seed, 41, 0) < 0.4 ? chosenTokens(a.seed, 1, task.labels) : null;
    if (labels) { params.max_tokens = 1; params.logprobs = true; params.top_logprobs = task.labels; params.response_format = null; }
    const interval = rng.lognormal(400, 0.4);
    let done = 0;
    return {
      next(): SimRequest {
        const record = engine.pool(rng.chance(0.85) ? 'chat' : 'code', rng);
        done++;
        const out = task.outTokens > 0 ? lnTokens(rng, task.outTokens, 0.3) : Math.max(5, Math.round(record.length / 3.6));
        const messages = [msg('user', applyTemplate(task.template, record))];
        return { model, stream: false, system: task.template.system, messages, tools: [], toolChoice: null, params: labels ? { ...params, logit_bias: biasSummary(labels, task.template.system, messages) } : params, outTokens: out, reasoningTokens: reasoningTokens(rng), toolCalls: 0, keyIndex: 0, userAgent: engine.ua(lane), attempt: 0 };
      },
      gap(dur: number): number | null {
        if (done >= items) return null;
        return Math.max(20, rng.lognormal(interval, 0.25) + dur * 0.05);
      },
    };
  }

  /**
   * Client-side constrained decoding (a library that makes the model pick among options, one token
   * at a time): at each step the options' next tokens are pushed up, the answer is one token, and
   * the prompt grows by what was chosen.
   */
  private guidedSession(lane: Lane, t0: number): Session {
    const a = lane.account;
    const rng = lane.rng;
    const engine = this;
    const model = this.model(lane, t0);
    const steps = rng.intIn(6, 30);
    const { params } = this.params(lane, model, { reasoning: 'off', temperature: 0, maxTokens: 1 });
    if (rng.chance(0.3)) { params.logprobs = true; params.top_logprobs = 2; }
    let prompt = `${this.pool(this.organicPool(a, rng), rng)}\n\nFill in the answer form below.\nAnswer:`;
    const form = rng.u32();
    let step = 0;
    return {
      next(): SimRequest {
        const messages = [msg('user', prompt)];
        const options = chosenTokens(form, step, 2 + rng.int(5));
        step++;
        prompt += rng.pick([' yes', ' no', ' 3', ' high', ' low', ' "name":', ',', ' true', ' false', ' 2024']);
        return {
          model, stream: false, system: null, messages, tools: [], toolChoice: null, params: { ...params, logit_bias: biasSummary(options, null, messages) },
          outTokens: 1, reasoningTokens: 0, toolCalls: 0, keyIndex: 0, userAgent: engine.ua(lane), attempt: 0,
        };
      },
      gap(dur: number): number | null {
        return step >= steps ? null : dur + rng.lognormal(150, 0.5);
      },
    };
  }

  /** One embeddings request: `texts` as the inputs. */
  private embedRequest(lane: Lane, texts: string[]): SimRequest {
    // The gateway records no generation parameters for embeddings.
    return {
      model: EMBED_MODEL, stream: false, system: null, messages: texts.map((x) => msg('user', x)), tools: [], toolChoice: null,
      params: emptyParams(),
      outTokens: 0, reasoningTokens: 0, toolCalls: 0, keyIndex: 0, userAgent: this.ua(lane), attempt: 0, embed: true,
    };
  }

  /** The subject an account embeds: its own (by hash), or by its index for a campaign split by subject. */
  private subjectTexts(a: SimAccount): string[] {
    const { subjects } = embeddingCorpus(this.opts.prompts);
    const k = a.campaign ? a.index : Math.floor(hashUniform(a.seed, 67, 0) * subjects.length);
    return subjects[k % subjects.length].texts;
  }

  /** A retrieval product embeds one user question before searching its index. */
  private queryEmbedding(lane: Lane, t0: number): Session {
    const engine = this;
    let done = false;
    const rng = lane.rng;
    return {
      next(): SimRequest { done = true; return engine.embedRequest(lane, [engine.pool(engine.organicPool(lane.account, rng), rng)]); },
      gap(): number | null { return done ? null : 0; },
    };
  }

  /** An indexing job: a corpus embedded a batch of texts at a time, at a steady pace. */
  private embedJob(lane: Lane, t0: number, source: 'subject' | 'all', itemsMedian = 1500): Session {
    const a = lane.account;
    const rng = lane.rng;
    const engine = this;
    const texts = source === 'all' ? embeddingCorpus(this.opts.prompts).all : this.subjectTexts(a);
    const perRequest = [16, 32, 64, 96][Math.floor(hashUniform(a.seed, 71, 0) * 4)];
    const items = Math.max(20, Math.round(rng.lognormal(a.kind === 'batch' ? a.turnsMean : itemsMedian, 0.8)));
    const interval = rng.lognormal(300, 0.4);
    let done = 0;
    return {
      next(): SimRequest {
        const batch: string[] = [];
        for (let k = 0; k < perRequest && done < items; k++, done++) batch.push(texts[rng.int(texts.length)]);
        return engine.embedRequest(lane, batch);
      },
      gap(dur: number): number | null {
        if (done >= items) return null;
        return Math.max(20, rng.lognormal(interval, 0.25) + dur * 0.05);
      },
    };
  }

  /** One request of an embedding harvest: the campaign's batch of texts from the whole corpus, or from the account's subject. */
  private embedHarvest(lane: Lane): SimRequest {
    const c = lane.account.campaign!.config;
    const texts = c.embed.partition === 'subject' ? this.subjectTexts(lane.account) : embeddingCorpus(this.opts.prompts).all;
    const batch: string[] = [];
    for (let k = 0; k < c.embed.inputs; k++) batch.push(texts[lane.rng.int(texts.length)]);
    return this.embedRequest(lane, batch);
  }

  /**
   * One request of a logit extraction: the campaign's prompts in turn, each time with the next few
   * tokens of this account's stretch of the vocabulary pushed up, a one-token answer and (unless
   * the campaign reads none) the top log-probabilities.
   */
  private logitProbe(lane: Lane, t: number): SimRequest {
    const a = lane.account;
    const rt = a.campaign!;
    const c = rt.config;
    const cursor = lane.probeCursor++;
    const chat = this.opts.prompts.chat;
    const text = chat[Math.floor(hashUniform(rt.seed, 31, cursor % c.logit.prompts) * chat.length)];
    const start = Math.floor(hashUniform(rt.seed, 37, a.index) * VOCABULARY) + Math.floor(cursor / c.logit.prompts) * c.logit.tokens_per_map;
    const model = this.model(lane, t);
    const { params } = this.params(lane, model, { reasoning: 'off', temperature: c.params.temperature, maxTokens: 1 });
    if (c.logit.logprobs) { params.logprobs = true; params.top_logprobs = Math.min(20, c.logit.tokens_per_map); }
    const messages = [msg('user', text)];
    params.logit_bias = biasSummary(sweepMap(start, c.logit.tokens_per_map), null, messages);
    return { model, stream: false, system: null, messages, tools: [], toolChoice: null, params, outTokens: 1, reasoningTokens: 0, toolCalls: 0, keyIndex: 0, userAgent: this.ua(lane), attempt: 0 };
  }

  /**
   * One request of a grading harvest: the item under review (a question from the prompt sets and a
   * candidate reply) on its next criterion, as a JSON payload, the critique taken back through the
   * required `submit_review` tool.
   */
  private judgeHarvest(lane: Lane, t: number): SimRequest {
    const a = lane.account;
    const rt = a.campaign!;
    const c = rt.config;
    const rng = lane.rng;
    if (lane.judgeLeft <= 0 || !lane.judgeItem) {
      const question = this.pool(rng.weighted({ chat: 0.5, code: 0.25, math: 0.25 }), rng);
      let candidate = '';
      for (let k = 0, parts = rng.intIn(2, 4); k < parts; k++) candidate += (k ? '\n\n' : '') + fillerAnswer(rng);
      lane.judgeItem = { question, candidate, n: lane.probeCursor++ };
      lane.judgeLeft = c.judge.criteria;
    }
    const item = lane.judgeItem;
    const criterion = REVIEW_CRITERIA[(hashUniform(rt.seed, 41, item.n) * REVIEW_CRITERIA.length + c.judge.criteria - lane.judgeLeft) % REVIEW_CRITERIA.length | 0];
    lane.judgeLeft--;
    const model = this.model(lane, t);
    const { params, reasoningTokens } = this.params(lane, model, { reasoning: rng.chance(c.params.reasoning_share) ? 'high' : 'off', temperature: c.params.temperature, maxTokens: c.params.max_tokens, json: true });
    const system = campaignSystem(a, rt.judgeSystem);
    const text = reviewPayload(item.question, item.candidate, criterion, item.n);
    const out = lnTokens(rng, 380, 0.5, 40);
    return {
      model, stream: this.stream(lane), system, messages: [msg('user', text)], tools: ['submit_review'], toolChoice: 'required', params,
      outTokens: Math.min(out, params.max_tokens ?? Infinity), reasoningTokens: reasoningTokens(rng), toolCalls: 1, keyIndex: 0, userAgent: this.ua(lane), attempt: 0,
    };
  }

  /** Items the asking accounts of a question/verify split were served, oldest first, by campaign id (dress `split`). */
  private answered = new Map<string, Array<{ q: string; start: string; rest: string }>>();

  /**
   * One request of a dressed harvest with `grade` or `split` (red-team strategies): a maths or
   * coding item from the prompt sets graded against the account's own rubric prompt (a score back,
   * no reasoning); or, in a split, sent bare by an asking account (its answer kept for the
   * verifying ones), or checked by a verifying account with the answer an asking account was served
   * pasted in (an answer from elsewhere while none is waiting).
   */
  private dressedItem(lane: Lane, t: number): SimRequest {
    const a = lane.account;
    const c = a.campaign!.config;
    const rng = lane.rng;
    const model = this.model(lane, t);
    const task: 'math' | 'code' = rng.chance(c.mix.code / Math.max(1e-9, c.mix.code + c.mix.math + c.mix.cot)) ? 'code' : 'math';
    const raw = this.pool(task, rng);
    const q = rng.chance(c.paraphrase) ? paraphrase(raw, rng) : raw;
    const { params } = this.params(lane, model, { reasoning: 'off', temperature: c.params.temperature, maxTokens: c.params.max_tokens });
    const base = { model, stream: this.stream(lane), system: null, tools: [] as string[], toolChoice: null, params, reasoningTokens: 0, toolCalls: 0, keyIndex: 0, userAgent: this.ua(lane), attempt: 0 };
    if (c.dress.pairs) return this.pairedItem(lane, base, q, task);
    if (c.dress.grade) {
      const cand = answerToItem(q, task, rng);
      const text = gradingPrompt(new Rng(a.seed, 'grading-prompt'))(q, cand.start + cand.rest);
      return { ...base, messages: [msg('user', text)], outTokens: lnTokens(rng, 40, 0.6, 3) };
    }
    let queue = this.answered.get(c.id);
    if (!queue) this.answered.set(c.id, (queue = []));
    if (Math.floor((a.index + 1) * c.dress.split) > Math.floor(a.index * c.dress.split)) {
      const item = queue.shift() ?? { q, ...answerToItem(q, task, rng) };
      const text = verifyPrompt(new Rng(a.seed, 'verify-prompt'))(item.q, item.start + item.rest);
      return { ...base, messages: [msg('user', text)], outTokens: lnTokens(rng, 250, 0.6, 20) };
    }
    const ans = answerToItem(q, task, rng);
    if (queue.length < 10_000) queue.push({ q, ...ans });
    const out = task === 'code' ? lnTokens(rng, 900, 0.6, 50) : lnTokens(rng, 600, 0.6, 30);
    return { ...base, messages: [msg('user', q)], outTokens: Math.min(out, params.max_tokens ?? Infinity), answer: ans.start + ans.rest };
  }

  /** Items asked once by a preference-pair harvest, waiting for their second asking, oldest first, by campaign id (dress `pairs`). */
  private unpaired = new Map<string, Array<{ q: string; task: 'math' | 'code'; by: number }>>();

  /**
   * One request of a preference-pair harvest (dress `pairs`): half the time the oldest item another
   * of the campaign's accounts asked, word for word, at a high temperature (the second answer of
   * the pair); otherwise a new item at a low one, left for a sibling to ask again. One answer
   * each (n = 1), nothing asked of the working.
   */
  private pairedItem(lane: Lane, base: Omit<SimRequest, 'messages' | 'outTokens'>, fresh: string, freshTask: 'math' | 'code'): SimRequest {
    const a = lane.account;
    const c = a.campaign!.config;
    const rng = lane.rng;
    let queue = this.unpaired.get(c.id);
    if (!queue) this.unpaired.set(c.id, (queue = []));
    let item: { q: string; task: 'math' | 'code'; by: number } | null = null;
    if (rng.chance(0.5)) {
      const k = queue.findIndex((x) => x.by !== a.index);
      if (k >= 0) item = queue.splice(k, 1)[0];
    }
    const second = item !== null;
    if (!item) {
      item = { q: fresh, task: freshTask, by: a.index };
      if (queue.length < 10_000) queue.push(item);
    }
    const params = { ...base.params, temperature: second ? rng.pick([0.9, 1, 1.1, 1.2]) : rng.pick([0, 0.2, 0.3]) };
    const ans = answerToItem(item.q, item.task, rng);
    const out = item.task === 'code' ? lnTokens(rng, 900, 0.6, 50) : lnTokens(rng, 600, 0.6, 30);
    return { ...base, params, messages: [msg('user', item.q)], outTokens: Math.min(out, params.max_tokens ?? Infinity), answer: ans.start + ans.rest };
  }

  /**
   * An agentic trajectory harvest (dress `agent`): a maths or coding item from the prompt sets handed
   * to a tool-using agent under a system prompt and a tool set of the account's own, 3 to 9 steps,
   * each step's tool result fabricated by the harvester (no tool runs), the model's tool-call
   * decisions taken back; the last step the answer.
   */
  private agentHarvest(lane: Lane, t0: number): Session {
    const a = lane.account;
    const c = a.campaign!.config;
    const rng = lane.rng;
    const engine = this;
    const anthropic = a.client.family === 'anthropic';
    const responses = a.client.flavour === 'openai.responses';
    const task: 'math' | 'code' = rng.chance(c.mix.code / Math.max(1e-9, c.mix.code + c.mix.math + c.mix.cot)) ? 'code' : 'math';
    const raw = this.pool(task, rng);
    const item = rng.chance(c.paraphrase) ? paraphrase(raw, rng) : raw;
    const system = agentHarnessSystem(new Rng(a.seed, 'agent-harness'));
    const tools = agentHarnessTools(new Rng(a.seed, 'agent-tools', task), task);
    const steps = rng.intIn(3, 9);
    const model = this.model(lane, t0);
    const stream = this.stream(lane);
    const { params, reasoningTokens } = this.params(lane, model, { reasoning: rng.chance(c.params.reasoning_share) ? 'high' : 'off', maxTokens: c.params.max_tokens, temperature: c.params.temperature });
    // The harness's own client settings, as an organic agent's vary: whether it names a tool choice
    // (some SDKs leave it unset), and whether the model may call tools in parallel (unless its
    // system prompt says one at a time). Decided apart from the trajectory's random stream.
    const toolChoice = new Rng(a.seed, 'agent-client').chance(0.2) ? null : 'auto';
    const oneAtATime = system?.includes('one tool at a time') ?? false;
    const history: EventMessage[] = [msg('user', item)];
    let step = 0;
    let lastAnswer = '';
    let calls = 1;
    return {
      next(): SimRequest {
        if (step > 0) {
          const results = Array.from({ length: calls }, () => fabricatedToolResult(rng.pick(tools), task, rng));
          if (anthropic) {
            history.push(msg('assistant', lastAnswer, { tool_use: calls }));
            history.push(msg('user', results.join('\n\n'), { tool_result: calls }));
          } else {
            if (!responses) history.push(msg('assistant', '', undefined, 0));
            for (const result of results) history.push(msg('tool', result));
          }
        }
        step++;
        const final = step >= steps;
        const out = final ? lnTokens(rng, 450, 0.7, 20) : lnTokens(rng, 180, 0.7, 10);
        lastAnswer = final ? '' : anthropic ? assistantStandIn('tool', new Rng(a.seed, 'answer', t0, step)) : '';
        calls = final || oneAtATime || hashUniform(a.seed, t0, step) < 0.85 ? 1 : 2;
        return {
          model, stream, system, messages: history.slice(), tools, toolChoice, params,
          outTokens: Math.min(out, params.max_tokens ?? Infinity), reasoningTokens: reasoningTokens(rng), toolCalls: final ? 0 : calls, keyIndex: 0, userAgent: engine.ua(lane), attempt: 0,
          ...(final ? {} : { answer: lastAnswer }),
        };
      },
      gap(dur: number): number | null {
        if (step >= steps) return null;
        // The simulator answers at once: the next step follows the last one's end within seconds.
        return dur + rng.lognormal(1200, 0.7);
      },
    };
  }

  /** What a campaign asks for in one request: task kind, text, system prompt. */
  campaignPrompt(lane: Lane, task: TaskKind): { text: string; system: string | null; out: number } {
    const p = this.campaignPromptPlain(lane, task);
    const c = lane.account.campaign!.config;
    // Only drawn when the campaign disguises at all, so other campaigns' random streams are unchanged.
    if (c.disguise > 0 && lane.rng.chance(c.disguise)) p.text = disguise(p.text, lane.rng);
    p.system = campaignSystem(lane.account, p.system);
    return p;
  }

  private campaignPromptPlain(lane: Lane, task: TaskKind): { text: string; system: string | null; out: number } {
    const a = lane.account;
    const rt = a.campaign!;
    const c = rt.config;
    const rng = lane.rng;
    const tpl = (k: TaskKind): Template | null => (c.templates > 0 && !c.as_written && rt.templates[k].length ? rt.templates[k][rng.int(rt.templates[k].length)] : null);
    const para = (s: string) => (rng.chance(c.paraphrase) ? paraphrase(s, rng) : s);
    const d = c.dress;
    if ((d.elicit === 'system' || d.languages.length > 0 || d.cover > 0) && (task === 'cot' || task === 'math' || task === 'code')) {
      // A dressed harvest: the item paraphrased, the working asked for where the strategy puts it.
      const q = para(this.pool(task === 'code' ? 'code' : task === 'math' || rng.chance(0.7) ? 'math' : 'code', rng));
      const out = task === 'code' ? lnTokens(rng, 900, 0.6, 50) : lnTokens(rng, 600, 0.6, 30);
      const host = d.cover > 0 ? hostSystem(a) : null;
      if (d.elicit === 'system') return { text: q, system: host ? `${host}\n${workingSystemPrompt(new Rng(a.seed, 'working-system'))}` : workingSystemPrompt(new Rng(a.seed, 'working-system')), out };
      if (d.languages.length > 0) return { text: workingInLanguage(q, d.languages, rng), system: host ?? rt.system, out };
      return { text: paraphrasedCot(q, rng), system: host, out };
    }
    switch (task) {
      case 'cot': case 'math': {
        const q = para(this.pool(task === 'math' || rng.chance(0.7) ? 'math' : rng.chance(0.5) ? 'code' : 'chat', rng));
        const t = tpl(task);
        return { text: t ? applyTemplate(t, q) : c.as_written ? q : paraphrasedCot(q, rng), system: t?.system ?? rt.system, out: lnTokens(rng, 600, 0.6, 30) };
      }
      case 'code': {
        const q = para(this.pool('code', rng));
        const t = tpl('code');
        return { text: t ? applyTemplate(t, q) : q, system: t?.system ?? rt.system, out: lnTokens(rng, 900, 0.6, 50) };
      }
      case 'rubric': {
        const t = tpl('rubric') ?? rt.templates.rubric[0];
        return { text: applyTemplate(t, rubricItem(para(this.pool('chat', rng)), fillerAnswer(rng))), system: t.system, out: lnTokens(rng, 450, 0.5, 30) };
      }
      case 'rewrite': {
        const t = tpl('rewrite') ?? rt.templates.rewrite[0];
        return { text: rewriteItem(t, rng, fillerAnswer(rng)), system: t.system, out: lnTokens(rng, 500, 0.5, 30) };
      }
      default:
        return { text: para(this.pool(rng.chance(0.8) ? 'chat' : 'code', rng)), system: null, out: lnTokens(rng, 300, 0.9, 5) };
    }
  }

  /**
   * A harvest shaped as a conversation: every turn a new item (its working asked for as the
   * campaign's dress says), the answers served before it sent back as history.
   */
  private harvestConversation(lane: Lane, t0: number, pickTask: () => TaskKind): Session {
    const a = lane.account;
    const c = a.campaign!.config;
    const rng = lane.rng;
    const engine = this;
    const turns = rng.intIn(c.dress.conversation[0], c.dress.conversation[1]);
    const model = this.model(lane, t0);
    const stream = this.stream(lane);
    const { params, reasoningTokens } = this.params(lane, model, { reasoning: rng.chance(c.params.reasoning_share) ? 'high' : 'off', maxTokens: c.params.max_tokens, temperature: c.params.temperature });
    const history: EventMessage[] = [];
    let system: string | null = null;
    let turn = 0;
    let lastOut = 0;
    let lastAnswer = '';
    return {
      next(): SimRequest {
        const task = pickTask();
        const p = engine.campaignPrompt(lane, task === 'agentic' ? 'code' : task);
        if (turn === 0) system = p.system;
        else history.push(msg('assistant', lastAnswer, undefined, lastOut));
        const lead = turn > 0 ? rng.pick(NEXT_ITEM) : '';
        history.push(msg('user', lead ? `${lead}\n${p.text}` : p.text));
        const out = Math.min(p.out, params.max_tokens ?? Infinity);
        lastOut = out * 4;
        lastAnswer = assistantStandIn(task === 'code' ? 'code' : task === 'chat' ? 'chat' : 'math', new Rng(a.seed, 'answer', t0, turn));
        turn++;
        return {
          model, stream, system, messages: history.slice(), tools: [], toolChoice: null, params,
          outTokens: out, reasoningTokens: reasoningTokens(rng), toolCalls: 0, keyIndex: 0, userAgent: engine.ua(lane), attempt: 0, answer: lastAnswer,
        };
      },
      gap(dur: number): number | null {
        if (turn >= turns) return null;
        return dur + rng.lognormal(40_000, 0.8);
      },
    };
  }

  /** One harvest arrival: a single request, a wave burst, an agentic trace, or a human-like session. */
  private harvestSession(lane: Lane, t0: number): Session {
    const a = lane.account;
    const rt = a.campaign!;
    const c = rt.config;
    const rng = lane.rng;
    const engine = this;
    const pickTask = (): TaskKind => (rng.chance(c.organic_mix) ? 'chat' : rng.weighted(c.mix));
    // Accounts bought with an application's traffic: most sessions are its own users'.
    if (c.dress.cover > 0 && hashUniform(a.seed, 89, lane.runIndex++) < c.dress.cover) return this.chatSession(lane, t0, { system: hostSystem(a), turnsMean: 3 });
    if (c.dress.conversation[1] > 1) return this.harvestConversation(lane, t0, pickTask);
    if (c.dress.agent && !rng.chance(c.organic_mix)) return this.agentHarvest(lane, t0);
    const first = pickTask();
    if (first === 'agentic') return this.agentSession(lane, t0, 'harvest', this.campaignPrompt(lane, 'code').text);
    const burst = c.timing.mode === 'human' ? Math.max(1, rng.geometric(c.timing.burst)) : c.timing.mode === 'waves' ? c.timing.burst : 1;
    let done = 0;
    return {
      next(t: number): SimRequest {
        if (c.logit.share >= 1 || (c.logit.share > 0 && rng.chance(c.logit.share))) { done++; return engine.logitProbe(lane, t); }
        if (c.embed.share >= 1 || (c.embed.share > 0 && rng.chance(c.embed.share))) { done++; return engine.embedHarvest(lane); }
        // An item under review is graded on all its criteria before anything else.
        if (c.judge.share > 0 && (lane.judgeLeft > 0 || rng.chance(c.judge.share))) { done++; return engine.judgeHarvest(lane, t); }
        // Graded items, or the two halves of a question/verify split (red-team dress).
        // (as often as a campaign's own chats: `organic_mix`).
        const dressed = c.dress.grade || c.dress.split > 0 || c.dress.pairs;
        const dressedChat = dressed && rng.chance(c.organic_mix);
        if (dressed && !dressedChat) { done++; return engine.dressedItem(lane, t); }
        const task = dressedChat ? 'chat' : done === 0 ? first : pickTask();
        const model = engine.model(lane, t);
        const p = engine.campaignPrompt(lane, task === 'agentic' ? 'code' : task);
        const organicLooking = task === 'chat' && c.adaptive;
        const { params, reasoningTokens } = engine.params(lane, model, {
          reasoning: organicLooking ? 'maybe' : rng.chance(c.params.reasoning_share) ? 'high' : 'off',
          maxTokens: organicLooking ? undefined : c.params.max_tokens,
          temperature: organicLooking ? undefined : c.params.temperature,
        });
        if (a.client.flavour !== 'anthropic.messages') {
          if (rng.chance(c.params.logprobs_share)) { params.logprobs = a.client.flavour === 'openai.chat' ? true : null; params.top_logprobs = 20; }
          if (a.client.flavour === 'openai.chat' && rng.chance(c.params.n_gt1_share)) params.n = 4;
        }
        done++;
        return {
          model, stream: engine.stream(lane), system: p.system, messages: [msg('user', p.text)], tools: [], toolChoice: null, params,
          outTokens: Math.min(p.out, params.max_tokens ?? Infinity), reasoningTokens: reasoningTokens(rng), toolCalls: 0, keyIndex: 0, userAgent: engine.ua(lane), attempt: 0,
        };
      },
      gap(dur: number): number | null {
        if (done >= burst) return null;
        return c.timing.mode === 'human' ? dur + rng.lognormal(40_000, 0.8) : dur + rng.lognormal(1500, 0.5);
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Events

/** The account's facts, its first use recorded at its first request (as the gateway does). */
function firstUse(facts: EventAccountFacts, t: number): EventAccountFacts {
  if (!facts.first_used_at) facts.first_used_at = new Date(t).toISOString();
  return facts;
}

/** The system prompt of the application an account was bought with (its own, by its seed). */
function hostSystem(a: SimAccount): string {
  return productSystemPrompt(new Rng(a.seed, 'host-application')).system;
}

/** A campaign account's system prompt under its campaign's `system_prompt` setting. */
function campaignSystem(a: SimAccount, system: string | null): string | null {
  const mode = a.campaign!.config.system_prompt;
  if (system === null || mode === 'shared') return system;
  if (mode === 'none') return null;
  // Each account its own line: a reference number, as a client that labels its sessions would add.
  return `${system}\nSession reference: ${a.id.slice(-8)}.`;
}

const ERROR_BY_STATUS: Record<number, string> = { 400: 'WARDEN_INVALID_REQUEST', 499: 'WARDEN_CLIENT_DISCONNECTED', 502: 'WARDEN_UPSTREAM_ERROR', 504: 'WARDEN_UPSTREAM_TIMEOUT' };

function requestBytes(req: SimRequest): number {
  let b = 120 + (req.system ? req.system.length + 40 : 0) + req.tools.length * 220;
  for (const m of req.messages) b += m.chars + 40 + (m.parts ? 60 : 0);
  return b;
}

function inputTokens(req: SimRequest): number {
  let chars = req.system ? req.system.length : 0;
  for (const m of req.messages) chars += m.chars;
  return Math.max(1, Math.round(chars / 3.8) + req.messages.length * 4 + req.tools.length * 140 + 8);
}

/** Turn a planned request into an interaction event, drawing the response outcome. */
export function buildEvent(sc: Scenario, lane: Lane, t: number, req: SimRequest, addr: ClientAddress): InteractionEvent {
  const a = lane.account;
  const rng = lane.rng;
  const anthropic = a.client.family === 'anthropic';
  let status = 200;
  const u = rng.next();
  const e = sc.errors;
  if (u < e.invalid_request_rate) status = 400;
  else if (u < e.invalid_request_rate + e.upstream_error_rate) status = rng.chance(0.8) ? 502 : 504;
  else if (req.stream && u < e.invalid_request_rate + e.upstream_error_rate + e.disconnect_rate) status = 499;
  let out = req.outTokens;
  let reasoning = req.reasoningTokens;
  let finish: string | null;
  const maxTok = req.params.max_tokens;
  // max_tokens bounds reasoning and answer together (Anthropic's max_tokens over its thinking
  // budget, OpenAI's max_completion_tokens): the model reasons first, the answer is cut.
  if (maxTok !== null && out + reasoning > maxTok) {
    reasoning = Math.min(reasoning, maxTok);
    out = Math.max(anthropic ? 1 : 0, maxTok - reasoning);
    finish = anthropic ? 'max_tokens' : 'length';
  } else if (req.toolCalls > 0) finish = anthropic ? 'tool_use' : 'tool_calls';
  else finish = anthropic ? 'end_turn' : 'stop';
  const n = req.params.n ?? 1;
  let toolCalls = req.toolCalls;
  if (status !== 200) {
    if (status === 499) { out = Math.floor(out * rng.next()); reasoning = Math.floor(reasoning * rng.next()); }
    else { out = 0; reasoning = 0; }
    finish = null;
    toolCalls = 0;
  }
  if (req.embed) { out = 0; reasoning = 0; finish = null; toolCalls = 0; if (status === 499) status = 200; }
  const inTok = status === 400 ? 0 : inputTokens(req);
  const tokRate = rng.range(45, 140);
  const ttfb = req.embed ? rng.lognormal(150 + req.messages.length * 4, 0.4) : status === 400 ? rng.range(80, 300) : rng.lognormal(req.stream ? 450 : 700, 0.4) + (req.stream ? 0 : ((reasoning + out * n) / tokRate) * 1000);
  const duration = status === 504 ? 60_000 + rng.next() * 1000 : status >= 400 && status !== 499 ? ttfb : ttfb + (req.stream ? ((reasoning + out * n) / tokRate) * 1000 : rng.range(5, 40));
  const id = seededUlid(t, rng);
  // The gateway fingerprints the text it served (one choice): the session's own, else text no later request sends back.
  const answerFp = out > 0 && n === 1 && !req.embed ? answerFingerprint(req.answer ?? `answer ${id}`) : null;
  return {
    schema: 'warden.interaction/1',
    id,
    ts: new Date(t).toISOString(),
    duration_ms: Math.round(duration),
    flavour: req.embed ? 'openai.embeddings' : a.client.flavour,
    model: req.model,
    upstream: anthropic && !req.embed ? 'anthropic' : 'openai',
    account_id: a.id,
    org_id: a.orgId,
    key_id: a.keyIds[req.keyIndex] ?? a.keyIds[0],
    client: { ip: addr.ip, user_agent: req.userAgent, country: addr.country, asn: addr.asn },
    request: {
      stream: req.stream,
      system: req.system,
      messages: req.messages,
      tools: req.tools,
      tool_choice: req.tools.length ? req.toolChoice : null,
      params: req.params,
      bytes: requestBytes(req),
    },
    response: {
      status,
      error_code: status === 200 ? null : ERROR_BY_STATUS[status] ?? 'WARDEN_INTERNAL',
      input_tokens: inTok,
      output_tokens: (out + reasoning) * n, // usage counts reasoning in the output (the event contract)
      reasoning_tokens: reasoning * n,
      usage_source: status === 200 || status === 499 ? 'upstream' : 'none',
      tool_calls: toolCalls,
      finish_reason: finish,
      ttfb_ms: status === 504 ? null : Math.round(ttfb),
      output_chars: Math.round(out * n * 3.9),
      reasoning_chars: anthropic || reasoning === 0 ? Math.round(reasoning * n * 3.9) : 0,
      ...(answerFp !== null ? { answer_fp: answerFp } : {}),
      ...(req.embed && status === 200 ? { embeddings: simulatedEmbeddings(req.messages.map((m) => m.text ?? ''), EMBED_DIMS) } : {}),
    },
    account: firstUse(a.facts, t),
    enforcement: emptyEnforcement(),
  };
}
