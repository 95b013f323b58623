// The default request body limit takes the multimodal requests the providers take (a phone photo
// or a PDF of a few MB, base64-encoded inline), and a body over the limit is told the size and the
// setting in the 413's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
