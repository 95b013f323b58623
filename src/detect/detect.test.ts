import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DetectorEngine, detectHooks, scanEvents, runScanCli, buildLabelledEvents, buildReport, verdictRank, scoreReport, type PromptPool, type Verdict } from './index.ts';
import type { DetectionReport } from './report.ts';
import { emptyEnforcement, emptyParams, type InteractionEvent } from '../events/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;

const mixed = buildLabelledEvents(pool, {
  seed: 5, days: 3,
  organic: { hobbyist: 60, startup: 4, enterprise: 1, researcher: 2, batch: 2, agent: 2, class: 1 },
  campaigns: [{ kind: 'hydra', accounts: 60 }, { kind: 'surgical', accounts: 12 }],
});

/** A person's follow-up in a conversation: a real answer before it (long, as the model's are). */
const ANSWER = 'Hello! It is a lovely day here too. Spring is my favourite season: the days get longer, the parks fill with flowers, and it is the best time of the year for a long walk by the river.';
const CHAT_TURNS = [{ role: 'user', text: 'hi there', chars: 8 }, { role: 'assistant', text: ANSWER, chars: ANSWER.length }, { role: 'user', text: 'what a nice day', chars: 15 }];

function run(events: InteractionEvent[], config: unknown = {}): DetectorEngine {
  const e = new DetectorEngine({ config, trackFirstFlags: true });
  for (const ev of events) e.ingest(ev);
  e.flush();
  return e;
}
const above = (lvl: string) => verdictRank(lvl as 'none') > verdictRank('watch');
const accountsOf = (prefix: string) => Object.entries(mixed.labels.accounts).filter(([, l]) => l.startsWith(prefix)).map(([id]) => id);

const engine = run(mixed.events);
// The hydra campaign's own events: its cluster is flagged on them alone (asserted where used), and
// what an operator's verdict on it does to its members, or how its level moves once its traffic
// turns benign, does not depend on the rest of the traffic.
let hydraOnly: InteractionEvent[] | null = null;
const hydraEvents = () => (hydraOnly ??= mixed.events.filter((ev) => mixed.labels.accounts[ev.account_id!]?.startsWith('campaign:camp_hydra')));

// The scan tests read the scenario as a log of 25,000 events: serialising it and scanning it whole
// are the costliest steps of this file, so the lines are serialised once, and the one scan of the
// whole log that several tests compare with (online, resumed, joined with an account table) runs once.
let lines: string[] | null = null;
const mixedLines = () => (lines ??= mixed.events.map((e) => JSON.stringify(e)));
let wholeLog: Promise<{ file: string; reportPath: string; report: DetectionReport }> | null = null;
function wholeLogScan() {
  return (wholeLog ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-scan-whole-'));
    const file = join(dir, 'events.jsonl');
    writeFileSync(file, mixedLines().join('\n') + '\n');
    const { report } = await scanEvents(file);
    const reportPath = join(dir, 'report.json');
    writeFileSync(reportPath, JSON.stringify(report));
    return { file, reportPath, report };
  })());
}

test('a hydra cluster of clean-looking accounts is linked and flagged, naming the shared evidence', () => {
  const hydra = accountsOf('campaign:camp_hydra');
  assert.equal(hydra.length, 60);
  const flagged = hydra.filter((id) => above(engine.forAccount(id).level));
  assert.ok(flagged.length >= 57, `hydra accounts flagged: ${flagged.length}/60`);
  const v = engine.forAccount(hydra[0]);
  assert.ok(v.verdict && v.verdict.subject.kind === 'cluster', 'the verdict comes from the cluster');
  assert.ok(v.clusterId);
  const signals = v.verdict!.reasons.map((r) => r.signal);
  assert.ok(signals.includes('shared_payment_fingerprint'), `reasons: ${signals.join(', ')}`);
  assert.ok(signals.some((s) => s === 'reasoning_elicitation_share' || s === 'capability_share'), 'content evidence combined with linkage');
  // Alone, each account stays at watch at most: the cluster is what gives it away.
  const alone = run(mixed.events.filter((e) => e.account_id === hydra[3]));
  assert.ok(!above(alone.forAccount(hydra[3]).level), 'a single hydra account on its own is not above watch');
  const campaigns = engine.campaigns();
  const c = campaigns.find((x) => x.members.includes(hydra[0]));
  assert.ok(c, 'a campaign is named');
  assert.ok(c!.volume.requests > 1000 && c!.timeline.length > 0 && c!.targets.coding > 0);
});

test('the same hydra campaign prompting in Chinese is flagged on the same evidence, content included', () => {
  // Every hydra request rewritten into Chinese: reasoning-eliciting ones become a Chinese maths or
  // coding question with a Chinese chain-of-thought instruction, the camouflage ones Chinese chit-chat.
  const questions = [
    '小明有12个苹果，吃掉了3个，又买了5个，现在一共有多少个苹果？', '一列火车以每小时80公里的速度行驶了3小时，它行驶了多少公里？',
    '一件衬衫原价200元，打八折后再减20元，最后要付多少钱？', '一个长方形的长是8厘米，宽是5厘米，它的面积是多少？',
    '用Python写一个函数，判断一个字符串是不是回文。', '实现一个算法，找出数组中第二大的数。', '写一段代码，把一个链表反转。',
    '求解方程 3x + 7 = 22 的整数解。',
  ];
  const chat = ['帮我写一条朋友圈，庆祝我找到新工作。', '推荐几本适合周末读的小说。', '明天去爬山要带些什么东西？', '帮我给房东写一封礼貌的邮件。'];
  const hydra = new Set(accountsOf('campaign:camp_hydra'));
  const english = engine.forAccount([...hydra][0]).verdict!.reasons.find((r) => r.signal === 'reasoning_elicitation_share');
  let n = 0;
  const chinese = mixed.events.map((ev) => {
    if (!hydra.has(ev.account_id!)) return ev;
    const text = ev.request.messages.at(-1)?.text ?? '';
    const cn = /step by step|reasoning/i.test(text) ? `${questions[n++ % questions.length]}\n\n请一步一步地解释你的推理过程。` : chat[n++ % chat.length];
    return { ...ev, request: { ...ev.request, messages: [{ role: 'user', text: cn, chars: cn.length }] } } as InteractionEvent;
  });
  const e = run(chinese);
  const ids = [...hydra];
  const flagged = ids.filter((id) => above(e.forAccount(id).level));
  assert.ok(flagged.length >= 57, `Chinese hydra accounts flagged: ${flagged.length}/60`);
  const reasons = e.forAccount(ids[0]).verdict!.reasons;
  const share = reasons.find((r) => r.signal === 'reasoning_elicitation_share');
  assert.ok(english && share, `reasoning elicitation named in English and in Chinese: ${reasons.map((r) => r.signal).join(', ')}`);
  const [cn, en, threshold] = [Number(share!.value), Number(english!.value), Number(share!.threshold)];
  assert.ok(cn >= threshold, `Chinese reasoning elicitation ${cn} against threshold ${threshold}`);
  assert.ok(Math.abs(cn - en) < 0.15, `about the same share as in English (${en})`);
});

