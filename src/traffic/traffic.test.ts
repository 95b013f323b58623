import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { answerFingerprint, parseEvent, type InteractionEvent } from '../events/index.ts';
import { extractRequestFeatures } from '../gateway/request-features.ts';
import { resolveScenario, generateTraffic, simulate, parseLabels, classifyPrompt, pickAddress, countryOfIpNum, Rng, defaultPromptDir, type AccountLabel } from './index.ts';
import { buildPopulation } from './population.ts';
import { ipFromString } from './netdata.ts';
import { historyAnswerText, thinkingRefusedForLoop, wireRequest } from './redteam.ts';

const dir = mkdtempSync(join(tmpdir(), 'warden-traffic-'));

function smoke(over: Parameters<typeof resolveScenario>[1] = {}, file: Record<string, unknown> | null = null) {
  return resolveScenario(file, { preset: 'smoke', ...over });
}

function collect(scenario: ReturnType<typeof resolveScenario>) {
  const run = generateTraffic(scenario);
  const events: InteractionEvent[] = [];
  for (const e of run.events) events.push(e);
  return { run, events };
}

test('same seed and scenario give byte-identical events and labels; another seed differs', () => {
  const paths = [0, 1, 2].map((i) => ({ ev: join(dir, `ev${i}.jsonl`), lb: join(dir, `lb${i}.jsonl`) }));
  simulate({ scenario: smoke({ maxEvents: 4000, seed: 7 }), eventsPath: paths[0].ev, labelsPath: paths[0].lb });
  simulate({ scenario: smoke({ maxEvents: 4000, seed: 7 }), eventsPath: paths[1].ev, labelsPath: paths[1].lb });
  simulate({ scenario: smoke({ maxEvents: 4000, seed: 8 }), eventsPath: paths[2].ev, labelsPath: paths[2].lb });
  const a = readFileSync(paths[0].ev), b = readFileSync(paths[1].ev), c = readFileSync(paths[2].ev);
  assert.ok(a.length > 100_000);
  assert.ok(a.equals(b), 'same seed: identical events');
  assert.ok(readFileSync(paths[0].lb).equals(readFileSync(paths[1].lb)), 'same seed: identical labels');
  assert.ok(!a.equals(c), 'another seed: different events');
});

test('every event passes the schema, is time-ordered, and matches the labels', () => {
  const evPath = join(dir, 'valid.jsonl'), lbPath = join(dir, 'valid-labels.jsonl');
  const summary = simulate({ scenario: smoke({ maxEvents: 6000 }), eventsPath: evPath, labelsPath: lbPath });
  const labels = parseLabels(readFileSync(lbPath, 'utf8'));
  assert.equal(labels[0].type, 'scenario');
  const accounts = new Map(labels.filter((l): l is AccountLabel => l.type === 'account').map((l) => [l.account_id, l]));
  const campaigns = new Set(labels.filter((l) => l.type === 'campaign').map((l) => (l as { campaign_id: string }).campaign_id));
  assert.deepEqual([...campaigns].sort(), ['adaptive-1', 'agentic-1', 'hydra-1', 'pivot-1', 'surgical-1']);
  let last = '';
  let n = 0;
  let capped = 0;
  const seenIds = new Set<string>();
  for (const line of readFileSync(evPath, 'utf8').split('\n')) {
    if (!line) continue;
    const ev = parseEvent(line);
    n++;
    assert.ok(ev.ts >= last, 'time-ordered');
    last = ev.ts;
    assert.ok(!seenIds.has(ev.id), 'unique ids');
    seenIds.add(ev.id);
    const l = accounts.get(ev.account_id!);
    assert.ok(l, `event account ${ev.account_id} has a label`);
    assert.equal(l!.org_id, ev.org_id);
    if (l!.population === 'campaign') assert.ok(campaigns.has(l!.campaign_id!));
    else assert.ok(l!.organic_kind);
    // Ground truth never leaks into events.
    assert.ok(!line.includes('campaign_id') && !line.includes('organic_kind') && !line.includes('hydra-1'));
    // Usage as the APIs report it: output counts reasoning, and max_tokens bounds both.
    const r = ev.response;
    assert.ok(r.output_tokens >= r.reasoning_tokens, `output ${r.output_tokens} counts reasoning ${r.reasoning_tokens}`);
    const max = ev.request.params.max_tokens;
    if (max !== null && r.status === 200) {
      capped++;
      assert.ok(r.output_tokens <= max * (ev.request.params.n ?? 1), `output ${r.output_tokens} within max_tokens ${max}`);
    }
  }
  assert.ok(capped > 100, 'requests with max_tokens were checked');
  assert.equal(n, summary.events);
  assert.equal(n, 6000);
});

