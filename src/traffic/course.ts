/**
 * A course of new students: a hard negative for account linking that the population builder does
 * not make on its own. A class of 20-40 people signs up on one day (the first lecture) on their
 * university's email domain, which nothing vouches for (no programme, no reserved academic suffix,
 * no established account on it yet), from the campus network. They then do the same assignments at
 * similar times (the weekly lab at the lecture hour, and evenings at home), conversationally: a
 * question, follow-ups on the answer, their own attempt pasted in, typos and corrections, now and
 * then a question of their own from the organic mix. With `tool: true` every request comes through
 * the course's notebook helper (its system prompt, its client, its settings); otherwise each student
 * uses a client of their own and no system prompt.
 *
 * The events are built as the gateway records them (the same fields as the traffic model's); merge
 * them into a background run with `mergeByTime`. Deterministic for a given seed and prompt corpus.
 */
import { answerFingerprint, emptyEnforcement, emptyParams, type EventAccountFacts, type EventMessage, type InteractionEvent } from '../events/index.ts';
import { emailPattern } from '../identity/facts.ts';
import { categoryAsns, pickAddress, pickAddressInAsn, type ClientAddress } from './netdata.ts';
import type { PromptCorpus } from './prompts.ts';
import { Rng, seededUlid } from './rng.ts';
import { assistantStandIn, homework } from './textgen.ts';
import type { AccountLabel } from './population.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;

export interface CourseOptions {
  seed: number | string;
  /** First day of the run (ms); the first lecture, where the class signs up, is on this day. */
  startMs: number;
  /** Days of traffic from `startMs`. */
  days: number;
  /** Students in the class (20-40 for a course). */
  students?: number;
  /** The university's email domain (one that vouches for nothing on its own). */
  domain?: string;
  /** Country of the campus network and of the students' homes. */
  country?: string;
  /** UTC offset of the campus, hours. */
  tzOffsetH?: number;
  /** Local hour the lecture and the weekly lab start. */
  lectureHour?: number;
  /** Every request through the course's notebook helper (its system prompt and client); `steps`: a tutor told to show the working. */
  tool?: boolean | 'steps';
  /** Share of students who use the class's email domain (the rest sign up with free-mail). */
  domainShare?: number;
  /** Share of the sheet's problems a student asks with "explain step by step" (how they were told to learn). */
  stepsShare?: number;
  /** Evening sessions a day, the class's median (1; before an exam or a deadline, several). */
  eveningsPerDay?: number;
  /**
   * Share of students who open a new chat for every problem (or whose notebook helper keeps no
   * history): their problems arrive as single questions, their follow-ups still carry the answer.
   */
  freshChatShare?: number;
  /**
   * A fleet dressed as the class rather than the class: every problem a member asks is a dataset
   * item no other member asks (drawn without replacement from the corpus's code and maths items,
   * across the whole fleet; repeated only once the corpus runs out). A harvest needs distinct
   * items; a class works the same sheet.
   */
  distinctProblems?: boolean;
}

export interface CourseWorkload {
  events: InteractionEvent[];
  labels: AccountLabel[];
  accountIds: string[];
}

