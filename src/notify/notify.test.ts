// Operator notifications over real HTTP: signed so a receiver can check them, retried on what is
// worth retrying and in order, given up with the reason, bounded; the detector's rising verdicts
// become one notification per campaign with its evidence, and none for what operators did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, type PromptPool, type Verdict } from '../detect/index.ts';
import { receiver } from '../../test/helpers/receiver.ts';
import { twoCampaignsThenBridge } from '../../test/helpers/two-campaigns.ts';
import { LedgerError, ledgerErrorLog } from '../ledger/index.ts';
import Fastify from 'fastify';
import { notification, intelMatched, feedChanged, ledgerFailed, redactUrl, Notifier, VerdictNotifications, WebhookSender, notifyConfigSchema, notifyAdminRoutes, type Notification } from './index.ts';
import { mountAdminRoutes } from '../admin/router.ts';

const hook = (url: string, extra: object = {}) => ({ ...notifyConfigSchema.parse({ webhooks: [{ name: 'ops', url, ...extra }] }).webhooks[0], secretValue: 'whsec-test-secret-0001' });
const quiet = { queueMax: 100, dashboardUrl: 'https://warden.example.com', log: () => {}, firstBackoffMs: 20 };

test('a delivery is signed: the receiver recomputes the HMAC over the time and the exact body', async () => {
  const r = await receiver(() => ({ status: 204 }));
  try {
    const sender = new WebhookSender(hook(r.url), quiet);
    const n = notification('test', 'hello', { x: 1 }, { link: '/dashboard#/cases' });
    const rec = await sender.send(n);
    assert.equal(rec.status, 'delivered');
    const h = r.got[0].headers;
    assert.equal(h['x-warden-event'], 'test');
    assert.equal(h['x-warden-delivery'], n.id);
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(h['x-warden-signature']))!;
    assert.ok(Math.abs(Number(t) - Date.now() / 1000) < 5, 'the time is now');
    const expected = createHmac('sha256', 'whsec-test-secret-0001').update(`${t}.${r.got[0].body}`).digest();
    assert.ok(timingSafeEqual(expected, Buffer.from(v1, 'hex')));
    const body = JSON.parse(r.got[0].body) as Notification;
    assert.equal(body.schema, 'warden.notification/1');
    assert.equal(body.link, 'https://warden.example.com/dashboard#/cases', 'links point at the dashboard');
  } finally { await r.close(); }
});

test('retried on 503 and timeouts, in order; given up on 400 with the answer; bounded queue drops the oldest waiting', async () => {
  // The first notification meets two 503s then goes through; the second is sent only after it.
  const r = await receiver((n) => (n <= 2 ? { status: 503, body: 'busy' } : { status: 200 }));
  try {
    const sender = new WebhookSender(hook(r.url), quiet);
    const [a, b] = await Promise.all([sender.send(notification('test', 'first', {})), sender.send(notification('test', 'second', {}))]);
    assert.deepEqual([a.status, a.attempts, b.status, b.attempts], ['delivered', 3, 'delivered', 1]);
    assert.deepEqual(r.got.map((g) => JSON.parse(g.body).summary), ['first', 'first', 'first', 'second']);
    assert.equal(new Set(r.got.slice(0, 3).map((g) => g.headers['x-warden-delivery'])).size, 1, 'a retry is the same delivery');
  } finally { await r.close(); }

  const refused = await receiver(() => ({ status: 400, body: '{"error":"unknown field"}' }));
  const logged: string[] = [];
  try {
    const sender = new WebhookSender(hook(refused.url), { ...quiet, log: (l) => logged.push(l) });
    const rec = await sender.send(notification('test', 'x', {}));
    assert.deepEqual([rec.status, rec.attempts, rec.last_status], ['failed', 1, 400]);
    assert.match(rec.last_error!, /answered 400: \{"error":"unknown field"\}/);
    assert.equal(logged.length, 1);
    assert.ok(!logged[0].includes('T0KEN') && !logged[0].includes('secret-path'), 'the URL\'s token is never logged');
  } finally { await refused.close(); }

  const slow = await receiver(() => ({ status: 200, delayMs: 1500 }));
  try {
    const sender = new WebhookSender(hook(slow.url, { timeout_seconds: 0.2, max_attempts: 2 }), quiet);
    const rec = await sender.send(notification('test', 'x', {}));
    assert.deepEqual([rec.status, rec.attempts], ['failed', 2]);
    assert.match(rec.last_error!, /no answer within 0.2 s; gave up after 2 attempts/);
  } finally { await slow.close(); }

  const held = await receiver(() => ({ status: 200, delayMs: 200 }));
  try {
    const sender = new WebhookSender(hook(held.url), { ...quiet, queueMax: 2 });
    const outcomes = await Promise.all([1, 2, 3, 4].map((i) => sender.send(notification('test', `n${i}`, {}))));
    assert.deepEqual(outcomes.map((o) => o.status), ['delivered', 'dropped', 'delivered', 'delivered'], 'the first is in flight; the oldest waiting goes');
    assert.deepEqual(sender.counts(), { queued: 4, delivered: 3, failed: 0, dropped: 1, waiting: 0 });
  } finally { await held.close(); }
});

