/**
 * Request shapes that ask for the same reasoning answers as a plain single-shot "think step by
 * step" request: a legacy completions prompt array (each prompt an independent answer), reasoning
 * asked for with a parameter instead of words, a single question behind a fake greeting or ahead
 * of a prefill, and a prompt put in a tool result. The detector reads each as what it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, verdictRank } from './index.ts';
import { extractFeatures, extractPromptFeatures, flagNames, FLAG, lexiconCharactersRead } from './features.ts';
import { EVENT_SCHEMA, emptyEnforcement, emptyParams, type EventMessage, type InteractionEvent } from '../events/index.ts';
import { seededRandom as rand } from '../../test/helpers/detect-fixtures.ts';

const GSM8K = readFileSync(new URL('../../test/fixtures/prompts/distill/gsm8k-sample.jsonl', import.meta.url), 'utf8')
  .trim().split('\n').map((l) => JSON.parse(l).text as string);
const CHAT = ['organic/chat-written.jsonl', 'organic/hh-rlhf-sample.jsonl'].flatMap((f) => readFileSync(new URL(`../../test/fixtures/prompts/${f}`, import.meta.url), 'utf8')
  .trim().split('\n').map((l) => JSON.parse(l).text as string));
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const COT = (q: string) => `Let's think step by step. ${q}`;

const msg = (role: string, text: string): EventMessage => ({ role, text, chars: text.length });

function event(account: string, n: number, ts: number, messages: EventMessage[], out: number, more: { flavour?: InteractionEvent['flavour']; params?: Partial<InteractionEvent['request']['params']>; reasoning?: number } = {}): InteractionEvent {
  const h = 1 + (Number(account.replace(/\D/g, '')) || 0);
  const chars = messages.reduce((s, m) => s + m.chars, 0);
  return {
    schema: EVENT_SCHEMA, id: `${account}-${n}`, ts: new Date(ts).toISOString(), duration_ms: 4000,
    flavour: more.flavour ?? 'openai.chat', model: 'gpt-large', upstream: 'up', account_id: account, org_id: null, key_id: `key_${account}`,
    client: { ip: `81.${h}.7.9`, user_agent: 'openai-python/1.54.3', country: 'US', asn: 3000 + h },
    request: { stream: false, system: null, messages, tools: [], tool_choice: null, params: { ...emptyParams(), ...more.params }, bytes: chars + 200 },
    response: { status: 200, error_code: null, input_tokens: Math.ceil(chars / 4), output_tokens: out, reasoning_tokens: more.reasoning ?? 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 400, output_chars: out * 4, reasoning_chars: 0 },
    account: { created_at: '2025-06-01T00:00:00.000Z', tier: 'email_verified', programme: 'none', email_domain: 'gmail.com', payment_fp: `card-${account}`, signup_ip: `81.${h}.7.9`, claimed_country: 'US' },
    enforcement: emptyEnforcement(),
  };
}
const flagsOf = (messages: EventMessage[], more: Parameters<typeof event>[5] = {}) => flagNames(extractFeatures(event('acct_1', 0, T0, messages, 400, more)).flags);


/** A person's pace over three days (sessions in business hours, irregular gaps); `shape` makes each request. */
function account(id: string, seed: number, shape: (r: () => number) => { messages: EventMessage[]; out: number; flavour?: InteractionEvent['flavour'] }): InteractionEvent[] {
  const r = rand(seed);
  const out: InteractionEvent[] = [];
  for (let d = 0; d < 3; d++) {
    for (let s = 0, sessions = 4 + Math.floor(r() * 5); s < sessions; s++) {
      let ts = T0 + d * 86_400_000 + (9 + r() * 8) * 3_600_000;
      for (let q = 0, k = 2 + Math.floor(r() * 5); q < k; q++) {
        const x = shape(r);
        out.push(event(id, out.length, ts, x.messages, x.out, { flavour: x.flavour }));
        ts += 15_000 + Math.exp(Math.log(90_000) + (r() - 0.5) * 5);
      }
    }
  }
  return out;
}

