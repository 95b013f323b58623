import { test } from 'node:test';
import { WebSocket } from 'ws';
import { startTestWarden } from '../helpers/warden.ts';
test('dbg', { timeout: 20000 }, async () => {
  const t = await startTestWarden({});
  const a = await t.account('d', 'identity_verified');
  const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/responses`, { headers: { authorization: `Bearer ${a.key}` } });
  ws.on('message', (d) => console.log('MSG', String(d).slice(0, 200)));
  ws.on('close', (c) => console.log('CLOSE', c));
  ws.on('error', (e) => console.log('ERR', e.message));
  await new Promise((r) => ws.on('open', r));
  ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'x', max_output_tokens: 16 }));
  await new Promise((r) => setTimeout(r, 3000));
  ws.close(); await t.close();
});