test('organic population mix matches the configured shares', () => {
  const sc = resolveScenario({ organic: { accounts: 3000 }, campaigns: [] }, { preset: 'default' });
  const accounts = buildPopulation(sc);
  const counts: Record<string, number> = {};
  for (const a of accounts) counts[a.label.organic_kind!] = (counts[a.label.organic_kind!] ?? 0) + 1;
  let total = 0, shares = 0;
  for (const k of Object.keys(sc.organic.kinds) as (keyof typeof sc.organic.kinds)[]) shares += sc.organic.kinds[k].share;
  for (const k of Object.keys(counts)) total += counts[k];
  assert.ok(Math.abs(total - 3000) <= 10, `total ${total}`);
  for (const k of Object.keys(sc.organic.kinds) as (keyof typeof sc.organic.kinds)[]) {
    const want = sc.organic.kinds[k].share / shares;
    const got = (counts[k] ?? 0) / total;
    assert.ok(Math.abs(got - want) < 0.01, `${k}: ${got.toFixed(3)} vs ${want.toFixed(3)}`);
  }
  // Enterprise accounts share their org's payment instrument and NAT; education cohorts sign up together.
  const ent = accounts.filter((a) => a.kind === 'enterprise');
  const byOrg = new Map<string, Set<string | null>>();
  for (const a of ent) { const s = byOrg.get(a.orgId) ?? new Set(); s.add(a.facts.payment_fp); byOrg.set(a.orgId, s); }
  assert.ok([...byOrg.values()].every((s) => s.size === 1), 'one invoice instrument per enterprise org');
  const edu = accounts.filter((a) => a.kind === 'education' && a.label.group_id === 'education-0');
  const span = Math.max(...edu.map((a) => a.createdMs)) - Math.min(...edu.map((a) => a.createdMs));
  assert.ok(edu.length >= 12 && span <= 6 * 3600_000, 'a class signs up within hours');
});

test('diurnal and weekly rhythm is visible in office traffic', () => {
  const kinds = { hobbyist: { share: 0 }, developer: { share: 0 }, startup: { share: 0 }, researcher: { share: 0 }, batch: { share: 0 }, agent: { share: 0 }, education: { share: 0 }, enterprise: { share: 1 } };
  const sc = resolveScenario({ days: 7, organic: { accounts: 300, kinds }, campaigns: [] }, { preset: 'default' });
  const { run, events } = collect(sc);
  const tz = new Map(run.accounts.map((a) => [a.id, a.tzOffsetH]));
  const byHour = new Array(24).fill(0);
  let weekday = 0, weekend = 0;
  for (const e of events) {
    const local = Date.parse(e.ts) + tz.get(e.account_id!)! * 3600_000;
    const d = new Date(local);
    byHour[d.getUTCHours()]++;
    const dow = d.getUTCDay();
    if (dow === 0 || dow === 6) weekend++; else weekday++;
  }
  const work = byHour.slice(10, 16).reduce((a, b) => a + b, 0) / 6;
  const night = byHour.slice(1, 6).reduce((a, b) => a + b, 0) / 5;
  assert.ok(events.length > 2000, `events ${events.length}`);
  assert.ok(work > 8 * night, `office hours ${work.toFixed(0)}/h vs night ${night.toFixed(0)}/h`);
  assert.ok(weekday / 5 > 4 * (weekend / 2), `weekday ${weekday / 5}/day vs weekend ${weekend / 2}/day`);
});

