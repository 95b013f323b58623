// A logit extraction through the whole of `warden serve` (default policy, online detector): an
// identity-verified account may combine logit_bias with log-probabilities, until its sweep (each
// prompt read with many bias maps) is recognised and the account is shaped, within seconds; from
// then on neither the bias nor the log-probabilities reach the model, and the events say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

test('a logit sweep is shaped within seconds; a classifier on the same tier is not', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-logit-sweep-'));
  const w = await startWarden(parseConfig({ server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } }), { log: () => {} });
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${w.url}/admin${path}`, { method, headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() as any };
  };
  const client = async (email: string) => {
    const acct = (await admin('POST', '/accounts', { tier: 'identity_verified', email, claimed_country: 'GB' })).body;
    const made = await admin('POST', `/accounts/${acct.id}/keys`, { scopes: ['inference'] });
    assert.equal(made.status, 201, JSON.stringify(made.body) + JSON.stringify(acct));
    const key = made.body.secret as string;
    // A shaped account is throttled too (a quarter of its rate): after the sweep's burst the SDK
    // waits out the limiter's retry-after-ms, as a client would.
    return { id: acct.id as string, sdk: new OpenAI({ apiKey: key, baseURL: `${w.url}/v1`, maxRetries: 4 }) };
  };
  try {
    const prober = await client('lab@example.org');
    const classifier = await client('ops@example.com');
    const PROMPTS = ['The capital of France is', 'Once upon a time', 'The derivative of x squared is'];
    const probe = (n: number) => {
      const bias: Record<string, number> = {};
      for (let k = 0; k < 5; k++) bias[String(1000 + 5 * Math.floor(n / 3) + k)] = 100;
      return prober.sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPTS[n % 3] }], max_tokens: 1, logprobs: true, top_logprobs: 5, logit_bias: bias });
    };
    const classify = (n: number) => classifier.sdk.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Ticket ${n}: my invoice is wrong again. Billing or bug?` }], max_tokens: 1, logprobs: true, top_logprobs: 2, logit_bias: { '33721': 100, '9101': 100 },
    });
    const first = await probe(0);
    assert.ok((first.choices[0].logprobs?.content?.length ?? 0) > 0, 'identity-verified: logit_bias with log-probabilities is allowed');
    for (let n = 1; n < 45; n++) { await probe(n); await classify(n); }

    // The detector scores when the queue has been idle for a moment (and on event time).
    let level = 'none';
    for (let t = 0; t < 100 && level !== 'shape'; t++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await admin('GET', `/detect/accounts/${prober.id}`);
      if (r.status === 200) level = r.body.level;
    }
    assert.equal(level, 'shape');
    const why = (await admin('GET', `/detect/accounts/${prober.id}`)).body.verdict.reasons as Array<{ signal: string; value: unknown; threshold: unknown }>;
    assert.ok(why.some((r) => r.signal === 'logit_probe_test' && r.value === 'pass'));
    assert.ok(why.some((r) => r.signal === 'logit_bias_maps_per_prompt' && r.threshold === 3));
    assert.notEqual((await admin('GET', `/detect/accounts/${classifier.id}`)).body.level, 'shape');

    const after = await probe(45);
    assert.equal(after.choices[0].logprobs ?? null, null, 'shaped: no log-probabilities');
    const late = await classify(45);
    assert.ok((late.choices[0].logprobs?.content?.length ?? 0) > 0, 'the classifier keeps its log-probabilities');

    await w.gateway.recorder.flush();
    const events: InteractionEvent[] = [];
    for await (const e of w.stores.events.iterate()) if (e.account_id === prober.id) events.push(e);
    const last = events.at(-1)!;
    assert.equal(last.enforcement.verdict, 'shape');
    assert.ok(last.enforcement.shaping.includes('logit_bias:stripped'), last.enforcement.shaping.join());
    assert.ok(last.enforcement.shaping.includes('logprobs:stripped'));
    assert.equal(last.request.params.logit_bias?.tokens, 5, 'the event still says what the client asked for');
    assert.deepEqual(events[0].enforcement.shaping.filter((a) => a.includes('logit') || a.includes('logprobs')), []);
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
