// The reservation's estimates: everything the model reads counts before the request is sent (text,
// token ids, images, PDFs by their pages), and an output budget the policy wrote for a client that
// named none reserves the configured default, not the ceiling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { limitsConfigSchema } from './config.ts';
import { cutAnswerUsage, estimateInput, estimateInputTokens, outputTokenReserve, pdfPages, wavByteRate } from './estimate.ts';
import { deflatedSpaces, makePdf, pdfWithContent } from '../../test/helpers/pdf.ts';
import { frame, tagFrame } from '../../test/helpers/mp3.ts';

const est = limitsConfigSchema.parse({}).estimate;
const b64 = (b: Buffer) => b.toString('base64');

test('defaults: 4 characters a token, 1,600 tokens an image (85 at low detail), 3,000 a PDF page, 10 a second of audio, 100 a second a cut stream showed nothing', () => {
  assert.deepEqual(est, { chars_per_token: 4, default_max_tokens: 4096, image_tokens: 1600, low_detail_image_tokens: 85, pdf_page_tokens: 3000, audio_tokens_per_second: 10, unseen_tokens_per_second: 100, models: [] });
});

test('token ids count one token each: embeddings input and legacy completions prompt, flat or batched', () => {
  const batch = Array.from({ length: 100 }, (_, i) => Array.from({ length: 1000 }, (_, j) => (i * 7 + j) % 50_000 + 100));
  assert.equal(estimateInputTokens({ model: 'e', input: batch }, est), 100_000);
  assert.equal(estimateInputTokens({ model: 'e', input: [1, 2, 3, 4, 5] }, est), 5);
  assert.equal(estimateInputTokens({ model: 'c', prompt: [[1, 2], [3, 4, 5]] }, est), 5);
  // the same as text is counted as text
  assert.equal(estimateInputTokens({ model: 'e', input: ['word '.repeat(1000)] }, est), 1250);
});

