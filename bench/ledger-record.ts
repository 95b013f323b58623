/**
 * What an interaction leaf costs to build, by record version, in one run: the writer's work per
 * entry (salted commitments, canonical JSON) for the `warden.ledger/2` shape and the `/4` one
 * (the client's region and the claimed one: one more commitment when the account declared a
 * subdivision). CPU time of this process (process.cpuUsage), alternating rounds, so the ratio holds
 * on a loaded machine where wall-clock times do not.
 *
 *   node --import tsx bench/ledger-record.ts [--entries 20000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { canonicalBytes, commitment, interactionRecord, LEDGER_RECORD_SCHEMA_2, INTERACTION_SCHEMA, type InteractionSchema } from '../src/ledger/records.ts';
import { sampleEvent } from '../test/helpers/synthetic-events.ts';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } });
const N = Number(values.entries);
const rounds = Number(values.rounds);
const salt = 'ab'.repeat(32);
const events = Array.from({ length: 2000 }, (_, i) => {
  const e = sampleEvent(i);
  e.client.subdivision = i % 2 ? 'UA-30' : null;
  e.client.subdivision_data = 'c'.repeat(64);
  e.account = { ...e.account!, claimed_country: 'UA', claimed_subdivision: 'UA-30' };
  return e;
});

function run(schema: InteractionSchema): { us: number; bytes: number } {
  let bytes = 0;
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const rec = interactionRecord(events[i % events.length], null, (v) => (v === null ? null : commitment(v, salt)), schema);
    bytes += canonicalBytes(rec).length;
  }
  const d = process.cpuUsage(t0);
  return { us: (d.user + d.system) / N, bytes: bytes / N };
}

run(LEDGER_RECORD_SCHEMA_2); run(INTERACTION_SCHEMA); // warm-up
const v2: number[] = []; const v4: number[] = [];
let b2 = 0; let b4 = 0;
for (let r = 0; r < rounds; r++) {
  const a = run(LEDGER_RECORD_SCHEMA_2); v2.push(a.us); b2 = a.bytes;
  const b = run(INTERACTION_SCHEMA); v4.push(b.us); b4 = b.bytes;
}
const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
console.log(JSON.stringify({
  entries: N, rounds,
  v2: { cpu_us_per_leaf: +med(v2).toFixed(2), leaf_bytes: Math.round(b2) },
  v4: { cpu_us_per_leaf: +med(v4).toFixed(2), leaf_bytes: Math.round(b4) },
  ratio_v4_to_v2: +(med(v4) / med(v2)).toFixed(3),
}));
