// A Message Batch creation body read a slice at a time gives what parsing it whole gives, and is
// refused as parsing it whole would refuse it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { collectBody, readBatchBody } from './batch-body.ts';

const read = (text: string, max = 100) => readBatchBody(Buffer.from(text), max);
const refused = async (text: string, code: string, message: RegExp) => {
  await assert.rejects(read(text), (e: any) => e.code === code && message.test(e.message), text.slice(0, 80));
};

test('the requests read in slices are those parsing the body whole gives', async () => {
  const requests = [
    { custom_id: 'plain', params: { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] } },
    // quotes, backslashes and brackets inside strings; characters of several bytes
    { custom_id: 'tricky', params: { model: 'm', messages: [{ role: 'user', content: 'a "quoted" \\ back\\slash ] } [ { \\" é 日本 😀' }], metadata: { '{': '}', n: [1, -2.5e3, true, false, null] } } },
    { custom_id: 'nested', params: { model: 'm', tools: [{ input_schema: { type: 'object', properties: { a: { type: 'array', items: { type: 'object' } } } } }] } },
  ];
  const body = { other: { kept: [1, '2'] }, requests };
  for (const text of [JSON.stringify(body), JSON.stringify(body, null, 2), ` \n${JSON.stringify(body, null, '\t')}\r\n `]) {
    const items = await read(text);
    assert.deepEqual(items.map((i) => i.custom_id), ['plain', 'tricky', 'nested']);
    assert.deepEqual(items.map((i) => JSON.parse(i.params)), requests.map((r) => r.params));
  }
  // a key spelt with an escape is the same key; given twice, the last one counts (as in JSON.parse)
  assert.deepEqual((await read('{"requ\\u0065sts": [{"custom_id": "x", "params": {}}]}')).map((i) => i.custom_id), ['x']);
  assert.deepEqual((await read('{"requests": [{"custom_id": "a", "params": {}}], "requests": [{"custom_id": "b", "params": {}}]}')).map((i) => i.custom_id), ['b']);
});

test('a body that is not valid JSON is refused as such, wherever the fault is', async () => {
  const ok = '{"custom_id": "a", "params": {}}';
  for (const text of [
    '{"requests": [', `{"requests": [${ok}`, `{"requests": [${ok},]}`, `{"requests": [${ok}] `, `{"requests": [${ok}]} x`,
    `{"requests": [${ok}, {"custom_id": "b", "params": {"model": tru}}]}`, `{"requests": [${ok} ${ok}]}`, '{"requests" [] }', '{requests: []}',
    `{"requests": [${ok}], "other": [1,}`, '{"requests": ["unterminated]}', '[1, 2', '"open', '',
  ]) {
    await refused(text, 'WARDEN_INVALID_JSON', text === '' ? /empty/ : /not valid JSON/);
  }
  // a body that is not an object is still JSON or refused as not JSON: a bare word is no value
  for (const text of ['aaaa', 'tru', '[aaa]', '[1, 2, x]', '"bad \\x escape"', 'a'.repeat(2 * 1024 * 1024)]) {
    await refused(text, 'WARDEN_INVALID_JSON', /not valid JSON/);
  }
  for (const text of ['42', 'true', 'null', '"a string"', '[1, 2]', '9'.repeat(2 * 1024 * 1024)]) await refused(text, 'WARDEN_INVALID_REQUEST', /requests: Field required/);
  // a fault in a later request comes before a problem of an earlier one
  await refused(`{"requests": [{"custom_id": "bad id", "params": {}}, {"custom_id": "b", "params": {"model": tru}}]}`, 'WARDEN_INVALID_JSON', /not valid JSON/);
});

test('the body\'s fields are checked as before, and nesting is bounded as for any body', async () => {
  await refused('{}', 'WARDEN_INVALID_REQUEST', /requests: Field required/);
  await refused('[1, 2]', 'WARDEN_INVALID_REQUEST', /requests: Field required/);
  await refused('{"requests": {"a": 1}}', 'WARDEN_INVALID_REQUEST', /requests: Field required/);
  await refused('{"requests": []}', 'WARDEN_INVALID_REQUEST', /at least 1 item/);
  await assert.rejects(read(`{"requests": [${Array.from({ length: 3 }, (_, i) => `{"custom_id": "r${i}", "params": {}}`).join(',')}]}`, 2), /at most 2 requests here; send 3/);
  await refused('{"requests": [1]}', 'WARDEN_INVALID_REQUEST', /requests\.0: Input should be an object/);
  await refused('{"requests": [{"custom_id": "a", "params": {}}, {"custom_id": "a", "params": {}}]}', 'WARDEN_INVALID_REQUEST', /requests\.1\.custom_id: 'a' is used by another/);
  await refused('{"requests": [{"custom_id": "a"}]}', 'WARDEN_INVALID_REQUEST', /requests\.0\.params: Field required/);
  await refused('{"requests": [{"custom_id": "a", "params": {"stream": true}}]}', 'WARDEN_INVALID_REQUEST', /do not stream/);
  // 128 levels in all: the body, `requests`, the request, its params and 124 more
  const nest = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
  assert.equal((await read(`{"requests": [{"custom_id": "a", "params": {"x": ${nest(124)}}}]}`)).length, 1);
  await refused(`{"requests": [{"custom_id": "a", "params": {"x": ${nest(125)}}}]}`, 'WARDEN_INVALID_REQUEST', /more than 128 levels/);
  await refused(`{"other": ${nest(128)}, "requests": []}`, 'WARDEN_INVALID_REQUEST', /more than 128 levels/);
});

test('the bytes are kept as they come, no more than the limit and as many as announced', async () => {
  const pieces = (text: string) => Readable.from([Buffer.from(text.slice(0, 3)), Buffer.from(text.slice(3))]);
  assert.equal((await collectBody(pieces('{"a": 1}'), '8', 100)).toString(), '{"a": 1}');
  assert.equal((await collectBody(pieces('{"a": 1}'), undefined, 100)).toString(), '{"a": 1}', 'without a Content-Length');
  await assert.rejects(collectBody(pieces('{"a": 1}'), '800', 100), (e: any) => e.code === 'WARDEN_BODY_TOO_LARGE', 'announced larger than the limit');
  await assert.rejects(collectBody(pieces('{"a": 1}'), undefined, 5), (e: any) => e.code === 'WARDEN_BODY_TOO_LARGE');
  await assert.rejects(collectBody(pieces('{"a": 1}'), '9', 100), (e: any) => e.code === 'WARDEN_INVALID_JSON', 'shorter than announced');
  await assert.rejects(collectBody(pieces('{"a": 1}'), '7', 100), (e: any) => e.code === 'WARDEN_INVALID_JSON', 'longer than announced');
});
