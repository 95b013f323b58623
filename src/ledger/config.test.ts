import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../config/index.ts';

test('ledger.close_timeout_ms below 100 is refused with the key and the reason: a shutdown would give up before writing anything', () => {
  for (const value of [0, 99]) {
    assert.throws(() => parseConfig({ ledger: { close_timeout_ms: value } }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `a ConfigError for ${value}`);
      assert.match(err.message, /ledger\.close_timeout_ms: close_timeout_ms must be at least 100 \(ms\)/);
      return true;
    });
  }
  assert.equal(parseConfig({ ledger: { close_timeout_ms: 100 } }).ledger.close_timeout_ms, 100);
  assert.equal(parseConfig({}).ledger.close_timeout_ms, 10_000);
});
