// Operators' ISO 8601 times: the date and time as written must be real, whatever the zone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeIsoTime } from './iso-time.ts';

test('dates and date-times with a zone are normalised to the stored form', () => {
  assert.equal(normalizeIsoTime('2026-12-05'), '2026-12-05T00:00:00.000Z');
  assert.equal(normalizeIsoTime('2026-12-05T10:00:00Z'), '2026-12-05T10:00:00.000Z');
  assert.equal(normalizeIsoTime('2026-12-05T10:00:00.5+02:00'), '2026-12-05T08:00:00.500Z');
  assert.equal(normalizeIsoTime('2026-12-05T23:30-01:00'), '2026-12-06T00:30:00.000Z');
  assert.equal(normalizeIsoTime('2024-02-29T23:59:59+14:00'), '2024-02-29T09:59:59.000Z');
  assert.equal(normalizeIsoTime('2000-02-29'), '2000-02-29T00:00:00.000Z');
});

test('a day or time that does not exist is refused, with Z or an offset alike', () => {
  for (const zone of ['', 'Z', '+02:00', '-05:30']) {
    const t = (v: string) => (zone === '' ? v : `${v}${zone}`);
    for (const bad of ['2026-02-30', '2025-02-29', '1900-02-29', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00']) {
      assert.equal(normalizeIsoTime(zone === '' ? bad : `${bad}T10:00:00${zone}`), null, t(bad));
    }
    if (zone === '') continue;
    for (const bad of ['2026-02-28T24:00:00', '2026-02-28T24:00', '2026-02-28T10:60:00', '2026-02-28T10:00:60', '2026-02-28T99:00']) {
      assert.equal(normalizeIsoTime(`${bad}${zone}`), null, `${bad}${zone}`);
    }
  }
  assert.equal(normalizeIsoTime('2026-02-28T10:00:00+24:00'), null);
  assert.equal(normalizeIsoTime('2026-02-28T10:00:00+02:60'), null);
  assert.equal(normalizeIsoTime('2026-02-28T10:00:00'), null, 'a date-time needs its zone');
  assert.equal(normalizeIsoTime('tomorrow'), null);
});
