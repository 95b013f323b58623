// `upstreams` is empty by default, so the defaults of an upstream entry (its timeouts, its
// connection pool) would appear nowhere in `warden config defaults`: it prints them as a commented
// example entry, and the output stays a valid configuration equal to the defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/index.ts';
import { WARDEN } from '../helpers/node-args.ts';


test('warden config defaults shows an upstream entry with its defaults, as comments', { timeout: 60_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [...WARDEN, 'config', 'defaults'],
    { timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '' } });
  assert.deepEqual(parseConfig(parse(stdout)), parseConfig({}), 'the printed defaults still parse to the defaults, the example being comments');
  const example = stdout.split('\n').filter((l) => l.startsWith('#'));
  for (const line of ['connections: 128', 'headers_timeout_ms: 600000', 'body_timeout_ms: 600000', 'api_key: null', 'base_url:', 'models:']) {
    assert.ok(example.some((l) => l.includes(line)), `the commented upstream example shows "${line}":\n${example.join('\n')}`);
  }
  assert.ok(example.some((l) => /flavours:\s*\n?/.test(l)) && stdout.includes('- openai') && stdout.includes('- anthropic'), `the example shows the default flavours, both formats:\n${example.join('\n')}`);
  const upstreamsLine = stdout.split('\n').findIndex((l) => l.startsWith('upstreams:'));
  const firstExampleLine = stdout.split('\n').findIndex((l) => l.includes('headers_timeout_ms'));
  assert.ok(firstExampleLine >= 0 && Math.abs(firstExampleLine - upstreamsLine) < 20, 'the example is printed beside the upstreams key');
});