test('every image part counts image_tokens, wherever it is: Anthropic, Chat, Responses, tool results, screenshots', () => {
  const png = b64(Buffer.from('89504e470d0a1a0a', 'hex'));
  const anthropic = {
    messages: [{ role: 'user', content: [
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
      { type: 'tool_result', tool_use_id: 'tu_1', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } }] },
      { type: 'text', text: 'abcd' },
    ] }],
  };
  assert.equal(estimateInputTokens(anthropic, est), 3 * 1600 + 1);
  const chat = { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${png}`, detail: 'high' } }] }] };
  assert.equal(estimateInputTokens(chat, est), 1600);
  const responses = { input: [
    { role: 'user', content: [{ type: 'input_image', image_url: 'https://example.com/a.png' }, { type: 'input_image', file_id: 'file_1' }] },
    { type: 'computer_call_output', call_id: 'c1', output: { type: 'computer_screenshot', image_url: `data:image/png;base64,${png}` } },
    { type: 'image_generation_call', id: 'ig_1', status: 'completed', result: png.repeat(1000) },
  ] };
  assert.equal(estimateInputTokens(responses, est), 4 * 1600 + 3 /* 'completed' */);
  assert.equal(estimateInputTokens(chat, { ...est, image_tokens: 85 }), 85, 'configurable');
});

test('an image OpenAI is asked to read at low detail counts low_detail_image_tokens (85), in Chat and in Responses', () => {
  const url = 'https://example.com/a.png';
  const chat = { messages: [{ role: 'user', content: Array.from({ length: 10 }, () => ({ type: 'image_url', image_url: { url, detail: 'low' } })) }] };
  assert.equal(estimateInputTokens(chat, est), 850);
  const responses = { input: [{ role: 'user', content: [{ type: 'input_image', image_url: url, detail: 'low' }, { type: 'input_image', image_url: url, detail: 'auto' }] }] };
  assert.equal(estimateInputTokens(responses, est), 85 + 1600 + 2 /* 'low', 'auto' */);
  // images and PDF pages are guesses, text and token ids are known
  assert.deepEqual(estimateInput({ messages: [{ role: 'user', content: [{ type: 'text', text: 'abcd'.repeat(10) }, ...chat.messages[0].content] }] }, est), { known: 10, guessed: 850 });
  assert.deepEqual(estimateInput({ input: [1, 2, 3] }, est), { known: 3, guessed: 0 });
});

/** A WAV file: a RIFF header, `chunks` before the `fmt ` chunk that gives `byteRate`, and `dataBytes` of samples. */
function wav(byteRate: number, dataBytes: number, chunks: Buffer[] = []): Buffer {
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'latin1'); fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8); fmt.writeUInt16LE(1, 10); fmt.writeUInt32LE(byteRate / 2, 12); fmt.writeUInt32LE(byteRate, 16); fmt.writeUInt16LE(2, 20); fmt.writeUInt16LE(16, 22);
  const data = Buffer.alloc(8 + dataBytes);
  data.write('data', 0, 'latin1'); data.writeUInt32LE(dataBytes, 4);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks, fmt, data]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1'); riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}
const chatAudio = (data: string, format: string) => ({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data, format } }] }] });
const responsesAudio = (data: string, format: string) => ({ input: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data, format } }] }] });

test('an MP3 in input_audio counts as long as its frames play, not its bytes at 32 kbit/s', () => {
  // 2,300 frames of 1,152 samples at 44.1 kHz, 128 kbit/s: 60.08 s (601 tokens); its ~960 KB at
  // 32 kbit/s would have been 240 s (2,400 tokens).
  const frames = Array.from({ length: 2300 }, (_, i) => frame(128, { padding: i % 3 === 0 }));
  const seconds = (2300 * 1152) / 44_100;
  const cbr = Buffer.concat(frames);
  assert.equal(estimateInputTokens(chatAudio(b64(cbr), 'mp3'), est), Math.ceil(seconds * 10));
  assert.equal(estimateInputTokens(responsesAudio(b64(cbr), 'mp3'), est), Math.ceil(seconds * 10));
  assert.ok(cbr.length / 4000 > 3.5 * seconds, 'its bytes at 32 kbit/s were four times as long');
  // VBR, with the encoder's Xing header; an ID3v2 tag before it
  const rates = [32, 320, 64, 192, 128, 256, 40, 96];
  const vbr = Array.from({ length: 1000 }, (_, i) => frame(rates[i % rates.length]));
  const tag = Buffer.alloc(2000); tag.write('ID3', 0, 'latin1'); tag[3] = 4; tag[8] = (1990 >> 7) & 0x7f; tag[9] = 1990 & 0x7f;
  assert.equal(estimateInputTokens(chatAudio(b64(Buffer.concat([tag, tagFrame('Xing', 1000), ...vbr])), 'mp3'), est), Math.ceil(((1000 * 1152) / 44_100) * 10));
  // MPEG-2 at 24 kHz, mono, 576 samples a frame, at 8 kbit/s: lower than 32 kbit/s, so longer than its bytes said
  const low = Buffer.concat(Array.from({ length: 500 }, () => frame(8, { mpeg2: true, mono: true })));
  assert.equal(estimateInputTokens(chatAudio(b64(low), 'mp3'), est), Math.ceil(((500 * 576) / 24_000) * 10));
  // base64 broken by line breaks is not read frame by frame: its bytes at 32 kbit/s, as before
  const wrapped = b64(cbr).replace(/.{76}/g, '$&\n');
  assert.equal(estimateInputTokens(chatAudio(wrapped, 'mp3'), est), Math.ceil((Math.floor((wrapped.length * 3) / 4) / 4000) * 10));
});

test('audio counts audio_tokens_per_second a second: a WAV file by its header\'s byte rate, anything else at 32 kbit/s', () => {
  // 30 s of 16 kHz 16-bit mono (32,000 bytes a second), and its 44 header bytes: 301 tokens
  const speech = b64(wav(32_000, 30 * 32_000));
  assert.equal(wavByteRate(Buffer.from(speech, 'base64')), 32_000);
  assert.deepEqual(estimateInput(chatAudio(speech, 'wav'), est), { known: 0, guessed: 301 }, 'a guess, as images are; the format is not text');
  assert.deepEqual(estimateInput(responsesAudio(speech, 'wav'), est), { known: 0, guessed: 301 });
  // a chunk before `fmt ` (LIST metadata, odd-sized and padded) does not hide it
  const list = Buffer.concat([Buffer.from('LIST', 'latin1'), Buffer.from([5, 0, 0, 0]), Buffer.from('INFOx\0', 'latin1')]);
  assert.equal(wavByteRate(wav(48_000, 10, [list])), 48_000);
  // Data that is neither WAV nor MP3 (no frame headers): its bytes at 32 kbit/s, 4,000 bytes a second; 40,000 bytes are 10 s
  const mp3 = b64(Buffer.alloc(40_000, 0xff));
  assert.equal(estimateInputTokens(chatAudio(mp3, 'mp3'), est), 100);
  assert.equal(estimateInputTokens(responsesAudio(mp3, 'mp3'), est), 100);
  // a WAV header claiming a byte rate under 32 kbit/s is not believed: 40,044 bytes count as about 10 s, not hours
  assert.equal(estimateInputTokens(chatAudio(b64(wav(2, 40_000)), 'wav'), est), 101);
  // the header's byte-rate field is not read (decoders ignore it): a forged one changes nothing
  const forged = wav(32_000, 30 * 32_000);
  forged.writeUInt32LE(0xffffffff, 28);
  assert.equal(estimateInputTokens(chatAudio(b64(forged), 'wav'), est), 301, 'counted by sample rate x block size');
  // nor does a forged sample rate make it count as a moment: at most 1.5 MB a second is believed
  const fast = wav(32_000, 30 * 32_000);
  fast.writeUInt32LE(0xffffffff, 24);
  assert.equal(estimateInputTokens(chatAudio(b64(fast), 'wav'), est), Math.ceil((fast.length / 1_536_000) * 10));
  // no data: nothing to count; configurable rate
  assert.equal(estimateInputTokens(chatAudio('', 'wav'), est), 0);
  assert.equal(estimateInputTokens(chatAudio(speech, 'wav'), { ...est, audio_tokens_per_second: 25 }), 751);
});

test('text is counted however deep it sits in the body: a tool schema\'s description five properties down', () => {
  let schema: Record<string, unknown> = { type: 'string', description: 'x'.repeat(1_000_000) };
  for (let i = 0; i < 5; i++) schema = { type: 'object', properties: { inner: schema } };
  const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', parameters: schema } }] };
  assert.ok(estimateInputTokens(body, est) >= 250_000, String(estimateInputTokens(body, est)));
});

test('a PDF counts pdf_page_tokens a page, in each API\'s document part; text documents count as text', async () => {
  const pdf = await makePdf(['one', 'two', 'three']);
  assert.equal(pdfPages(pdf), 3);
  const anthropic = { messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: b64(pdf) } }] }] };
  assert.equal(estimateInputTokens(anthropic, est), 9000);
  const chat = { messages: [{ role: 'user', content: [{ type: 'file', file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${b64(pdf)}` } }] }] };
  assert.equal(estimateInputTokens(chat, est), 9000);
  const responses = { input: [{ role: 'user', content: [{ type: 'input_file', file_data: b64(pdf) }] }] };
  assert.equal(estimateInputTokens(responses, est), 9000);
  // by URL or file id: unseen, one page
  assert.equal(estimateInputTokens({ input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://example.com/x.pdf' }] }] }, est), 3000);
  assert.equal(estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: 'file_1' } }] }] }, est), 3000);
  // text documents: their characters
  const text = 'x'.repeat(4000);
  assert.equal(estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: text } }] }] }, est), 1000);
  assert.equal(estimateInputTokens({ input: [{ role: 'user', content: [{ type: 'input_file', file_data: `data:text/plain;base64,${b64(Buffer.from(text))}` }] }] }, est), 1000);
});