test('the same hydra campaign with its words disguised (zero-width characters, Cyrillic look-alikes) is flagged on the same evidence, and the disguise is named', () => {
  // A different disguise in every request: a zero-width space inside some words, a Cyrillic letter
  // for its Latin twin in others. The model reads the same prompt; a plain text match does not.
  const twins: Record<string, string> = { a: '\u0430', e: '\u0435', o: '\u043e', p: '\u0440', c: '\u0441', y: '\u0443', x: '\u0445' };
  let seed = 11;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const disguise = (text: string) => text.replace(/[A-Za-z]{4,}/g, (w) => {
    const r = rnd();
    const at = 1 + Math.floor(rnd() * (w.length - 1));
    if (r < 0.35) return w.slice(0, at) + '\u200b' + w.slice(at);
    if (r < 0.7) { const i = [...w].findIndex((ch, k) => k >= at - 1 && twins[ch]); return i < 0 ? w : w.slice(0, i) + twins[w[i]] + w.slice(i + 1); }
    return w;
  });
  const hydra = new Set(accountsOf('campaign:camp_hydra'));
  const ids = [...hydra];
  const plain = engine.forAccount(ids[0]).verdict!.reasons;
  const disguised = run(mixed.events.map((ev) => {
    if (!hydra.has(ev.account_id!)) return ev;
    const text = disguise(ev.request.messages.at(-1)?.text ?? '');
    return { ...ev, request: { ...ev.request, messages: [{ role: 'user', text, chars: text.length }] } } as InteractionEvent;
  }));
  const flagged = ids.filter((id) => above(disguised.forAccount(id).level));
  assert.ok(flagged.length >= 57, `disguised hydra accounts flagged: ${flagged.length}/60`);
  const reasons = disguised.forAccount(ids[0]).verdict!.reasons;
  const value = (rs: typeof reasons, signal: string) => Number(rs.find((r) => r.signal === signal)?.value ?? NaN);
  for (const signal of ['reasoning_elicitation_share', 'capability_share', 'sensitive_rewrite_share']) {
    assert.ok(Math.abs(value(reasons, signal) - value(plain, signal)) < 0.05, `${signal}: ${value(reasons, signal)} disguised, ${value(plain, signal)} plain`);
  }
  const disguise_ = reasons.find((r) => r.signal === 'obfuscated_text_share');
  assert.ok(disguise_ && Number(disguise_.value) >= Number(disguise_.threshold), `the disguise is named: ${reasons.map((r) => r.signal).join(', ')}`);
  // People do not disguise their words: no organic account of the scenario has the signal.
  for (const [id, label] of Object.entries(mixed.labels.accounts)) {
    if (!label.startsWith('organic')) continue;
    assert.ok(!(engine.forAccount(id).verdict?.reasons ?? []).some((r) => r.signal === 'obfuscated_text_share'), id);
  }
});

test('a campaign that hides its prompts in documents built not to be read is named for it; the reasoning signals it hid are gone', () => {
  // Every hydra request that asks for reasoning puts the task in a PDF the reader cannot read (too
  // slow to parse, say): the event has a stub of text and one unreadable document.
  const hydra = new Set(accountsOf('campaign:camp_hydra'));
  const hidden = mixed.events.map((ev) => {
    if (!hydra.has(ev.account_id!)) return ev;
    const text = ev.request.messages.at(-1)?.text ?? '';
    if (!/step by step|reasoning|think/i.test(text)) return ev;
    const stub = 'Answer the task in the attached document.';
    return { ...ev, request: { ...ev.request, messages: [{ role: 'user', text: stub, chars: stub.length, parts: { document: 1 }, documents_unread: 1, documents_unreadable: 1 }] } } as InteractionEvent;
  });
  const e = run(hidden);
  const ids = [...hydra];
  const reasons = e.forAccount(ids[0]).verdict!.reasons;
  const named = reasons.find((r) => r.signal === 'unreadable_documents_share');
  assert.ok(named && Number(named.value) >= Number(named.threshold), `the unreadable documents are named: ${reasons.map((r) => `${r.signal}=${r.value}`).join(', ')}`);
  assert.ok((named.weight ?? 0) > 0, 'it adds to the score');
  const flagged = ids.filter((id) => above(e.forAccount(id).level));
  assert.ok(flagged.length >= 57, `hiding its prompts does not hide the campaign: ${flagged.length}/60 flagged`);
  // A document counted unread for the reader's own reasons (busy, given by URL) is not the account's
  // doing. The campaign's own events suffice (its cluster is flagged on them alone, asserted below):
  // whether a signal is named does not depend on the rest of the traffic.
  const busy = run(mixed.events.filter((ev) => hydra.has(ev.account_id!)).map((ev) => ({ ...ev, request: { ...ev.request, messages: ev.request.messages.map((m) => ({ ...m, documents_unread: 1 })) } }) as InteractionEvent));
  const busyVerdict = busy.forAccount(ids[0]).verdict;
  assert.ok(busyVerdict && above(busy.forAccount(ids[0]).level), 'the campaign is flagged on its own events, so its reasons are there to look at');
  assert.ok(!busyVerdict.reasons.some((r) => r.signal === 'unreadable_documents_share'), 'unread is not unreadable');
  for (const [id, label] of Object.entries(mixed.labels.accounts)) {
    if (label.startsWith('organic')) assert.ok(!(e.forAccount(id).verdict?.reasons ?? []).some((r) => r.signal === 'unreadable_documents_share'), id);
  }
});

