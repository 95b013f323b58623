// Streamed background responses through a running Warden, with the official OpenAI SDK: the
// creating client reads the events as they come, under Warden's id and numbered without gaps; a
// client that went away reads on from where it was (`starting_after`), and so does any client of
// the owner, during the run and after it; what is read again is what the gateway gave (shaped);
// failures end the stream with `response.failed`; a cancel stops the answer; bad requests get
// OpenAI error JSON.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../../test/helpers/warden.ts';
import { untilDone } from '../../test/helpers/responses.ts';

let t: TestWarden;
let w: TestWarden['w'];
let alice: string;
let bob: string;
let bobId: string;
let shapedKey: string;
let shapedAccount: string;

before(async () => {
  // Paced tokens: a stream lasts long enough to be read halfway, left and read again.
  // Three streams of background responses read at once per account (the default is 64).
  t = await startTestWarden({ mock: { latency_ms: 0, tokens_per_second: 400 }, batches: { max_stream_readers_per_account: 3 } });
  w = t.w;
  alice = (await t.account('alice', 'enterprise')).key;
  const b = await t.account('bob', 'enterprise');
  bob = b.key;
  bobId = b.id;
  const shaped = await t.account('shaped', 'enterprise');
  shapedKey = shaped.key;
  shapedAccount = shaped.id;
});
after(async () => { await t.close(); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${w.url}/v1`, maxRetries: 0 });
type Ev = { type: string; sequence_number: number; [k: string]: any };

async function collect(stream: AsyncIterable<unknown>, stopAfter = Infinity): Promise<Ev[]> {
  const out: Ev[] = [];
  for await (const e of stream) {
    out.push(e as Ev);
    if (out.length >= stopAfter) break;
  }
  return out;
}
const text = (events: Ev[]) => events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');

test('a streamed background response: read as it comes, under its own id, then retrieved as it was sent', async () => {
  const client = sdk(alice);
  const events = await collect(await client.responses.create({ model: 'gpt-5', input: 'Explain tides in a paragraph.', background: true, stream: true, reasoning: { effort: 'low' } }));
  const types = events.map((e) => e.type);
  assert.deepEqual(types.slice(0, 3), ['response.created', 'response.queued', 'response.in_progress'], types.join(' '));
  assert.equal(types.at(-1), 'response.completed');
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i), 'numbered from 0 without a gap');
  const id = events[0].response.id as string;
  assert.match(id, /^resp_bg_/);
  assert.equal(events[0].response.status, 'queued');
  for (const e of events) if (e.response) assert.equal(e.response.id, id, `${e.type} names the response by Warden's id`);
  const completed = events.at(-1)!.response;
  assert.equal(completed.background, true);
  assert.ok(text(events).length > 0);
  assert.ok(types.filter((ty) => ty === 'response.output_text.delta').length > 5, 'the answer came in pieces');

  const done = await client.responses.retrieve(id);
  assert.equal(done.status, 'completed');
  assert.equal(done.id, id);
  assert.equal(done.output_text, text(events), 'the stored answer is the one streamed');
  assert.equal(done.usage?.output_tokens, completed.usage.output_tokens);

  // One streamed interaction of Alice's, marked as Warden's run.
  const [event] = await t.events((e) => e.client.batch_id === id);
  assert.equal(event.request.stream, true);
  assert.equal(event.response.status, 200);
  assert.ok(event.response.output_tokens > 0);

  // Its input items are listed, and a later request continues it, as for one that was polled.
  assert.ok((await client.responses.inputItems.list(id)).data.length >= 1);
  const next = await client.responses.create({ model: 'gpt-5', input: 'Shorter, please.', previous_response_id: id });
  assert.equal(next.previous_response_id, event.response.answer_id, 'the upstream continued the answer it streamed');
});