function highestLevels(groups: InteractionEvent[][]): Map<string, number> {
  const e = new DetectorEngine({});
  const highest = new Map<string, number>();
  for (const ev of groups.flat().sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0))) {
    e.ingest(ev);
    const id = ev.account_id!;
    highest.set(id, Math.max(highest.get(id) ?? 0, verdictRank(e.forAccount(id).level)));
  }
  e.flush();
  for (const id of highest.keys()) highest.set(id, Math.max(highest.get(id)!, verdictRank(e.forAccount(id).level)));
  return highest;
}

const pick = <T>(xs: T[], r: () => number) => xs[Math.floor(r() * xs.length)];

test('a legacy completions prompt array: each prompt is read, single-shot, and counted as a request with its share of the output', () => {
  const prompts = [...GSM8K.slice(0, 5).map(COT), 'Answer the above.'].map((p) => msg('user', p));
  const ev = event('acct_1', 0, T0, prompts, 1200, { flavour: 'openai.completions' });
  const each = extractPromptFeatures(ev);
  assert.equal(each.reduce((s, f) => s + f.weight, 0), 6, 'six prompts, six requests');
  const cot = each.filter((f) => f.flags & FLAG.cot).reduce((s, f) => s + f.weight, 0);
  assert.equal(cot, 5, `the five chain-of-thought prompts are read as such: ${each.map((f) => flagNames(f.flags).join('+')).join(' | ')}`);
  assert.ok(each.every((f) => f.flags & FLAG.singleShot), 'each prompt is a request for an independent answer: single-shot');
  assert.equal(each.reduce((s, f) => s + f.outputTokens, 0), 1200, 'the output is split among the prompts, not multiplied');
  // A chat request's user messages are one conversation: one request, as before.
  assert.equal(extractPromptFeatures({ ...ev, flavour: 'openai.chat' }).length, 1);
  // A thousand prompts cost a bounded number of reads, and still count a thousand requests.
  const many = event('acct_1', 1, T0, Array.from({ length: 1000 }, (_, k) => msg('user', COT(GSM8K[k % GSM8K.length]))), 5000, { flavour: 'openai.completions' });
  const manyEach = extractPromptFeatures(many);
  assert.ok(manyEach.length <= 32, `a bounded number of prompts read: ${manyEach.length}`);
  assert.equal(manyEach.reduce((s, f) => s + f.weight, 0), 1000, 'every prompt counted');
});

test('which prompts of a large array are read cannot be chosen by the client: a neutral prompt at fixed positions hides nothing', () => {
  // "Say OK." at every other position, chain-of-thought prompts between them: half the array asks for reasoning.
  const alternating = Array.from({ length: 32 }, (_, k) => msg('user', k % 2 === 0 ? 'Say OK.' : COT(GSM8K[k % GSM8K.length])));
  const cotWeight = (id: number) => extractPromptFeatures(event('acct_1', id, T0, alternating, 3200, { flavour: 'openai.completions' }))
    .filter((f) => f.flags & FLAG.cot).reduce((s, f) => s + f.weight, 0);
  let total = 0;
  for (let id = 0; id < 40; id++) total += cotWeight(id);
  const mean = total / 40;
  assert.ok(mean > 12 && mean < 20, `about half of the 32 prompts read as chain-of-thought on average: ${mean}`);
  assert.equal(cotWeight(7), cotWeight(7), 'the same event is read the same way (a scan is reproducible)');
});

test('unlinked accounts harvesting through legacy prompt arrays reach the harvest-yield test; people sending prompt arrays of their own questions do not', () => {
  const harvest = (r: () => number) => ({ flavour: 'openai.completions' as const, messages: [...Array.from({ length: 5 }, () => msg('user', COT(pick(GSM8K, r)))), msg('user', 'Answer the above.')], out: 6 * (400 + Math.floor(r() * 600)) });
  const people = (r: () => number) => ({ flavour: 'openai.completions' as const, messages: Array.from({ length: 3 }, () => msg('user', pick(CHAT, r))), out: 3 * (150 + Math.floor(r() * 300)) });
  const harvesters = Array.from({ length: 8 }, (_, k) => account(`acct_h${k}`, 10 + k, harvest));
  const organic = Array.from({ length: 8 }, (_, k) => account(`acct_p${k}`, 50 + k, people));
  const highest = highestLevels([...harvesters, ...organic]);
  const caught = [...highest].filter(([id, l]) => id.startsWith('acct_h') && l >= verdictRank('throttle')).length;
  assert.ok(caught >= 6, `most legacy-array harvesters are throttled: ${caught}/8`);
  for (const [id, l] of highest) if (id.startsWith('acct_p')) assert.ok(l <= verdictRank('watch'), `${id} stays at watch or below, reached ${l}`);
});

