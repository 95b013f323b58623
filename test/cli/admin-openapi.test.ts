// The admin API's OpenAPI document is exact: every admin route a fully configured `warden serve`
// registers appears in it (so a capability cannot add an undocumented route), the document is
// valid OpenAPI 3.1 whose schemas compile and whose references resolve, and live answers of the
// read routes validate against the schemas it documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parseConfig } from '../../src/config/index.ts';
import { openStores } from '../../src/cli/stores.ts';
import { buildCapabilities } from '../../src/cli/capabilities.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const TOKEN = 'adm_openapi_test_token_0123456789';
/** A 400 WARDEN_INVALID_REQUEST that names the unknown query parameter `limt` among its issues. */
function refusesLimt(status: number, body: string): boolean {
  if (status !== 400) return false;
  const error = JSON.parse(body).error as { code: string; issues?: { path: string }[] };
  return error.code === 'WARDEN_INVALID_REQUEST' && (error.issues ?? []).some((i) => i.path === 'limt');
}
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

test('the OpenAPI document lists every admin route, is valid OpenAPI 3.1, and read answers match it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-openapi-'));
  // Every capability with admin routes on: detector, cases and intel (with a sharing key), ledger,
  // batches and files, limits, policy, notify (a webhook).
  const config = parseConfig({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, admin: { token: TOKEN },
    cases: { sharing_key: 'openapi-test-sharing-key-0123456789' },
    notify: { webhooks: [{ name: 'soc', url: 'http://127.0.0.1:9/hook' }] },
  });
  const stores = await openStores(config);
  const caps = await buildCapabilities(config, stores, { adminToken: TOKEN, say: () => {} });
  const app = Fastify({ logger: false });
  const registered: string[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (r.url.startsWith('/admin/') && m !== 'HEAD') registered.push(`${m} ${r.url}`);
  });
  try {
    await caps.register(app);
    await app.ready();
    const get = async (url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
    const res = await get('/admin/openapi.json');
    assert.equal(res.statusCode, 200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, any>>; components: { schemas: Record<string, unknown> } };

    // Every registered admin route is documented, and the document has nothing that is not registered.
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`);
    }
    const missing = registered.filter((r) => r !== 'GET /admin/openapi.json' && !documented.has(r));
    assert.deepEqual(missing, [], 'admin routes missing from the OpenAPI document');
    assert.deepEqual([...documented].filter((d) => !registered.includes(d)), [], 'documented routes that do not exist');
    for (const family of ['/admin/detect/', '/admin/cases', '/admin/intel', '/admin/notify', '/admin/limits/', '/admin/batches', '/admin/files', '/admin/ledger/v1/query', '/admin/orgs']) {
      assert.ok([...documented].some((d) => d.includes(family)), family);
    }
    assert.ok(doc.paths['/admin/keys/{id}/rotate'].post.responses['409'], 'rotating a rotated or revoked key answers 409');
    // Every route with a body documents the refusals that come before validation: too large (413), not JSON (415).
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (op.requestBody) assert.ok(op.responses['413'] && op.responses['415'], `${method} ${path} documents 413 and 415`);
      }
    }
    assert.match(doc.paths['/admin/orgs'].post.responses['415'].description, /WARDEN_UNSUPPORTED_MEDIA_TYPE/, 'the 415 names its error code');

    // OpenAPI 3.1 structure: operations, unique operation ids, path parameters match the templates.
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    const ids = new Set<string>();
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'doc', components: doc.components });
    const compile = (schema: unknown) => ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/')));
    for (const name of Object.keys(doc.components.schemas)) compile({ $ref: `#/components/schemas/${name}` });
    for (const [path, ops] of Object.entries(doc.paths)) {
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(METHODS.includes(method), `${method} ${path}`);
        assert.ok(op.operationId && !ids.has(op.operationId), `operationId of ${method} ${path}`);
        ids.add(op.operationId);
        assert.ok(Object.keys(op.responses).length > 0 && Object.keys(op.responses).every((s) => /^[1-5]\d\d$/.test(s)), `responses of ${method} ${path}`);
        const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean; schema: unknown }[];
        assert.deepEqual(params.filter((p) => p.in === 'path').map((p) => p.name).sort(), templated, `path parameters of ${method} ${path}`);
        for (const p of params) { assert.ok(['path', 'query'].includes(p.in)); if (p.in === 'path') assert.equal(p.required, true); compile(p.schema); }
        for (const media of Object.values(op.requestBody?.content ?? {}) as { schema: unknown }[]) compile(media.schema);
        for (const r of Object.values(op.responses) as { description: string; content?: Record<string, { schema: unknown }> }[]) {
          assert.ok(typeof r.description === 'string');
          for (const media of Object.values(r.content ?? {})) compile(media.schema);
        }
      }
    }

    // Live answers of the read routes that need no id validate against their documented schema.
    for (const [path, ops] of Object.entries(doc.paths)) {
      const op = ops.get;
      if (!op || path.includes('{') || path === '/admin/usage/top' || path === '/admin/dashboard/search') continue;
      const answer = await get(path);
      const documentedStatus = op.responses[String(answer.statusCode)];
      assert.ok(documentedStatus, `GET ${path} answered ${answer.statusCode}, which is not documented: ${answer.body}`);
      const schema = documentedStatus.content?.['application/json']?.schema;
      if (!schema) continue;
      const validate = compile(schema);
      assert.ok(validate(answer.json()), `GET ${path}: ${JSON.stringify(validate.errors)} in ${answer.body.slice(0, 500)}`);
    }
    // An error from a capability's route has the admin error format, and is documented.
    const bad = await get('/admin/detect/clusters?level=bogus');
    assert.equal(bad.statusCode, 400);
    assert.ok(compile(doc.paths['/admin/detect/clusters'].get.responses['400'].content['application/json'].schema)(bad.json()));
    assert.equal(bad.json().error.param, 'level');
    // The ledger's audit query too: a mistyped filter is refused by name, not ignored.
    for (const [query, param] of [['acount=acct_x', 'acount'], ['from=garbage', 'from'], ['limit=abc', 'limit'], ['network=10.0.0.0/33', 'network'], ['network=10.0.0.0', 'network'], ['ip=10.0.0.300', 'ip']]) {
      const r = await get(`/admin/ledger/v1/query?${query}`);
      assert.equal(r.statusCode, 400, query);
      assert.equal(r.json().error.code, 'WARDEN_INVALID_REQUEST', query);
      assert.equal(r.json().error.param, param, query);
    }
    // Every admin route, with a query schema of its own or none, refuses an unknown query
    // parameter and names it (a typo is not silently ignored); nothing runs before the refusal.
    const accepted: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const url = `${path.replace(/\{[^}]+\}/g, 'x_1')}?limt=5`;
        const r = await app.inject({ method: method.toUpperCase() as 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
        if (!refusesLimt(r.statusCode, r.body)) accepted.push(`${method.toUpperCase()} ${url}: ${r.statusCode} ${r.body.slice(0, 120)}`);
      }
    }
    const openapi = await get('/admin/openapi.json?limt=5');
    if (!refusesLimt(openapi.statusCode, openapi.body)) accepted.push(`GET /admin/openapi.json?limt=5: ${openapi.statusCode}`);
    assert.deepEqual(accepted, [], 'admin routes that did not refuse an unknown query parameter by name');
  } finally {
    await app.close();
    await caps.close();
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
