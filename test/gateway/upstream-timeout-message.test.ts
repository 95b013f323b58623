// A streamed answer whose upstream went silent mid-answer is not told to "stream the answer": it
// was streaming. Each timeout's message names its own setting and what the client can do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errors as undiciErrors } from 'undici';
import { mapUpstreamFailure } from '../../src/gateway/upstream-request.ts';

test('a body timeout says the upstream went silent mid-answer; a headers timeout still suggests streaming', () => {
  const body = mapUpstreamFailure(new undiciErrors.BodyTimeoutError(), {} as never);
  assert.equal(body.code, 'WARDEN_UPSTREAM_TIMEOUT');
  assert.match(body.message, /went silent mid-answer .*body_timeout_ms/);
  assert.ok(!/stream the answer/.test(body.message), `no advice to stream: ${body.message}`);
  const headers = mapUpstreamFailure(new undiciErrors.HeadersTimeoutError(), {} as never);
  assert.match(headers.message, /headers_timeout_ms.*stream the answer/);
});
