import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../config/index.ts';
import { UpstreamRouter } from './upstreams.ts';
import { ModelDirectory } from './model-list.ts';

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