/** A PDF whose page objects are in a Flate-compressed object stream (pdfTeX and others since PDF 1.5). */
function objectStreamPdf(pages: number): Buffer {
  const objects = ['<< /Type /Pages /Kids [] /Count ' + pages + ' >>'];
  for (let i = 0; i < pages; i++) objects.push(i % 2 ? '<< /Type/Page /Parent 2 0 R >>' : '<< /Type /Page\n/Parent 2 0 R >>');
  const packed = deflateSync(Buffer.from(objects.join('\n')));
  return Buffer.concat([
    Buffer.from(`%PDF-1.5\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n5 0 obj\n<< /Type /ObjStm /N ${pages + 1} /First 0 /Filter /FlateDecode /Length ${packed.length} >>\nstream\n`, 'latin1'),
    packed,
    Buffer.from('\nendstream\nendobj\n%%EOF\n', 'latin1'),
  ]);
}

test('PDF pages in compressed object streams are counted; a PDF whose pages cannot be found counts by size', () => {
  assert.equal(pdfPages(objectStreamPdf(7)), 7);
  const opaque = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(120 * 1024, 0x41)]);
  assert.equal(pdfPages(opaque), 3, 'one page per 50 KB');
  assert.equal(pdfPages(Buffer.from('%PDF-1.7\n')), 1);
});