test('a cluster is named after its members, not after the order they were linked in: an engine fed from a later start names it alike', () => {
  // A restart without a snapshot replays only detect.replay_hours of stored events: the links come
  // in another order and the union sizes differ, but the same members must give the same id.
  const lastMs = Date.parse(mixed.events.at(-1)!.ts);
  const later = run(mixed.events.filter((ev) => Date.parse(ev.ts) >= lastMs - 48 * 3600_000));
  const byMembers = (e: DetectorEngine) => new Map(e.clusterSummaries().map((c) => [[...c.members].sort().join(), c.id]));
  const full = byMembers(engine);
  const same = [...byMembers(later)].filter(([members]) => full.has(members));
  const hydra = accountsOf('campaign:camp_hydra')[0];
  assert.ok(same.some(([members]) => members.split(',').includes(hydra)), 'the hydra campaign\'s cluster has the same members in both');
  for (const [members, id] of same) assert.equal(id, full.get(members), `the cluster of ${members.slice(0, 60)}...`);
});

test('surgical harvest with shared payment instruments is flagged', () => {
  const ids = accountsOf('campaign:camp_surgical');
  assert.ok(ids.filter((id) => above(engine.forAccount(id).level)).length >= 11);
});

test('hard negatives stay at watch or below: eval suites, batch jobs, agents, classes, enterprises behind one NAT', () => {
  for (const kind of ['researcher', 'batch', 'agent', 'class', 'enterprise', 'startup', 'hobbyist']) {
    for (const id of accountsOf(`organic:${kind}`)) {
      const v = engine.forAccount(id);
      assert.ok(!above(v.level), `${kind} ${id} at ${v.level}: ${JSON.stringify(v.verdict?.reasons.slice(0, 4))}`);
    }
  }
  // and at no point during the run were they served above watch
  const q = scoreReport(buildReport(engine), mixed.labels);
  assert.equal(q.organic_flagged, 0);
});

test('every detector verdict explains itself with signal, value and threshold', () => {
  const v = engine.forAccount(accountsOf('campaign:camp_hydra')[0]).verdict!;
  assert.equal(v.source, 'detector');
  assert.ok(v.score !== null && v.score > 0);
  const head = v.reasons[0];
  assert.equal(head.signal, 'cluster_score');
  assert.equal(typeof head.value, 'number');
  assert.equal(typeof head.threshold, 'number');
  assert.ok((head.value as number) >= (head.threshold as number));
  for (const r of v.reasons) { assert.ok('signal' in r && 'value' in r && 'threshold' in r); }
});

test('operator allow-list and manual verdicts win over the detector', () => {
  const hydra = accountsOf('campaign:camp_hydra');
  const student = accountsOf('organic:hobbyist')[0];
  const e = run([...hydraEvents(), ...mixed.events.filter((ev) => ev.account_id === student)].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0)), { allow: { accounts: [hydra[0]] } });
  assert.equal(e.forAccount(hydra[0]).level, 'none');
  assert.equal(e.forAccount(hydra[0]).verdict?.source, 'operator');
  assert.ok(above(e.forAccount(hydra[1]).level));
  // An operator's milder verdict on a member does not lower what its cluster is held at: the
  // allow-list is the exemption.
  const held = e.cluster(e.forAccount(hydra[1]).clusterId!)!.level;
  e.setManualVerdict({ kind: 'account', id: hydra[1] }, 'watch', 'confirmed evaluation partner');
  assert.equal(e.forAccount(hydra[1]).level, held, 'held at its cluster\'s level');
  assert.equal(e.forAccount(hydra[1]).verdict?.subject.kind, 'cluster');
  assert.deepEqual(e.verdictPrecedence(hydra[1]).outranked.find((v) => v.source === 'operator_account'), { source: 'operator_account', subject: { kind: 'account', id: hydra[1] }, level: 'watch', why: 'less_severe' });
  e.allow({ account: hydra[1] });
  assert.equal(e.forAccount(hydra[1]).level, 'none');
  e.setManualVerdict({ kind: 'account', id: student }, 'suspend');
  assert.equal(e.forAccount(student).level, 'suspend');
  e.setManualVerdict({ kind: 'account', id: student }, null);
  assert.equal(e.forAccount(student).level, 'none');
  const cluster = e.forAccount(hydra[2]).clusterId!;
  e.setManualVerdict({ kind: 'cluster', id: cluster }, 'suspend', 'case 42');
  assert.equal(e.forAccount(hydra[2]).level, 'suspend');
  e.allow({ account: hydra[2] });
  assert.equal(e.forAccount(hydra[2]).level, 'none');
});

test('an operator\'s `none` on an account exempts it from its cluster\'s verdicts, as an allow-list entry does', () => {
  const hydra = accountsOf('campaign:camp_hydra');
  const e = run(hydraEvents());
  const cluster = e.forAccount(hydra[3]).clusterId!;
  assert.ok(above(e.cluster(cluster)!.level), 'the campaign\'s cluster is flagged');
  e.setManualVerdict({ kind: 'account', id: hydra[3] }, 'none', 'checked: our reseller, not a campaign');
  assert.equal(e.forAccount(hydra[3]).level, 'none', 'the cleared customer is served again');
  assert.equal(e.forAccount(hydra[3]).verdict?.subject.kind, 'account', 'the operator\'s account verdict is the one shown');
  const p = e.verdictPrecedence(hydra[3]);
  assert.equal(p.decided_by?.source, 'operator_account', `decided by the operator's verdict: ${p.summary}`);
  assert.ok(p.outranked.length > 0 && p.outranked.every((v) => v.why === 'exempted'), `the cluster's verdicts are outranked by the exemption: ${p.summary}`);
  e.setManualVerdict({ kind: 'cluster', id: cluster }, 'suspend', 'case 7');
  assert.equal(e.forAccount(hydra[3]).level, 'none', 'an operator cluster suspension does not reach it either');
  assert.equal(e.forAccount(hydra[4]).level, 'suspend', 'the other members are suspended');
  assert.equal(e.effectiveVerdicts().accounts.get(hydra[3])?.level ?? 'none', 'none', 'replicas serve it too');
});