test('a redirect is not followed nor retried: given up at once with its status, and `notify test` says so promptly', async () => {
  const elsewhere = await receiver(() => ({ status: 200 }));
  const r = await receiver(() => ({ status: 302, headers: { location: `${elsewhere.url}/moved` } }));
  const logged: Array<{ level: number; msg: string; err?: unknown }> = [];
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { logged.push(JSON.parse(line)); } } } });
  try {
    const rec = await new WebhookSender(hook(r.url), quiet).send(notification('test', 'x', {}));
    assert.deepEqual([rec.status, rec.attempts, rec.last_status], ['failed', 1, 302]);
    assert.match(rec.last_error!, /^answered 302 \(a redirect to http:\/\/127\.0\.0\.1:\d+\/hooks\/…: redirects are not followed\)$/);
    assert.equal(r.got.length, 1, 'sent once');
    assert.equal(elsewhere.got.length, 0, 'the redirect was not followed');

    // Through the admin route, with the default backoff (1 s, 2 s, 4 s...): the answer is immediate.
    const config = notifyConfigSchema.parse({ webhooks: [{ name: 'redir', url: r.url }, { name: 'ok', url: elsewhere.url }] });
    mountAdminRoutes(app, [notifyAdminRoutes(new Notifier(config, { log: () => {}, env: {} }))]);
    const t0 = performance.now();
    const res = await app.inject({ method: 'POST', url: '/notify/test' });
    assert.ok(performance.now() - t0 < 900, `answered in ${Math.round(performance.now() - t0)} ms`);
    assert.equal(res.statusCode, 502);
    assert.match(res.json().error.message, /redir: failed after 1 attempts: answered 302 \(a redirect/);
    assert.equal(r.got.length, 2);
    assert.equal(elsewhere.got.length, 1, 'the other webhook was delivered');
    // The failed test is the answer asked for, not a fault of the server: a warning, no stack trace.
    const said = logged.filter((l) => /admin API/.test(l.msg));
    assert.deepEqual(said.map((l) => l.level), [40], JSON.stringify(said));
    assert.match(said[0].msg, /redir: failed after 1 attempts/);
    assert.equal(said[0].err, undefined);
  } finally { await app.close(); await r.close(); await elsewhere.close(); }
});

test('slack format, filters by type and level, URLs shown by origin only', async () => {
  const r = await receiver(() => ({ status: 200, body: 'ok' }));
  try {
    const sender = new WebhookSender(hook(r.url, { format: 'slack', events: ['campaign.escalated'], campaign_level: 'shape' }), quiet);
    const at = (level: 'throttle' | 'suspend') => notification('campaign.escalated', `Campaign camp_1 rose to ${level}`, {}, { level, link: '/dashboard#/cases' });
    assert.equal(sender.wants(at('throttle')), false);
    assert.equal(sender.wants(at('suspend')), true);
    assert.equal(sender.wants(notification('test', 't', {})), false);
    await sender.send(at('suspend'));
    assert.deepEqual(JSON.parse(r.got[0].body), { text: '*Warden campaign.escalated*: Campaign camp_1 rose to suspend <https://warden.example.com/dashboard#/cases|open>' });
    assert.equal(redactUrl('https://hooks.slack.com/services/T000/B000/XXXX'), 'https://hooks.slack.com/services/…');
  } finally { await r.close(); }
});

