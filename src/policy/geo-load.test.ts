import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyRuntime } from './hooks.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';

// One process, one cached index of the installed packages: the lazy case must come first.
test('policy.geo.load_packaged: first_public_client leaves the installed tables unloaded until a public client; start loads them before the node serves', () => {
  const make = (load_packaged: string) => createPolicyRuntime({
    policy: policyConfigSchema.parse({ watch: false, geo: { load_packaged } }),
    watermark: watermarkConfigSchema.parse({}),
  });
  const lazy = make('first_public_client');
  try {
    assert.equal(lazy.geo!.loaded, false, 'first_public_client: not loaded at start');
    assert.equal(lazy.geo!.lookup('192.168.1.10').country, null);
    assert.equal(lazy.geo!.loaded, false, 'a private client does not load them');
  } finally { lazy.close(); }
  const eager = make('start');
  try {
    assert.equal(eager.geo!.loaded, true, 'start (the default): loaded when the runtime is made, before any request');
    assert.equal(eager.geo!.lookup('8.8.8.8').asn, 15169);
  } finally { eager.close(); }
  assert.equal(policyConfigSchema.parse({}).geo.load_packaged, 'start', 'the default loads at start');
  assert.throws(() => policyConfigSchema.parse({ geo: { load_packaged: 'never' } }), /load_packaged/);
});
