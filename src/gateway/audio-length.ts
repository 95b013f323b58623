/**
 * How long a recording is, from what the gateway can read of it without decoding it: a WAV file's
 * header. Used for the events of uploads (their audio's length when the upstream does not say) and
 * by the limits' estimate of what audio input costs.
 */

/**
 * A WAV file's bytes a second as a decoder plays it: the sample rate times the block (one sample of
 * every channel) from its `fmt ` chunk. Not the header's own byte-rate field, which decoders ignore:
 * a forged one would make a long recording count as nothing. Null when `head` is not the start of a
 * WAV file, or the rate is 0.
 */
export function wavByteRate(head: Buffer): number | null {
  const fmt = wavChunk(head, 'fmt ');
  if (fmt === null || fmt + 22 > head.length) return null;
  // `fmt ` holds the format (2), channels (2), sample rate (4), the byte rate (4), then the block size (2)
  return head.readUInt32LE(fmt + 12) * head.readUInt16LE(fmt + 20) || null;
}

/** Where a WAV file's chunk `id` starts within `head` (its id), or null: not a WAV file, or not within `head`. */
function wavChunk(head: Buffer, id: string): number | null {
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return null;
  // chunks: id (4 bytes), size (4, little-endian), data (padded to an even length)
  for (let at = 12; at + 8 <= head.length; at += 8 + head.readUInt32LE(at + 4) + (head.readUInt32LE(at + 4) & 1)) {
    if (head.toString('latin1', at, at + 4) === id) return at;
  }
  return null;
}

/** Seconds of a WAV file of `bytes` whose first bytes are `head` (its samples: what follows its `data` chunk's header), or null for other audio. */
export function wavSeconds(head: Buffer, bytes: number): number | null {
  const rate = wavByteRate(head);
  if (rate === null) return null;
  const data = wavChunk(head, 'data');
  const samples = bytes - (data === null ? 44 : data + 8);
  return Math.round((Math.max(0, samples) / rate) * 1000) / 1000;
}
