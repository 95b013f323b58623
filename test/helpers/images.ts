/**
 * Images for tests that no committed fixture covers. A GIF writer (black and white), so the reader
 * meets the fourth format clients may send; its LZW stream is the "uncompressed" kind (a clear
 * code every two pixels keeps every code three bits wide), valid for every decoder.
 */
export function blackAndWhiteGif(width: number, height: number, grey: Uint8Array): Buffer {
  const head = Buffer.alloc(13 + 12 + 10);
  head.write('GIF89a', 0, 'latin1');
  head.writeUInt16LE(width, 6);
  head.writeUInt16LE(height, 8);
  head[10] = 0x80 | 0x01; // a global colour table of 4 entries (2 bits)
  // palette: 0 black, 1 white, 2 and 3 unused
  head.set([0, 0, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0], 13);
  const d = 25;
  head[d] = 0x2c; // image descriptor
  head.writeUInt16LE(width, d + 5);
  head.writeUInt16LE(height, d + 7);
  head[d + 9] = 0;
  const MIN_CODE_SIZE = 2;
  const CLEAR = 4;
  const END = 5;
  const bits: number[] = [];
  const code = (c: number) => { for (let i = 0; i < 3; i++) bits.push((c >> i) & 1); };
  const n = width * height;
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) code(CLEAR);
    code(grey[i] > 128 ? 1 : 0);
  }
  code(END);
  const bytes = Buffer.alloc(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i]) bytes[i >> 3] |= 1 << (i & 7);
  const blocks: Buffer[] = [Buffer.from([MIN_CODE_SIZE])];
  for (let at = 0; at < bytes.length; at += 255) {
    const part = bytes.subarray(at, at + 255);
    blocks.push(Buffer.from([part.length]), part);
  }
  blocks.push(Buffer.from([0, 0x3b])); // block terminator, trailer
  return Buffer.concat([head, ...blocks]);
}
