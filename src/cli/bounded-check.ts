/**
 * A check against a store that a readiness probe or a metrics scrape waits for only briefly.
 *
 * A PostgreSQL that accepts connections and stops answering (a stalled disk, a network path that
 * drops packets) holds each query for its statement or connect timeout, 5 s. A probe that waits
 * that long fails a load balancer's health check (Kubernetes gives a readiness probe 1 s by
 * default) on every node at once, although the nodes still serve the keys they have cached; a
 * scrape that waits that long slows the metrics an operator needs during the very outage.
 *
 * One run at a time: calls arriving while a run is under way share it rather than queue more
 * queries behind the stalled ones. A caller waits at most `waitMs` for it, and past that gets the
 * last completed run's result (`initial` before any), while the run goes on and its result serves
 * the calls after it. A run that throws keeps the last result.
 */
export function boundedCheck<T>(run: () => Promise<T>, opts: { waitMs: number; initial: T }): () => Promise<T> {
  let last = opts.initial;
  let running: Promise<T> | null = null;
  return async () => {
    if (!running) {
      running = run().then((v) => { last = v; return v; }, () => last).finally(() => { running = null; });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<{ late: true }>((resolve) => { timer = setTimeout(() => resolve({ late: true }), opts.waitMs); });
    try {
      const v = await Promise.race([running.then((value) => ({ value })), late]);
      return 'late' in v ? last : v.value;
    } finally {
      clearTimeout(timer);
    }
  };
}
