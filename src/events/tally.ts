/**
 * Add one to a count keyed by text a customer chose (a content-part type, a model name): on a
 * plain object `constructor` or `toString` would start from the inherited function and
 * `__proto__` would vanish, so each key is an own property, whatever its name.
 */
export function tally(counts: Record<string, number>, key: string): void {
  const n = Object.hasOwn(counts, key) ? counts[key] : 0;
  Object.defineProperty(counts, key, { value: n + 1, enumerable: true, writable: true, configurable: true });
}
