/**
 * A course of new students (src/traffic/course.ts) next to a small background: 30 accounts signed
 * up in one lecture on a university domain nothing vouches for, from the campus network, doing the
 * same problem sheets through the course's tool, conversationally. A hard negative: no student may
 * be served above watch. Its control: the same signup shape and the same tool sending a
 * harvester's traffic (independent single questions, the working asked for, many a day) is flagged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { InteractionEvent } from '../events/index.ts';
import { DetectorEngine, verdictRank } from './index.ts';
import { resolveScenario, generateTraffic, loadPromptCorpus, type LabelLine } from '../traffic/index.ts';
import { courseWorkload, mergeByTime, type CourseOptions } from '../traffic/course.ts';

const prompts = loadPromptCorpus(join(import.meta.dirname, '../../test/fixtures/prompts'));
const DAYS = 3;
const sc = resolveScenario(null, { preset: 'smoke', seed: 1, days: DAYS, organicAccounts: 60 });
const background = [...generateTraffic(sc, { prompts }).events];

/** The highest level each course account was served at, or held at after the run. */
function run(course: { events: InteractionEvent[]; accountIds: string[] }, bg: InteractionEvent[] = background) {
  const engine = new DetectorEngine({ trackFirstFlags: true });
  for (const ev of mergeByTime(bg, course.events)) engine.ingest(ev);
  engine.flush();
  return course.accountIds.map((id) => {
    const served = engine.servedByLevel(id);
    const v = engine.forAccount(id);
    return { id, level: v.level, max: Math.max(served.reduce((m, x, l) => (x > 0 ? l : m), 0), verdictRank(v.level)), reasons: v.verdict?.reasons ?? [] };
  });
}

const course = (over: Partial<CourseOptions>) => courseWorkload(prompts, { seed: 1, startMs: sc.startMs, days: DAYS, students: 30, domain: 'tum.de', ...over });
const summary = (rows: ReturnType<typeof run>) => rows.map((r) => `${r.level}/${r.max}`).join(' ');

test('a course of new students on a university domain nothing vouches for, through the course tool that asks for the steps, is not served above watch', () => {
  const c = course({ tool: 'steps' });
  assert.ok(c.events.length > 300, `the course sends homework: ${c.events.length} requests`);
  const rows = run(c);
  const above = rows.filter((r) => r.max > verdictRank('watch'));
  assert.equal(above.length, 0, `students above watch: ${above.length}/30 (${summary(rows)}); first: ${JSON.stringify(above[0]?.reasons.slice(0, 6))}`);
});

test('the same course with the hints-only tool, and with no tool (each student a client of their own), is not served above watch', () => {
  for (const tool of [true, false]) {
    const rows = run(course({ tool }));
    const above = rows.filter((r) => r.max > verdictRank('watch'));
    assert.equal(above.length, 0, `tool ${tool}: students above watch ${above.length}/30 (${summary(rows)})`);
  }
});

test('a course cramming before a deadline through the tool that asks for the steps, signed up in one lecture (a signup burst), conversing, is not served above watch', () => {
  const rows = run(course({ students: 40, tool: 'steps', freshChatShare: 0.5, eveningsPerDay: 3 }));
  const above = rows.filter((r) => r.max > verdictRank('watch'));
  assert.equal(above.length, 0, `students above watch: ${above.length}/40 (${summary(rows)}); first: ${JSON.stringify(above[0]?.reasons.slice(0, 8))}`);
});