test('the detector\'s rising verdicts: one notification per campaign step, with its evidence; none for members, falls or operators', () => {
  const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const scenario = buildLabelledEvents(pool, { seed: 5, days: 1, organic: { hobbyist: 30 }, campaigns: [{ kind: 'hydra', accounts: 20 }] });
  const engine = new DetectorEngine();
  const notes = new VerdictNotifications((id) => engine.campaign(id), { campaignOf: (a) => engine.campaignIdOf(a), accountFloor: 'watch' });
  const verdicts: Verdict[] = [];
  engine.onVerdict((v) => verdicts.push(v));
  for (const e of scenario.events) engine.ingest(e);
  engine.flush();
  const pairs = verdicts.map((v) => [v, notes.fromVerdict(v)] as const);
  const made = pairs.map(([, n]) => n).filter((n) => n !== null);
  const campaigns = made.filter((n) => n.type === 'campaign.escalated');
  assert.ok(campaigns.length >= 1, 'the hydra is notified');
  const last = campaigns.at(-1)!;
  assert.equal(last.data.campaign_id, engine.campaigns()[0].id);
  assert.equal(last.link, `/dashboard#/campaigns/${engine.campaigns()[0].id}`, 'the link opens the campaign\'s own page');
  assert.ok((last.data.reasons as Array<{ signal: string; threshold: unknown }>).length >= 2);
  assert.match(last.summary, /^Campaign camp_\w+ \(\d+ accounts, \d+ requests\) rose from \w+ to \w+, score [\d.]+: \w+/);
  // Each notification of a campaign is a step up.
  const ranks = campaigns.filter((n) => n.data.cluster_id === last.data.cluster_id).map((n) => n.data.to as string);
  assert.equal(new Set(ranks).size, ranks.length, 'no level is notified twice in a row');
  const members = new Set(engine.campaigns()[0].members);
  assert.ok([...members].every((m) => engine.campaignIdOf(m) === engine.campaigns()[0].id), 'each member\'s campaign in two map reads');
  assert.deepEqual(engine.campaign(engine.campaigns()[0].cluster_id), engine.campaigns()[0], 'one campaign by its cluster\'s id, described as in the list');
  const ofMembers = pairs.filter(([v]) => v.subject.kind === 'account' && members.has(v.subject.id));
  assert.ok(ofMembers.length > 0 && ofMembers.every(([, n]) => n === null), 'a campaign\'s accounts come with their campaign');
  const subject = { kind: 'account' as const, id: 'acct_x' };
  assert.equal(notes.fromVerdict({ subject, level: 'suspend', score: null, reasons: [], source: 'operator', since: new Date().toISOString() }), null, 'operators know what they did');
  const own = (level: 'throttle' | 'watch' | 'none') => notes.fromVerdict({ subject, level, score: 0.7, reasons: [{ signal: 'cot_elicitation_share', value: 0.8, threshold: 0.4 }], source: 'detector', since: new Date().toISOString() });
  assert.equal(own('throttle')?.type, 'account.escalated');
  assert.equal(own('watch'), null, 'a fall is not news');
  assert.equal(own('throttle')?.data.from, 'watch', 'a rise again is');
  assert.equal(own('none'), null);
});

