// A quiet fleet contained early: once a harvest cohort stands (harvest-cohort.ts), the fleet's new
// heads join it at the reading after their third request, though each sends fewer than the eight a cohort needs
// to form. Against look-alike organic populations new on the same days: a class on free-mail
// doing its homework from one campus network, and a company's employees behind one NAT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdictRank } from './index.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type InteractionEvent, type EventMessage } from '../events/index.ts';
import { promptFixture as fixture, seededRandom, replayThroughDetector } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = fixture('distill/gsm8k-sample.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const DAY = 86_400_000;
const COT = 'Think step by step and show your full reasoning before the final answer.';
const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });
const assistant = (text: string): EventMessage => ({ role: 'assistant', text, chars: text.length });

interface Account { id: string; ip: string; signupIp?: string; createdMs: number; domain: string; ua: string }

function event(a: Account, n: number, ts: number, messages: EventMessage[], out: number): InteractionEvent {
  const chars = messages.reduce((s, m) => s + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: `${a.id}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: a.id, org_id: null, key_id: `key_${a.id}`,
    client: { ip: a.ip, user_agent: a.ua, country: 'US', asn: 7018 },
    request: { stream: false, system: null, messages, tools: [], tool_choice: null, params: emptyParams(), bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4), output_tokens: out, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: out * 4, reasoning_chars: 0 },
    account: { created_at: new Date(a.createdMs).toISOString(), tier: 'email_verified', programme: 'none', email_domain: a.domain, payment_fp: `card-${a.id}`, signup_ip: a.signupIp ?? a.ip, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}

/**
 * `k` accounts from day `startDay` (signed up hours before, or `signedUpDaysBefore`), `perDay` requests a day at a human pace (8:00 to 21:00)
 * for `days` days; `account` gives account j its address, domain and client; `ask` writes request n.
 */
function population(prefix: string, k: number, seed: number, startDay: number, days: number, perDay: number,
  account: (j: number) => Pick<Account, 'ip' | 'signupIp' | 'domain' | 'ua'> & { signedUpDaysBefore?: number },
  ask: (j: number, n: number, r: () => number) => { messages: EventMessage[]; out: number }): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (let j = 0; j < k; j++) {
    const r = seededRandom(seed * 1000 + j + 1);
    const start = T0 + startDay * DAY;
    const { signedUpDaysBefore = 0, ...where } = account(j);
    const a: Account = { id: `${prefix}_${j}`, createdMs: start - signedUpDaysBefore * DAY - (2 + r() * 20) * 3_600_000, ...where };
    let n = 0;
    for (let d = 0; d < days; d++) {
      const times = Array.from({ length: perDay }, () => start + d * DAY + (8 + r() * 13) * 3_600_000).sort((x, y) => x - y);
      for (const ts of times) { const { messages, out: o } = ask(j, n, r); out.push(event(a, n++, ts, messages, o)); }
    }
  }
  return out;
}

// Each fleet account its own residential address, free-mail signup and card: nothing links them.
const own = (base: number) => (j: number) => ({ ip: `${70 + (j % 5)}.${base + j}.${(j * 37) % 250}.${1 + ((j * 11) % 250)}`, domain: 'gmail.com', ua: 'python-httpx/0.27' });
const harvest = (j: number, n: number, r: () => number) => ({ messages: [user(`${COT}\n\n${GSM8K[(j * 13 + n * 7) % GSM8K.length]}`)], out: 900 + Math.floor(r() * 900) });
// The first heads: 30 accounts, 4 requests a day for 3 days (12 each, under the yield test's 25).
const firstHeads = () => population('head', 30, 10, 0, 3, 4, own(10), harvest);
// Their replacements, from day 2: 20 new accounts a day for two days, each used for one day, 6 requests.
const replacements = () => [2, 3].flatMap((d) => population(`new${d}`, 20, 20 + d, d, 1, 6, own(60 + d * 25), harvest));

// A class of 40 students on free-mail, new to the service this week (each signed up from home),
// all sending from the campus network (one address), the same homework asking for the steps: some
// paste their working, most come back to a step they did not follow in the same conversation.
// 4 requests each over two days. (A class that also signed up from the campus address is linked
// by it: held at watch as a cluster linked only by a place, below.)
const HOMEWORK = GSM8K.slice(0, 6);
const ASKS = ['Can you explain step by step?', 'How do I solve this one, showing the steps?', 'hi, homework question, please go through it step by step:', 'I am stuck on this, can you show me the working step by step', 'Explain step by step please.'];
const BROWSERS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
];
const worked = (problem: string) => `Let us work through it. The problem says: ${problem}\n\nStep 1: write down what is known and what is asked, with units. Step 2: turn each sentence into an equation between the named quantities. Step 3: solve the equations one at a time. Step 4: check the result against the problem. The answer is the number found in step 3.`;
const campusClass = () => population('student', 40, 100, 1, 2, 2, (j) => ({ ip: '128.32.4.10', signupIp: `98.${40 + j}.${(j * 53) % 250}.${2 + j}`, domain: 'gmail.com', ua: BROWSERS[j % BROWSERS.length] }), (j, n, r) => {
  const problem = HOMEWORK[(j + n) % HOMEWORK.length];
  const ask = ASKS[(j * 3 + n) % ASKS.length];
  const working = `My working so far: I set up the equation but get ${Math.floor(r() * 90) + 10}, not the book's answer, and I do not see where I went wrong.`;
  if (n === 0 || r() < 0.4) return { messages: [user(`${ask} ${problem}\n\n${working}`)], out: 400 + Math.floor(r() * 400) };
  return { messages: [user(`${ask} ${problem}`), assistant(worked(problem)), user('I do not get step 2, why do you multiply there? Our teacher did it another way.')], out: 250 + Math.floor(r() * 300) };
});

