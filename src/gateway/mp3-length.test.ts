// An MP3's length from its frame headers: CBR and VBR streams built frame by frame (their
// lengths known from the frames put in), with and without the encoder's Xing/Info/VBRI header, an
// ID3v2 tag before them and an ID3v1 tag after, fed whole or in small pieces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mp3Length, mp3Seconds } from './mp3-length.ts';
import { wav } from '../mock/openai-speech.ts';
import { frame, tagFrame } from '../../test/helpers/mp3.ts';

/** An ID3v2 tag of `size` bytes of frames (a cover picture: its bytes include 0xFF 0xFB pairs that look like frame syncs). */
function id3v2(size: number): Buffer {
  const t = Buffer.alloc(10 + size, 0);
  t.write('ID3', 0, 'latin1');
  t[3] = 4;
  t[6] = (size >> 21) & 0x7f; t[7] = (size >> 14) & 0x7f; t[8] = (size >> 7) & 0x7f; t[9] = size & 0x7f;
  for (let i = 10; i + 4 < t.length; i += 97) frame(128).copy(t, i, 0, 4);
  return t;
}
const id3v1 = () => { const t = Buffer.alloc(128, 0x20); t.write('TAG', 0, 'latin1'); return t; };

/** Fed in pieces of `size` bytes. */
function inPieces(file: Buffer, size: number): number | null {
  const m = new Mp3Length();
  for (let i = 0; i < file.length; i += size) m.push(file.subarray(i, i + size));
  return m.seconds();
}

const near = (actual: number | null, expected: number, what: string) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 0.002, `${what}: ${actual} s, expected ${expected.toFixed(3)} s`);

test('a CBR stream (no encoder header) is as long as its frames, an ID3v2 tag before it and an ID3v1 after it passed over', () => {
  // 230 frames of 1,152 samples at 44.1 kHz: 6.008 s; 128 kbit/s (417 or 418 bytes a frame).
  const frames = Array.from({ length: 230 }, (_, i) => frame(128, { padding: i % 3 === 0 }));
  const file = Buffer.concat([id3v2(30_000), ...frames, id3v1()]);
  const expected = (230 * 1152) / 44_100;
  near(mp3Seconds(file), expected, 'whole');
  for (const size of [1, 7, 4096, 65_536]) near(inPieces(file, size), expected, `in pieces of ${size} bytes`);
  // The same bytes at 32 kbit/s would have made it 24 s: the old estimate.
  assert.ok(file.length / 4000 > 3.5 * expected, 'four times shorter than its bytes at 32 kbit/s');
});

test('a VBR stream is as long as its frames, whatever their bitrates; its Xing or VBRI count is taken when the bytes can hold it', () => {
  const rates = [32, 320, 64, 192, 128, 256, 40, 96];
  const frames = Array.from({ length: 400 }, (_, i) => frame(rates[i % rates.length]));
  const expected = (400 * 1152) / 44_100;
  near(mp3Seconds(Buffer.concat(frames)), expected, 'no header: the frames counted');
  // The encoder's header frame holds no audio: not counted.
  near(mp3Seconds(Buffer.concat([tagFrame('Xing', 400), ...frames])), expected, 'Xing');
  near(mp3Seconds(Buffer.concat([tagFrame('Info', 400), ...frames])), expected, 'Info');
  near(mp3Seconds(Buffer.concat([tagFrame('VBRI', 400), ...frames])), expected, 'VBRI');
  // The declared count is the encoder's (the frames of a stream cut short are fewer).
  near(mp3Seconds(Buffer.concat([tagFrame('Xing', 410), ...frames])), (410 * 1152) / 44_100, 'Xing over the frames present');
  // A count the bytes cannot hold (hours in a few kilobytes, or nothing) is not believed.
  near(mp3Seconds(Buffer.concat([tagFrame('Xing', 5_000_000), ...frames])), expected, 'a forged long count');
  near(mp3Seconds(Buffer.concat([tagFrame('Xing', 1), ...frames])), expected, 'a forged short count');
});

test('MPEG-2 layer III (576 samples a frame), mono, at 24 kHz', () => {
  const frames = Array.from({ length: 125 }, (_, i) => frame(i % 2 ? 8 : 64, { mpeg2: true, mono: true }));
  near(mp3Seconds(Buffer.concat(frames)), (125 * 576) / 24_000, 'MPEG-2');
});

test('other audio and data are not taken for MP3', () => {
  assert.equal(mp3Seconds(wav(Buffer.alloc(48_000))), null, 'WAV');
  assert.equal(mp3Seconds(Buffer.alloc(0)), null, 'nothing');
  assert.equal(mp3Seconds(Buffer.from('not audio at all')), null, 'text');
  // One frame header in noise, not followed by two more of its stream.
  const noise = Buffer.alloc(50_000);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
  frame(128).copy(noise, 1000, 0, 4);
  assert.equal(mp3Seconds(noise), null, 'noise');
  // MP3 frames after the first 16 KiB of junk: not an MP3 file.
  assert.equal(mp3Seconds(Buffer.concat([Buffer.alloc(20_000, 0x11), ...Array.from({ length: 50 }, () => frame(128))])), null, 'frames late');
});

test('junk between frames is passed over; what follows a long run of it is not counted', () => {
  const a = Array.from({ length: 100 }, () => frame(128));
  near(mp3Seconds(Buffer.concat([...a.slice(0, 50), Buffer.alloc(333, 0x11), ...a.slice(50)])), (100 * 1152) / 44_100, 'a little junk');
  const cut = mp3Seconds(Buffer.concat([...a.slice(0, 50), Buffer.alloc(100_000, 0x11), ...a.slice(50)]));
  near(cut, (50 * 1152) / 44_100, 'the frames before 100 KB of junk');
});