test('a campaign\'s first notification rises from none: its cluster\'s step to watch, before it was a campaign, was never notified', () => {
  const notes = new VerdictNotifications(() => null, { campaignOf: () => null, accountFloor: null });
  const since = new Date().toISOString();
  const cluster = (level: 'watch' | 'shape' | 'suspend', campaign_id?: string) => notes.fromVerdict({
    subject: { kind: 'cluster', id: 'clu_1' }, level, score: 0.8, reasons: [{ signal: 'cluster_score', value: 0.8, threshold: 0.5 }], source: 'detector', since, ...(campaign_id ? { campaign_id } : {}),
  });
  assert.equal(cluster('watch'), null, 'a cluster that is no campaign yet is not notified');
  const first = cluster('shape', 'camp_1');
  assert.equal(first?.data.from, 'none', 'from: the level last notified for the campaign');
  assert.equal(first?.data.cluster_from, 'watch', 'where its cluster stood, said apart');
  assert.match(first!.summary, /rose from none to shape \(its cluster was at watch before it was a campaign\)/, first!.summary);
  const next = cluster('suspend', 'camp_1');
  assert.equal(next?.data.from, 'shape', 'a later step rises from the level notified');
  assert.equal(next?.data.cluster_from, undefined);
  assert.doesNotMatch(next!.summary, /before it was a campaign/);
});

test('configuration: a URL from the environment, one that is not set turns its webhook off, a bad one is refused', async () => {
  const r = await receiver(() => ({ status: 200 }));
  try {
    const logged: string[] = [];
    const config = notifyConfigSchema.parse({ webhooks: [{ name: 'chat', url: 'env:TEST_CHAT_URL', format: 'slack' }, { name: 'unset', url: 'env:TEST_NOT_SET' }] });
    const notifier = new Notifier(config, { log: (l) => logged.push(l), env: { TEST_CHAT_URL: r.url } });
    assert.deepEqual(logged, ['notify: webhook unset is off: env:TEST_NOT_SET is not set']);
    assert.deepEqual((await notifier.test()!.deliveries).map((d) => [d.webhook, d.status]), [['chat', 'delivered']]);
    assert.equal(notifier.status().webhooks[0].url, 'http://127.0.0.1:' + new URL(r.url).port + '/hooks/…');
    await notifier.close();
  } finally { await r.close(); }
  const bad = notifyConfigSchema.safeParse({ webhooks: [{ name: 'x', url: 'ftp://example.com/hook' }] });
  assert.ok(!bad.success && bad.error.issues[0].path.join('.') === 'webhooks.0.url');
  assert.ok(!notifyConfigSchema.safeParse({ webhooks: [{ name: 'x', url: 'https://a.example/h' }, { name: 'x', url: 'https://b.example/h' }] }).success, 'names are unique');
});

test('a test to every webhook goes where events take test; one named is sent whatever its events', async () => {
  const ops = await receiver(() => ({ status: 200 }));
  const chat = await receiver(() => ({ status: 200 }));
  try {
    const config = notifyConfigSchema.parse({ webhooks: [{ name: 'ops', url: ops.url }, { name: 'chat', url: chat.url, events: ['campaign.escalated', 'intel.matched'] }] });
    const notifier = new Notifier(config, { log: () => {} });
    const all = notifier.test()!;
    assert.deepEqual((await all.deliveries).map((d) => d.webhook), ['ops']);
    assert.deepEqual(all.skipped, ['chat'], 'the webhook whose events leave test out is named as skipped');
    assert.equal(chat.got.length, 0, 'chat, subscribed to campaigns and intel only, got no test');
    assert.deepEqual((await notifier.test('chat')!.deliveries).map((d) => d.status), ['delivered'], 'named, it gets one');
    assert.equal(chat.got.length, 1);
    await notifier.close();
  } finally { await ops.close(); await chat.close(); }
});

test('ledger failures reach operators once per kind per ten minutes, with the reason', () => {
  const sent: Notification[] = [];
  const onError = ledgerErrorLog((line) => sent.push(ledgerFailed(line)), 600_000);
  for (let i = 0; i < 3; i++) onError(Object.assign(new Error('the append queue is full (100000 waiting)'), { code: 'LEDGER_QUEUE_FULL' }));
  onError(Object.assign(new Error('ledger writer thread died (disk full); restarting it'), { code: 'LEDGER_UNAVAILABLE' }));
  assert.deepEqual(sent.map((n) => [n.type, n.summary]), [
    ['ledger.failed', 'The ledger could not record: LEDGER_QUEUE_FULL: the append queue is full (100000 waiting)'],
    ['ledger.failed', 'The ledger could not record: LEDGER_UNAVAILABLE: ledger writer thread died (disk full); restarting it'],
  ]);
  assert.equal(sent[0].link, '/dashboard#/ledger');
});

