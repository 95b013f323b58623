/**
 * Sealing withheld reasoning. Anthropic's API needs the previous turn's thinking blocks handed back
 * during tool use; when Warden withholds them the client receives a sealed envelope instead
 * (AES-256-GCM, key derived from a configured secret) that only Warden can open, and Warden puts
 * the original block back before forwarding the next request.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'wdn1.';

export class ReasoningSeal {
  private readonly key: Buffer;

  /** `secret`: any string; null generates a random per-process key (envelopes die with the process). */
  constructor(secret: string | null) {
    const ikm = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
    this.key = Buffer.from(hkdfSync('sha256', ikm, 'warden/reasoning-seal/v1', 'aes-256-gcm', 32));
  }

  /** Is this string a Warden envelope (it may still fail to open)? */
  static isSealed(s: unknown): s is string { return typeof s === 'string' && s.startsWith(PREFIX); }

  seal(value: unknown): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
    return PREFIX + Buffer.concat([iv, body, c.getAuthTag()]).toString('base64url');
  }

  /** The sealed value, or null when the envelope was altered or sealed under another key. */
  open(envelope: string): unknown {
    if (!envelope.startsWith(PREFIX)) return null;
    try {
      const raw = Buffer.from(envelope.slice(PREFIX.length), 'base64url');
      if (raw.length < 12 + 16) return null;
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(raw.length - 16));
      const text = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8');
      return JSON.parse(text);
    } catch {
      return null;
    }
  }
}
