import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../config/index.ts';
import { UpstreamRouter } from './upstreams.ts';
import { ModelDirectory, anthropicPage } from './model-list.ts';

test('a failed fetch serves the list fetched before, and is logged once until a fetch works again', async () => {
  let up = true;
  let calls = 0;
  const server = http.createServer((req, res) => {
    calls++;
    if (!up) { res.writeHead(500).end('{}'); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-a', object: 'model', created: 1, owned_by: 'org' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const router = new UpstreamRouter(parseConfig({ upstreams: [{ name: 'u', base_url: url, flavours: ['openai'], models: ['gpt-*'] }] }).upstreams);
  const warnings: object[] = [];
  const dir = new ModelDirectory(router, { ttlMs: 0, retryMs: 0, log: { warn: (o) => warnings.push(o) } });
  try {
    assert.deepEqual(await dir.list('openai'), [{ id: 'gpt-a', upstream: 'u', created: 1, owned_by: 'org' }]);
    up = false;
    for (let i = 0; i < 3; i++) {
      // Stale lists are served at once and refreshed behind the answer.
      assert.deepEqual((await dir.list('openai')).map((m) => m.id), ['gpt-a']);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(calls >= 3);
    assert.equal(warnings.length, 1);
    assert.equal((await dir.find('gpt-a', 'openai'))?.id, 'gpt-a');
  } finally {
    await router.close();
    server.close();
  }
});

test('the list is fetched once for many callers, and not again before it is due', async () => {
  let calls = 0;
  const server = http.createServer((req, res) => {
    calls++;
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"gpt-a"}]}'), 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const router = new UpstreamRouter(parseConfig({ upstreams: [{ name: 'u', base_url: url, flavours: ['openai'], models: ['*'] }] }).upstreams);
  const dir = new ModelDirectory(router, { log: { warn: () => {} } });
  try {
    await Promise.all(Array.from({ length: 10 }, () => dir.list('openai')));
    await dir.list('openai');
    assert.equal(calls, 1);
  } finally {
    await router.close();
    server.close();
  }
});

/** An upstream that counts what it is asked: its list (or 500 when `list` is null), and ids by `known`. */
async function countingUpstream(opts: { list: string[] | null; known?: (id: string) => number; delayMs?: number }) {
  const asked = new Map<string, number>();
  let lists = 0;
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    const answer = () => {
      if (path === '/v1/models') {
        lists++;
        if (opts.list === null) { res.writeHead(500).end('{}'); return; }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: opts.list.map((id) => ({ id })) }));
        return;
      }
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      asked.set(id, (asked.get(id) ?? 0) + 1);
      const status = opts.known?.(id) ?? 404;
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? JSON.stringify({ id, object: 'model' }) : '{}');
    };
    if (opts.delayMs) setTimeout(answer, opts.delayMs);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const router = new UpstreamRouter(parseConfig({ upstreams: [{ name: 'u', base_url: url, flavours: ['openai'], models: ['*'] }] }).upstreams);
  return {
    asked, lists: () => lists, router,
    calls: () => [...asked.values()].reduce((a, b) => a + b, 0),
    close: async () => { await router.close(); server.close(); },
  };
}

test('concurrent retrievals of one id make one upstream call', async () => {
  const up = await countingUpstream({ list: null, known: () => 200, delayMs: 30 });
  const dir = new ModelDirectory(up.router, { log: { warn: () => {} } });
  try {
    const got = await Promise.all(Array.from({ length: 5 }, () => dir.find('gpt-x', 'openai')));
    assert.deepEqual(got.map((m) => m?.id), Array(5).fill('gpt-x'));
    assert.equal(up.asked.get('gpt-x'), 1);
  } finally {
    await up.close();
  }
});

test('unknown ids and failures are remembered a while; the least recently asked id is forgotten first', async () => {
  const up = await countingUpstream({ list: null, known: (id) => (id.startsWith('ok-') ? 200 : id === 'broken' ? 500 : 404) });
  const dir = new ModelDirectory(up.router, { maxRemembered: 3, log: { warn: () => {} } });
  try {
    assert.equal(await dir.find('none', 'openai'), null);
    assert.equal(await dir.find('none', 'openai'), null);
    assert.equal(up.asked.get('none'), 1);
    await assert.rejects(dir.find('broken', 'openai'), (e: any) => e.code === 'WARDEN_UPSTREAM_UNAVAILABLE');
    await assert.rejects(dir.find('broken', 'openai'), (e: any) => e.code === 'WARDEN_UPSTREAM_UNAVAILABLE');
    assert.equal(up.asked.get('broken'), 1);
    // Three remembered: none, broken, ok-a. Asking `none` again makes `broken` the oldest.
    assert.equal((await dir.find('ok-a', 'openai'))?.id, 'ok-a');
    assert.equal(await dir.find('none', 'openai'), null);
    assert.equal((await dir.find('ok-b', 'openai'))?.id, 'ok-b');
    for (const id of ['none', 'ok-a', 'ok-b']) await dir.find(id, 'openai');
    assert.deepEqual([...up.asked.entries()], [['none', 1], ['broken', 1], ['ok-a', 1], ['ok-b', 1]]);
    await assert.rejects(dir.find('broken', 'openai'));
    assert.equal(up.asked.get('broken'), 2);
  } finally {
    await up.close();
  }
});

