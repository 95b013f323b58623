/** Waiting on a condition, not on a time: the tests run on loaded machines. */
import assert from 'node:assert/strict';

/** What a truthy check leaves of T. */
export type Truthy<T> = Exclude<T, null | undefined | false | 0 | ''>;

/** Resolve with `get()` once it is truthy (polled every 20 ms); fail after `ms` naming what was awaited. */
export async function until<T>(what: string | (() => string), get: () => T | Promise<T>, ms = 20_000): Promise<Truthy<T>> {
  for (const end = Date.now() + ms; ;) {
    const v = await get();
    if (v) return v as Truthy<T>;
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
