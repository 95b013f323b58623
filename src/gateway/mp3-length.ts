/**
 * How long an MP3 recording is, read from its MPEG audio frame headers as its bytes go by (no
 * decoding): an ID3v2 tag at the start is skipped; the first frame's Xing, Info or VBRI header,
 * when present, gives the encoder's count of frames; the frames themselves are counted all the
 * same (4 bytes looked at per frame of a few hundred), and give the length when no such header
 * does, or when the one given cannot be true of the bytes (a forged count). Any MPEG-1, 2 or 2.5
 * layer I, II or III stream is read; anything else is not an MP3 (null).
 */

/** Bitrates in kbit/s by [MPEG-1?][layer 1..3][index 1..14]. */
const BITRATES: Record<'v1' | 'v2', readonly (readonly number[])[]> = {
  v1: [
    [],
    [32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ],
  v2: [
    [],
    [32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  ],
};

/** Sample rates by version bits (0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1) and rate index. */
const SAMPLE_RATES: Record<number, readonly number[]> = { 0: [11025, 12000, 8000], 2: [22050, 24000, 16000], 3: [44100, 48000, 32000] };

/** One frame header, decoded. */
export interface Mp3Frame {
  /** Version bits (0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1), layer (1, 2 or 3). */
  version: number;
  layer: number;
  sampleRate: number;
  /** kbit/s. */
  bitrate: number;
  /** Samples of each channel the frame holds. */
  samples: number;
  /** Bytes of the frame, header included. */
  bytes: number;
  mono: boolean;
}

/** The frame header at `at` in `b`, or null (not a header, or a free-format or reserved one). */
export function frameAt(b: Buffer, at: number): Mp3Frame | null {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1] & 0xe0) !== 0xe0) return null;
  const version = (b[at + 1] >> 3) & 3;
  const layer = 4 - ((b[at + 1] >> 1) & 3);
  const index = b[at + 2] >> 4;
  const rateIndex = (b[at + 2] >> 2) & 3;
  if (version === 1 || layer === 4 || index === 0 || index === 15 || rateIndex === 3) return null;
  const bitrate = BITRATES[version === 3 ? 'v1' : 'v2'][layer][index - 1];
  const sampleRate = SAMPLE_RATES[version][rateIndex];
  const padding = (b[at + 2] >> 1) & 1;
  const samples = layer === 1 ? 384 : layer === 3 && version !== 3 ? 576 : 1152;
  const bytes = layer === 1 ? (Math.floor((12 * bitrate * 1000) / sampleRate) + padding) * 4 : Math.floor((samples / 8) * bitrate * 1000 / sampleRate) + padding;
  return { version, layer, sampleRate, bitrate, samples, bytes, mono: b[at + 3] >> 6 === 3 };
}

/** Whether two frames are of one stream (its version, layer and sample rate never change). */
const sameStream = (a: Mp3Frame, b: Mp3Frame) => a.version === b.version && a.layer === b.layer && a.sampleRate === b.sampleRate;

/** Frames the first frame's Xing/Info (or VBRI) header says the stream holds, or null when it has none. */
export function declaredFrames(b: Buffer, at: number, f: Mp3Frame): number | null {
  const end = Math.min(b.length, at + f.bytes);
  // Xing/Info follow the side information: 32 or 17 bytes (MPEG-1 stereo or mono), 17 or 9 (MPEG-2, 2.5).
  const side = f.version === 3 ? (f.mono ? 17 : 32) : (f.mono ? 9 : 17);
  for (const x of [at + 4 + side, at + 6 + side]) {
    if (x + 12 > end) continue;
    const tag = b.toString('latin1', x, x + 4);
    if (tag !== 'Xing' && tag !== 'Info') continue;
    const flags = b.readUInt32BE(x + 4);
    return flags & 1 ? b.readUInt32BE(x + 8) : null;
  }
  // VBRI: always 32 bytes after the header; its frame count 14 bytes into it.
  const v = at + 36;
  if (v + 18 <= end && b.toString('latin1', v, v + 4) === 'VBRI') return b.readUInt32BE(v + 14);
  return null;
}

