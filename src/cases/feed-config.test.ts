// A partner's feed token goes with every poll: over plain HTTP to another machine it crosses the
// network in clear, readable and reusable by anyone on the path (it is the partner's API key for
// this provider). The configuration refuses that, naming the feed and what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../config/index.ts';

const feed = (url: string, token = 'env:PARTNER_KEY') => ({ cases: { feeds: [{ name: 'Provider A', url, token }] } });

test('a feed with a token over plain HTTP to another host is a configuration error naming https', () => {
  assert.throws(() => parseConfig(feed('http://taxii.provider-a.example/taxii2/intel/collections/c/')), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.match(err.message, /cases\.feeds\.0\.url/, `the feed's url is named: ${err.message}`);
    assert.match(err.message, /https/, `the message says to use https: ${err.message}`);
    return true;
  }, 'a token sent in clear across the network is refused');
  assert.throws(() => parseConfig(feed('http://10.0.0.7:8443/taxii2/c/')), ConfigError, 'a private address is still another machine');
});

test('https, a loopback address (a local tunnel or proxy), or no token at all are accepted', () => {
  for (const url of ['https://taxii.provider-a.example/taxii2/intel/collections/c/', 'http://127.0.0.1:9/taxii2/c/', 'http://localhost:8080/taxii2/c/', 'http://[::1]:8080/taxii2/c/']) {
    assert.doesNotThrow(() => parseConfig(feed(url)), `${url} is refused`);
  }
  assert.doesNotThrow(() => parseConfig(feed('http://taxii.provider-a.example/c/', '')), 'a feed without a token sends nothing secret');
});