test('campaign knobs change what they should and nothing else', () => {
  const base = { organic: { accounts: 60 }, days: 1 } as const;
  const one = (c: Record<string, unknown>) => collect(resolveScenario({ ...base, campaigns: [c] }, { preset: 'smoke' }));
  const campaignEvents = (r: ReturnType<typeof collect>) => {
    const ids = new Set(r.run.accounts.filter((a) => a.campaign).map((a) => a.id));
    return r.events.filter((e) => ids.has(e.account_id!));
  };
  // Shared payment instruments.
  const shared = one({ id: 's', kind: 'surgical', accounts: 20, interactions: 300, payment: { accounts_per_instrument: 10, none_share: 0 } });
  const distinct = one({ id: 's', kind: 'surgical', accounts: 20, interactions: 300, payment: { accounts_per_instrument: 1, none_share: 0 } });
  const fps = (r: ReturnType<typeof collect>) => new Set(r.run.accounts.filter((a) => a.campaign).map((a) => a.facts.payment_fp));
  assert.equal(fps(shared).size, 2);
  assert.equal(fps(distinct).size, 20);
  // Proxy pool size bounds the campaign's client addresses.
  const pool = campaignEvents(one({ id: 'h', kind: 'hydra', accounts: 40, interactions: 1500, network: { pool_size: 5, unsupported_region_share: 0 } }));
  assert.ok(pool.length > 800);
  assert.ok(new Set(pool.map((e) => e.client.ip)).size <= 5);
  // Templates vs paraphrase: a templated CoT campaign reuses one skeleton; an adaptive one does not.
  const skeleton = (e: InteractionEvent) => { const t = e.request.messages[0].text ?? ''; return t.slice(-40); };
  const templated = campaignEvents(one({ id: 'c', kind: 'hydra', accounts: 20, interactions: 600, templates: 1, organic_mix: 0, mix: { cot: 1, code: 0, math: 0, agentic: 0, chat: 0 } }));
  const paraphrased = campaignEvents(one({ id: 'c', kind: 'hydra', accounts: 20, interactions: 600, templates: 0, paraphrase: 1, organic_mix: 0, mix: { cot: 1, code: 0, math: 0, agentic: 0, chat: 0 } }));
  const topShare = (evs: InteractionEvent[], f: (e: InteractionEvent) => string) => {
    const m = new Map<string, number>();
    for (const e of evs) m.set(f(e), (m.get(f(e)) ?? 0) + 1);
    return Math.max(...m.values()) / evs.length;
  };
  const templ = (e: InteractionEvent) => { const t = e.request.messages[0].text ?? ''; return t.startsWith('Think') || t.length < 80 ? t.slice(0, 30) : t.slice(-60); };
  assert.ok(Math.max(topShare(templated, skeleton), topShare(templated, templ)) > 0.45, 'one template dominates');
  assert.ok(topShare(paraphrased, skeleton) < 0.1, 'paraphrased prompts have no common skeleton');
  // Disguise: about `disguise` of the prompts carry zero-width spaces or Cyrillic look-alikes; none otherwise.
  const hidden = (e: InteractionEvent) => /[\u200b\u0430\u0441\u0435\u043e\u0440\u0445\u0443]/.test(e.request.messages.map((m) => m.text ?? '').join(' '));
  const disguised = campaignEvents(one({ id: 'd', kind: 'hydra', accounts: 20, interactions: 800, organic_mix: 0, disguise: 0.5, mix: { cot: 1, code: 0, math: 0, agentic: 0, chat: 0 } }));
  const disguisedShare = disguised.filter(hidden).length / disguised.length;
  assert.ok(disguisedShare > 0.4 && disguisedShare < 0.6, `disguised share ${disguisedShare}`);
  assert.equal(templated.filter(hidden).length, 0, 'no disguise by default');
  // System prompts: one per campaign by default; each account its own with `per_account`; none with `none`.
  const prompted = (system_prompt: string) => campaignEvents(one({ id: 'q', kind: 'agentic', accounts: 10, interactions: 600, system_prompt }));
  const systemsByAccount = (evs: InteractionEvent[]) => {
    const m = new Map<string, Set<string>>();
    for (const e of evs) if (e.request.system) { const k = e.request.system; if (!m.has(k)) m.set(k, new Set()); m.get(k)!.add(e.account_id!); }
    return m;
  };
  const sharedSystems = systemsByAccount(prompted('shared'));
  assert.ok([...sharedSystems.values()].some((accts) => accts.size >= 5), 'a shared prompt is sent by many accounts');
  const ownSystems = systemsByAccount(prompted('per_account'));
  assert.ok(ownSystems.size >= 5 && [...ownSystems.values()].every((accts) => accts.size === 1), 'no two accounts send the same prompt');
  assert.equal(prompted('none').filter((e) => e.request.system).length, 0);
  // Volume follows `interactions`.
  const v1 = campaignEvents(one({ id: 'h', kind: 'hydra', accounts: 30, interactions: 1000 })).length;
  const v2 = campaignEvents(one({ id: 'h', kind: 'hydra', accounts: 30, interactions: 2000 })).length;
  assert.ok(v1 > 700 && v1 < 1300, `v1 ${v1}`);
  assert.ok(v2 / v1 > 1.6 && v2 / v1 < 2.4, `v2/v1 ${v2 / v1}`);
  // Pivot: no traffic on the new model before release + delay; about `share` after.
  const piv = one({ id: 'p', kind: 'pivot', accounts: 30, interactions: 3000, pivot: { delay_hours: 2, share: 0.5 } });
  // smoke releases claude-opus-5 at day 0.4; the campaign moves 2 hours later.
  const pivotAt = resolveScenario({ ...base }, { preset: 'smoke' }).startMs + 0.4 * 86400_000 + 2 * 3600_000;
  const pe = campaignEvents(piv);
  const before = pe.filter((e) => Date.parse(e.ts) < pivotAt);
  const after = pe.filter((e) => Date.parse(e.ts) >= pivotAt);
  assert.equal(before.filter((e) => e.model === 'claude-opus-5').length, 0);
  const share = after.filter((e) => e.model === 'claude-opus-5').length / after.length;
  assert.ok(share > 0.35 && share < 0.65, `pivot share ${share}`);
  // Organic traffic is identical whatever the campaigns do.
  const organicLines = (r: ReturnType<typeof collect>) => {
    const ids = new Set(r.run.accounts.filter((a) => !a.campaign).map((a) => a.id));
    return r.events.filter((e) => ids.has(e.account_id!)).map((e) => JSON.stringify(e)).join('\n');
  };
  assert.equal(organicLines(shared), organicLines(pool.length ? one({ id: 'h', kind: 'hydra', accounts: 5, interactions: 100 }) : shared));
});

