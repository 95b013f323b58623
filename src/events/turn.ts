/**
 * What a request's messages say as the model reads them, shared by the gateway (which messages an
 * event keeps) and the detector (which text its signals read).
 */
import { charCodeAt } from './chars.ts';

/** Longest message `saysNothing` looks into: past it, a message is read whatever it holds. */
const PADDING_MAX = 64;

/**
 * A short message with no letter, digit or other script's character in it ('.', '...', ' ', '-'):
 * padding, which says nothing to the model. A prompt followed or preceded by such user messages is
 * one turn to the model, which answers the prompt.
 */
export function saysNothing(text: string): boolean {
  if (text.length > PADDING_MAX) return false;
  for (let i = 0; i < text.length; i++) {
    const c = charCodeAt(text, i);
    if (c > 47 && c < 58 || c > 64 && c < 91 || c > 96 && c < 123 || c > 127) return false;
  }
  return true;
}