test('a PDF counts at least one page per 50 KB, however few page objects it names: a dense page is not a light one', () => {
  // one page whose content stream is 400 KB of incompressible text
  let text = '';
  for (let i = 0; text.length < 400_000; i++) text += `(${((i * 2654435761) >>> 0).toString(36)}) Tj `;
  const dense = pdfWithContent(deflateSync(Buffer.from(text)));
  assert.ok(dense.length > 150 * 1024, String(dense.length));
  assert.equal(pdfPages(dense), Math.ceil(dense.length / (50 * 1024)));
});

test('thousands of object streams, broken or not, are read in bounded time, and the PDF still counts by its size', () => {
  // under the 4 MiB body limit once in base64: about 70,000 object streams that fail to inflate
  const broken = '/Type/ObjStm stream\nx\nendstream ';
  const pdf = Buffer.from('%PDF-1.5\n' + broken.repeat(Math.floor(3_000_000 / broken.length)), 'latin1');
  const document = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: b64(pdf) } };
  assert.ok(JSON.stringify(document).length < 4 * 1024 * 1024);
  let started = performance.now();
  assert.equal(estimateInputTokens({ messages: [{ role: 'user', content: [document] }] }, est), Math.ceil(pdf.length / (50 * 1024)) * 3000);
  let ms = performance.now() - started;
  assert.ok(ms < 1000, `${Math.round(ms)} ms for one request's estimate`);

  // small object streams that do inflate, each naming a page: no more than 32 are inflated
  const one = deflateSync(Buffer.from('<< /Type /Page /Parent 2 0 R >>'));
  const parts: Buffer[] = [Buffer.from('%PDF-1.5\n')];
  for (let i = 0; parts.length < 60_000; i++) parts.push(Buffer.from(`${i + 3} 0 obj\n<< /Type /ObjStm /N 1 /First 0 >>\nstream\n`), one, Buffer.from('\nendstream\nendobj\n'));
  const many = Buffer.concat(parts);
  started = performance.now();
  assert.equal(pdfPages(many), Math.max(32, Math.ceil(many.length / (50 * 1024))));
  ms = performance.now() - started;
  assert.ok(ms < 1000, `${Math.round(ms)} ms`);
});