// A company's employees behind one NAT at the office, on its own domain, no org declared: 30 new
// this week (each signed up from home) and 3 who have used the service for most of a year, whose
// history vouches for the domain (a company all of whose accounts are new, with no org, no
// programme and no verified identity, is linked by its address and domain: held at watch as a
// cluster linked only by a place, below). Their questions: their code pasted with the error it
// gives, now and then a short "how does this work", follow-ups on an answer.
const MODULE = [
  'import csv', 'from dataclasses import dataclass', '', '@dataclass', 'class Row:', '    sku: str', '    qty: int', '    price: float', '',
  'def load(path):', '    with open(path, newline="") as f:', '        reader = csv.reader(f)', '        next(reader)',
  '        return [Row(r[0], int(r[1]), float(r[2])) for r in reader]', '', 'def total(rows):', '    return sum(r.qty * r.price for r in rows)',
].join('\n');
/** Employee j's own code at its n-th question: their module, with their names and numbers. */
const code = (j: number, n: number, r: () => number) => MODULE.replaceAll('Row', `Row${j}x${n}`).replaceAll('qty', ['qty', 'count', 'units', 'amount'][(j + n) % 4])
  .replaceAll('price', ['price', 'cost', 'unit_price'][(j * 7 + n) % 3]) + `\n\ndef report_${j}_${n}(rows):\n    return {r.sku: round(r.${['qty', 'count', 'units', 'amount'][(j + n) % 4]} * ${(r() * 3).toFixed(2)}, 2) for r in rows}\n`;
const ANSWER = 'The row with an empty quantity field is what breaks it: int("") raises. Either guard the conversion with int(r[1] or 0), or skip rows whose quantity is blank before building the dataclass, which also keeps total() from counting them as zero-quantity sales.';
function employee(j: number, n: number, r: () => number): { messages: EventMessage[]; out: number } {
  const x = r();
  if (x < 0.15) return { messages: [user(`How does next(reader) skip the header in csv.reader? (${j}-${n})`)], out: 120 + Math.floor(r() * 200) };
  if (x < 0.5) return { messages: [user(`Our loader fails on the March export:\n\n${code(j, n, r)}\n\nValueError: invalid literal for int() with base 10: '' (line ${n + 40})`), assistant(ANSWER), user('Skipping is fine, but where do I put the check so total() still works?')], out: 150 + Math.floor(r() * 250) };
  return { messages: [user(`Why does this give a wrong total for file ${j}-${n}? Prices have a comma as the decimal separator.\n\n${code(j, n, r)}`)], out: 200 + Math.floor(r() * 300) };
}
const veterans = () => population('staffold', 3, 300, -3, 6, 3, (j) => ({ ip: '203.0.113.7', signupIp: `73.80.${j}.9`, domain: 'widgetworks.io', ua: 'python-httpx/0.27', signedUpDaysBefore: 300 }), employee);
const company = () => [...veterans(), ...population('staff', 30, 200, 0, 3, 3, (j) => ({ ip: '203.0.113.7', signupIp: `73.${90 + j}.${(j * 29) % 250}.${5 + j}`, domain: 'widgetworks.io', ua: 'python-httpx/0.27' }), employee)];