test('a course on a university domain that established accounts already vouch for (last year students), through the steps tool, is not served above watch', () => {
  // Eight established customers of the background move onto the domain: the domain is vouched for
  // before the lecture, and its link key is first held outside the new class.
  const firstSeen = new Map<string, string>();
  for (const ev of background) if (ev.account && ev.account_id && !firstSeen.has(ev.account_id) && Date.parse(ev.account.created_at) < sc.startMs - 30 * 86_400_000) firstSeen.set(ev.account_id, ev.ts);
  const alumni = new Set([...firstSeen].sort((a, b) => (a[1] < b[1] ? -1 : 1)).slice(0, 8).map(([id]) => id));
  assert.equal(alumni.size, 8, 'eight established accounts in the background');
  const vouched = background.map((ev) => (ev.account_id && alumni.has(ev.account_id) && ev.account ? { ...ev, account: { ...ev.account, email_domain: 'tum.de' } } : ev));
  const rows = run(course({ tool: 'steps', students: 40, eveningsPerDay: 3, freshChatShare: 0.5 }), vouched);
  const above = rows.filter((r) => r.max > verdictRank('watch'));
  assert.equal(above.length, 0, `students above watch: ${above.length}/40 (${summary(rows)}); first: ${JSON.stringify(above[0]?.reasons.slice(0, 8))}`);
});

test('20 students without a tool asking for the steps of most problems, each in a new chat, three evenings a day, are not served above watch, one by one or as a class', () => {
  // Seed 1: the class, linked, at a harvester's volume; seed 9: one student passes the harvest-yield test on its own.
  for (const seed of [1, 9]) {
    const rows = run(course({ seed, students: 20, tool: false, stepsShare: 0.8, freshChatShare: 1, eveningsPerDay: 3 }));
    const above = rows.filter((r) => r.max > verdictRank('watch'));
    assert.equal(above.length, 0, `seed ${seed}: students above watch ${above.length}/20 (${summary(rows)}); first: ${JSON.stringify(above[0]?.reasons.slice(0, 8))}`);
  }
});

test('the course signup shape sending a harvester traffic through the same tool is flagged', () => {
  // The same accounts, campus and tool, but every request an independent question sent alone
  // (no history, no follow-up), many a day: a fleet dressed as a course.
  const c = course({ tool: 'steps', freshChatShare: 1, eveningsPerDay: 8, stepsShare: 1 });
  const events = c.events.map((ev) => {
    const last = ev.request.messages.filter((m) => m.role === 'user').at(-1)!;
    return { ...ev, request: { ...ev.request, messages: [last] } };
  });
  const rows = run({ events, accountIds: c.accountIds });
  const flagged = rows.filter((r) => r.max >= verdictRank('throttle'));
  assert.ok(flagged.length >= 27, `fleet accounts flagged: ${flagged.length}/30 (${summary(rows)})`);
  // Refused either way: verify or suspend.
  assert.ok(rows.filter((r) => r.max >= verdictRank('verify')).length >= 27, `fleet accounts refused: ${summary(rows)}; ${JSON.stringify(rows[0].reasons.filter((x) => x.signal.startsWith('place') || x.signal.startsWith('institution')))}`);
});

test('a fleet dressed as the class that converses, each member asking items no other member asks, is refused; the class working one sheet is held at watch', () => {
  // The same signup burst, domain, campus and tool, the working asked for on every problem,
  // follow-ups and pasted attempts: what separates them is that a class asks the same problems.
  // Twenty members, so that the fleet's items (the fixture corpus holds about 200 tasks) need not repeat.
  const shape: Partial<CourseOptions> = { students: 20, tool: 'steps', freshChatShare: 0.5, stepsShare: 1, eveningsPerDay: 3 };
  const fleet = run(course({ ...shape, distinctProblems: true }));
  const refused = fleet.filter((r) => r.max >= verdictRank('verify'));
  const shared = (rows: typeof fleet) => JSON.stringify(rows[0].reasons.filter((x) => x.signal === 'place_shared_problems' || x.signal === 'place_conversation' || x.signal.startsWith('institution') || x.signal === 'place_links_only').map((x) => [x.signal, x.value, (x.detail ?? '').slice(-200)]));
  assert.ok(refused.length >= 18, `fleet accounts refused: ${refused.length}/20 (${summary(fleet)}); ${shared(fleet)}`);
  const cls = run(course(shape));
  const above = cls.filter((r) => r.max > verdictRank('watch'));
  assert.equal(above.length, 0, `students above watch: ${above.length}/20 (${summary(cls)}); ${shared(cls)}`);
});
