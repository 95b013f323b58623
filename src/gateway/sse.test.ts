import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SseParser, dropUsageNull } from './sse.ts';
import { AnswerMeter } from './usage.ts';

const STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think \\"hard\\" ünïcødé 🤔"}}\n\n',
  ': a comment line\n\n',
  'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello, wörld"}}\r\n\r\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12}}\n\n',
  'data: line one\ndata: line two\n\n',
].join('');

test('events survive any split of the byte stream, including inside multi-byte characters', () => {
  const bytes = Buffer.from(STREAM);
  const whole = new SseParser().push(bytes);
  assert.equal(whole.length, 5, 'the comment-only block is not an event');
  assert.equal(whole[4].data, 'line one\nline two');
  assert.equal(Buffer.concat(whole.map((e) => e.raw)).toString(), STREAM.replace(': a comment line\n\n', ''));
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), (cuts) => {
    const points = [...new Set(cuts)].sort((a, b) => a - b);
    const p = new SseParser();
    const got = [];
    let prev = 0;
    for (const c of [...points, bytes.length]) { got.push(...p.push(bytes.subarray(prev, c))); prev = c; }
    got.push(...p.flush());
    assert.deepEqual(got.map((e) => [e.event, e.data]), whole.map((e) => [e.event, e.data]));
  }));
});

test('the fast delta path measures exactly what a full parse measures', () => {
  const events = new SseParser().push(Buffer.from(STREAM)).slice(0, 4);
  const fast = new AnswerMeter('anthropic.messages');
  const full = new AnswerMeter('anthropic.messages');
  for (const e of events) {
    if (!fast.observeDeltaFast(e.data, e.event)) fast.observeEvent(JSON.parse(e.data), e.event);
    full.observeEvent(JSON.parse(e.data), e.event);
  }
  assert.deepEqual(fast.summary(''), full.summary(''));
  assert.equal(fast.summary('').reasoning_chars, 'Let me think "hard" ünïcødé 🤔'.length);

  const chat = ['{"id":"c","choices":[{"index":0,"delta":{"content":"a \\"quoted\\" word\\n"},"finish_reason":null}]}',
    '{"id":"c","choices":[{"index":0,"delta":{"content":"tail"},"finish_reason":"stop"}]}',
    '{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}'];
  const f2 = new AnswerMeter('openai.chat');
  const p2 = new AnswerMeter('openai.chat');
  for (const d of chat) {
    if (!f2.observeDeltaFast(d)) f2.observeEvent(JSON.parse(d));
    p2.observeEvent(JSON.parse(d));
  }
  assert.deepEqual(f2.summary(''), p2.summary(''));
  assert.equal(f2.summary('').finish_reason, 'stop');
});

test('dropUsageNull takes out the top-level "usage":null of each chunk, and nothing else', () => {
  const chunk = (tail: string, end = '\n\n') => `data: {"id":"c","choices":[{"index":0,"delta":{"content":"a,\\"usage\\":null}"}}]${tail}}${end}`;
  const bytes = (s: string) => Buffer.from(s);
  const drop = (s: string) => dropUsageNull(bytes(s)).toString();
  assert.equal(drop(chunk(',"usage":null')), chunk(''));
  assert.equal(drop(chunk(',"usage":null', '\r\n\r\n')), chunk('', '\r\n\r\n'));
  assert.equal(drop(chunk(',"usage":null,"obfuscation":"aZ09"')), chunk(',"obfuscation":"aZ09"'));
  // Several events in one write; [DONE] and usage objects untouched.
  const many = chunk(',"usage":null') + chunk(',"usage":null') + 'data: {"choices":[],"usage":{"total_tokens":3}}\n\n' + 'data: [DONE]\n\n';
  assert.equal(drop(many), chunk('') + chunk('') + 'data: {"choices":[],"usage":{"total_tokens":3}}\n\n' + 'data: [DONE]\n\n');
  // Not the top level (a nested object, or more keys after it): left as it is, the same buffer.
  for (const s of [chunk(',"x":{"y":1,"usage":null}'), chunk(',"usage":null,"system_fingerprint":"fp"'), 'data: {"a":1,"usage":null}\ndata: x\n\n']) {
    const b = bytes(s);
    assert.equal(dropUsageNull(b), b);
  }
  // Fewer bytes after the key than the obfuscation prefix: still no match, and no throw.
  for (const s of [
    'data: {"choices":[],"usage":null,"x":1}\n\n',
    'data: {"choices":[],"usage":null,',
    'data: {"choices":[],"usage":null,"obfuscation":',
    'data: {"choices":[],"usage":null,"obfuscation":"',
    'data: {"choices":[],"usage":null,"obfuscation":"ab',
    'data: {"choices":[],"usage":null,"obfuscation":"ab"}',
    'data: {"choices":[],"usage":null}',
    'data: {"choices":[],"usage":null}\n',
    'data: {"choices":[],"usage":null',
  ]) {
    const b = bytes(s);
    assert.equal(dropUsageNull(b), b, s);
  }
  assert.equal(drop('data: {"choices":[],"usage":null,"obfuscation":"ab"}\n\n'), 'data: {"choices":[],"obfuscation":"ab"}\n\n');
});