/** Bytes looked at for the first frame, after any ID3v2 tag: a stream starting later is not taken for MP3. */
const FIRST_FRAME_WITHIN = 16 * 1024;
/** Bytes held before the first frame is looked for: enough for it and the two frames that confirm it (at most 2,881 bytes each). */
const HELD_BEFORE_FIRST = FIRST_FRAME_WITHIN + 3 * 2881;
/** Other audio (WAV, Ogg, FLAC, MP4/M4A, WebM): never searched for MPEG frames. */
const OTHER_FORMATS = [
  { at: 0, magic: Buffer.from('RIFF') }, { at: 0, magic: Buffer.from('OggS') }, { at: 0, magic: Buffer.from('fLaC') },
  { at: 4, magic: Buffer.from('ftyp') }, { at: 0, magic: Buffer.from([0x1a, 0x45, 0xdf, 0xa3]) },
];
/**
 * A header lost for this many bytes in a row, or this many in all: what follows is not this
 * stream's (the frames counted so far stand). Bounds the bytes looked at one by one (a real
 * stream has none, or a few between two frames) to a few milliseconds a file.
 */
const MAX_LOST_BYTES = 64 * 1024;
const MAX_LOST_TOTAL = 1024 * 1024;

/**
 * The length of an MP3 stream fed to it a chunk at a time (`push`), in seconds once it has all
 * (`seconds`). Holds at most FIRST_FRAME_WITHIN bytes, until the first frame is found.
 */
export class Mp3Length {
  /** Bytes seen in all. */
  private total = 0;
  /** Bytes still to pass over: the rest of an ID3v2 tag, or of the current frame. */
  private skip = 0;
  /** 'tag': the first 10 bytes (an ID3v2 tag's header?) are awaited; 'first': the first frame; 'frames': counting. */
  private phase: 'tag' | 'first' | 'frames' | 'ended' | 'none' = 'tag';
  /** Bytes passed without a frame header of the stream: in a row, and in all. */
  private lost = 0;
  private lostTotal = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes of the current frame header cut by the end of a chunk. */
  private carry: Buffer = Buffer.alloc(0);
  /** Where the audio begins (after the tag), and the stream's first frame. */
  private audioStart = 0;
  private first: Mp3Frame | null = null;
  private declared: number | null = null;
  /** Frames counted (a Xing/Info/VBRI frame not among them), and their samples. */
  private frames = 0;
  private samples = 0;