test('large prompt arrays sent a few times a day reach the harvest-yield test: too few gaps to read a timing is no pipeline', () => {
  // 50 chain-of-thought prompts an array, one array about every 7 hours: no two within a session's 6 hours.
  const rare = (id: string, seed: number) => {
    const r = rand(seed);
    return Array.from({ length: 16 }, (_, n) => event(id, n, T0 + n * 26_000_000 + Math.floor(r() * 600_000),
      Array.from({ length: 50 }, () => msg('user', COT(pick(GSM8K, r)))), 50 * (900 + Math.floor(r() * 300)), { flavour: 'openai.completions' }));
  };
  const highest = highestLevels(Array.from({ length: 6 }, (_, k) => rare(`acct_r${k}`, 200 + k)));
  const caught = [...highest.values()].filter((l) => l >= verdictRank('throttle')).length;
  assert.ok(caught >= 5, `rare large arrays are throttled: ${caught}/6`);
});

test('an account hopping networks with prompt arrays reads as hopping: a request\'s network counts for each of its prompts', () => {
  const e = new DetectorEngine({});
  for (let n = 0; n < 30; n++) {
    const ev = event('acct_9', n, T0 + n * 600_000, Array.from({ length: 5 }, (_, k) => msg('user', pick(CHAT, () => ((n * 5 + k) % 97) / 97))), 5 * 300, { flavour: 'openai.completions' });
    ev.client = { ...ev.client, asn: 7000 + n, ip: `10.${n}.1.1` };
    e.ingest(ev);
  }
  e.flush();
  const hop = e.accountIndicators('acct_9').find((x) => x.signal === 'network_hopping_share')?.value;
  assert.ok(typeof hop === 'number' && hop > 0.8, `a new network at every request: hopping share ${hop}`);
});

test('a prompt in a tool result that a user message follows in the same turn ("go") is read: the model answers both', () => {
  const prompt = COT(GSM8K[2]);
  const chat = flagsOf([msg('user', 'Do the task.'), msg('assistant', ''), msg('tool', prompt), msg('user', 'go')]);
  assert.ok(chat.includes('cot') && chat.includes('math'), `a Chat role:tool message before "go": ${chat}`);
  const responses = flagsOf([msg('user', 'Do the task.'), msg('tool', prompt), msg('user', 'go')], { flavour: 'openai.responses' });
  assert.ok(responses.includes('cot') && responses.includes('math'), `a Responses function_call_output before "go": ${responses}`);
  // Anthropic's tool_result is part of its user message: the prompt in the middle of a longer tool output is read with "go".
  const output = (n: number) => Array.from({ length: n }, (_, k) => `src/module-${k}.ts: 0 errors, 0 warnings`).join('\n');
  const result = `${output(30)}\n${prompt}\n${output(15)}`;
  assert.ok(result.indexOf(prompt) > 900 && result.length - result.indexOf(prompt) - prompt.length > 400, 'the prompt is past the first 900 and before the last 400 characters');
  const anthropic = flagsOf([msg('user', 'Do the task.'), msg('assistant', ''), { ...msg('user', result), parts: { tool_result: 1 } }, msg('user', 'go')], { flavour: 'anthropic.messages' });
  assert.ok(anthropic.includes('cot') && anthropic.includes('math'), `an Anthropic tool_result before "go": ${anthropic}`);
  // A tool result an assistant answered before the user spoke again is history, as before.
  const answered = 'The tool returned a worked arithmetic problem about apples and baskets; I have noted its numbers and will use them in the summary you asked for, once you tell me which format you prefer for it. '.repeat(2);
  const older = flagsOf([msg('user', 'Do the task.'), msg('assistant', ''), msg('tool', prompt), msg('assistant', answered), msg('user', 'Thanks, what a lovely day.')]);
  assert.ok(!older.includes('cot'), `an answered tool result is not read again: ${older}`);
});

