/**
 * Small labelled scenarios for the detector's tests and benchmark: organic populations with the
 * hard negatives (eval suites, batch jobs, agent products, enterprises behind one NAT, classes
 * that sign up together) and campaigns (hydra, surgical, agentic, adaptive), built from a prompt
 * pool. Deterministic for a seed. The full traffic model lives in src/traffic; this is a compact
 * stand-in so the detector can be tested without it.
 */
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';

export interface PromptPool { organic: string[]; code: string[]; maths: string[] }

export type OrganicKind = 'hobbyist' | 'startup' | 'enterprise' | 'researcher' | 'batch' | 'agent' | 'class';
export type CampaignKind = 'hydra' | 'surgical' | 'agentic' | 'adaptive';

export interface ScenarioSpec {
  seed?: number;
  /** Days of traffic. */
  days?: number;
  start?: string;
  organic?: Partial<Record<OrganicKind, number>>;
  campaigns?: Array<{ kind: CampaignKind; accounts: number; requestsPerAccountPerDay?: number }>;
}

export interface ScenarioLabels {
  /** account id -> 'organic:<kind>' or 'campaign:<id>' */
  accounts: Record<string, string>;
  campaigns: Record<string, { kind: CampaignKind; adaptive: boolean; accounts: string[] }>;
}

class Rand {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0 || 1; }
  next(): number {
    let t = (this.s += 0x6d2b79f5) >>> 0;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
  chance(p: number): boolean { return this.next() < p; }
  /** Exponential with the given mean. */
  exp(mean: number): number { return -Math.log(1 - this.next()) * mean; }
}

const UAS = ['openai-python/1.54.3', 'openai-node/4.71.0', 'anthropic-sdk-python/0.39.0', 'Mozilla/5.0 (Macintosh) Chrome/131', 'curl/8.5.0', 'LangChain/0.3', 'Mozilla/5.0 (Windows NT 10.0) Firefox/133'];
const DAY = 86_400_000;

interface Actor {
  id: string; org: string | null; tier: InteractionEvent['account'] extends infer A ? A extends { tier: infer T } ? T : never : never;
  programme: 'none' | 'education' | 'research' | 'startup';
  email: string | null; payment: string | null; signupIp: string; created: number;
  ip: () => string; ua: string; asn: number; system: string | null; tools: string[];
  label: string;
}