test('an operator\'s cluster verdict replaces the detector\'s for every member: only a member\'s own verdict can be more severe', () => {
  const hydra = accountsOf('campaign:camp_hydra');
  const e = run(hydraEvents());
  // A member the detector holds at watch on its own, in a cluster it flagged far above that.
  const member = hydra.find((id) => e.accountVerdict(id)?.level === 'watch' && verdictRank(e.forAccount(id).level) > verdictRank('throttle'))!;
  assert.ok(member, 'a hydra member at watch on its own, above throttle through its cluster');
  const cluster = e.forAccount(member).clusterId!;
  e.setManualVerdict({ kind: 'cluster', id: cluster }, 'none', 'false positive: one NAT');
  for (const id of hydra.filter((x) => e.forAccount(x).clusterId === cluster)) {
    const v = e.forAccount(id);
    const own = e.accountVerdict(id)?.level ?? 'none';
    assert.equal(v.level, own, `${id}: its own level, not the cluster's`);
    assert.notEqual(v.verdict?.subject.kind, 'cluster', `${id}: the detector's cluster verdict is not in force`);
  }
  const v = e.forAccount(member);
  assert.equal(v.level, 'watch');
  assert.deepEqual(v.verdict?.subject, { kind: 'account', id: member });
  // What replicas enforce (the published verdicts) and what the detector counts as served agree.
  assert.equal(e.effectiveVerdicts().accounts.get(member)?.level, 'watch');
  const servedBefore = e.servedByLevel(member);
  const last = mixed.events.filter((x) => x.account_id === member).at(-1)!;
  e.ingest({ ...last, id: `${last.id}-after-verdict`, ts: new Date(Date.parse(mixed.events.at(-1)!.ts) + 1000).toISOString() });
  const servedAfter = e.servedByLevel(member);
  assert.deepEqual(servedAfter.map((n, l) => n - servedBefore[l]), [0, 1, 0, 0, 0, 0], 'served at watch');
  // An operator's watch holds members at watch; their own level cannot be lowered by it.
  e.setManualVerdict({ kind: 'cluster', id: cluster }, 'watch', 'under review');
  assert.equal(e.forAccount(member).level, 'watch');
  assert.equal(e.forAccount(member).verdict?.source, 'operator');
  e.setManualVerdict({ kind: 'cluster', id: cluster }, null);
  assert.ok(verdictRank(e.forAccount(member).level) > verdictRank('throttle'), 'lifting it restores the detector\'s cluster verdict');
});

test('a suspended cluster that links in an older account keeps its id, and the suspension holds every member', () => {
  // Clusters are named after their smallest (oldest) account id when new; were a merge to rename the
  // cluster after an older account it takes in, the operator's verdict (looked up by the cluster's
  // id) would stop applying: one aged account linked in would lift the suspension.
  const hydra = accountsOf('campaign:camp_hydra');
  const e = run(hydraEvents());
  const cluster = e.forAccount(hydra[2]).clusterId!;
  assert.ok(cluster, 'the hydra member is in a cluster');
  e.setManualVerdict({ kind: 'cluster', id: cluster }, 'suspend', 'case 42');
  const aged = 'acct_000000';
  assert.ok(hydra.every((id) => aged < id), 'the new account\'s id is older than every member\'s');
  const endMs = Date.parse(mixed.events.at(-1)!.ts);
  const copied = mixed.events.filter((x) => x.account_id === hydra[2]).slice(-12);
  copied.forEach((x, n) => e.ingest({ ...x, id: `${x.id}-aged`, account_id: aged, key_id: `key_${aged}`, ts: new Date(endMs + (n + 1) * 60_000).toISOString() }));
  e.flush();
  assert.equal(e.forAccount(aged).clusterId, cluster, 'the aged account joined the cluster, which kept its id');
  const members = e.clusterSummaries().find((c) => c.id === cluster)?.members ?? [];
  assert.ok(members.includes(aged) && members.length > 2, `the cluster holds the aged account among ${members.length} members`);
  for (const id of members) assert.equal(e.forAccount(id).level, 'suspend', `${id}: the operator's suspension applies`);
});

test('hysteresis: a flagged cluster does not flap when its traffic turns benign, and steps down only after the cooldown', () => {
  const hydra = accountsOf('campaign:camp_hydra');
  const e = new DetectorEngine({ config: { cooldown_seconds: 6 * 3600 } });
  const changes: Verdict[] = [];
  e.onVerdict((v) => { if (v.subject.kind === 'cluster') changes.push(v); });
  for (const ev of hydraEvents()) e.ingest(ev);
  e.flush();
  const before = e.forAccount(hydra[0]).level;
  assert.ok(above(before));
  const upCount = changes.length;
  // The same accounts now chat like people: multi-turn, no reasoning requests, every 10 minutes.
  const last = Date.parse(mixed.events[mixed.events.length - 1].ts);
  const template = mixed.events.find((x) => x.account_id === hydra[0])!;
  const benign = (t: number, id: string): InteractionEvent => ({
    ...template, id: `b${t}${id}`, ts: new Date(t).toISOString(), account_id: id,
    request: { ...template.request, messages: CHAT_TURNS },
  });
  let t = last;
  for (let k = 0; k < 12; k++) { t += 5 * 60_000; for (const id of hydra.slice(0, 20)) e.ingest(benign(t, id)); }
  e.flush();
  assert.equal(e.forAccount(hydra[0]).level, before, 'no step down inside the cooldown');
  // Much later, with sustained benign behaviour, it steps down, one rung at a time, never back up.
  for (let k = 0; k < 24 * 12; k++) { t += 15 * 60_000; for (const id of hydra.slice(0, 20)) e.ingest(benign(t, id)); }
  e.flush();
  const downs = changes.slice(upCount);
  for (let k = 1; k < downs.length; k++) assert.ok(verdictRank(downs[k].level) <= verdictRank(downs[k - 1].level), 'only downward moves while benign');
  assert.ok(verdictRank(e.forAccount(hydra[0]).level) < verdictRank(before), 'eventually de-escalates');
});

test('a level held by hysteresis says so: its score, the exit line and since when', () => {
  const hydra = accountsOf('campaign:camp_hydra');
  // A cool-down of ten days: the level stands while the score falls.
  const e = run(hydraEvents(), { cooldown_seconds: 10 * 86_400 });
  const before = e.forAccount(hydra[0]);
  assert.ok(above(before.level) && !before.verdict!.reasons.some((r) => r.signal === 'held_by_hysteresis'), 'not held while the score is at its level');
  const template = mixed.events.find((x) => x.account_id === hydra[0])!;
  let t = Date.parse(mixed.events[mixed.events.length - 1].ts);
  // The accounts chat like people for four days.
  for (let k = 0; k < 4 * 24 * 4; k++) {
    t += 15 * 60_000;
    for (const id of hydra.slice(0, 20)) {
      e.ingest({ ...template, id: `b${t}${id}`, ts: new Date(t).toISOString(), account_id: id, request: { ...template.request, messages: CHAT_TURNS } });
    }
  }
  e.flush();
  const held = e.forAccount(hydra[0]);
  assert.equal(held.level, before.level, 'held inside the cool-down');
  const score = held.verdict!.reasons[0];
  assert.ok((score.value as number) < (score.threshold as number), `the score has left the level's threshold: ${JSON.stringify(score)}`);
  const hold = held.verdict!.reasons.find((r) => r.signal === 'held_by_hysteresis');
  assert.ok(hold, `held_by_hysteresis explained: ${held.verdict!.reasons.map((r) => r.signal).join(', ')}`);
  assert.equal(hold!.value, score.value, 'with the score');
  assert.equal(hold!.threshold, Math.round(((score.threshold as number) - 0.08) * 1000) / 1000, 'with the exit line (threshold - hysteresis margin)');
  assert.ok(hold!.detail!.includes(held.verdict!.since) && hold!.detail!.includes('240 h'), `since when and the cool-down: ${hold!.detail}`);
});

