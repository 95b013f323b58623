/**
 * Ids and event times of the events an engine ingested within its last `span` seconds of event
 * time (EngineOptions.rememberEventIdsSeconds), so that a snapshot can say which of the stored
 * events around its time it already holds and the replay after it skips them (snapshot.ts).
 */
export class RecentEventIds {
  /** Oldest first from `head`; the part before it is dropped in one go once it is most of the arrays. */
  private ids: string[] = [];
  private ts: number[] = [];
  private head = 0;

  constructor(readonly span: number) {}

  /** Remember event `id` at event time `tsS`, with the engine's event time at `nowS`. */
  remember(id: string, tsS: number, nowS: number): void {
    this.ids.push(id);
    this.ts.push(tsS);
    const horizon = nowS - this.span;
    while (this.head < this.ts.length && this.ts[this.head] < horizon) this.head++;
    if (this.head > 4096 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.ts = this.ts.slice(this.head);
      this.head = 0;
    }
  }

  /** Ids remembered with an event time at or after `fromS`. */
  since(fromS: number): string[] {
    const out: string[] = [];
    for (let k = this.head; k < this.ids.length; k++) if (this.ts[k] >= fromS) out.push(this.ids[k]);
    return out;
  }
}