test('a signing-key mismatch reaches operators as a warning of its own, not in the slot of the fatal LEDGER_INCONSISTENT', () => {
  const sent: Notification[] = [];
  const onError = ledgerErrorLog((line) => sent.push(ledgerFailed(line)), 600_000);
  const mismatch = new LedgerError('LEDGER_KEY_MISMATCH', 'signing keys disagree: this node took up k1 beside the key of this ledger, which another node also signs or took up with k2');
  for (let i = 0; i < 3; i++) onError(mismatch);
  // The ledger stopping writing, right after: reported at once, not held back by the warnings.
  onError(new LedgerError('LEDGER_INCONSISTENT', 'the log holds 3 entries but 5 were acknowledged'));
  assert.deepEqual(sent.map((n) => [n.type, n.summary]), [
    ['ledger.failed', `The ledger's nodes sign with different new keys (entries are still recorded): LEDGER_KEY_MISMATCH: ${mismatch.message}`],
    ['ledger.failed', 'The ledger could not record: LEDGER_INCONSISTENT: the log holds 3 entries but 5 were acknowledged'],
  ]);
  assert.equal(sent[0].data.error, `LEDGER_KEY_MISMATCH: ${mismatch.message}`);
});

test('a receiver answering without end is read no further than the start of its answer', async () => {
  const { createServer } = await import('node:http');
  let written = 0;
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(400, { 'content-type': 'text/plain' });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => { while (!res.destroyed && res.write(chunk)) { written += chunk.length; if (written > 512 * 1024 * 1024) return res.end(); } if (!res.destroyed) res.once('drain', pump); };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const sender = new WebhookSender(hook(`http://127.0.0.1:${(server.address() as { port: number }).port}/h`), quiet);
    const rec = await sender.send(notification('test', 'x', {}));
    assert.equal(rec.status, 'failed');
    assert.match(rec.last_error!, /^answered 400: x{10}/);
    assert.ok(written < 64 * 1024 * 1024, `stopped reading early (the receiver wrote ${written} bytes)`);
  } finally { server.closeAllConnections(); await new Promise((r) => server.close(r)); }
});

test('intel.matched tells the level the match holds the accounts at, not only the level it was imported at', () => {
  const seen = { indicator_id: 'indicator--1', count: 3, accounts: 1, first_seen: '2026-12-05T03:40:42.418Z', last_seen: '2026-12-05T03:40:44.000Z' };
  const ind = (kind: 'system_prompt' | 'client_subnet' | 'user_agent' | 'asn', level: 'watch' | 'throttle' | 'suspend' = 'throttle') =>
    ({ id: 'indicator--1', kind, hmac: 'ab'.repeat(32), level, source: 'clearfeed', campaign: null, confidence: null, valid_until: null, created_at: seen.first_seen });
  const strong = intelMatched(ind('system_prompt', 'suspend'), seen);
  assert.deepEqual([strong.data.level, strong.data.import_level], ['suspend', 'suspend']);
  assert.match(strong.summary, /; they are held at suspend$/);
  // A network indicator alone holds at watch, as the detector does; with a software one, at its level.
  const network = intelMatched(ind('client_subnet'), seen);
  assert.deepEqual([network.data.level, network.data.import_level], ['watch', 'throttle']);
  assert.match(network.summary, /they are held at watch \(at throttle where a software indicator matches too\)$/);
  assert.match(intelMatched(ind('user_agent'), seen).summary, /held at watch \(at throttle where a network indicator matches too\)$/);
  const asn = intelMatched(ind('asn'), seen);
  assert.equal(asn.data.level, 'watch');
  assert.match(asn.summary, /held at watch \(imported at throttle; an ASN alone never holds above watch\)$/);
  assert.match(intelMatched(ind('client_subnet', 'watch'), seen).summary, /; they are held at watch$/);
});