const ids = (res: ReturnType<typeof replayThroughDetector>, prefix: string) => [...res.seen.keys()].filter((id) => id.startsWith(prefix));

test('a quiet fleet\'s new heads of 6 requests each are throttled from their fourth request on, joining the standing cohort; a campus class and a company behind one NAT stay at watch or below', () => {
  const res = replayThroughDetector([...firstHeads(), ...replacements(), ...campusClass(), ...company()]);

  // The first heads form the cohort (each at 8 requests or more).
  const heads = ids(res, 'head_');
  const headsThrottled = heads.filter((id) => res.highest.get(id)! >= verdictRank('throttle')).length;
  assert.ok(headsThrottled >= 28, `the first heads are throttled as a cohort: ${headsThrottled} of ${heads.length}`);

  // The replacements (6 requests each, never enough to form a cohort) are served 3 requests each
  // at most: the reading after the third throttles the fourth. (`throttledAt`: the first request
  // that met the account at throttle; the ones before it were served.)
  const fresh = [...ids(res, 'new2_'), ...ids(res, 'new3_')];
  assert.equal(fresh.length, 40, 'forty replacement heads');
  let served = 0; const late: string[] = [];
  for (const id of fresh) {
    const at = res.throttledAt.get(id);
    const before = (at ?? res.seen.get(id)! + 1) - 1;
    served += before;
    if (before > 4) late.push(`${id}: ${before}`);
  }
  // A fourth request sent within the 15 minutes before the next reading is served too; a head
  // whose first answers were short is read at a later request, or not at all.
  assert.ok(late.length <= 2, `replacement heads served more than 4 requests below throttle: ${late.length} of 40 (${late.join(', ')})`);
  assert.ok(served <= 40 * 3 + 16, `requests of the replacements served below throttle: ${served} of ${40 * 6}`);
  const v = res.e.forAccount('new3_4').verdict;
  const shape = v?.reasons.find((x) => x.signal === 'harvest_cohort_shape');
  assert.ok(shape && shape.value === 'joined' && /joined the standing cohort/.test(shape.detail ?? ''), `a replacement's verdict says it joined the cohort: ${JSON.stringify(shape)}`);
  assert.ok(v!.reasons.some((x) => x.signal === 'harvest_cohort_size' && typeof x.value === 'number' && x.value >= 20 && x.threshold === 20), 'and names the cohort it joined, its size and threshold');

  // The look-alikes, new on the same days: none above watch, none named in the cohort.
  for (const [prefix, what] of [['student_', 'students of the campus class'], ['staff', 'employees behind one NAT']] as const) {
    const members = ids(res, prefix);
    assert.ok(members.length >= 30, `${what}: ${members.length} accounts`);
    const above = members.filter((id) => res.highest.get(id)! > verdictRank('watch'));
    assert.equal(above.length, 0, `${what} above watch: ${above.length} of ${members.length} (${above.slice(0, 5).join(', ')})`);
    const named = members.filter((id) => res.e.forAccount(id).verdict?.reasons.some((x) => x.signal === 'harvest_cohort'));
    assert.equal(named.length, 0, `${what} named in the cohort: ${named.length}`);
  }
});

// Heads that send their few requests in one burst, a minute or two apart: all of them would be
// served before a reading every 15 minutes came round.
const bursts = (prefix: string, k: number, seed: number, day: number, requests: number) => {
  const out: InteractionEvent[] = [];
  for (let j = 0; j < k; j++) {
    const r = seededRandom(seed * 1000 + j + 1);
    const start = T0 + day * DAY + (8 + r() * 12) * 3_600_000;
    const a: Account = { id: `${prefix}_${j}`, createdMs: start - (1 + r() * 5) * 3_600_000, ...own(180)(j) };
    let ts = start;
    for (let n = 0; n < requests; n++) {
      const { messages, out: o } = harvest(j, n, r);
      out.push(event(a, n, ts, messages, o));
      ts += (60 + r() * 90) * 1000;
    }
  }
  return out;
};