test('a client that went away reads on from where it was, during the run and after it; so does another client of the owner', async () => {
  const client = sdk(alice);
  const first = await collect(await client.responses.create({ model: 'gpt-5', input: 'Write a long story about a lighthouse keeper.', background: true, stream: true }), 8);
  const id = first[0].response.id as string;
  const lastSeen = first.at(-1)!.sequence_number;
  assert.equal(lastSeen, 7);

  // Read on at once, while it runs: from the next event, without a gap or a repeat.
  const rest = await collect(await client.responses.retrieve(id, { stream: true, starting_after: lastSeen }));
  assert.equal(rest[0].sequence_number, lastSeen + 1);
  assert.equal(rest.at(-1)!.type, 'response.completed');
  const all = first.concat(rest);
  assert.deepEqual(all.map((e) => e.sequence_number), all.map((_, i) => i));
  assert.equal((await client.responses.retrieve(id)).output_text, text(all));

  // After it has ended, the whole stream again; and the SDK's helper that resumes from a point.
  const again = await collect(await client.responses.retrieve(id, { stream: true }));
  assert.deepEqual(again.map((e) => e.type), all.map((e) => e.type));
  assert.equal(text(again), text(all));
  const resumed = client.responses.stream({ response_id: id, starting_after: 10 });
  const seen: number[] = [];
  resumed.on('event', (e) => seen.push(e.sequence_number));
  const final = await resumed.finalResponse();
  assert.equal(final.output_text, text(all));
  assert.equal(seen[0], 11);

  // Bob reads nothing of it.
  await assert.rejects(sdk(bob).responses.retrieve(id, { stream: true }), (e: any) => e.status === 404);
});

test('two readers of one running response get the same events', async () => {
  const client = sdk(alice);
  const creating = await client.responses.create({ model: 'gpt-5', input: 'Describe a harbour at dawn at length.', background: true, stream: true });
  const iterator = creating[Symbol.asyncIterator]();
  const head = (await iterator.next()).value as Ev;
  const id = head.response.id as string;
  const [mine, theirs] = await Promise.all([
    (async () => { const out = [head]; for (let r = await iterator.next(); !r.done; r = await iterator.next()) out.push(r.value as Ev); return out; })(),
    collect(await sdk(alice).responses.retrieve(id, { stream: true })),
  ]);
  assert.equal(mine.at(-1)!.type, 'response.completed');
  assert.deepEqual(theirs.map((e) => e.sequence_number), mine.map((e) => e.sequence_number));
  assert.equal(text(theirs), text(mine));
});

test('what is streamed and read again is what the gateway gave: reasoning withheld from a shaped account', async () => {
  const ask = async (key: string) => {
    const events = await collect(await sdk(key).responses.create({ model: 'gpt-5', input: 'Prove that the square root of two is irrational.', background: true, stream: true, reasoning: { effort: 'high', summary: 'detailed' } }));
    const again = await collect(await sdk(key).responses.retrieve(events[0].response.id, { stream: true }));
    return { live: events.map((e) => e.type), again: again.map((e) => e.type), final: events.at(-1)!.response };
  };
  // An operator's verdict on the account: `shape` (the shipped policy withholds reasoning).
  await t.admin('/detect/verdicts', { kind: 'account', id: shapedAccount, level: 'shape', note: 'test' });
  const full = await ask(alice);
  const shaped = await ask(shapedKey);
  assert.ok(full.live.includes('response.reasoning_summary_text.delta'), `the customer sees the reasoning summary: ${[...new Set(full.live)].join(' ')}`);
  assert.ok(!shaped.live.includes('response.reasoning_summary_text.delta'), `the shaped account does not, live: ${[...new Set(shaped.live)].join(' ')}`);
  assert.deepEqual(shaped.again, shaped.live, 'read again, the stream is the one it was sent');
  const reasoning = shaped.final.output.find((o: any) => o.type === 'reasoning');
  assert.deepEqual(reasoning?.summary ?? [], [], 'nor is the summary in the final response');
});

