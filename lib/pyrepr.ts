// Python's repr of the values SharedMemory and ShareableList show: str, bytes, float, and
// a list item (int, bool, None as Python spells them).
import { className } from './validate.js';

function pyQuote(body: string[], hasSingle: boolean, hasDouble: boolean, prefix = ''): string {
  const q = hasSingle && !hasDouble ? '"' : "'";
  return `${prefix}${q}${body.map((c) => (c === q ? `\\${q}` : c)).join('')}${q}`;
}

export function pyStr(s: string): string {
  const body: string[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '\\') body.push('\\\\');
    else if (ch === '\n') body.push('\\n');
    else if (ch === '\r') body.push('\\r');
    else if (ch === '\t') body.push('\\t');
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) body.push(`\\x${c.toString(16).padStart(2, '0')}`);
    else body.push(ch);
  }
  return pyQuote(body, s.includes("'"), s.includes('"'));
}

function pyBytes(b: Uint8Array): string {
  const body: string[] = [];
  for (const c of b) {
    if (c === 0x5c) body.push('\\\\');
    else if (c === 0x0a) body.push('\\n');
    else if (c === 0x0d) body.push('\\r');
    else if (c === 0x09) body.push('\\t');
    else if (c < 0x20 || c >= 0x7f) body.push(`\\x${c.toString(16).padStart(2, '0')}`);
    else body.push(String.fromCharCode(c));
  }
  return pyQuote(body, b.includes(0x27), b.includes(0x22), 'b');
}

/** Python's repr of a float: shortest round-trip digits, exponent form outside 1e-4..1e16. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const [mant, expText] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const e = Number(expText);
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const int = digits.slice(0, e + 1).padEnd(e + 1, '0');
  const frac = digits.slice(e + 1) || '0';
  return `${sign}${int}.${frac}`;
}

export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) && Math.abs(v) < 2 ** 63 ? String(BigInt(v)) : pyFloat(v);
  if (typeof v === 'string') return pyStr(v);
  if (v instanceof Uint8Array) return pyBytes(v);
  try {
    return String(v);
  } catch {
    return `<${typeof v === 'object' && v !== null ? className(v) : typeof v} object>`; // no toString (a null-prototype object)
  }
}
