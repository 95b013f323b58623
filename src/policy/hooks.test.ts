import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyEnforcement, type ApiFlavour } from '../events/index.ts';
import type { InteractionContext } from '../gateway/lifecycle.ts';
import type { AuthContext, VerificationTier } from '../identity/types.ts';
import { WardenError } from '../errors/index.ts';
import type { VerdictLevel, VerdictView } from '../detect/verdict.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { policyHooks } from './hooks.ts';
import { ReasoningSeal } from '../shape/seal.ts';

const fx = (name: string) => new URL(`../../test/fixtures/policy/${name}`, import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'warden-hooks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const POLICY = `
version: 1
messages: { verify: "Verify your identity to continue.", verify_url: "https://example.com/verify", appeal_contact: "trust@example.com" }
defaults: { reasoning: full, logprobs: true, n_max: 4, max_tokens_ceiling: 1000, watermark: true }
tiers:
  unverified: { reasoning: none, logprobs: false, n_max: 1, max_tokens_ceiling: 200, models: ["gpt-*", "claude-*"], tools: false }
regions: { embargoed: [KP] }
verdicts:
  shape: { capabilities: { reasoning: none, logprobs: false, n_max: 1, max_tokens_ceiling: 100 } }
  verify: { action: verify }
  suspend: { action: suspend }
rules:
  - { id: embargoed, when: { region: embargoed }, action: deny, code: region_blocked }
  - { id: hosting-verify, when: { network: hosting, tier_below: identity_verified }, action: verify }
`;
const policyFile = join(dir, 'policy.yaml');
writeFileSync(policyFile, POLICY);

function auth(tier: VerificationTier, accountId = 'acc_1'): AuthContext {
  const at = '2026-01-01T00:00:00.000Z';
  return {
    key: { id: 'key_1', account_id: accountId, prefix: 'wk_test_1234', name: null, scopes: ['inference'], created_at: at, expires_at: null, revoked_at: null, last_used_at: null },
    account: { id: accountId, org_id: null, name: null, tier, programme: 'none', status: 'active', created_at: at, email: null, email_domain: null, signup_ip: null, claimed_country: null, payment_fp: null },
    org: null, tier, programme: 'none',
  };
}

function ctx(o: { flavour?: ApiFlavour; tier?: VerificationTier; ip?: string; body?: Record<string, unknown>; model?: string; account?: string } = {}): InteractionContext {
  const flavour = o.flavour ?? 'openai.chat';
  const model = o.model ?? 'gpt-test';
  return {
    id: 'ix_1', startedAt: Date.now(), flavour, wire: flavour === 'anthropic.messages' ? 'anthropic' : 'openai',
    clientIp: o.ip ?? '81.2.69.160', userAgent: null, headers: {}, auth: auth(o.tier ?? 'unverified', o.account), model,
    body: o.body ?? { model, messages: [{ role: 'user', content: 'hi' }] }, stream: false, enforcement: emptyEnforcement(),
    responseHeaders: {}, clientGeo: { country: null, asn: null }, signal: new AbortController().signal, locals: new Map(), batchId: null,
  };
}

const verdictsFor = (levels: Record<string, VerdictLevel>, clusters: Record<string, string> = {}): VerdictView => ({
  forAccount: (id) => ({ level: levels[id] ?? 'none', verdict: null, clusterId: clusters[id] ?? null }),
});

const env = { WM_SECRET: 'watermark-master-secret-for-tests', SEAL: 'seal-secret' };
function hooks(verdicts?: VerdictView) {
  return policyHooks({
    config: {
      policy: policyConfigSchema.parse({ file: policyFile, watch: false, reasoning_seal_secret: 'env:SEAL', geo: { country_files: [fx('country-v4.csv')], asn_files: [fx('asn-v4.csv')] } }),
      watermark: watermarkConfigSchema.parse({ enabled: true, master_secret: 'env:WM_SECRET' }),
    },
    verdicts, env,
  });
}
const h = hooks(verdictsFor({ acc_shaped: 'shape', acc_verify: 'verify', acc_gone: 'suspend', acc_clustered: 'watch' }, { acc_clustered: 'cl_7' }));
after(() => h.close?.());

const expectCode = (fn: () => unknown, code: string, message?: RegExp) => assert.throws(fn, (e: unknown) => {
  assert.ok(e instanceof WardenError, String(e));
  assert.equal(e.code, code);
  if (message) assert.match(e.message, message);
  return true;
});

test('geo facts are set on the context and recorded', () => {
  const c = ctx({ tier: 'identity_verified', ip: '8.8.8.8' });
  h.policy!(c);
  assert.deepEqual(c.clientGeo, { country: 'US', asn: 15169 });
  assert.ok(c.enforcement.policy.includes('network:hosting:AS15169 Google'));
});

test('region blocked, hosting needs verification (with an actionable message), tier passes', () => {
  expectCode(() => h.policy!(ctx({ ip: '175.45.176.1' })), 'WARDEN_REGION_BLOCKED');
  const c = ctx({ ip: '8.8.8.8' });
  expectCode(() => h.policy!(c), 'WARDEN_VERIFICATION_REQUIRED', /Verify your identity to continue\. Verify at https:\/\/example\.com\/verify/);
  assert.deepEqual(c.enforcement.policy, ['rule:hosting-verify', 'network:hosting:AS15169 Google', 'refused:verify']);
});

test('verdicts: verify and suspend refuse; shape restricts', () => {
  expectCode(() => h.policy!(ctx({ tier: 'email_verified', account: 'acc_verify' })), 'WARDEN_VERIFICATION_REQUIRED', /example\.com\/verify/);
  expectCode(() => h.barred!(auth('email_verified', 'acc_verify')), 'WARDEN_VERIFICATION_REQUIRED', /example\.com\/verify/);
  // Identity verified: what verify asks for is done. Served, as restricted as under shape.
  const verified = ctx({ tier: 'enterprise', account: 'acc_verify', body: { model: 'gpt-test', messages: [], max_tokens: 5000, n: 3 } });
  h.policy!(verified);
  h.barred!(auth('enterprise', 'acc_verify'));
  assert.deepEqual(verified.body, { model: 'gpt-test', messages: [], max_tokens: 100, n: 1 });
  assert.ok(verified.enforcement.policy.includes('verdict:verify'));
  expectCode(() => h.barred!(auth('enterprise', 'acc_gone')), 'WARDEN_ACCOUNT_SUSPENDED', /To appeal, contact trust@example\.com/);
  const gone = ctx({ tier: 'enterprise', account: 'acc_gone' });
  expectCode(() => h.policy!(gone), 'WARDEN_ACCOUNT_SUSPENDED', /To appeal, contact trust@example\.com/);
  assert.equal(gone.enforcement.verdict, 'suspend');
  const shaped = ctx({ tier: 'enterprise', account: 'acc_shaped', body: { model: 'gpt-test', messages: [], max_tokens: 5000, n: 3, logprobs: true, top_logprobs: 5 } });
  h.policy!(shaped);
  assert.deepEqual(shaped.body, { model: 'gpt-test', messages: [], max_tokens: 100, n: 1 });
  assert.deepEqual(shaped.enforcement.shaping.sort(), ['logprobs:stripped', 'max_tokens:capped', 'n:capped']);
  assert.ok(shaped.enforcement.policy.includes('verdict:shape'));
});

test('models and tools outside the tier are refused with the parameter named', () => {
  expectCode(() => h.policy!(ctx({ model: 'o3-pro' })), 'WARDEN_POLICY_DENIED', /o3-pro/);
  expectCode(() => h.policy!(ctx({ body: { model: 'gpt-test', messages: [], tools: [{ type: 'function', function: { name: 'f' } }] } })), 'WARDEN_POLICY_DENIED', /Tool use/);
  h.policy!(ctx({ tier: 'identity_verified', body: { model: 'gpt-test', messages: [], tools: [{ type: 'function', function: { name: 'f' } }] } }));
});

test('request rewriting per wire format', () => {
  const resp = ctx({ flavour: 'openai.responses', body: { model: 'gpt-test', input: 'x', max_output_tokens: 9000, top_logprobs: 3, include: ['message.output_text.logprobs', 'reasoning.encrypted_content'], reasoning: { effort: 'high', summary: 'auto' } } });
  h.policy!(resp);
  // 9,000 capped to 200: the effort goes down to `low`, so the reasoning leaves room for an answer
  assert.deepEqual(resp.body, { model: 'gpt-test', input: 'x', max_output_tokens: 200, include: ['reasoning.encrypted_content'], reasoning: { effort: 'low' } });
  assert.ok(resp.enforcement.shaping.includes('reasoning_effort:lowered'), resp.enforcement.shaping.join(','));
  const anth = ctx({ flavour: 'anthropic.messages', model: 'claude-test', body: { model: 'claude-test', max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 3000 }, messages: [] } });
  h.policy!(anth);
  assert.deepEqual(anth.body.thinking, { type: 'disabled' }); // a 200-token ceiling leaves no room for the 1024 minimum budget
  assert.equal(anth.body.max_tokens, 200);
  const chat = ctx({ tier: 'identity_verified', body: { model: 'gpt-test', messages: [] } });
  h.policy!(chat);
  assert.equal(chat.body.max_completion_tokens, 1000);
  assert.deepEqual(chat.enforcement.shaping, ['max_tokens:set']);
});

test('watermark keys: per account, per cluster when linked; skipped for JSON output and for logprobs', () => {
  const a = ctx({ tier: 'identity_verified' });
  h.policy!(a);
  assert.equal(a.enforcement.watermark, 'wm1:account:acc_1');
  const c = ctx({ tier: 'identity_verified', account: 'acc_clustered' });
  h.policy!(c);
  assert.equal(c.enforcement.watermark, 'wm1:cluster:cl_7');
  const json = ctx({ tier: 'identity_verified', body: { model: 'gpt-test', messages: [], response_format: { type: 'json_object' } } });
  h.policy!(json);
  assert.equal(json.enforcement.watermark, null);
  assert.ok(json.enforcement.shaping.includes('watermark:skipped_json'));
  const lp = ctx({ tier: 'identity_verified', body: { model: 'gpt-test', messages: [], logprobs: true } });
  h.policy!(lp);
  assert.equal(lp.enforcement.watermark, null);
  assert.ok(lp.enforcement.shaping.includes('watermark:skipped_logprobs'));
});

test('watermark skipped when an Anthropic request prefills the answer with the start of JSON', () => {
  for (const prefill of ['{', '[', '  {"size":', [{ type: 'text', text: '{' }]]) {
    const c = ctx({ flavour: 'anthropic.messages', model: 'claude-test', tier: 'identity_verified', body: { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'JSON please' }, { role: 'assistant', content: prefill }] } });
    h.policy!(c);
    assert.equal(c.enforcement.watermark, null, `not marked after the prefill ${JSON.stringify(prefill)}`);
    assert.ok(c.enforcement.shaping.includes('watermark:skipped_json'), `noted in the event after ${JSON.stringify(prefill)}`);
  }
  const prose = ctx({ flavour: 'anthropic.messages', model: 'claude-test', tier: 'identity_verified', body: { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'Well,' }] } });
  h.policy!(prose);
  assert.equal(prose.enforcement.watermark, 'wm1:account:acc_1', 'a prose prefill is still marked');
});

test('a flagged account\'s structured output keeps the schema\'s enum phrases; tool arguments keep their enum and const strings', () => {
  const schema = { type: 'object', properties: { importance: { enum: ['Not at all important', 'Very often, almost daily'] }, why: { type: 'string' } } };
  const tool = { type: 'object', properties: { mode: { const: 'Less than once a week, often enough' }, level: { type: 'string', enum: ['Agree, but only slightly'] } } };
  const body = { model: 'gpt-test', messages: [{ role: 'user', content: 'Rate' }], response_format: { type: 'json_schema', json_schema: { name: 'r', strict: true, schema } }, tools: [{ type: 'function', function: { name: 'set', parameters: tool } }] };
  const c = ctx({ tier: 'identity_verified', account: 'acc_shaped', body });
  h.policy!(c);
  const answer = JSON.stringify({ importance: 'Not at all important', why: 'It is often large in scale, and several steps happen at once. Therefore it is often studied.' });
  const args = JSON.stringify({ mode: 'Less than once a week, often enough', level: 'Agree, but only slightly' });
  const out = h.output!(c)!.json!({ choices: [{ index: 0, message: { role: 'assistant', content: answer, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'set', arguments: args } }] } }] }) as Record<string, any>;
  const v = JSON.parse(out.choices[0].message.content);
  assert.equal(v.importance, 'Not at all important', 'the enum phrase of the structured output is kept');
  assert.notEqual(v.why, JSON.parse(answer).why, 'the free prose is still marked');
  assert.equal(out.choices[0].message.tool_calls[0].function.arguments, args, 'the tool arguments\' enum and const strings are kept');
});

test('a watch verdict only observes: its JSON answers and tool-call arguments reach the client unchanged', () => {
  const args = JSON.stringify({ command: 'git push origin main --force-with-lease', note: 'It is often large in scale, and several steps happen at once. Therefore it is often studied.' });
  const body = { model: 'gpt-test', messages: [{ role: 'user', content: 'Deploy' }], tools: [{ type: 'function', function: { name: 'shell', parameters: { type: 'object', properties: { command: { type: 'string' }, note: { type: 'string' } } } } }] };
  const c = ctx({ tier: 'identity_verified', account: 'acc_clustered', body });
  h.policy!(c);
  assert.ok(c.enforcement.watermark, 'the watch account\'s prose answers are still marked');
  const out = h.output!(c)!.json!({ choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'shell', arguments: args } }] } }] }) as Record<string, any>;
  assert.equal(out.choices[0].message.tool_calls[0].function.arguments, args, 'tool arguments at watch are not rewritten');
  const json = ctx({ tier: 'identity_verified', account: 'acc_clustered', body: { model: 'gpt-test', messages: [], response_format: { type: 'json_object' } } });
  h.policy!(json);
  assert.ok(json.enforcement.shaping.includes('watermark:skipped_json'), 'a JSON answer at watch is left unmarked, as for an unflagged account');
});

test('a flagged account is marked whatever output format it asks for: prose in JSON string values and tool arguments', () => {
  const prose = 'Photosynthesis is often described as the process by which plants turn light into sugar. It is often large in scale, and several steps happen at once. Therefore it is often studied.';
  const answer = JSON.stringify({ answer: prose, label: 'often' });
  const args = JSON.stringify({ answer: prose });
  const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
  const requests: [string, ApiFlavour, Record<string, unknown>][] = [
    ['chat json_schema', 'openai.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'Explain photosynthesis' }], response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } }],
    ['chat forced tool', 'openai.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'Explain photosynthesis' }], tools: [{ type: 'function', function: { name: 'answer', parameters: schema } }], tool_choice: { type: 'function', function: { name: 'answer' } } }],
    ['responses text.format', 'openai.responses', { model: 'gpt-test', input: 'Explain photosynthesis', text: { format: { type: 'json_schema', name: 'a', schema } } }],
    ['anthropic output_config', 'anthropic.messages', { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Explain' }], output_config: { format: { type: 'json_schema', schema } } }],
    ['anthropic prefill', 'anthropic.messages', { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Explain' }, { role: 'assistant', content: '{"answer": "' }] }],
  ];
  for (const [name, flavour, body] of requests) {
    const c = ctx({ flavour, model: String(body.model), tier: 'identity_verified', account: 'acc_shaped', body });
    h.policy!(c);
    assert.equal(c.enforcement.watermark, 'wm1:account:acc_shaped', `${name}: the shape verdict's watermark applies`);
    assert.ok(!c.enforcement.shaping.includes('watermark:skipped_json'), `${name}: not skipped as JSON`);
    if (name !== 'chat forced tool') assert.ok(c.enforcement.shaping.includes('watermark:json'), `${name}: noted as a marked JSON answer`);
  }
  // What the client receives: valid JSON, same keys, the prose marked, the one-word value kept.
  const chat = ctx({ tier: 'identity_verified', account: 'acc_shaped', body: requests[0][2] });
  h.policy!(chat);
  const out = h.output!(chat)!.json!({ choices: [{ index: 0, message: { role: 'assistant', content: answer, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'answer', arguments: args } }] } }] }) as Record<string, any>;
  const v = JSON.parse(out.choices[0].message.content);
  assert.deepEqual(Object.keys(v), ['answer', 'label'], 'the JSON answer keeps its keys');
  assert.equal(v.label, 'often', 'a one-word value is kept');
  assert.notEqual(v.answer, prose, 'the JSON answer carries the mark');
  assert.notEqual(JSON.parse(out.choices[0].message.tool_calls[0].function.arguments).answer, prose, 'the tool arguments carry the mark');
  // An account under no verdict keeps today's default: JSON answers and tool arguments left alone.
  const free = ctx({ tier: 'identity_verified', body: requests[1][2] });
  h.policy!(free);
  assert.equal(free.enforcement.watermark, 'wm1:account:acc_1');
  const freeOut = h.output!(free)!.json!({ choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'answer', arguments: args } }] } }] }) as Record<string, any>;
  assert.equal(freeOut.choices[0].message.tool_calls[0].function.arguments, args, 'tool arguments of an unflagged account are untouched by default');
});