/** The course's notebook helper: one system prompt, one client, fixed settings, on every student's machine. */
export const COURSE_TOOL_SYSTEM = 'You are the teaching assistant of IN0002 Fundamentals of Programming. Help students understand the exercises: explain concepts, point out mistakes in their attempts and give hints. Do not hand out complete solutions to graded assignments. Answer in the language of the question.';
/** A tutor that shows the working: what many course tools tell the model to do. */
export const COURSE_TOOL_STEPS_SYSTEM = 'You are the tutor of MA0901 Linear Algebra and Discrete Mathematics for computer scientists. Explain every solution step by step and show all intermediate calculations so the student can follow the reasoning. Use LaTeX for formulas.';
const COURSE_TOOL_UA = 'OpenAI/Python 1.109.1 in0002-helper/0.3';
const MODELS = ['gpt-5-mini', 'gpt-5-mini', 'gpt-5', 'claude-sonnet-4-5', 'claude-haiku-4-5'];
const OWN_CLIENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0',
  'Mozilla/5.0 (X11; Linux x86_64; rv:143.0) Gecko/20100101 Firefox/143.0',
  'OpenAI/Python 1.109.1', 'OpenAI/Python 2.2.0', 'Anthropic/Python 0.71.0', 'OpenAI/JS 6.1.0', 'python-requests/2.32.3',
];
const FIRST = ['lena', 'jonas', 'mia', 'felix', 'sophie', 'paul', 'emma', 'lukas', 'hannah', 'leon', 'anna', 'maximilian', 'lea', 'tim', 'laura', 'david', 'sara', 'niklas', 'julia', 'moritz', 'ayse', 'mehmet', 'wei', 'priya', 'ivan', 'elena', 'omar', 'yuki', 'carlos', 'fatima'];
const LAST = ['mueller', 'schmidt', 'schneider', 'fischer', 'weber', 'meyer', 'wagner', 'becker', 'hoffmann', 'koch', 'richter', 'klein', 'wolf', 'neumann', 'yilmaz', 'kaya', 'zhang', 'sharma', 'petrov', 'rossi', 'garcia', 'nguyen', 'tanaka', 'lopez'];

/** What students say after an answer: follow-ups, their own mistakes, corrections, thanks. */
const FOLLOW_UPS = [
  'I do not get the second step, why do you divide there?', 'ok but why?', 'can you explain that part again more simply?',
  'I got a different result, where is my mistake?', 'wait, the exercise sheet says the answer is different', 'sorry I copied the question wrong, it is 12 not 21',
  'thx! and how would I do that without a loop?', 'is there a shorter way to do it?', 'my code gives an IndexError on the last line, why?',
  'what does that line do exactly?', 'can you check my answer: I got 48', 'we did not learn that in the lecture yet, is there another way?',
  'ah ok now I understand', 'that is not what the professor did in class', 'why is the complexity O(n log n) and not O(n)?',
  'can you give me a similar exercise to practice?', 'hmm that does not compile for me', 'so the final answer is just the last number?',
  'oh wait i misread, nevermind. what about part b?', 'can you say it in german please', 'explain like i am five pls',
];
const ATTEMPT_OPENERS = ['Here is my attempt, is it correct?\n\n', 'I tried this but I think something is wrong:\n\n', 'my solution so far:\n\n', 'This is what I wrote for the exercise, can you check it?\n\n'];
const ATTEMPT_LINES = [
  'x = 3 * 4 + 2 = 14, then 14 / 2 = 7 so the answer is 7', 'total = 0\nfor i in range(len(a)):\n    total = total + a[i]\nreturn total / len(a)',
  'I set up the equation 2x + 5 = 17, so x = 6, then the other one is 6 + 5 = 11', 'def is_prime(n):\n    for i in range(2, n):\n        if n % i == 0:\n            return False\n    return True',
  'first I calculated 15% of 80 which is 12, then I subtracted it from 80 and got 68', 'if n == 0: return 1\nelse: return n * fact(n)',
  'the probability is 3/6 * 2/5 = 6/30 = 1/5', 'while i < len(lst):\n    if lst[i] > m:\n        m = lst[i]\ni += 1',
];
/** How students ask for the working (what a course tells them to learn from). */
const STEPS = ['Please explain step by step.', 'explain step by step pls', 'Can you show all the steps?', 'Explain your reasoning step by step so I can follow.'];
/** Typos a student makes retyping a question (one edit), fixed in the next turn or not at all. */
function typo(rng: Rng, text: string): string {
  if (text.length < 20) return text;
  const i = 5 + rng.int(text.length - 10);
  return rng.chance(0.5) ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + text[i + 1] + text[i] + text.slice(i + 2);
}

interface Student {
  id: string; key: string; email: string; facts: EventAccountFacts; label: AccountLabel;
  homeAsn: number; mobileAsn: number | null; ua: string; model: string; anthropic: boolean;
  /** Evening sessions a day (median over the class ~1). */
  rate: number; labShare: number; reasoning: string | null;
  /** Opens a new chat for every problem. */
  fresh: boolean;
}