test('as_written: a campaign sends dataset items exactly as the prompt sets hold them, asking for no steps', () => {
  const corpus = new Set(readdirSync(join(defaultPromptDir(), 'distill')).flatMap((f) => readFileSync(join(defaultPromptDir(), 'distill', f), 'utf8').trim().split('\n').map((l) => JSON.parse(l).text as string)));
  const items = (as_written: boolean) => {
    const { run, events } = collect(resolveScenario({ organic: { accounts: 10 }, campaigns: [{ id: 'w', kind: 'adaptive', accounts: 10, interactions: 400, as_written, paraphrase: 0, organic_mix: 0, templates: 2, mix: { cot: 0.3, math: 0.4, code: 0.3, agentic: 0, rubric: 0, rewrite: 0, chat: 0 } }] }, { preset: 'smoke' }));
    const ids = new Set(run.accounts.filter((a) => a.campaign).map((a) => a.id));
    const texts = events.filter((e) => ids.has(e.account_id!)).map((e) => e.request.messages[0].text ?? '');
    return texts.filter((t) => corpus.has(t)).length / texts.length;
  };
  const written = items(true);
  assert.ok(written > 0.6, `most items are sent verbatim with as_written (the rest are the corpus's organic maths and code): ${written}`);
  assert.ok(items(false) < 0.05, 'by default maths and chain-of-thought tasks are wrapped or paraphrased');
});

test('adaptive attackers: one residential address per account, aged, distinct instruments', () => {
  const sc = resolveScenario({ organic: { accounts: 20 }, campaigns: [{ id: 'a', kind: 'adaptive', accounts: 25, interactions: 800 }] }, { preset: 'smoke' });
  const { run, events } = collect(sc);
  const adaptive = run.accounts.filter((a) => a.campaign);
  assert.equal(new Set(adaptive.map((a) => a.facts.payment_fp)).size, 25);
  assert.ok(adaptive.every((a) => sc.startMs - a.createdMs > 50 * 86400_000), 'aged accounts');
  const ipsPerAccount = new Map<string, Set<string>>();
  for (const e of events) {
    if (!adaptive.some((a) => a.id === e.account_id)) continue;
    const s = ipsPerAccount.get(e.account_id!) ?? new Set();
    s.add(e.client.ip);
    ipsPerAccount.set(e.account_id!, s);
  }
  assert.ok(ipsPerAccount.size > 10);
  assert.ok([...ipsPerAccount.values()].every((s) => s.size === 1), 'one address per account');
  const ips = [...ipsPerAccount.values()].map((s) => [...s][0]);
  assert.equal(new Set(ips).size, ips.length, 'no shared addresses');
});

