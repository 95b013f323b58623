// The admin commands against a Warden that is not there (not started, or listening on another
// port than the configuration says): the error says why and how to point the command at it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { WardenError } from '../errors/index.ts';
import { HttpAdminClient } from './client.ts';

test('a refused connection names the address, the cause and --url / WARDEN_ADMIN_URL', async () => {
  // A port that was free a moment ago: nothing listens on it now.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  probe.close();
  await once(probe, 'close');

  const client = new HttpAdminClient(`http://127.0.0.1:${port}`, 'test-admin-token-0123456789abcdef');
  await assert.rejects(client.call('GET', '/orgs'), (err: unknown) => {
    assert.ok(err instanceof WardenError, String(err));
    assert.match(err.message, new RegExp(`cannot reach the admin API at http://127\\.0\\.0\\.1:${port}/admin: nothing listens there \\(connection refused\\)`));
    assert.match(err.message, /is warden serve running\?/);
    assert.match(err.message, /--url/);
    assert.match(err.message, /WARDEN_ADMIN_URL/);
    assert.doesNotMatch(err.message, /fetch failed/, 'not the fetch library own words alone');
    return true;
  });
});
