// Routes Warden does not serve (docs/batches.md, "Not served": fine-tuning, the Uploads API,
// conversations, deleting a model; Anthropic file downloads) reach the official SDKs as a well-formed error of the
// API's own shape: the SDK's APIError subclass for the status, with Warden's message and request
// id, not a parse failure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
let key: string;
before(async () => {
  t = await startTestWarden();
  key = (await t.account('unserved', 'identity_verified')).key;
});
after(async () => { await t.close(); });

const openai = () => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: key, baseURL: t.url, maxRetries: 0 });

const UNSERVED: [string, string, () => Promise<unknown>][] = [
  ['fineTuning.jobs.create', 'POST /v1/fine_tuning/jobs', () => openai().fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: 'file-abc' })],
  ['uploads.create', 'POST /v1/uploads', () => openai().uploads.create({ bytes: 10, filename: 'in.jsonl', mime_type: 'text/jsonl', purpose: 'batch' })],
  ['conversations.create', 'POST /v1/conversations', () => openai().conversations.create({})],
  // A path Warden serves with GET: deleting a (fine-tuned) model is an operation it does not serve,
  // answered as the others are, not 405 with `Allow` (a bare APIError, before).
  ['models.delete', 'DELETE /v1/models/ft:gpt-4o-mini:acme::abc123', () => openai().models.delete('ft:gpt-4o-mini:acme::abc123')],
];

for (const [call, route, run] of UNSERVED) {
  test(`openai.${call}: the SDK's NotFoundError with Warden's message and request id`, async () => {
    await assert.rejects(run(), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError, `an APIError subclass for 404, not a parse failure: ${String(e)}`);
      assert.equal(e.status, 404);
      assert.equal(e.code, null, 'OpenAI\'s code: none for an unknown route, as OpenAI sends');
      assert.equal((e.error as any).warden_code, 'WARDEN_NOT_FOUND', 'the stable Warden code beside it');
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.message, `404 Unknown route: ${route}.`, 'the message names the route');
      assert.ok(e.requestID && /^[0-9A-Z]{26}$/.test(e.requestID), `the request id the SDK reads: ${e.requestID}`);
      return true;
    });
  });
}

test('DELETE /v1/models/{id} from an Anthropic client: 404 not_found_error in Anthropic\'s shape', async () => {
  const r = await fetch(`${t.url}/v1/models/claude-sonnet-4-5`, { method: 'DELETE', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01' } });
  assert.equal(r.status, 404, `an unknown route, not a wrong method: ${r.status} allow=${r.headers.get('allow')}`);
  assert.equal(r.headers.get('allow'), null, 'no Allow header: the operation is not served, whatever the method');
  const body = (await r.json()) as { type: string; error: { type: string; message: string }; request_id: string };
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, 'not_found_error', JSON.stringify(body));
  assert.equal(body.error.message, 'Unknown route: DELETE /v1/models/claude-sonnet-4-5.');
  assert.equal(body.request_id, r.headers.get('request-id'));
});

test('anthropic.beta.files.download of an uploaded file: the SDK\'s BadRequestError, in Anthropic\'s error shape', async () => {
  const betas: Anthropic.Beta.AnthropicBeta[] = ['files-api-2025-04-14'];
  const file = await anthropic().beta.files.upload({ file: await toFile(Buffer.from('Line one.\n'), 'notes.txt'), betas });
  await assert.rejects(anthropic().beta.files.download(file.id, { betas }), (e: unknown) => {
    assert.ok(e instanceof Anthropic.BadRequestError, `an APIError subclass for 400, not a parse failure: ${String(e)}`);
    assert.equal(e.status, 400);
    const body = e.error as { type: string; error: { type: string; message: string }; request_id: string };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /is not downloadable: only files made by tools can be downloaded/);
    assert.equal(e.requestID, body.request_id, 'the request id in the body is the one the SDK reads from the headers');
    return true;
  });
});

test('anthropic.beta.files.download of an unknown file: the SDK\'s NotFoundError', async () => {
  await assert.rejects(anthropic().beta.files.download('file_011CNha8iCJcU1wXNR6q4V8w', { betas: ['files-api-2025-04-14'] }), (e: unknown) => {
    assert.ok(e instanceof Anthropic.NotFoundError, `an APIError subclass for 404: ${String(e)}`);
    assert.equal((e.error as { error: { type: string } }).error.type, 'not_found_error');
    return true;
  });
});