test('addresses come from real ranges of the right networks', () => {
  const rng = new Rng(3);
  for (let i = 0; i < 50; i++) {
    const uni = pickAddress('university', rng);
    assert.ok(/univ|college|institute|technology|polytechnic|hochschule|jisc|switch|forschungsnetz|cernet|education|research|carnegie|stanford|berkeley|california|washington|cornell|princeton|toronto|massachusetts/i.test(uni.asnName), uni.asnName);
    const cloud = pickAddress('cloud', rng);
    assert.ok([16509, 14618, 396982, 8075, 14061, 16276, 24940, 63949, 20473, 31898, 45102, 132203, 12876, 36351].includes(cloud.asn));
    const de = pickAddress('residential', rng, ['DE']);
    assert.ok([3320, 3209].includes(de.asn));
  }
  assert.equal(countryOfIpNum(ipFromString('8.8.8.8')), 'US');
});

test('an earlier answer in a history is sent at its simulated length, the same in every turn, and unlike any other account\'s', () => {
  const standIn = { role: 'assistant' as const, text: 'Here is a complete implementation with tests.', chars: 4356 };
  const a = historyAnswerText(standIn, 'acct_a');
  assert.equal(a.length, 4356, 'as long as the answer the simulation drew');
  assert.ok(a.startsWith(standIn.text), 'the stand-in first');
  assert.equal(historyAnswerText(standIn, 'acct_a'), a, 'the same turn is sent the same in later requests');
  assert.notEqual(historyAnswerText(standIn, 'acct_b').slice(standIn.text.length), a.slice(standIn.text.length), 'another account sends other filler');
  const user = { role: 'user' as const, text: 'hello', chars: 900 };
  assert.equal(historyAnswerText(user, 'acct_a'), 'hello', 'user text is sent as it is');
  const call = { role: 'assistant' as const, text: 'get_weather', chars: 300, parts: { tool_use: 1 } };
  assert.equal(historyAnswerText(call, 'acct_a'), 'get_weather', 'a tool call is sent as it is');
});

test('prompts are pooled by content, not by file', () => {
  assert.equal(classifyPrompt('Write a Python function that reverses a string.'), 'code');
  assert.equal(classifyPrompt('Tom has 3 apples and buys 5 more. How many apples does he have?'), 'math');
  assert.equal(classifyPrompt('What is a good name for a bakery?'), 'chat');
});

test('events record requests exactly as the gateway would from the wire body', () => {
  const { events } = collect(smoke({ maxEvents: 3000, set: ['campaigns.5={"kind":"logit","accounts":2,"interactions":300}'] }));
  let checked = 0;
  let biased = 0;
  for (const ev of events) {
    if (ev.response.status !== 200) continue;
    const w = wireRequest(ev, 'secret');
    const bytes = Buffer.byteLength(JSON.stringify(w.body));
    const got = extractRequestFeatures(ev.flavour, w.body, bytes, { recordPrompts: 'full', maxMessageChars: 100_000 });
    assert.equal(got.system, ev.request.system, 'system');
    assert.deepEqual(got.tools, ev.request.tools, 'tools');
    assert.equal(got.stream, ev.request.stream);
    // Earlier answers go at their simulated length (historyAnswerText); everything else as the event holds it.
    const expected = ev.request.messages.map((m) => { const t = historyAnswerText(m, ev.account_id!); return [m.role, t || (ev.flavour === 'anthropic.messages' && m.role !== 'assistant' ? '.' : t)]; });
    assert.deepEqual(got.messages.map((m) => [m.role, m.text]), expected);
    for (const [k, m] of ev.request.messages.entries()) if (m.role === 'assistant' && !m.parts) assert.equal(got.messages[k].chars, m.chars, 'an earlier answer is sent as long as the simulation drew it');
    // A bias map goes over the wire as another map with the same counts (wireBiasMap).
    const { logit_bias: sentBias, ...sent } = { ...got.params, stop: false };
    const { logit_bias: simBias, ...sim } = ev.request.params;
    // Inside a tool-use loop an Anthropic request is replayed without thinking (its signed thinking block cannot be replayed).
    const replayed = thinkingRefusedForLoop(ev) ? { ...sim, thinking: undefined, thinking_budget: null } : sim;
    if (replayed.thinking === undefined) delete replayed.thinking;
    assert.deepEqual(sent, replayed);
    if (simBias) {
      assert.deepEqual([sentBias?.tokens, sentBias?.positive, sentBias?.prompt], [simBias.tokens, simBias.positive, simBias.prompt]);
      biased++;
    } else assert.equal(sentBias, undefined);
    checked++;
  }
  assert.ok(checked > 2500);
  assert.ok(biased >= 10, `${biased} requests with logit_bias`);
});

