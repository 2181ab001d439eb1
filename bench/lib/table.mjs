// The readable report: one table per bench, and for each mp: line its ratio to every
// py: and node: line of the same bench and unit, worded for the unit's direction.
import { betterWhen } from './common.mjs';

function fmtValue(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** "3.40x faster than py:Lock" (or slower), for `mine` against `other` in `unit`. */
export function ratioText(mine, other, unit) {
  const dir = betterWhen(unit);
  const hi = Math.max(mine.value, other.value);
  const lo = Math.min(mine.value, other.value);
  const ratio = lo > 0 ? hi / lo : Number.POSITIVE_INFINITY;
  if (ratio < 1.005) return `same as ${other.impl}`;
  if (dir === null) return `${(mine.value / other.value).toFixed(2)}x the value of ${other.impl}`;
  const better = dir === 'lower' ? mine.value < other.value : mine.value > other.value;
  const word = unit === 'speedup' ? (better ? 'higher' : 'lower') : better ? 'faster' : 'slower';
  return `${ratio.toFixed(2)}x ${word} than ${other.impl}`;
}

const family = (impl) => impl.split(':')[0];
const ORDER = { py: 0, node: 1, mp: 2 };
const STANDARD = new Set(['bench', 'impl', 'value', 'unit', 'n']);

/** Fields beyond the standard five (e.g. element-access's `op`) split a bench into groups. */
const extras = (l) =>
  Object.entries(l)
    .filter(([k]) => !STANDARD.has(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/** The table text for `lines` (all of one workload run, possibly several benches/units). */
export function formatTable(title, lines) {
  const out = [title];
  if (lines.length === 0) return `${title}\n  (no results)\n`;
  const groups = new Map();
  for (const l of lines) {
    const key = `${l.bench}\u0000${extras(l)}\u0000${l.unit}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(l);
  }
  const width = Math.max(...lines.map((l) => l.impl.length), 4) + 2;
  for (const group of groups.values()) {
    const { bench, unit } = group[0];
    group.sort((a, b) => (ORDER[family(a.impl)] ?? 3) - (ORDER[family(b.impl)] ?? 3));
    const dir = betterWhen(unit);
    const extra = extras(group[0]);
    out.push(`  ${bench}${extra ? ` [${extra}]` : ''} (${unit}${dir ? `, ${dir} is better` : ''})`);
    const others = group.filter((l) => family(l.impl) === 'py' || family(l.impl) === 'node');
    for (const l of group) {
      const n = l.n === undefined ? '' : `n=${l.n}`;
      out.push(`    ${l.impl.padEnd(width)}${fmtValue(l.value).padStart(10)} ${unit.padEnd(14)}${n}`);
      if (family(l.impl) !== 'mp') continue;
      for (const o of others) out.push(`    ${''.padEnd(width)}  -> ${ratioText(l, o, unit)}`);
    }
  }
  return `${out.join('\n')}\n`;
}
