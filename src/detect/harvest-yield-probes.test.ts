/**
 * Requests that are not harvested answers: a logit probe (a bias map applied, one token read) and a
 * prompt sent again and answered with a token or two. Two developers fill a form through
 * `logit_bias`, one token at a time: each sends one prompt that says "step by step" some thirty
 * times, each answered with one token, next to their ordinary single-shot questions (answers some
 * 7 times the question, no working asked). Counted as questions asking for the working, those
 * re-sends brought the harvest-yield test's lower output/input bar (6 instead of 10) and both
 * passed it. A logit extraction on a prompt that says "step by step" is still shaped by its own
 * test (logit-probe.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summariseLogitBias, promptFingerprint } from '../events/index.ts';
import { promptFixture as fixture, seededRandom, replayThroughDetector, personPaceTimes, singleShotEvent, roughTokens } from '../../test/helpers/detect-fixtures.ts';
import { verdictRank } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

const CODE = fixture('distill/code-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const FORM = 'You fill in the intake form of a support ticket. Think step by step about what the customer wrote, then choose the field value.\nCustomer: my order 5512 arrived broken and I want a refund.\nPriority:';
const FIELDS = [' high', '\nCategory: refund', '\nOrder: 5512', '\nDamaged: yes', '\nEscalate: no', '\nLanguage: en'];

/** A bias map pushing `count` tokens from `start` up. */
function biasMap(start: number, count: number) {
  const m: Record<string, number> = {};
  for (let k = 0; k < count; k++) m[String(start + k)] = 100;
  return summariseLogitBias(m)!;
}

/** One request with a bias map and a one-token answer, from the account's own home. */
function probeEvent(account: string, home: number, n: number, ts: number, text: string, map: ReturnType<typeof biasMap>): InteractionEvent {
  const e = singleShotEvent(account, home, n, ts, text, 1);
  e.request.params = { ...e.request.params, max_tokens: 1, temperature: 0, logit_bias: { ...map, prompt: promptFingerprint([['user', text]]) } };
  e.response = { ...e.response, finish_reason: 'length', output_chars: 3 };
  return e;
}

function build(): InteractionEvent[] {
  const events: InteractionEvent[] = [];
  const r = seededRandom(41);
  for (const [d, dev] of ['dev_form_a', 'dev_form_b'].entries()) {
    const times = personPaceTimes(r, T0 + d * 3_600_000, 3);
    let q = d * 37;
    let fills = 0;
    for (const [n, ts] of times.entries()) {
      // One form session a day: the same prompt, each field's options pushed up, one token read.
      // The prompt grows by the value chosen at each field; each field has its own options.
      if (Math.floor(((n + 1) * 30) / times.length) > Math.floor((n * 30) / times.length)) { events.push(probeEvent(dev, 10 + d, n, ts, FORM + FIELDS.slice(0, fills % 6).join(''), biasMap(4000 + 7 * (fills % 6), 2 + (fills % 3)))); fills++; continue; }
      const text = CODE[q++ % CODE.length];
      events.push(singleShotEvent(dev, 10 + d, n, ts, text, 420));
    }
    assert.ok(fills >= 27, `${dev} re-sends its form prompt ${fills} times`);
  }
  // A logit extraction: the same two prompts, a new stretch of the vocabulary each time.
  const extract = ['Explain step by step how a compiler parses an expression.', 'Think step by step: what is the next word?'];
  for (let n = 0; n < 200; n++) events.push(probeEvent('acct_extract', 30, n, T0 + n * 45_000, extract[n % 2], biasMap(10_000 + 5 * Math.floor(n / 2), 5)));
  events.sort((a, b) => a.ts.localeCompare(b.ts));
  return events;
}

const run = () => replayThroughDetector(build());

export { build };
test('developers filling a form through logit_bias stay at watch; their one-token re-sends are no questions asking for the working', () => {
  const res = run();
  for (const dev of ['dev_form_a', 'dev_form_b']) {
    const v = res.e.forAccount(dev);
    assert.ok((res.highest.get(dev) ?? 0) <= verdictRank('watch'), `${dev}: ${v.level} ${JSON.stringify(v.verdict?.reasons)}`);
    assert.ok(!(v.verdict?.reasons ?? []).some((x) => x.signal === 'harvest_yield_test'), `${dev} passes no harvest-yield test`);
  }
});

test('a logit extraction on prompts asking for the steps is still shaped by the logit-probe test', () => {
  const res = run();
  const v = res.e.forAccount('acct_extract');
  assert.ok(verdictRank(v.level) >= verdictRank('shape'), `acct_extract: ${v.level}`);
  assert.equal(v.verdict!.reasons.find((x) => x.signal === 'logit_probe_test')?.value, 'pass');
});