test('memory stays flat as the stream grows', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const run = generateTraffic(smoke({ days: 3, maxEvents: 90_000 }));
  const it = run.events[Symbol.iterator]();
  const heapAt = (n: number) => { for (let i = 0; i < n; i++) if (it.next().done) break; gc(); return process.memoryUsage().heapUsed; };
  const h1 = heapAt(15_000);
  const h2 = heapAt(75_000);
  // 75k events of ~2.5 KB held in memory would be ~190 MB; the generator keeps only per-lane state.
  assert.ok(h2 - h1 < 25 * 1024 * 1024, `heap grew ${((h2 - h1) / 1048576).toFixed(1)} MB`);
});

test('a bad knob is refused with its path and what was expected, one line per key', () => {
  assert.throws(() => resolveScenario(null, { preset: 'smoke', set: ['campaigns.0.system_prompt="each"'] }),
    /invalid scenario:\n {2}campaigns\.0\.system_prompt: Invalid option: expected one of "shared"\|"per_account"\|"none"/);
  assert.throws(() => resolveScenario(null, { preset: 'smoke', set: ['campaigns.2.signup.used_before="yes"'] }), /campaigns\.2\.signup\.used_before: .*expected boolean/);
  assert.throws(() => resolveScenario(null, { preset: 'smoke', set: ['organic.accounts=-1'] }), /invalid scenario:\n {2}organic\.accounts: /);
});

test('red-team dresses: a split\'s verifiers paste answers its askers were served; graders send a rubric worded per account', () => {
  const base = { kind: 'hydra' as const, accounts: 8, interactions: 8 * 20 * 2, organic_mix: 0, timing: { mode: 'human' as const }, mix: { math: 0.5, code: 0.5, cot: 0, chat: 0, agentic: 0, rubric: 0, rewrite: 0 } };
  const scenario = resolveScenario({ preset: 'smoke', days: 2, organic: { accounts: 5 }, campaigns: [{ ...base, id: 'split-t', dress: { split: 0.5 } }, { ...base, id: 'grade-t', dress: { grade: true } }] }, { seed: 3 });
  const { run, events } = collect(scenario);
  const campaign = new Map<string, string>();
  for (const l of run.labels as Array<{ type: string; account_id: string; campaign_id?: string | null }>) if (l.type === 'account' && l.campaign_id) campaign.set(l.account_id, l.campaign_id);
  const served = new Map<string, string>();
  for (const e of events) if (campaign.get(e.account_id!) === 'split-t' && e.response.answer_fp) served.set(e.response.answer_fp, e.account_id!);
  let checks = 0; let pasted = 0;
  const graders = new Map<string, Set<string>>();
  for (const e of events) {
    const text = e.request.messages.at(-1)?.text ?? '';
    if (campaign.get(e.account_id!) === 'grade-t') {
      const head = text.includes('Rubric:') || text.includes('Criteria:') ? text.slice(0, 40) : null;
      assert.ok(head !== null, `a grading request carries its rubric: ${text.slice(0, 120)}`);
      if (!graders.has(e.account_id!)) graders.set(e.account_id!, new Set());
      graders.get(e.account_id!)!.add(/score|rate|grade|mark|evaluate/i.exec(text)?.[0] ?? '');
    }
    if (campaign.get(e.account_id!) !== 'split-t' || e.request.messages.length !== 1 || !/\n\n/.test(text)) continue;
    checks++;
    const lines = text.split('\n').flatMap((l) => [l, l.slice(l.indexOf(':') + 1)]);
    const owner = lines.map((l) => answerFingerprint(l + '\n' + text.slice(text.indexOf(l) + l.length))).map((fp) => (fp ? served.get(fp) : undefined)).find((a) => a && a !== e.account_id);
    if (owner) pasted++;
  }
  assert.ok(checks > 20 && pasted / checks > 0.8, `verifiers' checks carry an answer served to another account of the split: ${pasted} of ${checks}`);
  assert.ok(graders.size >= 6, `grading accounts sent requests: ${graders.size}`);
});