test('watermark.skip_json_output: false marks every marked account\'s JSON answers in their string prose', () => {
  const open = policyHooks({
    config: {
      policy: policyConfigSchema.parse({ file: policyFile, watch: false, reasoning_seal_secret: 'env:SEAL', geo: { country_files: [fx('country-v4.csv')], asn_files: [fx('asn-v4.csv')] } }),
      watermark: watermarkConfigSchema.parse({ enabled: true, master_secret: 'env:WM_SECRET', skip_json_output: false }),
    },
    env,
  });
  try {
    const c = ctx({ tier: 'identity_verified', body: { model: 'gpt-test', messages: [], response_format: { type: 'json_object' } } });
    open.policy!(c);
    assert.equal(c.enforcement.watermark, 'wm1:account:acc_1', 'marked');
    const content = JSON.stringify({ answer: 'It is often big. It is often large, and several things are often big.', kind: 'often big' });
    const out = open.output!(c)!.json!({ choices: [{ index: 0, message: { role: 'assistant', content } }] }) as Record<string, any>;
    const v = JSON.parse(out.choices[0].message.content);
    assert.notEqual(v.answer, JSON.parse(content).answer, 'the prose in the JSON answer is marked');
    assert.equal(v.kind, 'often big', 'a two-word value is kept');
    assert.deepEqual(Object.keys(v), ['answer', 'kind'], 'keys kept');
  } finally { open.close?.(); }
});

