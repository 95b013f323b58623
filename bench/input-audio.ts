/**
 * What the limits' estimate of Chat's `input_audio` costs the request path: an MP3's base64
 * decoded a slice at a time and its frames walked (src/gateway/mp3-length.ts), against data that
 * is not MP3 (read no further than its first slice: what every format cost before MP3s were read),
 * and MP3 frames followed by junk (decoded to the end). CPU of the best of 5 per case.
 *
 *   node --import tsx bench/input-audio.ts [--mb 20]
 */
import { parseArgs } from 'node:util';
import { estimateInputTokens } from '../src/limits/estimate.ts';
import { limitsConfigSchema } from '../src/limits/config.ts';
import { frame } from '../test/helpers/mp3.ts';
import { machine } from './lib.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '20' } } });
const bytes = Number(values.mb) * 1e6;
const est = limitsConfigSchema.parse({}).estimate;
const frames = Array.from({ length: Math.ceil(bytes / 418) }, () => frame(128));
const cases: Record<string, string> = {
  'MP3, 128 kbit/s': Buffer.concat(frames).toString('base64'),
  'not MP3': Buffer.alloc(bytes, 0x11).toString('base64'),
  '100 MP3 frames, then junk': Buffer.concat([...frames.slice(0, 100), Buffer.alloc(bytes, 0x11)]).toString('base64'),
};
console.log(machine());
for (const [name, data] of Object.entries(cases)) {
  const body = { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data, format: 'mp3' } }] }] };
  let best = Infinity;
  let tokens = 0;
  for (let i = 0; i < 5; i++) {
    const t = process.cpuUsage();
    tokens = estimateInputTokens(body, est);
    const c = process.cpuUsage(t);
    best = Math.min(best, (c.user + c.system) / 1000);
  }
  console.log(`${name}: ${(data.length / 1e6).toFixed(1)} M base64 characters, ${tokens} tokens reserved, ${best.toFixed(1)} ms CPU`);
}