test('object streams that inflate without end cost a bounded amount of work, however many PDFs a request holds', async () => {
  const bomb = await deflatedSpaces(64); // 64 MB of spaces, about 64 KB deflated
  const parts: Buffer[] = [Buffer.from('%PDF-1.5\n')];
  for (let i = 0; i < 8; i++) parts.push(Buffer.from(`${i + 1} 0 obj\n<< /Type /ObjStm /Filter /FlateDecode >>\nstream\n`), bomb, Buffer.from('\nendstream\nendobj\n'));
  const pdf = Buffer.concat(parts);
  const byUnseenPages = Math.ceil(pdf.length / (50 * 1024));
  const started = Date.now();
  assert.equal(pdfPages(pdf), byUnseenPages);
  const document = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: b64(pdf) } };
  assert.equal(estimateInputTokens({ messages: [{ role: 'user', content: Array(5).fill(document) }] }, est), 5 * byUnseenPages * 3000);
  assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms: 40 x 64 MB were not inflated`);
});

test('output: the client\'s cap times its choices; a ceiling the policy set for a client that sent none reserves the default', () => {
  assert.equal(outputTokenReserve({ max_tokens: 100, n: 3 }, 'openai.chat', 4096), 300);
  assert.equal(outputTokenReserve({}, 'openai.chat', 4096), 4096);
  // the policy wrote its ceiling in (`max_tokens:set`): the default is reserved, at most the ceiling
  assert.equal(outputTokenReserve({ max_completion_tokens: 65_536 }, 'openai.chat', 4096, ['max_tokens:set']), 4096);
  assert.equal(outputTokenReserve({ max_output_tokens: 65_536 }, 'openai.responses', 4096, ['max_tokens:set']), 4096);
  assert.equal(outputTokenReserve({ max_completion_tokens: 2048 }, 'openai.chat', 4096, ['max_tokens:set']), 2048);
  // the client's own cap, lowered by the policy, is the client's
  assert.equal(outputTokenReserve({ max_completion_tokens: 65_536 }, 'openai.chat', 4096, ['max_tokens:capped']), 65_536);
});

test('a client that leaves early: charged what the upstream could have produced in the time it worked, within the reservation', () => {
  const reserved = { inputTokens: 40, outputTokens: 32_000 };
  const shown = (sentAt: number | null, endedAt: number) => ({ sentAt, reasoningShown: true, endedAt });
  const quiet = (sentAt: number | null, endedAt: number) => ({ sentAt, reasoningShown: false, endedAt });
  // Summarised thinking: 30 s of thinking at 400 a second behind a 400-token summary, a 300-token
  // answer, a hang-up at 31 s: the whole 31 s is work, not only the time before the summary began.
  assert.deepEqual(cutAnswerUsage({ inputTokens: 50, outputTokens: 700 }, reserved, shown(0, 31_000), 400), { inputTokens: 50, outputTokens: 12_400 },
    'summarised thinking is charged for the whole time the upstream worked');
  // Hidden reasoning (nothing shown for 10 s) and a hang-up on the first visible token: the
  // model's own rate, not a floor of 100 a second.
  assert.deepEqual(cutAnswerUsage({ inputTokens: 50, outputTokens: 1 }, reserved, quiet(0, 10_050), 400), { inputTokens: 50, outputTokens: 4020 },
    'the hidden reasoning of a fast model is charged at its rate');
  // The charge depends only on the time: how the text was bunched in the stream does not matter.
  for (const counted of [1, 20, 200]) {
    assert.equal(cutAnswerUsage({ inputTokens: 50, outputTokens: counted }, reserved, shown(0, 10_000), 400).outputTokens, 4000, `the same charge with ${counted} tokens shown`);
  }
  // A model that shows no reasoning and whose text kept pace: what was counted, not its prefill.
  assert.deepEqual(cutAnswerUsage({ inputTokens: 5, outputTokens: 211 }, reserved, quiet(0, 2140), 100), { inputTokens: 5, outputTokens: 211 },
    'a non-reasoning answer read at its pace is charged the text counted');
  // Never written upstream (it waited in Warden's pool): what was counted.
  assert.deepEqual(cutAnswerUsage({ inputTokens: 1, outputTokens: 0 }, reserved, quiet(null, 5000), 100), { inputTokens: 1, outputTokens: 0 },
    'a request the upstream never received is charged no output');
  // Nothing counted yet: the reserved input.
  assert.equal(cutAnswerUsage({ inputTokens: 0, outputTokens: 0 }, reserved, quiet(0, 3000), 100).inputTokens, 40, 'the input reserved when none was counted');
  // Never more than reserved, never less than counted, never more than the rate gives.
  assert.equal(cutAnswerUsage({ inputTokens: 12, outputTokens: 10 }, { inputTokens: 40, outputTokens: 4000 }, quiet(0, 600_000), 100).outputTokens, 4000, 'capped at the output reserved');
  assert.equal(cutAnswerUsage({ inputTokens: 12, outputTokens: 5000 }, reserved, shown(0, 20_000), 100).outputTokens, 5000, 'what was counted is charged in full');
  for (const ms of [100, 1000, 7000, 60_000]) {
    const charged = cutAnswerUsage({ inputTokens: 12, outputTokens: 0 }, reserved, quiet(0, ms), 150).outputTokens;
    assert.ok(charged <= Math.ceil(150 * ms / 1000), `an honest cancel after ${ms} ms is charged at most what the upstream could have made (${charged})`);
  }
});
