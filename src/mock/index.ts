// mock: the built-in mock model server (OpenAI Chat Completions and stored ones, Responses, Models; Anthropic Messages), deterministic, streaming, with failure injection.
// Imports only `tokens`.
/**
 * The one fake Warden ships: a documented upstream that speaks the real wire formats so the
 * gateway can run and be tested with no model provider. See docs/mock-upstream.md.
 *
 *   const mock = await createMockUpstream({ port: 0, latencyMs: 20, tokensPerSecond: 400 });
 *   new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'x' });
 *   new Anthropic({ baseURL: mock.url, apiKey: 'x' });
 *   await mock.close();
 */
export { createMockUpstream, parseFaultDirective, type MockUpstream } from './server.ts';
export { runMockUpstreamCli } from './cli.ts';
