/**
 * Cost of the policy phase on the request path: geo lookup (real @ip-location-db data), network
 * classification, policy evaluation (the shipped default policy), request shaping and watermark
 * key selection, i.e. one `policyHooks(...).policy(ctx)` call, per request; plus the load time and
 * memory of the IP index, and the per-event cost of the output transformers on a streamed answer.
 *
 *   node --import tsx bench/policy.ts [--subdivisions-only]
 *
 * Baseline measured in the same run: JSON.parse of the same request body (work the gateway does
 * for every request anyway).
 */
import os from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shippedFile } from '../src/policy/hooks.ts';
import { parseIp } from '../src/policy/ip.ts';
import { emptyEnforcement, type ApiFlavour } from '../src/events/index.ts';
import type { InteractionContext } from '../src/gateway/lifecycle.ts';
import type { AuthContext, VerificationTier } from '../src/identity/types.ts';
import type { VerdictLevel } from '../src/detect/verdict.ts';
import { policyConfigSchema } from '../src/policy/config.ts';
import { watermarkConfigSchema } from '../src/watermark/config.ts';
import { policyHooks } from '../src/policy/hooks.ts';
import { loadGeoIndex } from '../src/policy/geo.ts';
import { percentile } from './lib.ts';
import { readSseFixture } from '../test/helpers/sse-fixtures.ts';

const fmtUs = (ms: number) => `${(ms * 1000).toFixed(2)} µs`;
console.log(`# policy benchmark — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

// 1. IP index load.
if (global.gc) global.gc();
const heap0 = process.memoryUsage().heapUsed, rss0 = process.memoryUsage().rss;
const geo = loadGeoIndex();
if (global.gc) global.gc();
const heap1 = process.memoryUsage().heapUsed, rss1 = process.memoryUsage().rss;
console.log(`\n## IP index (installed @ip-location-db packages)`);
console.log(`country ranges ${geo.stats.countryRanges}, ASN ranges ${geo.stats.asnRanges}, overlaps resolved ${geo.stats.overlapsResolved}`);
console.log(`load ${geo.stats.loadMs.toFixed(0)} ms; typed-array tables ${(geo.stats.tableBytes / 1e6).toFixed(1)} MB; heap +${((heap1 - heap0) / 1e6).toFixed(1)} MB, RSS +${((rss1 - rss0) / 1e6).toFixed(1)} MB after load${global.gc ? ' (after GC)' : ''}`);

// 2. Request path.
let s = 12345;
const rnd = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296; };
const ips: string[] = [];
for (let i = 0; i < 5000; i++) {
  if (i % 5 === 0) {
    const g = () => Math.floor(rnd() * 65536).toString(16);
    ips.push(`2a0${Math.floor(rnd() * 10)}:${g()}:${g()}::${g()}`);
  } else ips.push(`${1 + Math.floor(rnd() * 222)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`);
}
const tiers: VerificationTier[] = ['unverified', 'email_verified', 'identity_verified', 'enterprise'];
const levels: VerdictLevel[] = ['none', 'none', 'none', 'watch', 'throttle', 'shape'];
const bodies: [ApiFlavour, string][] = [
  ['openai.chat', JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Explain the difference between TCP and UDP with examples. '.repeat(8) }], max_tokens: 20000, n: 2, logprobs: true, top_logprobs: 5, stream: true })],
  ['openai.responses', JSON.stringify({ model: 'o4-mini', input: 'Summarise the causes of the French revolution. '.repeat(8), reasoning: { effort: 'medium', summary: 'auto' }, max_output_tokens: 30000, stream: true })],
  ['anthropic.messages', JSON.stringify({ model: 'claude-sonnet', max_tokens: 16000, thinking: { type: 'enabled', budget_tokens: 8000 }, messages: [{ role: 'user', content: 'Write a function that parses ISO dates. '.repeat(8) }], stream: true })],
];

function auth(i: number): AuthContext {
  const tier = tiers[i % tiers.length];
  const at = '2026-01-01T00:00:00.000Z';
  const id = `acc_${i % 1000}`;
  return {
    key: { id: 'key', account_id: id, prefix: 'wk', name: null, scopes: ['inference'], created_at: at, expires_at: null, revoked_at: null, last_used_at: null },
    account: { id, org_id: null, name: null, tier, programme: 'none', status: 'active', created_at: at, email: null, email_domain: null, signup_ip: null, claimed_country: 'GB', payment_fp: null },
    org: null, tier, programme: 'none',
  };
}
function ctx(i: number, ip?: string): InteractionContext {
  const [flavour, text] = bodies[i % bodies.length];
  const body = JSON.parse(text) as Record<string, unknown>;
  return {
    id: 'x', startedAt: 0, flavour, wire: flavour === 'anthropic.messages' ? 'anthropic' : 'openai', clientIp: ip ?? ips[i % ips.length],
    userAgent: null, headers: {}, auth: auth(i), model: String(body.model), body, stream: true, enforcement: emptyEnforcement(),
    responseHeaders: {}, clientGeo: { country: null, asn: null }, signal: new AbortController().signal, locals: new Map(), batchId: null,
  };
}

const hooks = policyHooks({
  config: { policy: policyConfigSchema.parse({ watch: false }), watermark: watermarkConfigSchema.parse({ enabled: true, master_secret: 'benchmark-master-secret-0123456789' }) },
  verdicts: { forAccount: (id) => ({ level: levels[Number(id.slice(4)) % levels.length], verdict: null, clusterId: null }) },
});

const N = 200_000;
function measure(name: string, prepare: (i: number) => unknown, run: (x: any, i: number) => void): { p50: number; p99: number; p999: number; mean: number } {
  const lat = new Float64Array(N);
  for (let i = 0; i < 20_000; i++) { try { run(prepare(i), i); } catch { /* refusals are part of the path */ } }
  for (let i = 0; i < N; i++) {
    const x = prepare(i);
    const t0 = performance.now();
    try { run(x, i); } catch { /* refused */ }
    lat[i] = performance.now() - t0;
  }
  const sorted = Array.from(lat).sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / N;
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), mean, name } as any;
}