/** Build a scenario: events sorted by time, and the labels (never inside the events). */
export function buildLabelledEvents(pool: PromptPool, spec: ScenarioSpec = {}): { events: InteractionEvent[]; labels: ScenarioLabels } {
  const r = new Rand(spec.seed ?? 1);
  const days = spec.days ?? 3;
  const t0 = Date.parse(spec.start ?? '2026-03-02T00:00:00Z');
  const events: InteractionEvent[] = [];
  const labels: ScenarioLabels = { accounts: {}, campaigns: {} };
  let seq = 0;
  const anyPrompt = () => { const k = r.next(); return k < 0.6 ? r.pick(pool.organic) : k < 0.8 ? r.pick(pool.code) : r.pick(pool.maths); };
  const resIp = () => `${24 + r.int(150)}.${r.int(256)}.${r.int(256)}.${1 + r.int(250)}`;

  const mkActor = (label: string, o: Partial<Actor> = {}): Actor => {
    const id = `acct_${(++seq).toString().padStart(6, '0')}`;
    const ip = resIp();
    const a: Actor = {
      id, org: null, tier: 'email_verified', programme: 'none', email: r.pick(['gmail.com', 'outlook.com', 'yahoo.com', 'proton.me']),
      payment: r.chance(0.7) ? `pf_${id}` : null, signupIp: ip, created: t0 - r.int(400) * DAY - r.int(DAY),
      ip: () => ip, ua: r.pick(UAS), asn: 7000 + r.int(3000), system: null, tools: [], label, ...o,
    };
    labels.accounts[a.id] = label;
    return a;
  };

  const emit = (a: Actor, ts: number, msgs: EventMessage[], extra: { params?: Partial<InteractionEvent['request']['params']>; tools?: string[]; toolCalls?: number; out?: number; reasoning?: number; model?: string } = {}) => {
    const params = { ...emptyParams(), ...(extra.params ?? {}) };
    const inChars = msgs.reduce((s, m) => s + m.chars, 0) + (a.system?.length ?? 0);
    events.push({
      schema: EVENT_SCHEMA, id: `ev_${events.length.toString(36)}`, ts: new Date(ts).toISOString(), duration_ms: 800,
      flavour: 'openai.chat', model: extra.model ?? 'gpt-large', upstream: 'up', account_id: a.id, org_id: a.org, key_id: `key_${a.id}`,
      client: { ip: a.ip(), user_agent: a.ua, country: 'US', asn: a.asn },
      request: { stream: false, system: a.system, messages: msgs, tools: extra.tools ?? a.tools, tool_choice: null, params, bytes: inChars + 200 },
      response: { status: 200, error_code: null, input_tokens: Math.ceil(inChars / 4), output_tokens: (extra.out ?? 200 + r.int(400)) + (extra.reasoning ?? 0), reasoning_tokens: extra.reasoning ?? 0, usage_source: 'upstream', tool_calls: extra.toolCalls ?? 0, finish_reason: 'stop', ttfb_ms: 300, output_chars: 1000, reasoning_chars: 0 },
      account: { created_at: new Date(a.created).toISOString(), tier: a.tier, programme: a.programme, email_domain: a.email, payment_fp: a.payment, signup_ip: a.signupIp, claimed_country: 'US' },
      enforcement: emptyEnforcement(),
    });
  };
  const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });
  const asst = (text: string): EventMessage => ({ role: 'assistant', text, chars: text.length });

  /** Human rhythm: sessions during the actor's waking hours, bursty gaps inside a session. */
  const human = (a: Actor, perDay: number, tz: number, send: (ts: number, turn: number) => void) => {
    for (let d = 0; d < days; d++) {
      const weekend = new Date(t0 + d * DAY).getUTCDay() % 6 === 0;
      let n = Math.round(r.exp(perDay * (weekend ? 0.5 : 1)));
      while (n > 0) {
        let ts = t0 + d * DAY + ((8 + r.next() * 14 + tz + 24) % 24) * 3600_000;
        const turns = 1 + Math.min(n - 1, r.int(4));
        for (let k = 0; k < turns; k++) { send(ts, k); ts += 20_000 + r.exp(90_000); }
        n -= turns;
      }
    }
  };
  const chat = (a: Actor, perDay: number, tz = r.int(12) - 6, mix = anyPrompt) => {
    let hist: EventMessage[] = [];
    human(a, perDay, tz, (ts, turn) => {
      if (turn === 0) hist = [];
      const p = mix();
      hist.push(user(p));
      emit(a, ts, hist.slice(), { params: { temperature: r.chance(0.3) ? 0.7 : null } });
      hist.push(asst('Sure. Here is an answer.'));
    });
  };

  const org = spec.organic ?? {};
  for (let k = 0; k < (org.hobbyist ?? 0); k++) chat(mkActor('organic:hobbyist'), 1 + r.int(8));
  for (let k = 0; k < (org.startup ?? 0); k++) {
    const orgId = `org_s${k}`; const sys = `You are the assistant inside ${['Notely', 'Shipfast', 'Lexa', 'Plantr'][k % 4]} #${k}. Be concise.`;
    const n = 2 + r.int(4); const ip = resIp();
    for (let m = 0; m < n; m++) chat(mkActor('organic:startup', { org: orgId, programme: k % 2 ? 'startup' : 'none', system: sys, ip: () => ip, ua: 'openai-node/4.71.0' }), 20 + r.int(60));
  }
  for (let k = 0; k < (org.enterprise ?? 0); k++) {
    const orgId = `org_e${k}`; const nat = `198.51.${k}.10`; const sys = 'You are Acme Corp internal assistant. Follow the company style guide.';
    for (let m = 0; m < 25; m++) chat(mkActor('organic:enterprise', { org: orgId, tier: 'enterprise', email: `acme${k}.example`, signupIp: nat, ip: () => nat, ua: 'Mozilla/5.0 (Windows NT 10.0) Edge/131', system: sys, asn: 64500 + k, payment: `pf_acme${k}` }), 5 + r.int(20));
  }
  for (let k = 0; k < (org.researcher ?? 0); k++) {
    // An evaluation run: thousands of benchmark questions, one template, step by step, back to back.
    const a = mkActor('organic:researcher', { programme: 'research', ua: 'python-requests/2.32', tier: r.chance(0.5) ? 'identity_verified' : 'email_verified' });
    const runs = 2; const per = 800;
    for (let run = 0; run < runs; run++) {
      let ts = t0 + (run * days * DAY) / runs + r.int(6) * 3600_000;
      for (let q = 0; q < per; q++) {
        const item = q % 3 === 0 ? r.pick(pool.code) : r.pick(pool.maths);
        emit(a, ts, [user(`Question: ${item}\nLet's think step by step. End with "Answer: <answer>".`)], { params: { temperature: 0, max_tokens: 1024 } });
        ts += 1500 + r.int(1500);
      }
    }
  }
  for (let k = 0; k < (org.batch ?? 0); k++) {
    const a = mkActor('organic:batch', { ua: 'openai-python/1.54.3' });
    let ts = t0 + r.int(DAY);
    for (let q = 0; q < 1500; q++) {
      emit(a, ts, [user(`Classify the sentiment of the following customer review as positive, negative or neutral. Reply with one word.\n\nReview: ${r.pick(pool.organic)}\n\nSentiment:`)], { params: { temperature: 0, max_tokens: 5 }, out: 2 });
      ts += 800 + r.int(400);
    }
  }
  for (let k = 0; k < (org.agent ?? 0); k++) {
    const a = mkActor('organic:agent', { org: `org_a${k}`, system: 'You are CodePilot, an autonomous coding agent. Use the tools to read and edit files. Think step by step before acting.', tools: ['read_file', 'write_file', 'run_tests', 'search'], ua: 'CodePilot/2.3', tier: 'identity_verified' });
    human(a, 300, r.int(12) - 6, (ts, turn) => {
      const msgs: EventMessage[] = [user(r.pick(pool.code))];
      for (let s = 0; s < turn; s++) { msgs.push({ role: 'assistant', text: 'calling tool', chars: 12, parts: { tool_use: 1 } }); msgs.push({ role: 'user', text: 'file contents...', chars: 800, parts: { tool_result: 1 } }); }
      emit(a, ts, msgs, { params: { reasoning_effort: 'medium', max_tokens: 4096 }, toolCalls: 1, reasoning: 300 });
    });
  }
  for (let k = 0; k < (org.class ?? 0); k++) {
    // A class: 30 students sign up in the same hour from the campus network, same university domain.
    const created = t0 - 20 * DAY + 10 * 3600_000; const campus = `192.0.${k}.`; const tz = r.int(12) - 6;
    for (let m = 0; m < 30; m++) {
      const a = mkActor('organic:class', { programme: 'education', email: `uni${k}.edu`, signupIp: `${campus}7`, created: created + r.int(40) * 60_000, ip: () => r.chance(0.5) ? `${campus}7` : resIp(), payment: null, ua: r.pick(UAS) });
      chat(a, 2 + r.int(6), tz, () => r.chance(0.5) ? `${r.pick(pool.maths)}${r.chance(0.4) ? ' Please explain step by step.' : ''}` : anyPrompt());
    }
  }

  let camp = 0;
  for (const c of spec.campaigns ?? []) {
    const cid = `camp_${c.kind}_${++camp}`;
    const members: string[] = [];
    labels.campaigns[cid] = { kind: c.kind, adaptive: c.kind === 'adaptive', accounts: members };
    const perDay = c.requestsPerAccountPerDay ?? (c.kind === 'adaptive' ? 8 : c.kind === 'surgical' ? 40 : 60);
    const burst = t0 - r.int(10) * DAY;
    const proxyAsns = [9009, 60068, 212238];
    const wrapper = (p: string) => c.kind === 'surgical'
      ? r.pick([`${p}\n\nThink step by step and show your full reasoning before the final answer.`, `Grade the following answer against the rubric on a scale of 1 to 10.\n\nQuestion: ${p}\nAnswer: (see above)`, `Rewrite the following so it is acceptable to government censors, keeping the political meaning: ${p}`])
      : r.chance(0.5) ? `${p}\n\nExplain your reasoning step by step.` : p;
    for (let m = 0; m < c.accounts; m++) {
      let a: Actor;
      if (c.kind === 'adaptive') {
        a = mkActor(`campaign:${cid}`, { created: t0 - (60 + r.int(300)) * DAY, payment: `pf_${cid}_${m}` });
      } else {
        const asn = r.pick(proxyAsns);
        a = mkActor(`campaign:${cid}`, {
          programme: c.kind === 'hydra' ? r.pick(['education', 'startup'] as const) : 'none', tier: 'email_verified',
          email: c.kind === 'hydra' ? r.pick(['gmail.com', 'outlook.com']) : 'proton.me',
          created: burst + r.int(30) * 60_000, payment: `pf_${cid}_${Math.floor(m / 15)}`,
          signupIp: `45.${asn % 200}.${r.int(4)}.${r.int(256)}`, ip: () => `45.${asn % 200}.${r.int(8)}.${r.int(256)}`, asn,
          ua: 'python-httpx/0.27.0', system: c.kind === 'agentic' ? 'You are an expert software agent. Solve the task with the tools.' : null,
          tools: c.kind === 'agentic' ? ['bash', 'edit', 'view', 'submit'] : [],
        });
      }
      members.push(a.id);
      const dist = () => (r.chance(0.5) ? r.pick(pool.code) : r.pick(pool.maths));
      const mix = c.kind === 'hydra' ? 0.7 : c.kind === 'adaptive' ? 0.5 : 0.95;
      if (c.kind === 'adaptive') {
        chat(a, perDay, r.int(12) - 6, () => (r.chance(mix) ? `${dist()}${r.chance(0.5) ? ' Walk me through your reasoning.' : ''}` : anyPrompt()));
        continue;
      }
      // Fleet rhythm: round the clock, load-balanced, single-shot.
      const total = Math.round(perDay * days);
      for (let q = 0; q < total; q++) {
        const ts = t0 + (q + r.next()) * (days * DAY / total);
        const p = r.chance(mix) ? wrapper(dist()) : anyPrompt();
        if (c.kind === 'agentic') {
          const steps = 1 + r.int(5); const msgs: EventMessage[] = [user(p)];
          for (let s = 1; s < steps; s++) { msgs.push({ role: 'assistant', text: 'tool', chars: 4, parts: { tool_use: 1 } }); msgs.push({ role: 'user', text: 'output', chars: 600, parts: { tool_result: 1 } }); }
          emit(a, ts, msgs, { params: { max_tokens: 8192, reasoning_effort: 'high' }, toolCalls: 1, reasoning: 800 });
        } else {
          emit(a, ts, [user(p)], { params: { max_tokens: 4096, temperature: c.kind === 'surgical' ? 0.6 : null }, out: 600 + r.int(600) });
        }
      }
    }
  }
  events.sort((x, y) => (x.ts < y.ts ? -1 : x.ts > y.ts ? 1 : 0));
  return { events, labels };
}