test('online (gateway hooks) and offline (scan) give the same verdicts on the same events', async () => {
  const offline = await wholeLogScan();
  const online = new DetectorEngine({ trackFirstFlags: true });
  const hooks = detectHooks(online, { idleFlushMs: 0 });
  for (const ev of mixed.events) hooks.onEvent(ev);
  await hooks.drained();
  await hooks.close!();
  assert.equal(hooks.queueStats().dropped, 0);
  const offlineLevels = new Map(offline.report.accounts.map((a) => [a.account_id, a.level]));
  let flagged = 0;
  for (const id of Object.keys(mixed.labels.accounts)) {
    assert.equal(online.forAccount(id).level, offlineLevels.get(id) ?? 'none', id);
    if (above(online.forAccount(id).level)) flagged++;
  }
  assert.ok(flagged > 50, 'the comparison covers flagged accounts');
  // Not only the levels: the whole report (every account's score, reasons and timeline, the
  // clusters and campaigns), as the scan's reader of log lines and the gateway's events must give
  // the engine the same input.
  online.flush();
  const times = mixed.events.map((ev) => ev.ts).sort();
  const onlineReport = buildReport(online, { detector: 'warden', from: times[0], to: times[times.length - 1] });
  const differing = onlineReport.accounts.filter((a, k) => JSON.stringify(a) !== JSON.stringify(offline.report.accounts[k])).map((a) => a.account_id);
  assert.ok(differing.length === 0 && onlineReport.accounts.length === offline.report.accounts.length, `accounts reported differently online and offline: ${differing.slice(0, 5).join(', ')}`);
  assert.ok(JSON.stringify({ ...onlineReport, generated_at: '' }) === JSON.stringify({ ...offline.report, generated_at: '' }), 'the online report equals the scan\'s, clusters and campaigns included');
});

test('the request path only enqueues and reads: onEvent scores nothing in the caller, a lookup changes nothing (their cost: bench/detect.ts --only path)', async () => {
  const fresh = new DetectorEngine();
  const hooks = detectHooks(fresh, { idleFlushMs: 0 });
  for (let k = 0; k < 5_000; k++) hooks.onEvent(mixed.events[k]);
  const before = hooks.queueStats();
  assert.ok(before.queued === 5_000 && before.ingested === 0, `the caller only queued: ${JSON.stringify(before)}`);
  await hooks.drained();
  assert.equal(hooks.queueStats().ingested, 5_000, 'the engine read the queue after the caller returned');
  await hooks.close?.();
  const ids = Object.keys(mixed.labels.accounts);
  const first = ids.map((id) => JSON.stringify(engine.forAccount(id)));
  for (let k = 0; k < 20_000; k++) engine.forAccount(ids[k % ids.length]);
  const again = ids.map((id) => JSON.stringify(engine.forAccount(id)));
  assert.ok(again.every((v, k) => v === first[k]), 'looking verdicts up 20,000 times changed none of them');
});

test('a campaign\'s volume counts each request of its members once, with all their output tokens, reasoning included', () => {
  const campaigns = engine.campaigns();
  assert.ok(campaigns.length >= 1, 'a campaign named');
  for (const c of campaigns) {
    const members = new Set(c.members);
    const theirs = mixed.events.filter((e) => e.account_id !== null && members.has(e.account_id));
    assert.equal(c.volume.requests, theirs.length, `${c.id}: requests`);
    assert.equal(c.volume.output_tokens, theirs.reduce((s, e) => s + e.response.output_tokens, 0), `${c.id}: output tokens`);
    const timeline = c.timeline.reduce((s, [, n]) => s + n, 0);
    assert.ok(timeline <= c.volume.requests && timeline >= 0.9 * c.volume.requests, `${c.id}: the timeline (${timeline} of ${c.volume.requests}) counts the requests made while linked`);
  }
});

test('accounts linked by the proxy addresses they share count each request once, whichever signal links them', () => {
  const e = new DetectorEngine({ config: {} });
  const t0 = Date.parse('2026-04-06T00:00:00.000Z');
  const sent = new Map<string, number>();
  // A rotating proxy pool: each round a new exit address (in a network of its own), used by one
  // account and then the other. They share nothing else.
  for (let k = 0; k < 24; k++) {
    const id = k % 2 ? 'acct_pool_b' : 'acct_pool_a';
    const round = Math.floor(k / 2);
    e.ingest({
      schema: 'warden.interaction/1', id: `ev_pool_${k}`, ts: new Date(t0 + k * 1000).toISOString(), duration_ms: 100,
      flavour: 'openai.chat', model: 'gpt', upstream: 'up', account_id: id, org_id: null, key_id: `key_${id}`,
      client: { ip: `${10 + round}.${round}.1.1`, user_agent: `agent-${id}`, country: 'US', asn: null },
      request: { stream: false, system: null, messages: [{ role: 'user', text: `question ${k}`, chars: 11 }], tools: [], tool_choice: null, params: emptyParams(), bytes: 100 },
      response: { status: 200, error_code: null, input_tokens: 10, output_tokens: 100, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 1, output_chars: 10, reasoning_chars: 0 },
      account: null, enforcement: emptyEnforcement(),
    });
    sent.set(id, (sent.get(id) ?? 0) + 1);
    for (const c of e.clusterSummaries(2)) {
      assert.equal(c.requests, c.members.reduce((n, m) => n + (sent.get(m) ?? 0), 0), `after event ${k}: the cluster counts its members' requests once`);
    }
  }
  assert.equal(e.clusterSummaries(2).length, 1, 'the two accounts were linked by their shared addresses');
});