// --subdivisions-only: the index load and section 2b alone (A against B).
const subdivisionsOnly = process.argv.includes('--subdivisions-only');
if (!subdivisionsOnly) {
const baseline = measure('baseline', (i) => bodies[i % bodies.length][1], (t: string) => { JSON.parse(t); });
const geoOnly = measure('geo', (i) => ips[i % ips.length], (ip: string) => { geo.lookup(ip); });
let refused = 0;
const full = measure('policy', ctx, (c: InteractionContext) => { try { hooks.policy!(c); } catch (e) { refused++; throw e; } });
const output = measure('output', (i) => { const c = ctx(i); try { hooks.policy!(c); } catch { /* */ } return c; }, (c: InteractionContext) => { hooks.output!(c); });

console.log(`\n## request path (${N.toLocaleString()} requests, one at a time, after 20,000 warm-up; 3 wire formats, 4 tiers, verdicts none..shape, random IPv4/IPv6)`);
console.log('| path | p50 | p99 | p99.9 | mean | p99 vs baseline |');
console.log('|---|---|---|---|---|---|');
for (const [name, m] of [['baseline: JSON.parse of the request body', baseline], ['geo lookup (country + ASN)', geoOnly], ['policy phase: geo + networks + policy + shaping + watermark key', full], ['output phase: build the transformer chain', output]] as const) {
  console.log(`| ${name} | ${fmtUs(m.p50)} | ${fmtUs(m.p99)} | ${fmtUs(m.p999)} | ${fmtUs(m.mean)} | ${(m.p99 / baseline.p99).toFixed(2)}x |`);
}
console.log(`refused by the default policy (verify for hosting networks etc.): ${(refused / (N + 20_000) * 100).toFixed(1)}% of requests`);
}