  /** Known not to be an MP3 stream (its first bytes are not one's): what follows need not be pushed. */
  get notMp3(): boolean {
    return this.phase === 'none';
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.phase === 'none' || this.phase === 'ended') return;
    if (this.phase === 'frames') { this.walk(chunk); return; }
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.phase === 'tag' && this.heldBytes >= 10) this.afterTag();
    if (this.phase === 'first' && this.heldBytes - this.skip >= HELD_BEFORE_FIRST) this.findFirst(false);
  }

  /** Seconds of the stream, once all of it was pushed; null when it is not MP3. */
  seconds(): number | null {
    if (this.phase === 'tag') this.afterTag();
    if (this.phase === 'first') this.findFirst(true);
    if ((this.phase !== 'frames' && this.phase !== 'ended') || this.first === null) return null;
    const f = this.first;
    const counted = this.samples / f.sampleRate;
    if (this.declared !== null) {
      // The encoder's count, if the bytes can hold it: between their length at the stream's
      // highest bitrate and at its lowest.
      const said = (this.declared * f.samples) / f.sampleRate;
      const table = BITRATES[f.version === 3 ? 'v1' : 'v2'][f.layer];
      const bits = (this.total - this.audioStart) * 8;
      if (said >= bits / (table[table.length - 1] * 1000) && said <= bits / (table[0] * 1000)) return round(said);
    }
    return this.frames > 0 ? round(counted) : null;
  }

  /** The first 10 bytes are in: an ID3v2 tag is passed over (its size is syncsafe: 7 bits a byte; a footer adds 10). */
  private afterTag(): void {
    const head = Buffer.concat(this.held);
    this.held = [head];
    this.phase = 'first';
    if (head.length >= 10 && head.toString('latin1', 0, 3) === 'ID3') {
      const size = ((head[6] & 0x7f) << 21) | ((head[7] & 0x7f) << 14) | ((head[8] & 0x7f) << 7) | (head[9] & 0x7f);
      this.skip = 10 + size + (head[5] & 0x10 ? 10 : 0);
    } else if (OTHER_FORMATS.some((m) => head.subarray(m.at, m.at + m.magic.length).equals(m.magic))) this.phase = 'none';
  }

  /**
   * Looks for the first frame in what is held (after the tag): a header followed by two more of
   * the same stream, or by the end of a stream that short (an ID3v1 tag after it at most).
   */
  private findFirst(ended: boolean): void {
    const all = Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    if (this.skip >= all.length) {
      this.skip -= all.length;
      if (ended) this.phase = 'none';
      return;
    }
    const data = all.subarray(this.skip);
    this.audioStart += this.skip;
    this.skip = 0;
    const confirmed = (i: number, f: Mp3Frame): boolean => {
      let at = i + f.bytes;
      for (let k = 0; k < 2; k++) {
        const g = frameAt(data, at);
        if (!g || !sameStream(f, g)) return ended && at >= data.length - 128;
        at += g.bytes;
      }
      return true;
    };
    const within = Math.min(data.length - 4, FIRST_FRAME_WITHIN);
    for (let i = 0; i <= within; i++) {
      const f = frameAt(data, i);
      if (!f || !confirmed(i, f)) continue;
      this.first = f;
      this.audioStart += i;
      this.declared = declaredFrames(data, i, f);
      this.phase = 'frames';
      // A Xing/Info/VBRI frame holds no audio.
      if (hasTag(data, i, f)) this.skip = f.bytes;
      this.walk(data.subarray(i));
      return;
    }
    this.phase = 'none';
  }

  /** Counts the frames of `chunk`, passing over each frame's body; a header lost is looked for again (a frame of the same stream). */
  private walk(chunk: Buffer): void {
    let data = chunk;
    if (this.carry.length) { data = Buffer.concat([this.carry, chunk]); this.carry = Buffer.alloc(0); }
    let i = 0;
    while (i < data.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - i);
        i += n;
        this.skip -= n;
        continue;
      }
      if (data.length - i < 4) { this.carry = Buffer.from(data.subarray(i)); return; }
      const f = frameAt(data, i);
      if (f && sameStream(f, this.first!)) {
        this.frames++;
        this.samples += f.samples;
        this.skip = f.bytes;
        this.lost = 0;
      } else if (++this.lost > MAX_LOST_BYTES || ++this.lostTotal > MAX_LOST_TOTAL) {
        this.phase = 'ended';
        return;
      } else i++;
    }
  }
}

/** Whether the frame at `at` is an encoder's Xing/Info/VBRI frame (also when it declares no frame count). */
function hasTag(b: Buffer, at: number, f: Mp3Frame): boolean {
  const side = f.version === 3 ? (f.mono ? 17 : 32) : (f.mono ? 9 : 17);
  const tags = [at + 4 + side, at + 6 + side].map((x) => b.toString('latin1', x, x + 4));
  return tags.includes('Xing') || tags.includes('Info') || b.toString('latin1', at + 36, at + 40) === 'VBRI';
}

const round = (s: number) => Math.round(s * 1000) / 1000;

/** Seconds of an MP3 file held whole, or null when it is not MP3. */
export function mp3Seconds(file: Buffer): number | null {
  const m = new Mp3Length();
  m.push(file);
  return m.seconds();
}

/**
 * Base64 characters decoded at a time to read an MP3 given as base64 (Chat's and Responses'
 * `input_audio`): a multiple of 4, so that each slice decodes on its own. The text is never
 * decoded whole: one slice's bytes at a time, and none past the point where it is known not to be an MP3.
 */
const BASE64_SLICE = 64 * 1024;

/**
 * Seconds of an MP3 file given as base64, or null when it is not MP3, or when its base64 holds
 * anything but base64 (line breaks: then the slices would not decode on their own).
 */
export function mp3SecondsOfBase64(data: string): number | null {
  const m = new Mp3Length();
  for (let at = 0; at < data.length && !m.notMp3; at += BASE64_SLICE) {
    const slice = data.slice(at, at + BASE64_SLICE);
    const bytes = Buffer.from(slice, 'base64');
    // A whole slice of base64 is 3 bytes for 4 characters; padding may end only the last one.
    const whole = at + BASE64_SLICE >= data.length ? Math.floor((slice.length * 3) / 4) - (slice.endsWith('==') ? 2 : slice.endsWith('=') ? 1 : 0) : (BASE64_SLICE / 4) * 3;
    if (bytes.length !== whole) return null;
    m.push(bytes);
  }
  return m.seconds();
}
