/**
 * The fresh input of a request (standing-input.ts), read directly: what a request goes on from is
 * what the account sent, whatever the form of its history; several preambles taken in turn are
 * found as one is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FreshSketches, freshInput } from './standing-input.ts';
import { ServedAnswers } from './served-answers.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type EventMessage, type InteractionEvent } from '../events/index.ts';

const user = (text: string): EventMessage => ({ role: 'user', text, chars: text.length });
const call: EventMessage = { role: 'assistant', text: '', chars: 0 };
const tool = (text: string): EventMessage => ({ role: 'tool', text, chars: text.length });
const TOOL_TOKENS = 600;

function request(messages: EventMessage[]): InteractionEvent {
  const chars = messages.reduce((a, m) => a + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: 'e', ts: '2026-05-04T00:00:00.000Z', duration_ms: 1000, flavour: 'openai.chat', model: 'm', upstream: 'up',
    account_id: 'acct_a', org_id: null, key_id: 'k', client: { ip: '10.0.0.1', user_agent: 'x', country: 'US', asn: 1 },
    request: { stream: false, system: null, messages, tools: ['search'], tool_choice: null, params: emptyParams(), bytes: chars },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4) + TOOL_TOKENS, output_tokens: 900, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 1, output_chars: 3600, reasoning_chars: 0 },
    account: null, enforcement: emptyEnforcement(),
  };
}

function reader() {
  const sketch = new FreshSketches(1);
  const sent = new ServedAnswers(16);
  sent.select(ServedAnswers.accountKey('acct_a'));
  return (msgs: EventMessage[], singleShot = true) => {
    const ev = request(msgs);
    return { fresh: freshInput(sketch, 0, ev, singleShot, 0x1234, sent), input: ev.response.input_tokens };
  };
}

const task = (k: number) => `Look up order ${1000 + k} and tell the customer when it ships; they asked twice already.`;

test('an agent\'s steps go on from the steps the account sent, however many of its users\' tasks interleave: each counts its tool definitions and history', () => {
  const read = reader();
  const sessions = Array.from({ length: 20 }, (_, k) => [user(task(k))]);
  for (const s of sessions) read(s.slice());
  let anew = 0;
  for (let step = 0; step < 4; step++) {
    for (const s of sessions) {
      s.push(call, tool(`{"status": "step ${step}", "rows": ${s.length}}`));
      const r = read(s.slice());
      if (r.fresh < r.input) anew++;
    }
  }
  assert.equal(anew, 0, `every step of twenty interleaved tasks counts its input whole (${anew} of 80 read as new)`);
});

test('a made-up trajectory before a single-shot question is no step: its tool definitions and a preamble sent alike are left out', () => {
  const read = reader();
  const PRE = 'I am preparing study notes for a tutoring group and need clear worked answers to each problem below. '.repeat(3);
  let last = { fresh: 0, input: 0 };
  for (let n = 0; n < 6; n++) {
    last = read([user(`${PRE}\n\nProblem ${n}: a train leaves at ${n} o'clock at ${40 + n} km/h; when does it arrive 200 km away?`), call, tool(`{"found": ${n}}`), call, tool(`{"page": ${n + 1}}`)]);
  }
  assert.ok(last.input - last.fresh >= TOOL_TOKENS + 60, `the tool definitions and the preamble are left out (${last.input} tokens, ${last.fresh} counted)`);
});

test('a short request sent once, then put before question after question, is gone on from at most eight times', () => {
  const read = reader();
  const opener = user('Call get_problem and solve what it returns, step by step.');
  read([opener]);
  const fresh: boolean[] = [];
  for (let n = 0; n < 12; n++) {
    const r = read([opener, call, tool(`A farmer has ${n + 12} cows and buys ${n + 3} more; how many legs are there in all on the farm now?`)]);
    fresh.push(r.fresh < r.input);
  }
  assert.deepEqual(fresh.slice(0, 8), Array(8).fill(false), 'the first eight go on from it (a follow-up, edits, retries)');
  assert.ok(fresh.slice(8).every(Boolean), `the rest are read as new, their tool definitions left out: ${fresh.join(',')}`);
});

test('preambles taken in turn are found as one sent alike is, up to four of them', () => {
  const PRE = ['Alpha preamble for the study group, kept alike each time so the notes line up. ', 'Beta preamble: the tutoring programme wants a model answer a pupil could follow. ', 'Gamma preamble: a maths club collects worked examples for its members. ', 'Delta preamble: revision sheets, one clean solution per problem, units kept. '].map((p) => p.repeat(4));
  const read = reader();
  const leftOut: number[] = [];
  for (let n = 0; n < 24; n++) {
    const r = read([user(`${PRE[n % 4]}\n\nQuestion ${n}: what is ${n * 17} divided by ${n + 3}, to two decimal places? Show the working.`)]);
    leftOut.push(r.input - r.fresh);
  }
  // Tool definitions are left out from the second request; each preamble from its second use on.
  assert.ok(leftOut.slice(8).every((x) => x >= TOOL_TOKENS + 60), `each of the four preambles is left out once seen: ${leftOut.join(',')}`);
});

test('an account that sends one lead-in and closing holds no memory for the other slots, and a sketch read back from a snapshot counts what the one kept did', () => {
  const PRE = ['Alpha preamble for the study group, kept alike each time so the notes line up. ', 'Beta preamble: the tutoring programme wants a model answer a pupil could follow. ', 'Gamma preamble: a maths club collects worked examples for its members. '].map((p) => p.repeat(4));
  const ask = (pre: string, n: number) => request([user(`${pre}\n\nQuestion ${n}: what is ${n * 17} divided by ${n + 3}, to two decimal places? Show the working.`)]);
  const sketches = new FreshSketches(3);
  for (let n = 0; n < 6; n++) freshInput(sketches, 0, ask(PRE[0], n), true, 0x1234);
  assert.equal(sketches.withRow, 0, 'an account sending the same preamble each time takes no row for the other slots');
  for (let n = 0; n < 6; n++) freshInput(sketches, 1, ask(PRE[n % 3], n), true, 0x1234);
  assert.equal(sketches.withRow, 1, 'an account taking preambles in turn takes one row');
  // What a snapshot stores, read back: the same input counted from here on, the same sketch.
  const back = FreshSketches.fromDense(sketches.dense(), 3);
  assert.equal(back.withRow, 1, 'read back, only the account using the other slots holds a row');
  const counted = (s: FreshSketches) => Array.from({ length: 9 }, (_, n) => freshInput(s, n % 2, ask(PRE[n % 3], 10 + n), true, 0x1234));
  const kept = counted(sketches);
  assert.deepEqual(counted(back), kept, 'the sketch read back counts what the one kept does');
  assert.ok(kept.some((x, n) => x < ask(PRE[n % 3], 10 + n).response.input_tokens - 600), `a preamble seen before is left out (${kept})`);
  assert.deepEqual(back.dense(), sketches.dense(), 'and holds the same afterwards');
  // A forgotten account's row is reused by the next account that needs one, cleared.
  const rows = sketches.rows;
  sketches.clear(0); sketches.clear(1);
  assert.equal(sketches.withRow, 0, 'forgotten accounts hold no row');
  for (let n = 0; n < 3; n++) freshInput(sketches, 2, ask(PRE[n], n), true, 0x1234);
  assert.equal(sketches.rows, rows, 'the row freed is reused, none made');
  const fresh = new FreshSketches(3);
  for (let n = 0; n < 3; n++) freshInput(fresh, 2, ask(PRE[n], n), true, 0x1234);
  assert.deepEqual(sketches.dense(), fresh.dense(), 'a reused row starts empty');
});