function localMidnight(ms: number, tz: number): number {
  return Math.floor((ms + tz * HOUR) / DAY) * DAY - tz * HOUR;
}

/** Build a course's events (time-ordered) and its account labels. */
export function courseWorkload(prompts: PromptCorpus, opts: CourseOptions): CourseWorkload {
  const n = opts.students ?? 30;
  const domain = opts.domain ?? 'tum.de';
  const country = opts.country ?? 'DE';
  const tz = opts.tzOffsetH ?? 1;
  const lectureHour = opts.lectureHour ?? 10;
  const tool = opts.tool ?? false;
  const domainShare = opts.domainShare ?? 0.9;
  const stepsShare = opts.stepsShare ?? 0.3;
  const evenings = opts.eveningsPerDay ?? 1;
  const freshChatShare = opts.freshChatShare ?? 0.3;
  const crng = new Rng(opts.seed, 'course', domain);
  // The campus NAT: one university network, two egress addresses in one subnet.
  const uniAsns = categoryAsns('university', [country]);
  const campusFirst = uniAsns.length ? pickAddressInAsn(uniAsns[crng.int(uniAsns.length)].asn, crng) : pickAddress('university', crng);
  const campus: ClientAddress[] = [campusFirst, { ...campusFirst, ip: campusFirst.ip.replace(/\.\d+$/, (m) => `.${(Number(m.slice(1)) + 1) % 255}`) }];
  const day0 = localMidnight(opts.startMs, tz);
  const lectureStart = day0 + lectureHour * HOUR;
  // This course's problem sheets: six questions a day, every student gets the same.
  const sheet = (day: number) => {
    const r = new Rng(opts.seed, 'course-sheet', domain, day);
    return Array.from({ length: 6 }, () => { const coding = r.chance(0.5); const p = coding ? prompts.code : prompts.math; return { q: p[r.int(p.length)], coding }; });
  };
  // A fleet's queue of distinct items (distinctProblems): the corpus's tasks in one shuffled order.
  const queue = opts.distinctProblems ? [...prompts.code.map((q) => ({ q, coding: true })), ...prompts.math.map((q) => ({ q, coding: false }))] : [];
  if (queue.length) { const qr = new Rng(opts.seed, 'course-queue', domain); for (let k = queue.length - 1; k > 0; k--) { const j = qr.int(k + 1); [queue[k], queue[j]] = [queue[j], queue[k]]; } }
  let queued = 0;
  const residential = categoryAsns('residential', [country]);
  const mobile = categoryAsns('mobile', [country]).filter((a) => a.country === country);
  const students: Student[] = [];
  for (let s = 0; s < n; s++) {
    const rng = new Rng(opts.seed, 'course-student', domain, s);
    // Signed up during the first lecture (most) or that evening, from the lecture hall or from home.
    const inLecture = rng.chance(0.75);
    const created = inLecture ? lectureStart + rng.next() * 90 * MINUTE : lectureStart + (6 + rng.next() * 6) * HOUR;
    const f = rng.pick(FIRST), l = rng.pick(LAST);
    const local = rng.chance(0.7) ? `${f}.${l}` : rng.chance(0.5) ? `${f[0]}${l}` : `${f}.${l}${rng.intIn(1, 9)}`;
    const email = `${local}@${rng.chance(domainShare) ? domain : rng.pick(['gmail.com', 'gmx.de', 'web.de', 'outlook.com'])}`;
    const homeAsn = residential.length ? residential[rng.int(residential.length)].asn : pickAddress('residential', rng).asn;
    const mobileAsn = mobile.length ? mobile[rng.int(mobile.length)].asn : null;
    const signup = inLecture ? campus[rng.int(campus.length)] : pickAddressInAsn(homeAsn, new Rng(opts.seed, 'course-home', domain, s));
    const id = `acct_${seededUlid(created, rng)}`;
    const model = tool ? 'gpt-5-mini' : rng.pick(MODELS);
    const facts: EventAccountFacts = {
      created_at: new Date(created).toISOString(), tier: 'email_verified', programme: 'none', email_domain: email.slice(email.indexOf('@') + 1),
      payment_fp: null, signup_ip: signup.ip, claimed_country: country, email_pattern: emailPattern(email, 'warden-traffic-model'), first_used_at: null,
    };
    students.push({
      id, key: `course/${domain}/${s}`, email, facts,
      label: { type: 'account', account_id: id, org_id: '', population: 'organic', organic_kind: 'education', campaign_id: null, campaign_kind: null, adaptive: false, group_id: `course-${domain}` },
      homeAsn, mobileAsn, ua: tool ? COURSE_TOOL_UA : rng.pick(OWN_CLIENTS), model, anthropic: model.startsWith('claude'),
      rate: rng.lognormal(evenings, 0.7), labShare: rng.range(0.6, 0.95), reasoning: !tool && !model.startsWith('claude') && rng.chance(0.2) ? rng.pick(['low', 'medium', 'high']) : null,
      fresh: rng.chance(freshChatShare),
    });
  }
  const events: InteractionEvent[] = [];
  const endMs = opts.startMs + opts.days * DAY;
  for (const [s, st] of students.entries()) {
    const rng = new Rng(opts.seed, 'course-traffic', domain, s);
    const createdMs = Date.parse(st.facts.created_at);
    const sessions: Array<{ at: number; where: 'campus' | 'home' | 'mobile'; day: number }> = [];
    for (let d = 0; ; d++) {
      const midnight = day0 + d * DAY;
      if (midnight >= endMs) break;
      const dow = ((Math.floor((midnight + tz * HOUR) / DAY) + 3) % 7 + 7) % 7;
      const weekend = dow >= 5;
      // The lab after the lecture: most of the class, in the same 90 minutes, on the campus network.
      if (!weekend && rng.chance(st.labShare)) sessions.push({ at: midnight + (lectureHour + 2) * HOUR + rng.next() * 80 * MINUTE, where: 'campus', day: d });
      // Evenings at home (homework), sometimes on the phone.
      const count = Math.min(8, Math.floor(st.rate * (weekend ? 0.6 : 1) + rng.next()));
      for (let k = 0; k < count; k++) sessions.push({ at: midnight + (16 + rng.next() * 8) * HOUR, where: rng.chance(0.15) ? 'mobile' : 'home', day: d });
    }
    sessions.sort((a, b) => a.at - b.at);
    const homeAddr = pickAddressInAsn(st.homeAsn, new Rng(opts.seed, 'course-home', domain, s));
    const key = `key_${seededUlid(createdMs + 1000, new Rng(opts.seed, 'course-key', domain, s))}`;
    let busyUntil = 0;
    for (const sess of sessions) {
      if (sess.at < createdMs + 5 * MINUTE || sess.at >= endMs) continue;
      let t = Math.max(sess.at, busyUntil);
      const addr = sess.where === 'campus' ? campus[rng.int(campus.length)] : sess.where === 'mobile' && st.mobileAsn !== null ? pickAddressInAsn(st.mobileAsn, rng) : homeAddr;
      const problems = sheet(sess.day);
      const turns = Math.min(14, rng.geometric(sess.where === 'campus' ? 4.5 : 3.5));
      const history: EventMessage[] = [];
      const stream = tool ? true : rng.chance(0.75);
      const params = emptyParams();
      if (tool) { params.temperature = 0.3; params.max_tokens = 2048; } else if (st.anthropic) params.max_tokens = rng.pick([1024, 2048, 4096]);
      params.reasoning_effort = st.reasoning;
      let pendingTypo: string | null = null;
      for (let turn = 0; turn < turns && t < endMs; turn++) {
        let text: string;
        let kind: 'math' | 'code' | 'chat' = 'chat';
        const u = rng.next();
        if (pendingTypo !== null) { text = `sorry typo, I meant: ${pendingTypo}`; pendingTypo = null; }
        else if (turn === 0 || u < 0.25) {
          if (rng.chance(0.8)) {
            // A problem of today's sheet: some paste it as printed, others retype or wrap it.
            const p = queue.length ? queue[queued++ % queue.length] : rng.pick(problems);
            if (st.fresh) history.length = 0;
            kind = p.coding ? 'code' : 'math';
            const q = rng.chance(stepsShare) ? `${p.q}\n${rng.pick(STEPS)}` : homework(rng, p.q, p.coding);
            if (rng.chance(0.12)) { text = typo(rng, q); pendingTypo = rng.chance(0.6) ? p.q.slice(0, 80) : null; } else text = q;
          } else { const pool = rng.weighted({ chat: 0.6, code: 0.2, math: 0.2 }); kind = pool; text = prompts[pool][rng.int(prompts[pool].length)]; }
        } else if (u < 0.45) {
          text = `${rng.pick(ATTEMPT_OPENERS)}${rng.pick(ATTEMPT_LINES)}`;
          kind = 'code';
        } else text = rng.pick(FOLLOW_UPS);
        history.push({ role: 'user', text, chars: text.length });
        const out = turn > 0 && kind === 'chat' ? Math.max(20, Math.round(rng.lognormal(180, 0.8))) : kind === 'code' ? Math.max(20, Math.round(rng.lognormal(420, 0.7))) : kind === 'math' ? Math.max(20, Math.round(rng.lognormal(320, 0.6))) : Math.max(5, Math.round(rng.lognormal(260, 0.9)));
        const reasoning = st.anthropic ? 0 : st.reasoning === 'high' ? Math.round(rng.lognormal(3500, 0.8)) : st.reasoning === 'low' ? Math.round(rng.lognormal(250, 0.8)) : Math.round(rng.lognormal(900, 0.8));
        const answer = assistantStandIn(kind, new Rng(opts.seed, 'course-answer', s, t));
        const system = tool === 'steps' ? COURSE_TOOL_STEPS_SYSTEM : tool ? COURSE_TOOL_SYSTEM : null;
        let chars = system ? system.length : 0;
        for (const m of history) chars += m.chars;
        const inTok = Math.max(1, Math.round(chars / 3.8) + history.length * 4 + 8);
        const ttfb = rng.lognormal(stream ? 450 : 700, 0.4);
        const duration = ttfb + ((reasoning + out) / rng.range(45, 140)) * 1000;
        const id = seededUlid(t, rng);
        if (!st.facts.first_used_at) st.facts.first_used_at = new Date(t).toISOString();
        const anthropic = st.anthropic;
        events.push({
          schema: 'warden.interaction/1', id, ts: new Date(t).toISOString(), duration_ms: Math.round(duration),
          flavour: anthropic ? 'anthropic.messages' : 'openai.chat', model: st.model, upstream: anthropic ? 'anthropic' : 'openai',
          account_id: st.id, org_id: null, key_id: key,
          client: { ip: addr.ip, user_agent: st.ua, country: addr.country, asn: addr.asn },
          request: { stream, system, messages: history.slice(), tools: [], tool_choice: null, params: { ...params }, bytes: 120 + chars + history.length * 40 + (system ? 40 : 0) },
          response: {
            status: 200, error_code: null, input_tokens: inTok, output_tokens: out + reasoning, reasoning_tokens: reasoning, usage_source: 'upstream',
            tool_calls: 0, finish_reason: anthropic ? 'end_turn' : 'stop', ttfb_ms: Math.round(ttfb), output_chars: Math.round(out * 3.9),
            reasoning_chars: 0, answer_fp: answerFingerprint(answer),
          },
          account: { ...st.facts },
          enforcement: emptyEnforcement(),
        });
        history.push({ role: 'assistant', text: answer, chars: out * 4 });
        // Reading the answer, thinking, typing: tens of seconds to minutes (longer on campus, where the exercise is being worked).
        t += duration + rng.lognormal(sess.where === 'campus' ? 150_000 : 90_000, 0.8) + Math.min(240_000, out * 60);
      }
      busyUntil = t;
    }
  }
  events.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  return { events, labels: students.map((s) => s.label), accountIds: students.map((s) => s.id) };
}

/** Merge time-ordered event lists into one, in time order. */
export function mergeByTime(a: Iterable<InteractionEvent>, b: InteractionEvent[]): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  let j = 0;
  for (const ev of a) {
    while (j < b.length && b[j].ts < ev.ts) out.push(b[j++]);
    out.push(ev);
  }
  while (j < b.length) out.push(b[j++]);
  return out;
}