test('warden scan: prints campaigns, writes the report, scores against labels; bad usage exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-scan-'));
  const { file } = await wholeLogScan();
  writeFileSync(join(dir, 'labels.json'), JSON.stringify(mixed.labels));
  let out = ''; let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const code = await runScanCli([file, '--report', join(dir, 'r.json'), '--labels', join(dir, 'labels.json')], { stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }) });
  assert.equal(code, 0, err);
  assert.match(out, /campaigns:/);
  assert.match(out, /campaign accounts flagged/);
  const rep = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.equal(rep.schema, 'warden.detection/1');
  assert.ok(rep.campaigns.length >= 1);
  const listed = new Set(rep.clusters.map((c: { cluster_id: string }) => c.cluster_id));
  const named = rep.accounts.filter((a: { cluster_id: string | null }) => a.cluster_id !== null);
  assert.ok(named.length > 0 && named.every((a: { cluster_id: string }) => listed.has(a.cluster_id)), 'every cluster an account names is in the report');
  assert.equal(await runScanCli(['--bogus'], { stdout: sink(() => {}), stderr: sink(() => {}) }), 2);
  assert.equal(await runScanCli([join(dir, 'missing.jsonl')], { stdout: sink(() => {}), stderr: sink(() => {}) }), 2);
  const vol = await runScanCli([file, '--detector', 'volume', '--json'], { stdout: sink((s) => { out = s; }), stderr: sink(() => {}) });
  assert.equal(vol, 0);
  assert.equal(JSON.parse(out).events, mixed.events.length);
});

test('warden scan over a log with unreadable lines: they are skipped and named, the rest is scanned; --strict stops at the first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-scan-bad-'));
  const file = join(dir, 'events.jsonl');
  const lines = [...mixedLines()];
  lines.splice(10, 0, '{"truncated": ');
  lines.splice(20, 0, JSON.stringify({ ...mixed.events[19], request: { ...mixed.events[19].request, messages: null } }));
  lines.splice(30, 0, JSON.stringify({ ...mixed.events[28], schema: 'warden.interaction/2' }));
  lines.splice(40, 0, JSON.stringify({ ...mixed.events[37], ts: 'yesterday' }));
  writeFileSync(file, lines.join('\n'));
  let out = ''; let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const code = await runScanCli([file, '--json'], { stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }) });
  assert.equal(code, 0, err);
  assert.match(err, /skipped 4 lines that are not readable events \(line 11: not JSON \(.*\); line 21: request\.messages: expected an array; line 31: schema: expected warden\.interaction\/1, got "warden\.interaction\/2"; line 41: ts: expected an ISO 8601 time with its zone\)/);
  const summary = JSON.parse(out);
  assert.deepEqual([summary.events, summary.skipped], [mixed.events.length, 4]);
  assert.ok(summary.campaigns >= 1, 'the campaigns are still found');
  err = '';
  assert.equal(await runScanCli([file, '--strict'], { stdout: sink(() => {}), stderr: sink((s) => { err += s; }) }), 2);
  assert.match(err, /events line 11: not JSON/);
});

test('a standing verdict\'s explanation follows its evidence: the score it shows stays within 0.02 of the current one', () => {
  const hydra = accountsOf('campaign:camp_hydra');
  const e = new DetectorEngine({ config: { cooldown_seconds: 24 * 3600 } });
  for (const ev of hydraEvents()) e.ingest(ev);
  e.flush();
  const clusterId = e.forAccount(hydra[0]).clusterId!;
  const summary = () => e.cluster(clusterId)!;
  const shown = () => summary().reasons.find((r) => r.signal === 'cluster_score')!.value as number;
  const before = summary();
  assert.ok(above(before.level));
  const elicitBefore = before.reasons.find((r) => r.signal === 'reasoning_elicitation_share')?.value as number | undefined;
  // The fleet turns to small talk: the level holds (cooldown), the evidence weakens.
  const last = Date.parse(mixed.events[mixed.events.length - 1].ts);
  const template = mixed.events.find((x) => x.account_id === hydra[0])!;
  let t = last;
  for (let k = 0; k < 40; k++) {
    t += 3 * 60_000;
    for (const id of hydra) {
      e.ingest({ ...template, id: `s${k}${id}`, ts: new Date(t).toISOString(), account_id: id, request: { ...template.request, messages: CHAT_TURNS } });
    }
    e.flush();
    assert.ok(Math.abs(shown() - summary().score) < 0.02 + 1e-9, `explanation shows ${shown()}, current score ${summary().score}`);
  }
  const after = summary();
  assert.equal(after.level, before.level, 'the level held through the cooldown');
  assert.ok(after.score < before.score, `the score fell (${before.score} -> ${after.score})`);
  const elicitAfter = after.reasons.find((r) => r.signal === 'reasoning_elicitation_share')?.value as number | undefined;
  if (elicitBefore !== undefined) assert.ok(elicitAfter === undefined || elicitAfter < elicitBefore, 'the indicator values were refreshed too');
});

