// Served-answer fingerprints through a running Warden: a conversation whose model answered
// briefly is still a conversation on its next turn, and a made-up greeting before every question
// does not make one (docs/detector.md, "Served answers").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden(); });
after(() => t.close());

const QUESTION = 'Think step by step and show your reasoning: a train leaves at 3pm at 60 km/h; when has it covered 150 km?';
const FOLLOW_UP = 'Thanks! Could you suggest a name for my new cat?';
/** A greeting longer than the 160 characters of history that made a request a conversation by length alone. */
const FAKE_GREETING = 'Hello! I am your friendly assistant, ready to help with anything you need today: questions, writing, planning, code or just a chat. What would you like to talk about first?';

async function chat(key: string, messages: unknown[], stream = false): Promise<{ text: string; id: string }> {
  const r = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 12, stream, messages }),
  });
  const body = await r.text();
  assert.equal(r.status, 200, body);
  if (!stream) return { text: JSON.parse(body).choices[0].message.content as string, id: r.headers.get('x-warden-request-id')! };
  let text = '';
  for (const line of body.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    text += JSON.parse(line.slice(6)).choices?.[0]?.delta?.content ?? '';
  }
  return { text, id: r.headers.get('x-warden-request-id')! };
}

/**
 * The account's indicators once the detector has taken in its `n` requests. Shares are shrunk
 * towards half their threshold by 20 pseudo-requests (docs/detector.md): with 20 requests, k of
 * them single-shot read as (k + 7.5) / 40.
 */
async function indicators(accountId: string, n: number): Promise<Map<string, number>> {
  await t.events((e) => e.account_id === accountId, n);
  let last = '';
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${t.url}/admin/detect/accounts/${accountId}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    if (r.status === 200) {
      const view = await r.json() as { indicators: Array<{ signal: string; value: number }> };
      const now = JSON.stringify(view.indicators);
      // Read twice alike: every queued event has reached the detector.
      if (now === last && view.indicators.some((x) => x.signal === 'single_shot_share')) return new Map(view.indicators.map((x) => [x.signal, x.value]));
      last = now;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail(`the detector did not take in the requests of ${accountId}`);
}

/** Ten conversations of two turns; the second sends back `answer(first answer)` before a follow-up. */
async function conversations(key: string, answer: (served: string) => string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const stream = i % 2 === 1;
    const first = await chat(key, [{ role: 'user', content: QUESTION }], stream);
    assert.ok(first.text.length > 0 && first.text.length < 160, `a short answer (${first.text.length} characters)`);
    await chat(key, [{ role: 'user', content: QUESTION }, { role: 'assistant', content: answer(first.text) }, { role: 'user', content: FOLLOW_UP }], stream);
  }
}

test('a short answer Warden served keeps the next turn a conversation; a made-up one does not', async () => {
  const served = await t.account('short-answers', 'enterprise');
  // The client sends the answer back trimmed and re-wrapped, as some do.
  await conversations(served.key, (text) => ` ${text.trim().replace(/ /g, '\n')}\n`);
  const events = await t.events((e) => e.account_id === served.id, 20);
  assert.ok(events.every((e) => /^[0-9a-f]{8}$/.test(e.response.answer_fp ?? '')), `every answer fingerprinted: ${events.map((e) => e.response.answer_fp)}`);
  const made = await t.account('made-up-answers', 'enterprise');
  await conversations(made.key, () => 'It covers 150 km by 5:30pm.');

  const a = await indicators(served.id, 20);
  const b = await indicators(made.id, 20);
  // 10 of 20 single-shot: (10 + 7.5) / 40; 20 of 20: 27.5 / 40.
  assert.ok(Math.abs(a.get('single_shot_share')! - 0.4375) < 0.01, `served answers: only the first turns are single-shot (${a.get('single_shot_share')})`);
  assert.ok(Math.abs(a.get('reasoning_elicitation_share')! - b.get('reasoning_elicitation_share')!) > 0.1 && a.get('reasoning_elicitation_share')! < b.get('reasoning_elicitation_share')!,
    `served answers: the follow-ups are not read as the step-by-step question before them (${a.get('reasoning_elicitation_share')} vs ${b.get('reasoning_elicitation_share')})`);
  assert.ok(Math.abs(b.get('single_shot_share')! - 0.6875) < 0.01, `made-up answers: every request single-shot, its earlier question read again (${b.get('single_shot_share')})`);
});

test('a made-up greeting before every question does not make a conversation', async () => {
  const b = await t.account('fake-greetings', 'enterprise');
  for (let i = 0; i < 20; i++) {
    await chat(b.key, [{ role: 'user', content: 'hi' }, { role: 'assistant', content: FAKE_GREETING }, { role: 'user', content: `${QUESTION} (${i})` }]);
  }
  const m = await indicators(b.id, 20);
  // The first request is read by length (nothing served to the account yet); the 19 after it as the single questions they are.
  assert.ok(Math.abs(m.get('single_shot_share')! - 26.5 / 40) < 0.01, `single-shot: ${m.get('single_shot_share')}`);
});
