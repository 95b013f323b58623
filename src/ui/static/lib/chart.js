// A stacked bar chart in SVG, drawn by hand (no library): one bar per time bucket, one colour per
// series, a native tooltip per bucket, and the same numbers as a table for screen readers.
import { h, svg, fmtCompact, fmtInt, table, when, fmtTime, fmtUtc, timeZone, zoneAbbrev } from './dom.js';

const W = 1000;
const H = 220;
const PAD = { left: 48, right: 8, top: 10, bottom: 24 };

/** The fields of a bucket's start worth showing at its width. */
const bucketFields = (bucketS) => (bucketS >= 86400 ? { month: 'short', day: 'numeric' }
  : bucketS >= 3600 ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
    : { hour: '2-digit', minute: '2-digit' });

/** An axis label: the bucket's start in the browser's zone (the zone is named once, under the chart). */
function bucketLabel(iso, bucketS) {
  return new Date(iso).toLocaleString(undefined, bucketFields(bucketS));
}

/** Round a maximum up to a readable axis value (1, 2, 5 × 10^n). */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * Gridline values from 0 to `max` (a niceMax): 0, half, max, unless counts are whole numbers and
 * half of max is not (max 1 or 5), where every whole number up to max gets a line instead.
 */
export function axisTicks(max, integer = true) {
  if (!integer || Number.isInteger(max / 2)) return [0, max / 2, max];
  return Array.from({ length: max + 1 }, (_, i) => i);
}

/**
 * @param {{ title: string, points: any[], bucketS: number, series: { key: string, label: string, cls: string }[], unit?: string }} spec
 */
export function stackedBars({ title, points, bucketS, series, unit = 'requests' }) {
  const totals = points.map((p) => series.reduce((s, x) => s + (p[x.key] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const grand = totals.reduce((a, b) => a + b, 0);
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const step = innerW / Math.max(1, points.length);
  const barW = Math.max(1, step * 0.8);
  const y = (v) => PAD.top + innerH - (v / max) * innerH;

  const grid = axisTicks(max, totals.every(Number.isInteger)).map((v) => [
    svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }),
    svg('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis axis-y' }, Number.isInteger(v) ? fmtCompact(v) : String(v)),
  ]);
  const ticks = [];
  const every = Math.max(1, Math.ceil(points.length / 6));
  points.forEach((p, i) => {
    if (i % every === 0) ticks.push(svg('text', { x: PAD.left + i * step + step / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis' }, bucketLabel(p.t, bucketS)));
  });
  const bars = points.map((p, i) => {
    let acc = 0;
    const x = PAD.left + i * step + (step - barW) / 2;
    const parts = series.map((s) => {
      const v = p[s.key] ?? 0;
      if (!v) return null;
      const r = svg('rect', { x, y: y(acc + v), width: barW, height: Math.max(0.5, y(acc) - y(acc + v)), class: s.cls });
      acc += v;
      return r;
    });
    const tip = `${fmtTime(p.t, bucketFields(bucketS))} (${fmtUtc(p.t)}): ${series.map((s) => `${s.label} ${fmtInt(p[s.key] ?? 0)}`).join(', ')}`;
    return svg('g', { class: 'bar' }, parts, svg('rect', { x: PAD.left + i * step, y: PAD.top, width: step, height: innerH, class: 'hit' }, svg('title', null, tip)));
  });
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${title}: ${fmtInt(grand)} ${unit} in ${points.length} intervals` }, grid, bars, ticks);
  const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' }, series.map((s) => h('li', null, h('span', { class: `swatch ${s.cls}` }), s.label)));
  const nonEmpty = points.filter((_, i) => totals[i] > 0);
  const data = h('details', { class: 'chart-data' }, h('summary', { text: 'Show the numbers' }),
    table({ caption: title, rows: nonEmpty, empty: 'No activity in this range.', columns: [
      { label: 'From', value: (p) => when(p.t, bucketFields(bucketS)) },
      ...series.map((s) => ({ label: s.label, num: true, value: (p) => fmtInt(p[s.key] ?? 0) })),
    ] }));
  const zone = h('p', { class: 'muted small chart-zone', text: `Times in ${timeZone()} (${zoneAbbrev(points[0]?.t)}); hover a bar for UTC.` });
  return h('figure', { class: 'chart-figure' }, h('figcaption', { text: title }), chart, legend, zone, data);
}
