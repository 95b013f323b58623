/** The framework tests' Warden: the mock model behind it, and a key of an enterprise account. */
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { startTestWarden, type TestWarden } from './warden.ts';

export async function startFrameworkWarden(): Promise<{ mock: MockUpstream; t: TestWarden; key: string; close(): Promise<void> }> {
  const mock = await createMockUpstream({ host: '127.0.0.1', port: 0 });
  const t = await startTestWarden({
    upstreams: [{ name: 'provider', base_url: mock.url, api_key: null, models: ['*'] }],
    limits: { tiers: { unverified: { key: { tpd: 1000 } }, identity_verified: { key: { rpm: 12, burst: 1 } } } },
  });
  // enterprise: the default policy shows this tier the reasoning whole and marks no answer, so what
  // the app gets is the upstream's own.
  const key = (await t.account('app', 'enterprise')).key;
  return { mock, t, key, close: async () => { await t.close(); await mock.close(); } };
}