test('with cohort_join_between_readings, a standing cohort\'s new heads that send 6 requests in one burst are throttled from their fourth, not at the next reading; a campus class and a company behind one NAT stay at watch or below', () => {
  const events = [...firstHeads(), ...bursts('burst', 30, 70, 3, 6), ...campusClass(), ...company()];
  // By default a head is read at the 15-minute reading after its third request: a burst is served whole.
  const byDefault = replayThroughDetector(events);
  const wholeBursts = ids(byDefault, 'burst_').filter((id) => (byDefault.throttledAt.get(id) ?? 7) > 4).length;
  assert.ok(wholeBursts >= 25, `by default, burst heads served 4 requests or more: ${wholeBursts} of 30`);
  const res = replayThroughDetector(events, { cohort_join_between_readings: true });
  const heads = ids(res, 'burst_');
  assert.equal(heads.length, 30, 'thirty heads sending in bursts');
  const served = heads.map((id) => (res.throttledAt.get(id) ?? res.seen.get(id)! + 1) - 1);
  const late = served.filter((n) => n > 3).length;
  // Each is read when it is next scored (the tick after its request), against the cohort read last.
  assert.ok(late <= 1, `burst heads served more than 3 requests below throttle: ${late} of 30 (${served.join(' ')})`);
  const v = res.e.forAccount('burst_5').verdict;
  const shape = v?.reasons.find((x) => x.signal === 'harvest_cohort_shape');
  assert.ok(shape && shape.value === 'joined' && /joined the standing cohort/.test(shape.detail ?? ''), `a burst head's verdict says it joined the cohort: ${JSON.stringify(shape)}`);
  for (const [prefix, what] of [['student_', 'students of the campus class'], ['staff', 'employees behind one NAT']] as const) {
    const above = ids(res, prefix).filter((id) => res.highest.get(id)! > verdictRank('watch'));
    assert.equal(above.length, 0, `${what} above watch: ${above.length} (${above.slice(0, 5).join(', ')})`);
  }
});

// A fleet of one-day accounts of 6 requests each: none ever reaches the 8 a cohort forms from.
const churn = (perDay: number, days: number) => Array.from({ length: days }, (_, d) => population(`churn${d}`, perDay, 40 + d, d, 1, 6, own(150 + d * 30), harvest)).flat();

test('a fleet of one-day accounts of 6 requests each forms a cohort at twice the threshold: from its second day each new head is throttled from its fourth request; 30 such accounts are not throttled', () => {
  const small = replayThroughDetector(churn(15, 2));
  const smallAbove = [...small.highest].filter(([, l]) => l >= verdictRank('throttle')).length;
  assert.equal(smallAbove, 0, `accounts of 6 requests throttled in a group of 30 (under twice the threshold of 20): ${smallAbove}`);

  // Day one: 25 heads, under twice the threshold, all served. On day two the cohort forms as its
  // heads reach their third request; from day three each head is read at its third.
  const res = replayThroughDetector(churn(25, 3));
  const before = (id: string) => (res.throttledAt.get(id) ?? res.seen.get(id)! + 1) - 1;
  const day2 = ids(res, 'churn1_').map(before);
  const day3 = ids(res, 'churn2_').map(before);
  const served = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  assert.ok(served(day2) <= 25 * 4 + 6, `day-two heads' requests served below throttle: ${served(day2)} of 150 (${day2.join(' ')})`);
  const late = day3.filter((n) => n > 4).length;
  assert.ok(late <= 2 && served(day3) <= 25 * 3 + 8, `day-three heads: ${late} of 25 served more than 4 requests below throttle, ${served(day3)} of 150 served (${day3.join(' ')})`);
  const v = res.e.forAccount('churn2_7').verdict;
  const size = v?.reasons.find((x) => x.signal === 'harvest_cohort_size');
  assert.ok(size && typeof size.value === 'number' && size.value >= 40 && size.threshold === 40 && /fewer than 8 requests/.test(size.detail ?? ''),
    `the verdict names a cohort formed from few requests each, at twice the threshold: ${JSON.stringify(size)}`);
});

// Look-alikes linked by what one place shares: each is many actors at one address, and what they
// ask is not a harvest (src/detect/place-links.ts). Before, the class was held at suspend and the
// company above watch by their links alone.
const LAB = BROWSERS[1];
const TEACHER = ASKS[0];
/** The campus class above, that also signed up in the lab (one address), all with the lab's browser and the teacher's wording. */
const labClass = () => population('labstudent', 40, 100, 1, 2, 2, () => ({ ip: '128.32.4.10', signupIp: '128.32.4.10', domain: 'gmail.com', ua: LAB }), (j, n, r) => {
  const problem = HOMEWORK[(j + n) % HOMEWORK.length];
  const working = `My working so far: I set up the equation but get ${Math.floor(r() * 90) + 10}, not the book's answer, and I do not see where I went wrong.`;
  if (n === 0 || r() < 0.4) return { messages: [user(`${TEACHER} ${problem}\n\n${working}`)], out: 400 + Math.floor(r() * 400) };
  return { messages: [user(`${TEACHER} ${problem}`), assistant(worked(problem)), user('I do not get step 2, why do you multiply there? Our teacher did it another way.')], out: 250 + Math.floor(r() * 300) };
});

