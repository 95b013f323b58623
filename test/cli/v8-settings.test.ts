import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { parseConfig } from '../../src/config/index.ts';
import { applyV8Settings } from '../../src/cli/serve.ts';

setFlagsFromString('--allow-natives-syntax');
const inYoungGeneration = new Function('o', 'return %InYoungGeneration(o)') as (o: object) => boolean;
setFlagsFromString('--no-allow-natives-syntax');

/**
 * Allocate many long-lived objects from one fresh allocation site (V8's cue to pretenure it), then
 * say where a new object from that site is allocated.
 */
function freshObjectIsYoung(): boolean {
  const make = new Function('i', 'return { a: i, b: [i], c: "x" + i };') as (i: number) => object;
  const keep: object[] = [];
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 20_000; i++) keep.push(make(i));
    if (keep.length > 200_000) keep.splice(0, 100_000);
  }
  return inYoungGeneration(make(1));
}

test('warden serve turns off V8 allocation-site pretenuring unless server.v8_pretenuring keeps it', () => {
  applyV8Settings(parseConfig({ server: { v8_pretenuring: true } }));
  assert.equal(freshObjectIsYoung(), false, 'with V8 default, a surviving allocation site is pretenured (the probe works)');
  applyV8Settings(parseConfig({}));
  assert.equal(freshObjectIsYoung(), true, 'after applyV8Settings with the default config, new objects start young');
});
