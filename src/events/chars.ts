/**
 * `s.charCodeAt(i)`, for the loops that read text a character at a time on the detector's hot path
 * (lexicons, prompt hashes, event times). Written as a method call on the text, each call looks
 * `charCodeAt` up on the string first, and event text comes in many string representations
 * (parsed, sliced, joined, lowercased): more than V8 keeps such a lookup inline for, so every
 * character paid a generic property lookup, about a tenth of an offline scan's time. Looked up on
 * `String.prototype` here, the method is a constant and the call compiles to a plain read.
 */
export function charCodeAt(s: string, i: number): number {
  return String.prototype.charCodeAt.call(s, i);
}