test('output phase: withheld reasoning noted; sealed thinking restored on the next turn, tampering refused', () => {
  const c = ctx({ flavour: 'anthropic.messages', model: 'claude-test', body: { model: 'claude-test', max_tokens: 100, messages: [] } });
  h.policy!(c);
  const t = h.output!(c)!;
  const answer = t.json!({ type: 'message', role: 'assistant', content: [{ type: 'thinking', thinking: 'private reasoning', signature: 'sig' }, { type: 'text', text: 'Done.' }] }) as any;
  assert.equal(answer.content[0].type, 'redacted_thinking');
  assert.ok(c.enforcement.shaping.includes('reasoning:withheld'));
  const next = ctx({ flavour: 'anthropic.messages', model: 'claude-test', body: { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: answer.content }, { role: 'user', content: 'more' }] } });
  h.policy!(next);
  assert.deepEqual((next.body.messages as any[])[1].content[0], { type: 'thinking', thinking: 'private reasoning', signature: 'sig' });
  assert.ok(next.enforcement.shaping.includes('reasoning:restored'));
  const forged = new ReasoningSeal('another-deployment').seal({ type: 'thinking', thinking: 'x', signature: 'y' });
  expectCode(() => h.policy!(ctx({ flavour: 'anthropic.messages', model: 'claude-test', body: { model: 'claude-test', max_tokens: 100, messages: [{ role: 'assistant', content: [{ type: 'redacted_thinking', data: forged }] }] } })), 'WARDEN_INVALID_REQUEST');
});

test('requests without a key (no auth) pass untouched', () => {
  const c = ctx();
  c.auth = null;
  h.policy!(c);
  assert.equal(h.output!(c), null);
});