test('warden scan --accounts: a log without account facts is joined with the provider\'s account table, and the shared card links the hydra again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-scan-facts-'));
  const file = join(dir, 'events.jsonl');
  // Another tool's log: who called, not who they are.
  writeFileSync(file, mixed.events.map((e) => JSON.stringify({ ...e, account: null })).join('\n'));
  const rows = new Map<string, string>();
  const cell = (v: string | null | undefined) => v ?? '';
  for (const e of mixed.events) {
    if (!e.account_id || !e.account || rows.has(e.account_id)) continue;
    const a = e.account;
    rows.set(e.account_id, [e.account_id, a.created_at, a.tier, a.programme, cell(a.email_domain), cell(a.payment_fp), cell(a.signup_ip), cell(a.claimed_country), cell(a.email_pattern), cell(a.first_used_at), cell(e.org_id)].join(','));
  }
  const table = join(dir, 'accounts.csv');
  writeFileSync(table, 'account_id,created_at,tier,programme,email_domain,payment_fp,signup_ip,claimed_country,email_pattern,first_used_at,org_id\n' + [...rows.values()].join('\n') + '\n');
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const scan = async (args: string[]) => {
    let out = ''; let err = '';
    const code = await runScanCli([file, '--json', '--report', join(dir, 'r.json'), ...args], { stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }) });
    assert.equal(code, 0, err);
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as DetectionReport;
    return { summary: JSON.parse(out), err, report };
  };
  const hydra = accountsOf('campaign:camp_hydra');
  const cardEvidence = (report: DetectionReport) =>
    report.campaigns.some((c) => c.members.includes(hydra[0]) && c.evidence.some((e) => e.signal === 'shared_payment_fingerprint'));

  const bare = await scan([]);
  assert.equal(bare.summary.accounts_without_facts, rows.size);
  assert.match(bare.err, new RegExp(`${rows.size} of \\d+ accounts have no account facts in the events: .*give them with --accounts FILE`));
  assert.ok(!cardEvidence(bare.report), 'without the facts there is no card to share');

  const joined = await scan(['--accounts', table]);
  assert.equal(joined.summary.accounts_without_facts, 0);
  assert.equal(joined.summary.accounts_facts_from_table, rows.size);
  assert.equal(joined.err, '');
  assert.ok(cardEvidence(joined.report), 'the hydra is linked by its shared card again');
  // The same verdicts as on the log that carried the facts.
  const levels = (r: DetectionReport) => new Map(r.accounts.map((a) => [a.account_id, a.level]));
  assert.deepEqual(levels(joined.report), levels((await wholeLogScan()).report));

  // A table the scan cannot use stops it before it starts, saying where.
  writeFileSync(join(dir, 'bad.csv'), 'account_id,created_at,tier\nx,2026-01-01,gold\n');
  let err = '';
  assert.equal(await runScanCli([file, '--accounts', join(dir, 'bad.csv')], { stdout: sink(() => {}), stderr: sink((s) => { err += s; }) }), 2);
  assert.match(err, /cannot read accounts .*bad\.csv: line 2, tier: expected one of/);
});

test('warden scan --state: logs scanned one after another are judged as one history', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-scan-state-'));
  const cut = mixed.events.findIndex((e) => e.ts >= mixed.events[Math.floor(mixed.events.length / 2)].ts);
  const write = (name: string, logLines: string[]) => { writeFileSync(join(dir, name), logLines.join('\n') + '\n'); return join(dir, name); };
  const day1 = write('day1.jsonl', mixedLines().slice(0, cut));
  const day2 = write('day2.jsonl', mixedLines().slice(cut));
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const scan = async (args: string[]) => {
    let out = ''; let err = '';
    const code = await runScanCli([...args, '--json'], { stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }) });
    return { code, summary: out ? JSON.parse(out) : null, err };
  };
  const levels = (path: string) => new Map((JSON.parse(readFileSync(path, 'utf8')) as { accounts: Array<{ account_id: string; level: string; max_level: string; first_flag: unknown; campaign_id: string | null }> }).accounts
    .map((a) => [a.account_id, JSON.stringify([a.level, a.max_level, a.first_flag, a.campaign_id])]));
  const all = (await wholeLogScan()).reportPath;
  const state = join(dir, 'detector.state');
  const first = await scan([day1, '--state', state]);
  assert.equal(first.summary.events_in_state_before, 0);
  const second = await scan([day2, '--state', state, '--report', join(dir, 'resumed.json')]);
  assert.equal(second.code, 0, second.err);
  assert.equal(second.summary.events_in_state_before, cut);
  assert.equal(second.err, '');
  assert.deepEqual(levels(join(dir, 'resumed.json')), levels(all), 'the same verdicts as one scan over both logs');
  // A day without its predecessor's state does not see the campaign's history.
  assert.equal((await scan([day2, '--report', join(dir, 'alone.json')])).code, 0);
  assert.notDeepEqual(levels(join(dir, 'alone.json')), levels(all));
  // Scanning a log again is said; a state made with other settings is refused.
  const again = await scan([day2, '--state', state]);
  assert.match(again.err, /events are older than the latest event of the state .*: scan each log once and in time order/);
  writeFileSync(join(dir, 'other.yaml'), 'detect:\n  link_threshold: 1.3\n');
  const other = await scan([day2, '--state', state, '--config', join(dir, 'other.yaml')]);
  assert.equal(other.code, 2);
  assert.match(other.err, /state .* not used: the detection settings .* changed/);
  assert.equal((await scan([day2, '--state', state, '--detector', 'volume'])).code, 2);
  // A state written by another version of the detector (its snapshot format changed on an upgrade):
  // the scan starts from nothing, says so, and replaces the file with a state this version reads.
  const bytes = readFileSync(state);
  const eol = bytes.indexOf(10);
  const header = JSON.parse(bytes.subarray(0, eol).toString('utf8')) as { layout: string };
  header.layout = `1;${header.layout.split(';')[1]}`;
  writeFileSync(state, Buffer.concat([Buffer.from(JSON.stringify(header)), bytes.subarray(eol)]));
  const upgraded = await scan([day1, '--state', state]);
  assert.equal(upgraded.code, 0, upgraded.err);
  assert.equal(upgraded.summary.events_in_state_before, 0, 'started from nothing');
  assert.match(upgraded.err, /state .* not used \(it was written by another version of the detector .*\): this scan started from nothing, and its state replaces the file/);
  const next = await scan([day2, '--state', state, '--report', join(dir, 'after-upgrade.json')]);
  assert.equal(next.code, 0, next.err);
  assert.equal(next.summary.events_in_state_before, cut, 'the replaced state is read by the next scan');
  assert.deepEqual(levels(join(dir, 'after-upgrade.json')), levels(all));
});

test('warden scan --state: a run that fails leaves the state as it was, so it can be run again as it was', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-scan-state-fail-'));
  // A few hours of the scenario: whether the state advanced does not depend on the log's size (a
  // state written by the failed runs makes the retry's events older than the state's latest).
  const day1 = join(dir, 'day1.jsonl');
  writeFileSync(day1, mixedLines().slice(0, 2000).join('\n') + '\n');
  const state = join(dir, 'detector.state');
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const scan = async (args: string[]) => {
    let err = '';
    const code = await runScanCli(args, { stdout: sink(() => {}), stderr: sink((s) => { err += s; }) });
    return { code, err };
  };
  const noReport = await scan([day1, '--state', state, '--report', join(dir, 'no-such-dir', 'r.json')]);
  assert.equal(noReport.code, 2);
  assert.match(noReport.err, /cannot write report/);
  const noLabels = await scan([day1, '--state', state, '--labels', join(dir, 'no-such-labels.jsonl')]);
  assert.equal(noLabels.code, 2);
  assert.match(noLabels.err, /cannot read labels/);
  const retry = await scan([day1, '--state', state, '--report', join(dir, 'r.json')]);
  assert.equal(retry.code, 0, retry.err);
  assert.equal(retry.err, '', 'the retry does not count the log twice');
});

