// An outage line names why in an operator's words: the Redis client's own wording for "not
// connected" (a setting of the client library) tells an operator nothing about Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { redisFailure } from './outage-log.ts';
import { freePort } from '../../test/helpers/redis-server.ts';

test('a command refused while the Redis client has no connection is said as such, not as the client\'s retry setting', async () => {
  const port = await freePort();
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    const err = await client.get('x').then(() => null, (e: unknown) => e);
    assert.ok(err, 'nothing listens there: the command fails');
    const said = redisFailure(err);
    assert.doesNotMatch(said, /maxRetriesPerRequest|max retries per request/, said);
    assert.match(said, /no connection to Redis/, said);
  } finally {
    client.disconnect();
  }
  assert.equal(redisFailure(new Error('Command timed out (Redis did not answer within 100 ms)')), 'Command timed out (Redis did not answer within 100 ms)', 'other reasons are kept as they are');
});