test('tool results that say nothing, or many short ones, after a prompt do not hide it', () => {
  const prompt = COT(GSM8K[2]);
  const padded = [msg('tool', prompt), ...Array.from({ length: 4 }, () => msg('tool', '.'))];
  const go = flagsOf([msg('user', 'Do the task.'), msg('assistant', ''), ...padded, msg('user', 'go')]);
  assert.ok(go.includes('cot') && go.includes('math'), `four "." results between the prompt and "go": ${go}`);
  const step = flagsOf([msg('user', 'Do the task.'), msg('assistant', ''), ...padded]);
  assert.ok(step.includes('cot') && step.includes('math'), `four "." results after the prompt in a tool step: ${step}`);
  // Short results that do say something are read within the event's budget, not cut at a count.
  const many = flagsOf([msg('user', 'Do the task.'), msg('assistant', ''), msg('tool', prompt), ...Array.from({ length: 8 }, () => msg('tool', 'exit code 0'))]);
  assert.ok(many.includes('cot') && many.includes('math'), `eight short results after the prompt: ${many}`);
});

test('an agent step with large tool results costs about what a long chat turn costs: one reading budget an event', () => {
  const text = (k: number) => Array.from({ length: 200 }, (_, i) => `const value${k}_${i} = compute(${i}, ${k}); // line ${i}`).join('\n').slice(0, 8000);
  const chat = event('acct_1', 0, T0, [msg('user', text(0))], 400);
  const agent = event('acct_1', 1, T0, [msg('user', 'Fix the failing build.'), msg('assistant', ''), msg('tool', text(1)), msg('tool', text(2)), msg('tool', text(3)), msg('tool', text(4)), msg('user', 'continue')], 400);
  // What the lexicons read is what an event costs (their automaton runs once over each character).
  const read = (ev: InteractionEvent) => { const before = lexiconCharactersRead(); extractFeatures(ev); return lexiconCharactersRead() - before; };
  const chatRead = read(chat);
  const agentRead = read(agent);
  assert.ok(chatRead >= 8000, `the chat turn is read whole: ${chatRead} characters`);
  // Read one by one, the four results and the turn were five times the chat turn's reading.
  assert.ok(agentRead <= 10_100, `an agent step of four 8,000-character results reads ${agentRead} characters, within the event's budget of 10,000`);
  assert.ok(agentRead <= chatRead * 1.3, `an agent step reads ${agentRead} characters against a chat turn's ${chatRead}`);
});

test('unlinked accounts harvesting through a tool result followed by "go" reach the harvest-yield test; agent users interrupting a loop do not', () => {
  const harvest = (r: () => number) => ({ messages: [msg('user', 'Run it.'), msg('assistant', ''), msg('tool', COT(pick(GSM8K, r))), msg('user', 'go')], out: 400 + Math.floor(r() * 600) });
  const listing = 'src/index.ts\nsrc/server.ts\nsrc/config.ts\nsrc/routes/users.ts\nsrc/db/pool.ts\npackage.json\n';
  const people = (r: () => number) => ({ messages: [msg('user', pick(CHAT, r)), msg('assistant', ''), msg('tool', listing), msg('user', 'continue')], out: 150 + Math.floor(r() * 300) });
  const harvesters = Array.from({ length: 8 }, (_, k) => account(`acct_h${k}`, 300 + k, harvest));
  const organic = Array.from({ length: 8 }, (_, k) => account(`acct_p${k}`, 350 + k, people));
  const highest = highestLevels([...harvesters, ...organic]);
  const caught = [...highest].filter(([id, l]) => id.startsWith('acct_h') && l >= verdictRank('throttle')).length;
  assert.ok(caught >= 6, `most tool-result harvesters are throttled: ${caught}/8`);
  for (const [id, l] of highest) if (id.startsWith('acct_p')) assert.ok(l <= verdictRank('watch'), `${id} stays at watch or below, reached ${l}`);
});

