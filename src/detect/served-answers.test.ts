import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FOLLOW_MAX, ServedAnswers } from './served-answers.ts';
import { DetectorEngine } from './engine.ts';
import { readSnapshot, writeSnapshot } from './snapshot.ts';
import { extractFeatures, FLAG, flagNames, type ServedAnswerLookup } from './features.ts';
import { answerFingerprint, answerFpOf, emptyEnforcement, emptyParams, type EventMessage, type InteractionEvent } from '../events/index.ts';

test('the record of served answers holds a fixed memory, forgets the oldest generation, and rarely says yes wrongly', () => {
  const s = new ServedAnswers(16); // 2^16 bits a generation: 16 KiB in all, 4,096 pairs a generation
  const bytes = s.bytes;
  assert.equal(bytes, 2 * 2 ** 16 / 8, 'two generations of 2^16 bits');
  const acct = (i: number) => ServedAnswers.accountKey(`acct_${i}`);
  // 40,000 answers of 10,000 accounts: ten generations' worth.
  for (let i = 0; i < 40_000; i++) s.add(acct(i % 10_000), 1000 + i);
  assert.equal(s.bytes, bytes, 'memory does not grow with accounts or answers');
  assert.ok(s.size <= s.capacity, `the current generation holds at most its capacity (${s.size} of ${s.capacity})`);
  // The last answers (half a generation's pairs: each answer may add its account's marker too) are all remembered...
  let missed = 0;
  for (let i = 40_000 - s.capacity / 2; i < 40_000; i++) if (!s.select(acct(i % 10_000)).has(1000 + i)) missed++;
  assert.equal(missed, 0, 'every recent answer is remembered');
  // ...the oldest are forgotten, and answers never served are rarely taken for served ones.
  let old = 0; let wrong = 0;
  for (let i = 0; i < 10_000; i++) {
    if (s.select(acct(i)).has(1000 + i)) old++;
    if (s.select(acct(i)).has(9_000_000 + i)) wrong++;
  }
  assert.ok(old < 200, `answers ten generations old are forgotten but for false positives (${old} of 10,000)`);
  assert.ok(wrong < 100, `false positives below 1% (${wrong} of 10,000)`);
  // An answer served to one account is not one served to another.
  s.add(acct(1), 77);
  assert.equal(s.select(acct(2)).has(77), false, 'another account was not served it');
  assert.equal(s.select(acct(1)).has(77), true);
});

test('an account carries fingerprints once one of its events had one, and no longer once that is two generations old', () => {
  const s = new ServedAnswers(12);
  const a = ServedAnswers.accountKey('acct_a');
  assert.equal(s.select(a).carries, false, 'not seen');
  s.add(a, 5);
  assert.equal(s.select(a).carries, true);
  for (let i = 0; i < 3 * s.capacity; i++) s.add(ServedAnswers.accountKey(`other_${i}`), i + 1);
  assert.equal(s.select(a).carries, false, 'forgotten after two generations of other accounts\' answers');
});

test('default size: 2 MiB, 524,288 answers a generation, under 1% false positives when full', () => {
  const s = new ServedAnswers();
  assert.equal(s.bytes, 2 * 1024 * 1024);
  assert.equal(s.capacity, 524_288);
  for (let i = 0; i < s.capacity - 1; i++) s.add(12345, i + 1);
  let wrong = 0;
  for (let i = 0; i < 20_000; i++) if (s.select(10_000_000 + i).has(7)) wrong++;
  assert.ok(wrong < 200, `false positives at capacity: ${wrong} of 20,000`);
});

test('an answer\'s fingerprint ignores whitespace and invisible characters, and needs the start of a cut message', () => {
  const answer = 'The train covers 150 km in 2.5 hours, so it gets there at 5:30 pm.';
  const fp = answerFpOf(answer);
  assert.notEqual(fp, 0);
  assert.equal(answerFpOf(`  ${answer.replace(/ /g, '\n')}\n`), fp, 'trimmed, re-wrapped');
  assert.equal(answerFpOf(answer.replace('train', 'tr\u200bain')), fp, 'a zero-width space');
  assert.notEqual(answerFpOf(answer.replace('150', '160')), fp, 'another answer');
  const long = answer.repeat(20);
  assert.equal(answerFpOf(long.slice(0, 100), long.length), answerFpOf(long), 'a long message cut after its first 64 visible characters: its start is enough');
  assert.equal(answerFpOf(long.slice(0, 30), long.length), 0, 'cut before them: cannot be compared');
  assert.equal(answerFpOf(' \n '), 0, 'nothing visible');
  assert.equal(answerFingerprint(answer), fp.toString(16).padStart(8, '0'));
});