test('a background response is read under the reader\'s capabilities now, as a stored one is: a verdict since, or another account of the organisation', async () => {
  const org = await t.admin('/orgs', { name: 'Readers', tier: 'enterprise' });
  const member = async (name: string) => {
    const account = await t.admin('/accounts', { org_id: org.id, name, email: `${name}@example.org`, tier: 'enterprise' });
    return { id: account.id as string, key: (await t.admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret as string };
  };
  const owner = await member('owner');
  const colleague = await member('colleague');
  const live = await collect(await sdk(owner.key).responses.create({ model: 'gpt-5', input: 'Explain why the sky is blue.', background: true, stream: true, reasoning: { effort: 'high', summary: 'detailed' } }));
  const id = live[0].response.id as string;
  const hasSummary = (r: any) => r.output.some((o: any) => o.type === 'reasoning' && o.summary.length > 0);
  const summaryEvents = (events: Ev[]) => events.filter((e) => e.type.startsWith('response.reasoning_summary')).length;
  assert.ok(summaryEvents(live) > 0, `the owner was sent the reasoning summary: ${[...new Set(live.map((e) => e.type))].join(' ')}`);
  assert.ok(hasSummary(await sdk(colleague.key).responses.retrieve(id)), 'a colleague without a verdict reads it as it was sent');

  // The colleague is shaped (the shipped policy withholds reasoning): what it reads of the owner's response is too.
  await t.admin('/detect/verdicts', { kind: 'account', id: colleague.id, level: 'shape', note: 'test' });
  assert.ok(!hasSummary(await sdk(colleague.key).responses.retrieve(id)), 'a shaped colleague retrieves it without the summary');
  const replay = await collect(await sdk(colleague.key).responses.retrieve(id, { stream: true }));
  assert.equal(summaryEvents(replay), 0, `nor is the summary in its stream read again: ${[...new Set(replay.map((e) => e.type))].join(' ')}`);
  assert.equal(replay.at(-1)!.type, 'response.completed', 'the stream read again still ends');
  assert.ok(!hasSummary(replay.at(-1)!.response), 'nor in its final response');
  assert.equal(text(replay), text(live), 'the answer itself is the one sent');
  const seqs = replay.map((e) => e.sequence_number);
  assert.ok(seqs.every((n, i) => i === 0 || n > seqs[i - 1]), `events keep their numbers, in order: ${seqs.join(',')}`);
  const kept = new Map(live.map((e) => [e.sequence_number, e.type]));
  assert.ok(replay.every((e) => kept.get(e.sequence_number) === e.type), 'each event carries the number it was kept under, so starting_after means the same to every reader');
  // Read on from a point past the summary: from the same event as the owner's stream.
  const after = live.findIndex((e) => e.type === 'response.output_text.delta');
  const rest = await collect(await sdk(colleague.key).responses.retrieve(id, { stream: true, starting_after: after }));
  assert.equal(rest[0].sequence_number, after + 1, 'starting_after counts the events as they were kept');

  // The owner reads it in full until it is shaped itself.
  assert.ok(hasSummary(await sdk(owner.key).responses.retrieve(id)), 'the owner still reads the summary');
  await t.admin('/detect/verdicts', { kind: 'account', id: owner.id, level: 'shape', note: 'test' });
  assert.ok(!hasSummary(await sdk(owner.key).responses.retrieve(id)), 'once shaped, the owner reads it without the summary');
  assert.equal(summaryEvents(await collect(await sdk(owner.key).responses.retrieve(id, { stream: true }))), 0, 'and streams it again without');
});

test('failures end the stream with response.failed, and the response reads as failed', async () => {
  const client = sdk(alice);
  // Refused when it ran (no input): the refusal, then response.failed.
  const refused = await collect(await client.responses.create({ model: 'gpt-5', background: true, stream: true } as never) as unknown as AsyncIterable<unknown>);
  assert.deepEqual(refused.slice(-2).map((e) => e.type), ['error', 'response.failed']);
  assert.ok(refused.at(-1)!.response.error.message);
  assert.equal((await untilDone(client, refused[0].response.id)).status, 'failed');

  // The upstream's connection dropped mid-answer: the gateway's error, then response.failed.
  const dropped = await collect(await client.responses.create({ model: 'mock-fail-drop-5', input: 'x', background: true, stream: true }));
  assert.deepEqual(dropped.slice(-2).map((e) => e.type), ['error', 'response.failed'], dropped.map((e) => e.type).join(' '));
  assert.ok(dropped.some((e) => e.type === 'response.output_text.delta'), 'what came before the break was streamed');
  assert.deepEqual(dropped.map((e) => e.sequence_number), dropped.map((_, i) => i));
  const failed = await untilDone(client, dropped[0].response.id);
  assert.equal(failed.status, 'failed');
  assert.ok(failed.error?.message, JSON.stringify(failed.error));

  // The upstream's own in-stream error: passed on as it was, renumbered.
  const errored = await collect(await client.responses.create({ model: 'mock-fail-error-3', input: 'x', background: true, stream: true }));
  assert.deepEqual(errored.slice(-2).map((e) => e.type), ['error', 'response.failed']);
  assert.equal(errored.at(-1)!.response.id, errored[0].response.id);
  assert.equal((await untilDone(client, errored[0].response.id)).status, 'failed');
});

test('cancelling a streamed response stops the answer: its stream ends, it reads cancelled', async () => {
  const client = sdk(alice);
  const input = 'Write a very long essay on rivers.';
  // The same request run to its end, for comparison (the mock's answers are deterministic).
  const whole = (await collect(await client.responses.create({ model: 'gpt-5', input, background: true, stream: true }))).at(-1)!.response.usage.output_tokens as number;
  const events: Ev[] = [];
  let id = '';
  for await (const e of await client.responses.create({ model: 'gpt-5', input, background: true, stream: true })) {
    events.push(e as Ev);
    if (!id) id = (e as Ev).response.id;
    if ((e as Ev).type === 'response.output_text.delta' && events.length === 10) assert.equal((await client.responses.cancel(id)).status, 'cancelled');
  }
  assert.ok(!events.some((e) => e.type === 'response.completed'), 'the stream ended before the answer did');
  assert.equal((await client.responses.retrieve(id)).status, 'cancelled');
  const [event] = await t.events((e) => e.client.batch_id === id);
  assert.equal(event?.response.error_code, 'WARDEN_CLIENT_DISCONNECTED', 'the cancelled run is recorded, ended by its client');
  assert.ok(event.response.output_tokens < whole / 2, `the upstream call was stopped: ${event.response.output_tokens} of ${whole} tokens`);
});

test('a cancel stops a stream whose upstream has gone quiet, within seconds', async () => {
  const client = sdk(alice);
  // The mock sends a few tokens, then nothing, with the connection open.
  const stream = await client.responses.create({ model: 'mock-fail-stall-3', input: 'x', background: true, stream: true });
  const events: Ev[] = [];
  let cancelledAt = 0;
  for await (const e of stream) {
    events.push(e as Ev);
    if ((e as Ev).type === 'response.output_text.delta' && !cancelledAt) {
      cancelledAt = Date.now();
      assert.equal((await client.responses.cancel(events[0].response.id)).status, 'cancelled');
    }
  }
  assert.ok(cancelledAt > 0, events.map((e) => e.type).join(' '));
  assert.ok(Date.now() - cancelledAt < 5000, `the stream ended ${Date.now() - cancelledAt} ms after the cancel`);
  const id = events[0].response.id as string;
  assert.equal((await client.responses.retrieve(id)).status, 'cancelled');
  const [event] = await t.events((e) => e.client.batch_id === id);
  assert.equal(event?.response.error_code, 'WARDEN_CLIENT_DISCONNECTED', 'the upstream call was stopped and recorded');
});

test('an account reads only so many streams at once: one more is refused with 429 until one ends', async () => {
  const headers = { authorization: `Bearer ${bob}` };
  const creating = await fetch(`${w.url}/v1/responses`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-5', input: 'Write a very long essay on mountains.', background: true, stream: true }) });
  const reader = creating.body!.getReader();
  const head = new TextDecoder().decode((await reader.read()).value);
  const id = JSON.parse(head.slice(head.indexOf('data: ') + 6, head.indexOf('\n\n'))).response.id as string;
  const open = [reader];
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${w.url}/v1/responses/${id}?stream=true`, { headers });
    assert.equal(r.status, 200);
    open.push(r.body!.getReader());
  }
  const metric = async (name: string) => {
    const line = (await (await fetch(`${w.url}/metrics`)).text()).split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ')[1]) : NaN;
  };
  assert.equal(await metric('warden_background_stream_readers'), 3, 'the readers are counted');
  assert.ok(await metric('warden_background_stream_events_total') > 0, 'and the events kept');
  const refused = await fetch(`${w.url}/v1/responses/${id}?stream=true`, { headers });
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get('retry-after'), '1');
  const body = await refused.json() as any;
  assert.equal(body.error.type, 'rate_limit_error');
  assert.match(body.error.message, /at most 3 may be read at once/);
  // Creating one more streamed response is refused before anything is kept: a retry leaves no duplicate.
  const kept = async () => (await (await fetch(`${w.url}/admin/batches?account=${bobId}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json() as any).data.length as number;
  const before = await kept();
  const another = await fetch(`${w.url}/v1/responses`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-5', input: 'x', background: true, stream: true }) });
  assert.equal(another.status, 429);
  assert.equal(await kept(), before, 'no response was kept');
  // Alice is not held back by Bob's streams.
  assert.equal((await collect(await sdk(alice).responses.create({ model: 'gpt-5', input: 'x', background: true, stream: true }))).at(-1)!.type, 'response.completed');
  // One ends: another may start.
  await open.pop()!.cancel();
  let status = 0;
  for (const deadline = Date.now() + 3000; status !== 200 && Date.now() < deadline;) {
    const r = await fetch(`${w.url}/v1/responses/${id}?stream=true`, { headers });
    status = r.status;
    if (status === 200) open.push(r.body!.getReader()); else await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(status, 200, 'a stream that ended gave its place back');
  for (const r of open) await r.cancel();
});

test('bad streamed reads get OpenAI error JSON', async () => {
  const get = async (path: string, key = alice) => {
    const r = await fetch(`${w.url}/v1/responses/${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: r.status, body: await r.json() as any };
  };
  const polled = await sdk(alice).responses.create({ model: 'gpt-5', input: 'x', background: true });
  let r = await get(`${polled.id}?stream=true`);
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /created without `stream: true`/);
  const streamed = await collect(await sdk(alice).responses.create({ model: 'gpt-5', input: 'x', background: true, stream: true }), 1);
  const id = streamed[0].response.id;
  for (const bad of ['abc', '-1', '1.5']) {
    r = await get(`${id}?stream=true&starting_after=${bad}`);
    assert.equal(r.status, 400, bad);
    assert.equal(r.body.error.param, 'starting_after');
  }
  r = await get(`${id}?stream=true`, bob);
  assert.equal(r.status, 404);
  const plain = await sdk(alice).responses.create({ model: 'gpt-5', input: 'x' });
  r = await get(`${plain.id}?stream=true`);
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /Only a background response created with `stream: true`/);
  // Past the last event: the stream of a finished response is empty, not an error.
  await untilDone(sdk(alice), id);
  const tail = await fetch(`${w.url}/v1/responses/${id}?stream=true&starting_after=100000`, { headers: { authorization: `Bearer ${alice}` } });
  assert.equal(tail.status, 200);
  assert.equal(await tail.text(), '');
});

test('a stream longer than the claim\'s lease runs once, to its end: the claim is renewed while it runs', async () => {
  // Leases of one second, a stream of about three (the mock at 100 tokens a second).
  const short = await startTestWarden({ mock: { latency_ms: 0, tokens_per_second: 100 }, batches: { lease_ms: 1000 } });
  try {
    const key = (await short.account('slow', 'enterprise')).key;
    const client = new OpenAI({ apiKey: key, baseURL: `${short.url}/v1`, maxRetries: 0 });
    const started = Date.now();
    const events = await collect(await client.responses.create({ model: 'gpt-5', input: 'Write a very long essay on rivers.', background: true, stream: true }));
    assert.ok(Date.now() - started > 1500, `the stream outlived the lease (${Date.now() - started} ms)`);
    assert.equal(events.at(-1)!.type, 'response.completed', events.slice(-3).map((e) => e.type).join(' '));
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    const id = events[0].response.id as string;
    assert.equal((await client.responses.retrieve(id)).status, 'completed');
    assert.equal((await short.events((e) => e.client.batch_id === id, 2, 1500)).length, 1, 'run once');
  } finally { await short.close(); }
});

test('a streamed response that expires before it runs ends its stream with response.failed (expired)', async () => {
  // One runner slot, taken by a slow stream; the next response expires after 1.8 s of waiting.
  const busy = await startTestWarden({ mock: { latency_ms: 0, tokens_per_second: 20 }, batches: { concurrency: 1, lease_ms: 1000, expire_hours: 0.0005 } });
  try {
    const client = new OpenAI({ apiKey: (await busy.account('busy', 'enterprise')).key, baseURL: `${busy.url}/v1`, maxRetries: 0 });
    const first = await client.responses.create({ model: 'gpt-5', input: 'Write a very long essay on rivers.', background: true, stream: true });
    const firstIterator = first[Symbol.asyncIterator]();
    const firstId = ((await firstIterator.next()).value as Ev).response.id as string;
    for (let r = await firstIterator.next(); !r.done && (r.value as Ev).type !== 'response.in_progress'; r = await firstIterator.next()) { /* until it runs */ }
    const started = Date.now();
    const events = await collect(await client.responses.create({ model: 'gpt-5', input: 'x', background: true, stream: true }));
    assert.deepEqual(events.map((e) => e.type), ['response.created', 'response.queued', 'error', 'response.failed']);
    assert.equal(events.at(-1)!.response.error.code, 'expired');
    assert.deepEqual(events.map((e) => e.sequence_number), [0, 1, 2, 3]);
    assert.ok(Date.now() - started < 10_000, `told within seconds (${Date.now() - started} ms)`);
    const read = await client.responses.retrieve(events[0].response.id);
    assert.equal(read.status, 'failed');
    assert.equal(read.error?.code, 'expired');
    await client.responses.cancel(firstId);
    await firstIterator.return?.();
  } finally { await busy.close(); }
});