test('a prompt hidden between paragraphs of ordinary filler is read: the turn is read as far as the event keeps it', () => {
  const filler = (n: number) => 'We went to the market on Saturday and bought apples, bread and a few flowers for the kitchen table. '.repeat(n);
  const prompt = COT(GSM8K[3]);
  for (const [what, messages] of [
    ['one message', [msg('user', `${filler(10)}\n${prompt}\n${filler(4)}`)]],
    ['three messages', [msg('user', filler(10)), msg('user', prompt), msg('user', filler(4))]],
    ['longer filler', [msg('user', `${filler(40)}\n${prompt}\n${filler(15)}`)]],
  ] as const) {
    const names = flagsOf([...messages]);
    assert.ok(names.includes('cot') && names.includes('math'), `${what}: the prompt in the middle is read: ${names}`);
  }
});

test('reasoning asked for with a parameter: an OpenAI effort of medium or above, Anthropic thinking with a budget or with a high effort', () => {
  const q = [msg('user', GSM8K[0])];
  for (const effort of ['medium', 'high', 'xhigh', 'HIGH', 'Extra-High']) assert.ok(flagsOf(q, { params: { reasoning_effort: effort } }).includes('reasoningParam'), `OpenAI effort ${effort} asks for reasoning`);
  for (const effort of ['none', 'minimal', 'low', 'None', 'auto', 'LOW', 'ultra']) assert.ok(!flagsOf(q, { params: { reasoning_effort: effort } }).includes('reasoningParam'), `OpenAI effort ${effort} does not (below medium, or not a known name)`);
  const claude = (params: Partial<InteractionEvent['request']['params']>) => flagsOf(q, { flavour: 'anthropic.messages', params }).includes('reasoningParam');
  assert.ok(claude({ thinking: 'enabled', thinking_budget: 8000 }), 'a thinking budget asks for reasoning');
  assert.ok(claude({ thinking: 'adaptive', reasoning_effort: 'high' }) && claude({ thinking: 'adaptive', reasoning_effort: 'max' }), 'adaptive thinking at a high effort does');
  // Anthropic's default effort is high and applies with thinking off: an effort alone, or adaptive
  // thinking at the default, is how ordinary apps call the API.
  assert.ok(!claude({ thinking: 'adaptive' }), 'adaptive thinking alone is the default, not a request for more reasoning');
  assert.ok(!claude({ reasoning_effort: 'medium' }) && !claude({ thinking: 'disabled', reasoning_effort: 'medium' }), 'effort medium lowers the default');
  assert.ok(!claude({ reasoning_effort: 'max' }) && !claude({ thinking: 'disabled', reasoning_effort: 'high' }), 'an effort with thinking off asks for no thinking');
  assert.ok(!claude({ thinking: 'adaptive', reasoning_effort: 'medium' }) && !claude({ thinking: 'adaptive', reasoning_effort: 'auto' }), 'adaptive thinking below or at an unknown effort');
  assert.ok(!claude({ thinking: 'disabled' }), 'thinking disabled');
});