// 2b. Sub-national regions: the policy phase with a subdivision range file the size of a city
// database's (1,000,000 IPv4 and 250,000 IPv6 ranges, made up) and the default policy with a rule
// naming the sanctioned subdivisions of Ukraine, against the same phase without (the default
// policy, no subdivision data), measured interleaved request by request in the same run.
{
  const dir = mkdtempSync(join(os.tmpdir(), 'warden-bench-subdiv-'));
  try {
    const subFile = join(dir, 'subdivisions.csv');
    const lines: string[] = [];
    // None of the named subdivisions: B refuses nobody, so it does A's work plus the lookup and the rule's test.
    const codes = ['UA-30', 'UA-46', 'UA-51', 'UA-63', 'UA-12', 'UA-32', 'DE-BY', 'DE-BE', 'US-CA', 'US-NY', 'GB-ENG', 'FR-IDF', 'PL-14', 'RU-MOW'];
    const V4 = 1_000_000, span = Math.floor((224 * 2 ** 24 - 2 ** 24) / V4);
    for (let k = 0; k < V4; k++) { const st = 2 ** 24 + k * span; lines.push(`${st},${st + span - 1},${codes[k % codes.length]}`); }
    for (let k = 0; k < 250_000; k++) lines.push(`2a0${k % 10}:${(k >> 4).toString(16)}::,2a0${k % 10}:${(k >> 4).toString(16)}:ffff:ffff:ffff:ffff:ffff:ffff,${codes[k % codes.length]}`);
    writeFileSync(subFile, lines.join('\n') + '\n');
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, readFileSync(shippedFile('policy/default.yaml'), 'utf8')
      .replace('  embargoed: [CU, IR, KP, SY]\n', '  embargoed: [CU, IR, KP, SY]\n  sanctioned_ua: [UA-43, UA-40, UA-14, UA-09]\n')
      .replace('rules:\n', 'rules:\n  - id: sanctioned-subdivisions\n    when: { region: sanctioned_ua }\n    action: deny\n    code: region_blocked\n'));
    const t0 = performance.now();
    const withSub = policyHooks({
      config: { policy: policyConfigSchema.parse({ watch: false, file: policyFile, geo: { subdivision_files: [subFile], unknown_subdivision: 'outside' } }), watermark: watermarkConfigSchema.parse({ enabled: true, master_secret: 'benchmark-master-secret-0123456789' }) },
      verdicts: { forAccount: (id) => ({ level: levels[Number(id.slice(4)) % levels.length], verdict: null, clusterId: null }) },
    });
    const loadMs = performance.now() - t0;
    const M = 100_000;
    const a = new Float64Array(M), b = new Float64Array(M), look = new Float64Array(M);
    let refusedSub = 0;
    const sub = withSub.runtime.subdivisions!;
    for (let i = -20_000; i < M; i++) {
      const ca = ctx(i + 20_000), cb = ctx(i + 20_000);
      const runA = () => { const t = performance.now(); try { hooks.policy!(ca); } catch { /* refused */ } return performance.now() - t; };
      const runB = () => { const t = performance.now(); try { withSub.policy!(cb); } catch { if (i >= 0 && cb.enforcement.policy.includes('rule:sanctioned-subdivisions')) refusedSub++; } return performance.now() - t; };
      // Alternate which goes first: the first of a pair meets the freshly parsed body.
      let da: number, db: number;
      if (i % 2 === 0) { da = runA(); db = runB(); } else { db = runB(); da = runA(); }
      let t: number;
      const ip = parseIp(ips[(i + 20_000) % ips.length]);
      t = performance.now();
      sub.lookupParsed(ip);
      const dl = performance.now() - t;
      if (i >= 0) { a[i] = da; b[i] = db; look[i] = dl; }
    }
    const stats = (x: Float64Array) => { const s = Array.from(x).sort((p, q) => p - q); return { p50: percentile(s, 50), p99: percentile(s, 99), mean: s.reduce((p, q) => p + q, 0) / s.length }; };
    const sa = stats(a), sb = stats(b), sl = stats(look);
    console.log(`\n## sub-national regions (${M.toLocaleString()} requests, A and B interleaved, after 20,000 warm-up)`);
    console.log(`subdivision data: ${sub.ranges.toLocaleString()} ranges, runtime with it built in ${loadMs.toFixed(0)} ms`);
    console.log('| path | p50 | p99 | mean | p50 vs A | mean vs A |');
    console.log('|---|---|---|---|---|---|');
    for (const [name, m] of [['A: policy phase, default policy, no subdivision data', sa], ['B: policy phase, + subdivision data and a rule naming UA-43/40/14/09', sb], ['subdivision lookup alone', sl]] as const) {
      console.log(`| ${name} | ${fmtUs(m.p50)} | ${fmtUs(m.p99)} | ${fmtUs(m.mean)} | ${(m.p50 / sa.p50).toFixed(2)}x | ${(m.mean / sa.mean).toFixed(2)}x |`);
    }
    console.log(`refused by the subdivision rule in B: ${(refusedSub / M * 100).toFixed(1)}% of requests`);
    withSub.close?.();
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

// 3. Output side: per SSE event through the answer filter + watermark, on recorded streams.
if (!subdivisionsOnly) {
console.log('\n## output transformers, per SSE event (recorded streams from test/fixtures/policy)');
console.log('| stream | events | per event p50 | per event p99 | baseline (JSON.parse of the event) p50 |');
console.log('|---|---|---|---|---|');
for (const [flavour, file] of [['openai.chat', 'openai-chat-reasoning.sse'], ['openai.responses', 'openai-responses-reasoning.sse'], ['anthropic.messages', 'anthropic-thinking-tool.sse']] as const) {
  const events = readSseFixture(file);
  const per: number[] = [], base: number[] = [];
  for (let round = 0; round < 3000; round++) {
    const c = ctx(flavour === 'openai.chat' ? 0 : flavour === 'openai.responses' ? 1 : 2, '81.2.69.160');
    c.auth = auth(1); // email_verified: reasoning summarised, logprobs stripped, watermark on
    hooks.policy!(c);
    const t = hooks.output!(c)!;
    for (const ev of events) {
      let t0 = performance.now();
      t.sse!(ev);
      per.push(performance.now() - t0);
      t0 = performance.now();
      if (ev.data.startsWith('{')) JSON.parse(ev.data);
      base.push(performance.now() - t0);
    }
    t.flush?.();
  }
  per.sort((a, b) => a - b); base.sort((a, b) => a - b);
  console.log(`| ${flavour} | ${events.length} | ${fmtUs(percentile(per, 50))} | ${fmtUs(percentile(per, 99))} | ${fmtUs(percentile(base, 50))} |`);
}
}
hooks.close?.();