test('slack format: a partner\'s text cannot ping the channel or plant a link; only Warden\'s own link stays one', async () => {
  const r = await receiver(() => ({ status: 200, body: 'ok' }));
  try {
    const sender = new WebhookSender(hook(r.url, { format: 'slack' }), quiet);
    const crafted = '<!channel> Warden session expired: <https://phish.example/login|re-authenticate here> & fix';
    await sender.send(feedChanged({ name: 'partner', last_error: `http://127.0.0.1:9/x/objects/ answered 500: ${crafted}`, last_ok_at: null, cursor: null }));
    const seen = { indicator_id: 'indicator--1', count: 3, accounts: 1, first_seen: '2026-12-05T03:40:42.418Z', last_seen: '2026-12-05T03:40:44.000Z' };
    await sender.send(intelMatched({ id: 'indicator--1', kind: 'system_prompt', hmac: 'ab'.repeat(32), level: 'throttle', source: 'partner', campaign: '<!here> <https://phish.example|docs>', confidence: null, valid_until: null, created_at: seen.first_seen }, seen));
    const [failed, matched] = r.got.map((g) => (JSON.parse(g.body) as { text: string }).text);
    assert.ok(!failed.includes('<') && !failed.includes('>'), `no control sequence from the partner's answer: ${failed}`);
    assert.ok(failed.endsWith('answered 500: &lt;!channel&gt; Warden session expired: &lt;https://phish.example/login|re-authenticate here&gt; &amp; fix'), `the text is escaped as Slack asks: ${failed}`);
    assert.ok(!matched.includes('<!here>') && !matched.includes('<https://phish.example|'), `nor from its campaign name: ${matched}`);
    assert.ok(matched.endsWith(' <https://warden.example.com/dashboard#/cases|open>'), `Warden's own link is kept: ${matched}`);
    // Mattermost and Rocket.Chat read the same body as Markdown: their mentions and links are broken too.
    await sender.send(intelMatched({ id: 'indicator--2', kind: 'system_prompt', hmac: 'cd'.repeat(32), level: 'throttle', source: 'partner', campaign: '@channel @All [re-authenticate](https://phish.example/login)', confidence: null, valid_until: null, created_at: seen.first_seen }, seen));
    const markdown = (JSON.parse(r.got[2].body) as { text: string }).text;
    assert.ok(!/@(channel|all)\b/i.test(markdown) && !markdown.includes(']('), `no Markdown mention or link from the partner: ${markdown}`);
  } finally { await r.close(); }
});

test('a notified campaign that merges into another is said: campaign.merged names where its ids went', () => {
  const { before, bridge } = twoCampaignsThenBridge();
  const engine = new DetectorEngine();
  const notes = new VerdictNotifications((id) => engine.campaign(id), { campaignOf: (a) => engine.campaignIdOf(a), accountFloor: null });
  const made: Notification[] = [];
  engine.onVerdict((v) => { const n = notes.fromVerdict(v); if (n) made.push(n); });
  engine.onClusterMerge((m) => { const n = notes.fromMerge(m); if (n) made.push(n); });
  for (const e of [...before, ...bridge]) engine.ingest(e);
  engine.flush();
  const escalated = new Set(made.filter((n) => n.type === 'campaign.escalated').map((n) => n.data.campaign_id));
  assert.equal(escalated.size, 2, 'both campaigns were notified');
  const [survivor] = engine.campaigns();
  const merged = made.filter((n) => n.type === 'campaign.merged');
  assert.equal(merged.length, 1, 'one merge is notified');
  const gone = [...escalated].find((id) => id !== survivor.id);
  assert.equal(merged[0].data.campaign_id, gone, 'naming the campaign that went away');
  assert.equal(merged[0].data.into_campaign_id, survivor.id, 'and the one it went into');
  assert.match(merged[0].summary, new RegExp(`Campaign ${gone} .* merged into campaign ${survivor.id}`));
  assert.equal(merged[0].level, 'suspend', 'at the level it was notified at');
});