test('a failure to ask the upstream is remembered only seconds, an unknown id for a minute', async () => {
  const up = await countingUpstream({ list: null, known: (id) => (id === 'broken' ? 500 : 404) });
  const dir = new ModelDirectory(up.router, { errorMs: 50, log: { warn: () => {} } });
  try {
    await assert.rejects(dir.find('broken', 'openai'));
    assert.equal(await dir.find('none', 'openai'), null);
    await new Promise((r) => setTimeout(r, 80));
    await assert.rejects(dir.find('broken', 'openai'));
    assert.equal(await dir.find('none', 'openai'), null);
    assert.deepEqual([up.asked.get('broken'), up.asked.get('none')], [2, 1], 'the failure was asked again, the unknown id not');
  } finally {
    await up.close();
  }
});

test('ids absent from a fresh list of their upstream are asked of it within a budget a minute (aliases resolve; made-up ids cannot drive upstream calls)', async () => {
  const up = await countingUpstream({ list: ['gpt-a'], known: (id) => (id === 'gpt-alias' ? 200 : 404) });
  const dir = new ModelDirectory(up.router, { log: { warn: () => {} }, unlistedPerMinute: 3 });
  try {
    assert.equal((await dir.find('gpt-a', 'openai'))?.id, 'gpt-a');
    assert.equal(up.calls(), 0, 'a listed id needs no call');
    assert.equal((await dir.find('gpt-alias', 'openai'))?.id, 'gpt-alias', 'an alias the upstream resolves');
    for (let i = 0; i < 10; i++) assert.equal(await dir.find(`gpt-unlisted-${i}`, 'openai'), null);
    assert.equal(up.calls(), 3, 'three asks this minute, the rest answered unknown without asking');
    assert.equal((await dir.find('gpt-alias', 'openai'))?.id, 'gpt-alias', 'a resolved alias is remembered past the budget');
    assert.equal(up.calls(), 3);
    assert.equal(up.lists(), 1);
  } finally {
    await up.close();
  }
  // The list could not be fetched: the upstream is asked.
  const down = await countingUpstream({ list: null, known: () => 200 });
  const dir2 = new ModelDirectory(down.router, { log: { warn: () => {} } });
  try {
    assert.equal((await dir2.find('gpt-unlisted', 'openai'))?.id, 'gpt-unlisted');
    assert.equal(down.calls(), 1);
  } finally {
    await down.close();
  }
});

test('ids that could name a path are unknown, without any upstream call', async () => {
  const up = await countingUpstream({ list: null, known: () => 200 });
  const dir = new ModelDirectory(up.router, { log: { warn: () => {} } });
  try {
    for (const id of ['.', '..', '../x', 'x/..', 'a/../b', 'a/./b', '%2e%2e', '%2E%2E/x', 'a%2F..%2Fb', '%252e%252e', '..\\x', '..%2F%ZZ', '%2e%2e%2f%ZZ']) {
      assert.equal(await dir.find(id, 'openai'), null, id);
    }
    assert.equal(up.calls(), 0);
    // Dots inside a segment are a model's own.
    for (const id of ['gpt-4.1', '...', '..x', 'x..', 'org/.hidden']) assert.equal((await dir.find(id, 'openai'))?.id, id);
  } finally {
    await up.close();
  }
});

test('an Anthropic page from a cursor that names no listed model is refused, as the API refuses it', () => {
  const models = ['a', 'b', 'c'].map((id) => ({ id, upstream: 'u' }));
  assert.deepEqual(anthropicPage(models, { after_id: 'a', limit: '1' }).page.map((m) => m.id), ['b']);
  assert.deepEqual(anthropicPage(models, { before_id: 'c', limit: '1' }).page.map((m) => m.id), ['b']);
  for (const q of [{ after_id: 'zz' }, { before_id: 'zz' }, { after_id: 'a', before_id: 'zz' }, { after_id: '' }]) {
    assert.throws(() => anthropicPage(models, q), (e: any) => e.code === 'WARDEN_INVALID_REQUEST' && e.status === 400 && e.message === 'Invalid pagination cursor', JSON.stringify(q));
  }
});