test('red-team dresses: preference pairs ask each item word for word on two accounts at a low and a high temperature; agent trajectories feed made-up tool results to a harness of the account\'s own', () => {
  const base = { kind: 'hydra' as const, accounts: 8, interactions: 8 * 20 * 2, organic_mix: 0, timing: { mode: 'human' as const }, mix: { math: 0.5, code: 0.5, cot: 0, chat: 0, agentic: 0, rubric: 0, rewrite: 0 } };
  const scenario = resolveScenario({ preset: 'smoke', days: 2, organic: { accounts: 5 }, campaigns: [{ ...base, id: 'pair-t', dress: { pairs: true } }, { ...base, id: 'agent-t', dress: { agent: true } }] }, { seed: 3 });
  const { run, events } = collect(scenario);
  const campaign = new Map<string, string>();
  for (const l of run.labels as Array<{ type: string; account_id: string; campaign_id?: string | null }>) if (l.type === 'account' && l.campaign_id) campaign.set(l.account_id, l.campaign_id);
  const asked = new Map<string, Array<{ account: string; temperature: number | null }>>();
  const harness = new Map<string, Set<string>>();
  let steps = 0; let fedBack = 0; let parallel = 0;
  const unsetChoice = new Set<string>();
  for (const e of events) {
    const c = campaign.get(e.account_id!);
    if (c === 'pair-t') {
      assert.ok(e.request.messages.length === 1 && (e.request.params.n ?? 1) === 1, 'a pair request is one question, one answer');
      const q = e.request.messages[0].text ?? '';
      asked.set(q, [...(asked.get(q) ?? []), { account: e.account_id!, temperature: e.request.params.temperature }]);
    }
    if (c === 'agent-t') {
      assert.ok(e.request.tools.length >= 3 && e.request.system, `an agent step offers the harness's tools under its system prompt: ${e.request.tools.join(',')}`);
      if (!harness.has(e.account_id!)) harness.set(e.account_id!, new Set());
      harness.get(e.account_id!)!.add(e.request.system!);
      steps++;
      if (e.request.messages.some((m) => m.role === 'tool' || (m.parts?.tool_result ?? 0) > 0)) fedBack++;
      if (e.response.tool_calls > 1) parallel++;
      if (e.request.tool_choice === null) unsetChoice.add(e.account_id!);
    }
  }
  const pairs = [...asked.values()].filter((a) => a.length === 2);
  assert.ok(pairs.length > 50, `items asked twice: ${pairs.length} of ${asked.size}`);
  assert.ok(pairs.every((p) => p[0].account !== p[1].account), 'the two askings of an item are two accounts\'');
  assert.ok(pairs.every((p) => (p[0].temperature ?? 1) <= 0.3 && (p[1].temperature ?? 0) >= 0.9), 'the first asking at a low temperature, the second at a high one');
  assert.ok(harness.size >= 6 && [...harness.values()].every((s) => s.size === 1), `each agent account keeps one harness prompt: ${[...harness.values()].map((s) => s.size)}`);
  assert.ok(new Set([...harness.values()].map((s) => [...s][0])).size >= 4, 'the harness prompts are worded per account');
  assert.ok(steps > 100 && fedBack / steps > 0.5, `most agent steps carry the tool results fed back: ${fedBack} of ${steps}`);
  // The harness's client settings vary as organic agents' do, not one tell for the whole campaign.
  assert.ok(parallel > 0 && parallel < steps * 0.2, `some agent steps call two tools at once, as organic agents' do: ${parallel} of ${steps}`);
  assert.ok(unsetChoice.size >= 1 && unsetChoice.size < harness.size, `some harnesses leave the tool choice unset: ${unsetChoice.size} of ${harness.size}`);
});
