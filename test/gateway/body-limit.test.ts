// The default request body limit takes the multimodal requests the providers take (a phone photo
// or a PDF of a few MB, base64-encoded inline), and a body over the limit is told the size and the
// setting in the 413's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden } from '../helpers/warden.ts';

// 3.5 MB of bytes: 4.7 MB once base64-encoded; the documents' reading is off, as it is not what is tested.
const payload = Buffer.alloc(3_500_000, 7).toString('base64');

test('a 3.5 MB image or PDF inline is accepted by default in both APIs', { timeout: 120_000 }, async () => {
  const t = await startTestWarden({ documents: { read_pdfs: false, read_images: false } });
  try {
    const { key } = await t.account('photos', 'email_verified');
    const openai = new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const chat = await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: [
      { type: 'text', text: 'What is in this photo?' }, { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${payload}` } },
    ] }] });
    assert.ok(chat.choices[0]?.message, 'the photo was answered');
    const anthropic = new Anthropic({ apiKey: key, baseURL: t.url, maxRetries: 0 });
    const msg = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: [
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: payload } }, { type: 'text', text: 'Summarise.' },
    ] }] });
    assert.equal(msg.type, 'message', 'the PDF was answered');
  } finally {
    await t.close();
  }
});

test('a body over server.body_limit_bytes: 413 naming its size, the limit and the setting', { timeout: 120_000 }, async () => {
  const t = await startTestWarden({ server: { port: 0, body_limit_bytes: 1024 * 1024 } });
  try {
    const { key } = await t.account('big', 'email_verified');
    const err = await new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: [
      { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${payload}` } },
    ] }] }).catch((e) => e);
    assert.equal(err.status, 413, `413, got ${err}`);
    assert.match(err.message, /4\.\d MB/, 'names the size sent');
    assert.match(err.message, /1\.0 MB/, 'names the limit');
    assert.match(err.message, /server\.body_limit_bytes/, 'names the setting');
  } finally {
    await t.close();
  }
});

// The SDKs, in a process of their own as an app is: in the server's process the client's writes
// wait for the server's turns and the refusal always lands after the body.
const SEND_TOO_LARGE = `
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
const { URL: url, KEY: key } = process.env;
const text = 'x'.repeat(4_000_000);
const openai = new OpenAI({ apiKey: key, baseURL: url + '/v1', maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: key, baseURL: url, maxRetries: 0 });
const seen = (e) => ({ sdk_error: e.constructor.name, status: e.status ?? null, type: e.error?.error?.type ?? e.error?.type ?? null, warden_code: e.error?.warden_code ?? e.error?.error?.warden_code ?? null, cause: e.cause?.code ?? null });
const out = [];
for (let i = 0; i < 2; i++) {
  out.push(await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] }).then(() => ({ status: 200 }), seen));
  out.push(await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: text }] }).then(() => ({ status: 200 }), seen));
}
console.log(JSON.stringify(out));
`;

test('a body over the limit still being sent when refused: the SDKs read the 413, not a connection error they would retry', { timeout: 120_000 }, async () => {
  const t = await startTestWarden({ server: { port: 0, body_limit_bytes: 1024 * 1024 } });
  try {
    const { key } = await t.account('upload', 'enterprise');
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SEND_TOO_LARGE], { env: { ...process.env, URL: t.url, KEY: key }, timeout: 90_000 });
    const seen = JSON.parse(stdout) as { sdk_error: string; status: number | null; type: string | null; warden_code: string | null; cause: string | null }[];
    for (const [i, s] of seen.entries()) {
      const sdk = i % 2 ? 'Anthropic' : 'OpenAI';
      assert.ok(s.status === 413, `${sdk} SDK, attempt ${(i >> 1) + 1}: a 413 it can show, got ${JSON.stringify(s)}`);
      assert.equal(s.warden_code, 'WARDEN_BODY_TOO_LARGE', `${sdk} SDK: the refusal's body is read`);
      if (sdk === 'Anthropic') assert.equal(s.type, 'request_too_large', 'Anthropic\'s own error type');
    }
  } finally {
    await t.close();
  }
});