test('warden scan --state --accounts: raw emails and cards in the account table link across logs scanned one after another', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-scan-state-raw-'));
  // Another tool's log, and an account table with the raw instrument (here: a stand-in string per card).
  const bare = mixed.events.map((e) => ({ ...e, account: null }));
  const rows = new Map<string, string>();
  for (const e of mixed.events) {
    if (!e.account_id || !e.account || rows.has(e.account_id)) continue;
    const a = e.account;
    rows.set(e.account_id, [e.account_id, a.created_at, a.tier, a.programme, a.email_domain ?? '', a.payment_fp ? `card-${a.payment_fp}` : '', a.signup_ip ?? '', a.first_used_at ?? '', e.org_id ?? ''].join(','));
  }
  const table = join(dir, 'accounts.csv');
  writeFileSync(table, 'account_id,created_at,tier,programme,email_domain,payment_instrument,signup_ip,first_used_at,org_id\n' + [...rows.values()].join('\n') + '\n');
  const cut = bare.findIndex((e) => e.ts >= bare[Math.floor(bare.length / 2)].ts);
  const write = (name: string, evs: unknown[]) => { writeFileSync(join(dir, name), evs.map((e) => JSON.stringify(e)).join('\n') + '\n'); return join(dir, name); };
  const sink = () => new Writable({ write(_c, _e, cb) { cb(); } });
  const levels = (path: string) => new Map((JSON.parse(readFileSync(path, 'utf8')) as { accounts: Array<{ account_id: string; level: string; max_level: string; campaign_id: string | null }> }).accounts
    .map((a) => [a.account_id, `${a.level}/${a.max_level}/${a.campaign_id !== null}`]));
  assert.equal(await runScanCli([write('all.jsonl', bare), '--accounts', table, '--report', join(dir, 'all.json')], { stdout: sink(), stderr: sink() }), 0);
  const state = join(dir, 'detector.state');
  assert.equal(await runScanCli([write('day1.jsonl', bare.slice(0, cut)), '--accounts', table, '--state', state], { stdout: sink(), stderr: sink() }), 0);
  assert.equal(await runScanCli([write('day2.jsonl', bare.slice(cut)), '--accounts', table, '--state', state, '--report', join(dir, 'resumed.json')], { stdout: sink(), stderr: sink() }), 0);
  assert.deepEqual(levels(join(dir, 'resumed.json')), levels(join(dir, 'all.json')), 'the same verdicts as one scan over both logs');
  const header = JSON.parse(readFileSync(state, 'utf8').split('\n', 1)[0]) as { facts_key?: string };
  assert.match(header.facts_key ?? '', /^[0-9a-f]{64}$/, 'the key is kept in the state');
  assert.equal(statSync(state).mode & 0o077, 0, 'the state is private to its owner');
});

test('warden scan: a log out of time order is said, and the report spans its earliest to its latest event', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-scan-order-'));
  const events = mixed.events.slice(0, 400);
  // An hour's events moved to the end of the log, as a careless concatenation would.
  const t1 = Date.parse(events[0].ts) + 3600_000;
  const early = events.filter((e) => Date.parse(e.ts) < t1);
  const late = events.filter((e) => Date.parse(e.ts) >= t1);
  assert.ok(early.length > 0 && late.length > 0, 'both parts hold events');
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, [...late, ...early].map((e) => JSON.stringify(e)).join('\n') + '\n');
  let out = ''; let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  assert.equal(await runScanCli([file, '--json', '--report', join(dir, 'r.json')], { stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }) }), 0);
  assert.match(err, new RegExp(`${early.length} events came after an event more than 5 minutes later than theirs .*sort it by ts`));
  assert.equal(JSON.parse(out).out_of_order, early.length);
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.deepEqual(report.event_time, { from: events[0].ts, to: events[events.length - 1].ts });
});

test('warden scan --labels reads the labels warden simulate writes: scenario and campaign rows aside, organic kinds by name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-scan-simlabels-'));
  const file = join(dir, 'events.jsonl');
  // The scenario's first day: how label rows are read does not depend on the log's size, and the
  // accounts active in it are counted from the same events.
  const dayEnd = Date.parse(mixed.events[0].ts) + 24 * 3600_000;
  const events = mixed.events.slice(0, mixed.events.findIndex((e) => Date.parse(e.ts) >= dayEnd));
  writeFileSync(file, mixedLines().slice(0, events.length).join('\n'));
  // Rows as simulate writes them, plus an account that sent nothing.
  const rows: unknown[] = [{ type: 'scenario', schema: 'warden.labels/1', name: 'test' }];
  const campaigns = new Set<string>();
  for (const [id, label] of Object.entries(mixed.labels.accounts)) {
    const [population, name] = label.split(':');
    if (population === 'campaign') campaigns.add(name);
    rows.push({ type: 'account', account_id: id, population, organic_kind: population === 'organic' ? name : null, campaign_id: population === 'campaign' ? name : null, campaign_kind: population === 'campaign' ? 'hydra' : null, adaptive: false });
  }
  for (const c of campaigns) rows.splice(1, 0, { type: 'campaign', campaign_id: c, campaign_kind: 'hydra', adaptive: false });
  rows.push({ type: 'account', account_id: 'acct_silent', population: 'organic', organic_kind: 'hobbyist', campaign_id: null, adaptive: false });
  writeFileSync(join(dir, 'labels.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  let out = ''; let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  assert.equal(await runScanCli([file, '--json', '--labels', join(dir, 'labels.jsonl')], { stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }) }), 0, err);
  const q = JSON.parse(out).quality;
  const active = new Set(events.map((e) => e.account_id));
  const organicIds = Object.entries(mixed.labels.accounts).filter(([id, l]) => l.startsWith('organic') && active.has(id)).map(([id]) => id);
  assert.equal(q.organic_accounts, organicIds.length, 'organic accounts in the log, the silent one and the non-account rows aside');
  assert.deepEqual(Object.keys(q.organic_by_kind).sort(), [...new Set(organicIds.map((id) => mixed.labels.accounts[id].split(':')[1]))].sort());
  // An events file given as labels is refused, not scored as nothing.
  err = '';
  assert.equal(await runScanCli([file, '--labels', file], { stdout: sink(() => {}), stderr: sink((s) => { err += s; }) }), 2);
  assert.match(err, /cannot read labels .*line 1 is an interaction event: not a labels file/);
});
