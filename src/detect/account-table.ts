/**
 * The per-account table of the engine: account ids and indices (with the free indices of forgotten
 * accounts), each account's behaviour window (`w`, STRIDE entries an account), the union-find of
 * clusters (`parent`, `size`, and `next`, a ring of each cluster's members), organisation and flag
 * bits, and the report rows of forgotten accounts. The engine grows these columns together with
 * its other per-account columns (DetectorEngine.eachColumn).
 *
 * The field names and order are those a snapshot stores (the engine's snapshotState lists them in
 * place of the table).
 */
export class AccountTable {
  cap = 0;
  /** Account indices handed out; those on `freeAccounts` (forgotten, see the engine's sweep) are reused first. */
  count = 0;
  readonly freeAccounts: number[] = [];
  forgotten = 0;
  /** Forgotten accounts' report rows (served per level, first event time per level), when tracking. */
  readonly retired = new Map<string, { served: number[]; first: number[] }>();
  /** Account ids by index ('' for a free index). */
  ids: string[] = [];
  index = new Map<string, number>();
  w = new Float64Array(0);
  parent = new Int32Array(0);
  size = new Int32Array(0);
  next = new Int32Array(0);
  org = new Int32Array(0);
  flags = new Uint16Array(0); // bit0 verified, bit1 disposable, bit2 allow-listed, bit3 fresh, bit4 personal, bit5 campus (vouched domain), bit6 campus account linked by fleet evidence, bit7 facts known, bit8 in a programme, bit9 moved into its org while flagged

  /** The root of account i's cluster (with path compression). */
  find(i: number): number {
    const parent = this.parent;
    let r = i;
    while (parent[r] !== r) r = parent[r];
    while (parent[i] !== r) { const n = parent[i]; parent[i] = r; i = n; }
    return r;
  }
}