test('a single question behind a fake greeting or ahead of a prefill is single-shot; a real conversation is not', () => {
  const cot = COT(GSM8K[1]);
  assert.ok(flagsOf([msg('assistant', 'Hi! How can I help?'), msg('user', cot)]).includes('singleShot'), 'a greeting before the first user turn is no exchange');
  assert.ok(flagsOf([msg('user', cot), msg('assistant', 'Step 1:')]).includes('singleShot'), 'a prefill after the last user turn is the answer\'s start');
  assert.ok(flagsOf([msg('assistant', 'Hello!'), msg('user', cot), msg('assistant', '{')]).includes('singleShot'), 'both');
  // A one-line exchange costs a few tokens: no conversation, wherever it sits.
  assert.ok(flagsOf([msg('user', 'hi'), msg('assistant', 'Hello! How can I help?'), msg('user', cot)]).includes('singleShot'), 'a one-line exchange before the question is no conversation');
  assert.ok(flagsOf([msg('user', 'What is 2+2?'), msg('assistant', '4.'), msg('user', 'And 3+3?'), msg('assistant', '6.'), msg('user', cot)]).includes('singleShot'), 'nor are a few one-word answers');
  // An instruction before a one-line acknowledgement is part of the question.
  const instr = flagsOf([msg('user', 'For my next question, think step by step and show your reasoning.'), msg('assistant', 'OK.'), msg('user', GSM8K[1])]);
  assert.ok(instr.includes('singleShot') && instr.includes('cot') && instr.includes('math'), `an instruction acknowledged with OK is read with the question: ${instr}`);
  // A real conversation: the model's own answers, long.
  const answer = 'Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. It happens in the chloroplasts, where chlorophyll absorbs mostly red and blue light and passes the energy on. ';
  const chat = flagsOf([msg('user', 'Explain step by step how photosynthesis works.'), msg('assistant', answer.repeat(3)), msg('user', 'What about at night?')]);
  assert.ok(!chat.includes('singleShot'), `a follow-up to a real answer is a conversation: ${chat}`);
  assert.ok(!chat.includes('cot'), `and an earlier turn's wording is not read again: ${chat}`);
  const story = 'Once upon a time there was a farmer who kept many animals and counted them every morning, '.repeat(4);
  assert.ok(!flagsOf([msg('assistant', story), msg('user', cot)]).includes('singleShot'), 'a long assistant text before the question is history, not a greeting');
  assert.ok(flagsOf([msg('user', 'Hi'), msg('user', cot)]).includes('singleShot'), 'two user messages with no answer between them are one turn');
});

test('a prompt in the tool results of the current step is read, in OpenAI Chat and Responses as in Anthropic', () => {
  const prompt = COT(GSM8K[2]);
  const chatTool = [msg('user', 'Do the task.'), msg('assistant', ''), msg('tool', prompt)];
  const names = flagsOf(chatTool);
  assert.ok(names.includes('cot') && names.includes('math'), `a Chat role:tool message: ${names}`);
  assert.ok(names.includes('singleShot'), `an assistant message carrying only a tool call is no answer: ${names}`);
  const responses = flagsOf([msg('user', 'Do the task.'), msg('tool', prompt)], { flavour: 'openai.responses' });
  assert.ok(responses.includes('cot') && responses.includes('math'), `a Responses function_call_output: ${responses}`);
  // Anthropic's tool_result text is in the user message already.
  const anthropic = flagsOf([msg('user', 'Do the task.'), msg('assistant', ''), { ...msg('user', prompt), parts: { tool_result: 1 } }], { flavour: 'anthropic.messages' });
  assert.ok(anthropic.includes('cot') && anthropic.includes('math'), `an Anthropic tool_result: ${anthropic}`);
  // Only the current step: an older tool result followed by a new user turn is history.
  const older = flagsOf([msg('user', 'Do the task.'), msg('assistant', ''), msg('tool', prompt), msg('assistant', 'Done.'), msg('user', 'Thanks, what a lovely day.')]);
  assert.ok(!older.includes('cot'), `an earlier step's tool result is not this request's: ${older}`);
  // An agent loop several steps in: the earlier steps' tool results are the conversation.
  const listing = 'src/index.ts\nsrc/server.ts\nsrc/config.ts\nsrc/routes/users.ts\nsrc/routes/orders.ts\nsrc/db/pool.ts\nsrc/db/migrations/001_init.sql\ntest/server.test.ts\npackage.json\ntsconfig.json\n';
  const loop = flagsOf([msg('user', 'Find where the database pool is created.'), msg('assistant', ''), msg('tool', listing), msg('assistant', ''), msg('tool', 'export const pool = new Pool({ max: 10 });')]);
  assert.ok(!loop.includes('singleShot'), `an agent loop's later step is a conversation: ${loop}`);
});
