/**
 * Response headers from several sources, merged by assignment into one new object (a later
 * source wins, as in `{ ...a, ...b }`).
 *
 * Why not `{ ...a, ...b, 'content-type': x }`: in Node 20's V8 (11.3; Node 22's no longer does
 * this), an object spread followed by more properties gives every result a hidden class of its
 * own. Hidden classes live in the old generation until a full collection, and each one kept its
 * response's header strings alive through the young-generation collections in between: on the
 * request path that was more than half of what every scavenge copied, and the scavenge pauses set
 * the gateway's p99 (BENCHMARKS.md). Objects built by assignment share their hidden classes.
 */
export function mergeHeaders(...sources: Readonly<Record<string, string>>[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const source of sources) for (const name in source) out[name] = source[name];
  return out;
}