const message = (role: string, text: string): EventMessage => ({ role, text, chars: text.length });
const chat = (messages: EventMessage[]): InteractionEvent => ({
  schema: 'warden.interaction/1', id: 'x', ts: '2026-12-05T10:00:00.000Z', duration_ms: 1, flavour: 'openai.chat', model: 'm', upstream: null,
  account_id: 'acct_x', org_id: null, key_id: null, client: { ip: '203.0.113.9', user_agent: null, country: null, asn: null },
  request: { stream: false, system: null, messages, tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
  response: { status: 200, error_code: null, ttfb_ms: 1, input_tokens: 1, output_tokens: 1, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', output_chars: 1, reasoning_chars: 0 },
  account: null, enforcement: emptyEnforcement(),
});

const QUESTION = 'Think step by step: a train leaves at 3pm at 60 km/h; when has it covered 150 km?';
const SHORT = 'At 5:30 pm: 150 km at 60 km/h takes 2.5 hours.';
const GREETING = 'Hello! I am your friendly assistant, ready to help with anything you need today: questions, writing, planning, code or just a chat. What would you like to talk about first?';
const lookup = (carries: boolean, served: string[]): ServedAnswerLookup => ({ carries, has: (fp) => served.some((t) => answerFpOf(t) === fp), follow: () => true });

test('a request\'s history: served answers make a conversation however short; made-up ones count only when long', () => {
  const later = (answer: string) => chat([message('user', QUESTION), message('assistant', answer), message('user', 'Thanks! And a name for my cat?')]);
  const flags = (ev: InteractionEvent, l?: ServedAnswerLookup) => extractFeatures(ev, l).flags;
  // By length alone (no lookup, or an account whose events carry no fingerprints): as before.
  assert.ok(flags(later(SHORT)) & FLAG.singleShot, 'a short answer: no conversation by length');
  assert.ok(flags(later(SHORT)) & FLAG.cot, 'and the earlier question read again');
  assert.equal(flags(later(SHORT), lookup(false, [])), flags(later(SHORT)), 'older logs: the same');
  assert.equal(flags(later(GREETING), lookup(false, [])) & FLAG.singleShot, 0, 'a long made-up answer is a conversation by length');
  // A short answer served to the account: a conversation, and only the follow-up read.
  const served = flags(later(SHORT), lookup(true, [SHORT]));
  assert.equal(served & (FLAG.singleShot | FLAG.cot), 0, `served: ${flagNames(served)}`);
  // Trimmed and re-wrapped by the client: still the served answer.
  assert.equal(flags(later(`\n${SHORT.replace(/ /g, '\n')} `), lookup(true, [SHORT])) & FLAG.singleShot, 0, 'the served answer, re-wrapped');
  // A made-up greeting of more than 160 characters: no conversation.
  const fake = flags(chat([message('user', 'hi'), message('assistant', GREETING), message('user', QUESTION)]), lookup(true, [SHORT]));
  assert.ok(fake & FLAG.singleShot && fake & FLAG.cot, `a made-up greeting: ${flagNames(fake)}`);
  // Made-up history longer than 2,000 characters (a chat continued from answers served elsewhere): a conversation.
  const elsewhere = 'An answer another provider gave, long as real answers are. '.repeat(40);
  assert.equal(flags(later(elsewhere), lookup(true, [SHORT])) & FLAG.singleShot, 0, 'a long history from elsewhere');
  // A message cut before the fingerprint's span cannot be compared: counted by length.
  const cut = { role: 'assistant', text: 'Sure, here is', chars: 900 };
  assert.equal(flags(chat([message('user', QUESTION), cut, message('user', 'go on')]), lookup(true, [])) & FLAG.singleShot, 0, 'a cut answer counts as before');
  // Prompts not recorded: as before.
  assert.equal(flags(chat([message('user', QUESTION), { role: 'assistant', text: null, chars: 400 }, message('user', 'go on')]), lookup(true, [])) & FLAG.singleShot, 0, 'no text: by length');
});

test('the detector keeps its record of served answers across a snapshot (a restart reads the next turn as the running detector would)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-served-'));
  try {
    const ev = (messages: EventMessage[], fp: string | null, id: string): InteractionEvent => ({ ...chat(messages), id, ...(fp ? { response: { ...chat(messages).response, answer_fp: fp } } : {}) });
    const a = new DetectorEngine({ rememberEventIdsSeconds: 3600 });
    a.ingest(ev([message('user', QUESTION)], answerFingerprint(SHORT), '01'));
    await writeSnapshot(a, join(dir, 'snap'), 60);
    const b = new DetectorEngine({ rememberEventIdsSeconds: 3600 });
    assert.equal((await readSnapshot(b, join(dir, 'snap'))).restored, true, 'the snapshot was used');
    const record = (e: DetectorEngine) => (e as unknown as { answersServed: ServedAnswers }).answersServed;
    assert.ok(record(b) instanceof ServedAnswers, 'a record, not plain data');
    assert.equal(record(b).select(ServedAnswers.accountKey('acct_x')).has(answerFpOf(SHORT)), true, 'the answer served before the snapshot is known after it');
    // Another size: the snapshot is still used, with a fresh record.
    const c = new DetectorEngine({ config: { served_answers_mib: 4 }, rememberEventIdsSeconds: 3600 });
    assert.equal((await readSnapshot(c, join(dir, 'snap'))).restored, true, 'used with another size of record');
    assert.equal(record(c).bytes, 4 * 1024 * 1024);
    assert.equal(record(c).select(ServedAnswers.accountKey('acct_x')).carries, false, 'a fresh record');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('one served answer sent back before question after question stops making them conversations', () => {
  const s = new ServedAnswers();
  const account = ServedAnswers.accountKey('acct_replay');
  const hello = 'Hello! How can I help you today?';
  s.add(account, answerFpOf(hello));
  const read = (q: string) => extractFeatures(chat([message('user', 'hi'), message('assistant', hello), message('user', q)]), s.select(account)).flags;
  const single: boolean[] = [];
  for (let i = 0; i < 20; i++) single.push((read(`${QUESTION} (${i})`) & FLAG.singleShot) !== 0);
  assert.deepEqual(single.slice(0, FOLLOW_MAX), new Array(FOLLOW_MAX).fill(false), 'a follow-up, a regenerated reply, an edited question: conversations');
  assert.deepEqual(single.slice(FOLLOW_MAX), new Array(20 - FOLLOW_MAX).fill(true), 'then the replayed answer is no longer one: single-shot');
  // Served again (a model that greets every new chat alike): followed as often again.
  s.add(account, answerFpOf(hello));
  const again: boolean[] = [];
  for (let i = 0; i < 10; i++) again.push((read(`${QUESTION} (again ${i})`) & FLAG.singleShot) !== 0);
  assert.deepEqual(again, [...new Array(FOLLOW_MAX).fill(false), true, true], 'served again: as many follow-ups again');
  // An answer served to the account 64 times or more (an agent's habitual line) is read by length, as before the record.
  const line = 'Let me check the files first, then run the tests to see what fails and why it fails.';
  for (let i = 0; i < 70; i++) s.add(account, answerFpOf(line));
  const habitual = () => extractFeatures(chat([message('user', QUESTION), message('assistant', line), message('user', 'go on')]), s.select(account)).flags;
  for (let i = 0; i < 20; i++) habitual();
  assert.ok(habitual() & FLAG.singleShot, 'a habitual line of 85 characters: by length, no conversation');
  const longLine = line.repeat(3);
  for (let i = 0; i < 70; i++) s.add(account, answerFpOf(longLine));
  for (let i = 0; i < 20; i++) extractFeatures(chat([message('user', QUESTION), message('assistant', longLine), message('user', 'go on')]), s.select(account));
  assert.equal(extractFeatures(chat([message('user', QUESTION), message('assistant', longLine), message('user', 'go on')]), s.select(account)).flags & FLAG.singleShot, 0, 'one of 255 characters: a conversation by length, as before');
  // Another answer of the same account is counted apart.
  const other = 'Sure, what would you like to know?';
  s.add(account, answerFpOf(other));
  assert.equal(extractFeatures(chat([message('user', 'hi'), message('assistant', other), message('user', QUESTION)]), s.select(account)).flags & FLAG.singleShot, 0, 'a fresh answer');
});
