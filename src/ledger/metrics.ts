/**
 * Prometheus metrics for the ledger, read from the Ledger's counters at scrape time: entries
 * committed, appends refused (queue full), fire-and-forget interactions not recorded, writer
 * restarts, queue depth, tree size and how far the latest checkpoint lags behind.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Ledger } from './ledger.ts';
import type { WitnessStats } from './witness-client.ts';

/** Register the ledger metrics on a prom-client registry (once per registry). */
export function registerLedgerMetrics(ledger: Ledger, registry: Registry): void {
  const registers = [registry];
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers, collect() { this.set(read()); } });
  counter('warden_ledger_appended_total', 'Entries committed to the ledger (durable)', () => ledger.stats.appended);
  counter('warden_ledger_rejected_total', 'Appends refused because the ledger queue was full (LEDGER_OVERLOADED)', () => ledger.stats.rejected);
  counter('warden_ledger_dropped_total', 'Interactions the gateway could not record in the ledger (queue full, writer failure, closed)', () => ledger.stats.dropped);
  counter('warden_ledger_writer_restarts_total', 'Times the ledger writer thread died and was restarted', () => ledger.stats.writerRestarts);
  counter('warden_ledger_checkpoints_total', 'Checkpoints signed', () => ledger.stats.checkpoints);
  gauge('warden_ledger_pending', 'Entries accepted and not yet durable', () => ledger.pending);
  gauge('warden_ledger_storage_outage_seconds', 'Seconds the ledger writer\'s storage has been unreachable or refused writes (0 while it takes them)', () => ledger.storageOutageMs / 1000);
  counter('warden_ledger_storage_outages_total', 'Outages of the ledger writer\'s storage that ended (the storage answered again)', () => ledger.stats.storageOutages);
  gauge('warden_ledger_tree_size', 'Durable entries in the log', () => ledger.size);
  gauge('warden_ledger_unsigned_entries', 'Durable entries not yet covered by a signed checkpoint', () => ledger.size - (ledger.latestCheckpoint()?.size ?? 0));
  const witnesses = ledger.witnessClient;
  if (witnesses) {
    // Per witness, labelled by its key name.
    const wcounter = (name: string, help: string, read: (s: WitnessStats) => number) =>
      new Counter({ name, help, labelNames: ['witness'], registers, collect() { this.reset(); for (const s of witnesses.stats) this.inc({ witness: s.name }, read(s)); } });
    const wgauge = (name: string, help: string, read: (s: WitnessStats) => number) =>
      new Gauge({ name, help, labelNames: ['witness'], registers, collect() { this.reset(); for (const s of witnesses.stats) this.set({ witness: s.name }, read(s)); } });
    wcounter('warden_ledger_witness_cosigned_total', 'Checkpoints a witness cosigned', (s) => s.cosigned);
    wcounter('warden_ledger_witness_refused_total', 'Checkpoints a witness refused (403, 404, 409, 422, or an answer without a valid cosignature)', (s) => s.refused);
    wcounter('warden_ledger_witness_unreachable_total', 'Calls to a witness that got no answer (network error, timeout, 5xx); retried with backoff', (s) => s.unreachable);
    wgauge('warden_ledger_witness_cosigned_size', 'Size of the latest checkpoint a witness cosigned since start (-1: none yet)', (s) => s.cosignedSize);
  }
  if (ledger.witnessPolicy) {
    gauge('warden_ledger_witnessed_size', 'Size of the newest checkpoint carrying the quorum of witness cosignatures (-1: none)', () => ledger.witnessedCheckpoint()?.size ?? -1);
  }
  gauge('warden_ledger_checkpoint_age_seconds', 'Seconds since the latest checkpoint was signed (-1: none yet)', () => {
    const cp = ledger.latestCheckpoint();
    return cp ? (Date.now() - Date.parse(cp.createdAt)) / 1000 : -1;
  });
}
