// A batch as large as the defaults allow is created, read and cancelled without holding up the
// gateway's other requests: its body is read a slice at a time, and the store writes and changes
// its requests a few at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden } from '../../test/helpers/warden.ts';

/** The longest the event loop went without a turn while `work` ran, ms (and how long `work` took). */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  return (await timedStall(work)).worst;
}

async function timedStall(work: () => Promise<unknown>): Promise<{ worst: number; took: number }> {
  const started = performance.now();
  let worst = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    if (running) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  try { await work(); } finally { running = false; }
  return { worst, took: performance.now() - started };
}

/** A body sent a piece at a time, as from another process (sent whole, the client here would hold the event loop itself). */
async function* inPieces(body: Buffer): AsyncIterable<Buffer> {
  for (let i = 0; i < body.length; i += 64 * 1024) {
    yield body.subarray(i, i + 64 * 1024);
    await new Promise((r) => setImmediate(r));
  }
}

test('creating, reading and cancelling a batch of 30 MB leaves the gateway answering others', { timeout: 120_000 }, async (t) => {
  const tw = await startTestWarden({ batches: { max_requests: 10_000 } });
  try {
    const { key } = await tw.account('bulk', 'enterprise');
    const headers = { 'x-api-key': key, 'anthropic-version': '2023-06-01' };
    const turns = Array.from({ length: 30 }, (_, k) => ({ role: k % 2 ? 'assistant' : 'user', content: [{ type: 'text', text: `turn ${k}: ${'lorem ipsum dolor sit amet '.repeat(2)}` }] }));
    const body = Buffer.from(JSON.stringify({ requests: Array.from({ length: 10_000 }, (_, i) => ({ custom_id: `r${i}`, params: { model: 'claude-sonnet-5', max_tokens: 8, messages: turns.map((m) => ({ ...m, content: [{ ...m.content[0], text: `${i} ${m.content[0].text}` }] })) } })) }));
    assert.ok(body.length > 30_000_000, String(body.length));
    let id = '';
    const { worst: creating, took } = await timedStall(async () => {
      const r = await fetch(`${tw.url}/v1/messages/batches`, {
        method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'content-length': String(body.length) }, body: inPieces(body), duplex: 'half',
      } as RequestInit);
      const created = await r.json() as any;
      assert.equal(r.status, 200, JSON.stringify(created));
      id = created.id;
      assert.equal(created.request_counts.processing, 10_000);
    });
    const reading = await longestStall(async () => {
      const r = await fetch(`${tw.url}/v1/messages/batches/${id}`, { headers });
      assert.equal(r.status, 200);
    });
    const cancelling = await longestStall(async () => {
      const r = await fetch(`${tw.url}/v1/messages/batches/${id}/cancel`, { method: 'POST', headers });
      const b = await r.json() as any;
      assert.ok(b.request_counts.canceled > 9_000, JSON.stringify(b.request_counts));
    });
    // What the machine itself does to this process's turns (another process taking the cores):
    // the longest stall of an idle loop over as long as creating took (at most 10 s).
    const idle = await longestStall(() => new Promise((r) => setTimeout(r, Math.min(took, 10_000))));
    t.diagnostic(`longest stalls: creating ${creating.toFixed(0)} ms, reading ${reading.toFixed(0)} ms, cancelling ${cancelling.toFixed(0)} ms, idle ${idle.toFixed(0)} ms`);
    // Gathered and parsed whole, such a body held every other request up for two seconds, and
    // cancelling it for most of one; now a few tens of milliseconds, plus what a busy machine adds
    // to an idle loop.
    for (const [what, ms] of [['creating', creating], ['cancelling', cancelling]] as const) {
      assert.ok(ms < 500 + 2 * idle, `${what} the batch held every other request up for ${ms.toFixed(0)} ms (an idle loop: ${idle.toFixed(0)} ms)`);
    }
  } finally {
    await tw.close();
  }
});