test('a class on free-mail that signed up in the lab, with one browser and the teacher\'s wording, is linked by the place and stays at watch; its verdict says why', () => {
  const res = replayThroughDetector(labClass());
  const members = ids(res, 'labstudent_');
  assert.equal(members.length, 40, 'forty students');
  const clusters = new Set(members.map((id) => res.e.forAccount(id).clusterId));
  assert.ok(clusters.size === 1 && !clusters.has(null), `the class is linked into one cluster by its address, signup address and browser: ${[...clusters].join(', ')}`);
  const above = members.filter((id) => res.highest.get(id)! > verdictRank('watch'));
  assert.equal(above.length, 0, `students above watch at any time: ${above.length} of 40 (${above.slice(0, 5).join(', ')})`);
  const v = res.e.forAccount('labstudent_0').verdict;
  const place = v?.reasons.find((x) => x.signal === 'place_links_only');
  assert.ok(place && place.value === 'uncorroborated' && /held at the watch threshold|at most the watch threshold/.test(place.detail ?? ''), `the cluster's verdict says it is held at watch, linked by a place only: ${JSON.stringify(place)}`);
  const single = v!.reasons.find((x) => x.signal === 'place_single_shot_share');
  assert.ok(single && typeof single.value === 'number' && single.value < (single.threshold as number), `and names the reading that is not harvest-like, with its threshold: ${JSON.stringify(single)}`);
});

test('a company\'s 30 new employees behind one NAT, with no established colleague on their domain and no org, stay at watch', () => {
  const res = replayThroughDetector(population('newstaff', 30, 200, 0, 3, 3, (j) => ({ ip: '203.0.113.7', signupIp: `73.${90 + j}.${(j * 29) % 250}.${5 + j}`, domain: 'widgetworks.io', ua: 'python-httpx/0.27' }), employee));
  const members = ids(res, 'newstaff_');
  assert.equal(members.length, 30, 'thirty employees');
  const linked = members.filter((id) => res.e.forAccount(id).clusterId !== null).length;
  assert.ok(linked >= 20, `the employees are linked by the office address and domain: ${linked} of 30`);
  const above = members.filter((id) => res.highest.get(id)! > verdictRank('watch'));
  assert.equal(above.length, 0, `employees above watch at any time: ${above.length} of 30 (${above.slice(0, 5).join(', ')}): ${JSON.stringify(res.e.forAccount(above[0] ?? members[0]).verdict?.reasons.slice(0, 4))}`);
});

test('a fleet behind one address, signed up from it with one browser, asking for the working of dataset items, is held at throttle or above beside the lab class', () => {
  const fleet = population('labfleet', 30, 7, 1, 2, 4, () => ({ ip: '45.77.12.9', signupIp: '45.77.12.9', domain: 'gmail.com', ua: LAB }), harvest);
  const res = replayThroughDetector([...fleet, ...labClass()]);
  const heads = ids(res, 'labfleet_');
  const held = heads.filter((id) => res.highest.get(id)! >= verdictRank('throttle'));
  assert.ok(held.length >= 28, `fleet accounts held at throttle or above: ${held.length} of ${heads.length}`);
  const v = res.e.forAccount('labfleet_3').verdict;
  const place = v?.reasons.find((x) => x.signal === 'place_links_only');
  assert.ok(v?.subject.kind === 'cluster' && place?.value === 'corroborated' && /harvest shape/.test(place.detail ?? ''), `the fleet's cluster verdict says its place links are corroborated by the harvest shape: ${JSON.stringify(place)}`);
  const ratio = v!.reasons.find((x) => x.signal === 'place_output_input_ratio');
  assert.ok(ratio && typeof ratio.value === 'number' && ratio.value >= (ratio.threshold as number), `with the output/input ratio over its threshold: ${JSON.stringify(ratio)}`);
  const students = ids(res, 'labstudent_').filter((id) => res.highest.get(id)! > verdictRank('watch'));
  assert.equal(students.length, 0, `students above watch beside the fleet: ${students.length}`);
});

