/**
 * MPEG audio frames built by hand (their lengths known from the frames put in), for the tests of
 * what reads an MP3's length: uploads, and Chat's and Responses' `input_audio`.
 */
import assert from 'node:assert/strict';

const V1_L3 = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const V2_L3 = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/** One MPEG audio layer III frame (MPEG-1 at 44.1 kHz, or MPEG-2 at 24 kHz), its body `fill`. */
export function frame(kbps: number, opts: { mpeg2?: boolean; mono?: boolean; padding?: boolean; fill?: number } = {}): Buffer {
  const { mpeg2 = false, mono = false, padding = false, fill = 0x55 } = opts;
  const rate = mpeg2 ? 24_000 : 44_100;
  const index = (mpeg2 ? V2_L3 : V1_L3).indexOf(kbps) + 1;
  assert.ok(index > 0, `a layer III bitrate: ${kbps}`);
  const bytes = Math.floor(((mpeg2 ? 576 : 1152) / 8) * kbps * 1000 / rate) + (padding ? 1 : 0);
  const f = Buffer.alloc(bytes, fill);
  f[0] = 0xff;
  f[1] = mpeg2 ? 0xf3 : 0xfb; // sync, version (MPEG-1: 11, MPEG-2: 10), layer III, no CRC
  f[2] = (index << 4) | ((mpeg2 ? 1 : 0) << 2) | ((padding ? 1 : 0) << 1); // 44.1 kHz (MPEG-1 index 0), 24 kHz (MPEG-2 index 1)
  f[3] = mono ? 0xc0 : 0x00;
  return f;
}

/** The encoder's first frame: `tag` ('Xing', 'Info' or 'VBRI') declaring `frames` frames. */
export function tagFrame(tag: 'Xing' | 'Info' | 'VBRI', frames: number): Buffer {
  const f = frame(128, { fill: 0 });
  if (tag === 'VBRI') {
    f.write('VBRI', 36, 'latin1');
    f.writeUInt32BE(frames, 36 + 14);
  } else {
    f.write(tag, 4 + 32, 'latin1');
    f.writeUInt32BE(0x0f, 4 + 32 + 4);
    f.writeUInt32BE(frames, 4 + 32 + 8);
  }
  return f;
}

