// The key mistakes a customer makes first: the provider's own key left in the SDK (OPENAI_API_KEY,
// ANTHROPIC_API_KEY), or the key sent without its "Bearer" scheme. The refusal says which, so the
// customer does not take a key issued by this gateway for a broken one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden } from '../helpers/warden.ts';

test('a provider key, a key without Bearer, and an unknown key of the right form are told apart', async () => {
  const t = await startTestWarden();
  try {
    const { key } = await t.account('keys', 'email_verified');
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

    const withProviderKey = new OpenAI({ apiKey: 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789', baseURL: `${t.url}/v1`, maxRetries: 0 });
    await assert.rejects(withProviderKey.chat.completions.create(body), (err: any) => {
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key', 'the code an app matches stays OpenAI own');
      assert.match(err.message, /not have the form of a key this gateway issues/);
      assert.match(err.message, /model provider/);
      return true;
    });
    const anthropic = new Anthropic({ apiKey: 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz', baseURL: t.url, maxRetries: 0 });
    await assert.rejects(anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (err: any) => {
      assert.equal(err.status, 401);
      assert.match(err.message, /not have the form of a key this gateway issues/);
      return true;
    });

    // A key of the right form that is not known: no hint about its form, nothing about the key told.
    const unknown = key.replace(/_[A-Za-z0-9]{12}_/, '_AAAAAAAAAAAA_');
    const r = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${unknown}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 401);
    const unknownError = ((await r.json()) as any).error;
    assert.equal(unknownError.warden_code, 'WARDEN_INVALID_API_KEY');
    assert.doesNotMatch(unknownError.message, /form/, unknownError.message);

    const noScheme = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(noScheme.status, 401);
    const noSchemeError = ((await noScheme.json()) as any).error;
    assert.equal(noSchemeError.warden_code, 'WARDEN_MISSING_API_KEY');
    assert.match(noSchemeError.message, /Authorization header has no "Bearer" scheme/);

    const ok = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(ok.status, 200, 'the key itself works');
  } finally {
    await t.close();
  }
});