// The fleet's own settings: every request of its program sends them (max_tokens and temperature).
const FLEET_SETTINGS = { max_tokens: 16_000, temperature: 1 };
const withSettings = (evs: InteractionEvent[], p: { max_tokens: number; temperature: number }) => evs.map((ev) => ({ ...ev, request: { ...ev.request, params: { ...ev.request.params, ...p } } }));
// Newcomers with the fleet's settings who converse: a follow-up on an answer, their own code pasted
// (three: the settings stay the cohort's own while nine in ten of the new accounts sending them are its members).
const settingsPeople = () => withSettings(population('devnew', 3, 400, 3, 1, 4, (j) => ({ ip: `99.${j}.7.${9 + j}`, domain: 'gmail.com', ua: BROWSERS[j % BROWSERS.length] }), employee), FLEET_SETTINGS);
// Customers who have used the service for most of a year and send those settings too.
const settingsVeterans = () => withSettings(population('vet', 3, 500, -3, 6, 3, (j) => ({ ip: `98.${j}.9.${9 + j}`, domain: 'gmail.com', ua: 'python-httpx/0.27', signedUpDaysBefore: 300 }), employee), FLEET_SETTINGS);

test('a standing cohort\'s new heads that send its own settings are throttled from their second request; newcomers with those settings who converse, a campus class and a company stay at watch or below; settings established customers send do not count', () => {
  const fleet = () => [...withSettings(firstHeads(), FLEET_SETTINGS), ...withSettings(bursts('burst', 30, 70, 3, 6), FLEET_SETTINGS)];
  const res = replayThroughDetector([...fleet(), ...settingsPeople(), ...campusClass(), ...company()]);
  const heads = ids(res, 'burst_');
  assert.equal(heads.length, 30, 'thirty heads sending in bursts');
  const served = heads.map((id) => (res.throttledAt.get(id) ?? res.seen.get(id)! + 1) - 1);
  const late = served.filter((n) => n > 1).length;
  // Read when next scored (the tick after its first request), against the settings read with the cohort.
  assert.ok(late <= 2, `heads with the cohort's settings served more than their first request below throttle: ${late} of 30 (${served.join(' ')})`);
  const v = res.e.forAccount('burst_5').verdict;
  const settings = v?.reasons.find((x) => x.signal === 'harvest_cohort_settings');
  assert.ok(settings && typeof settings.value === 'number' && settings.value >= 20 && settings.threshold === 20 && /detect.cohort_settings_heads/.test(settings.detail ?? ''),
    `a head's verdict names the cohort's settings, how many members send them and the bar: ${JSON.stringify(settings)}`);
  assert.equal(v?.reasons.find((x) => x.signal === 'harvest_cohort_shape')?.value, 'settings', 'and says it joined by them');
  for (const [prefix, what] of [['devnew', 'newcomers with the settings who converse'], ['student_', 'students of the campus class'], ['staff', 'employees behind one NAT']] as const) {
    const members = ids(res, prefix);
    assert.ok(members.length >= 3, `${what}: ${members.length} accounts`);
    const above = members.filter((id) => res.highest.get(id)! > verdictRank('watch'));
    assert.equal(above.length, 0, `${what} above watch: ${above.length} of ${members.length} (${above.slice(0, 5).join(', ')})`);
  }

  // With three established customers sending the same settings, they are nobody's own: the heads are read as before.
  const shared = replayThroughDetector([...fleet(), ...settingsVeterans()]);
  const early = ids(shared, 'burst_').filter((id) => (shared.throttledAt.get(id) ?? 99) <= 2).length;
  assert.ok(early <= 2, `heads throttled from their second request by settings customers with history also send: ${early} of 30`);
  assert.ok(!ids(shared, 'burst_').some((id) => shared.e.forAccount(id).verdict?.reasons.some((x) => x.signal === 'harvest_cohort_settings')), 'no verdict names them');
  // Off: the same.
  const off = replayThroughDetector(fleet(), { cohort_settings_heads: false });
  const earlyOff = ids(off, 'burst_').filter((id) => (off.throttledAt.get(id) ?? 99) <= 2).length;
  assert.ok(earlyOff <= 2, `with detect.cohort_settings_heads off, heads throttled from their second request: ${earlyOff} of 30`);
});
