// Unit tests of the manager server's data objects (dict, list, Namespace, Value, Array)
// and of the Python value semantics they use (pyvalues.ts). Imports the TypeScript
// sources directly: these objects live in the server process, not in the public API.
import { describe, expect, it } from 'vitest';
import { KeyError, ValueError } from '../lib/errors.js';
import { kSnapshot, ManagedArray, ManagedDict, ManagedList, ManagedNamespace, ManagedValue } from '../lib/manager_builtins.js';
import { checkKey, pyCompare, pyEquals } from '../lib/pyvalues.js';

type ErrorClass = new (...args: never[]) => Error;

/** Run fn, expect it to throw exactly an instance of cls whose message is (or matches) msg. */
function throws(fn: () => unknown, cls: ErrorClass, msg: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(cls);
  const message = (caught as Error).message;
  if (typeof msg === 'string') expect(message).toBe(msg);
  else expect(message).toMatch(msg);
}

const protoNames = (): string[] => Object.getOwnPropertyNames(Object.prototype).sort();

describe('pyEquals', () => {
  const equal: [string, unknown, unknown][] = [
    ['same number', 1, 1],
    ['+0 and -0', 0, -0],
    ['NaN and NaN', NaN, NaN],
    ['1 and 1n', 1, 1n],
    ['1n and 1', 1n, 1],
    ['2**60 and its bigint', 2 ** 60, 2n ** 60n],
    ['strings', 'a', 'a'],
    ['null', null, null],
    ['undefined', undefined, undefined],
    ['nested arrays', [1, [2, [3, 'x']]], [1, [2, [3, 'x']]]],
    ['arrays with NaN and bigint', [NaN, 1n], [NaN, 1]],
    ['plain objects in any key order', { a: 1, b: [2] }, { b: [2], a: 1 }],
    ['null-prototype and plain object', Object.assign(Object.create(null), { a: 1 }), { a: 1 }],
    ['Maps', new Map<unknown, unknown>([['a', [1]], [2, 'b']]), new Map<unknown, unknown>([[2, 'b'], ['a', [1]]])],
    ['Sets', new Set([1, 'a']), new Set(['a', 1])],
    ['typed arrays', new Float64Array([1, NaN]), new Float64Array([1, NaN])],
    ['Buffer and Uint8Array', Buffer.from([1, 2]), new Uint8Array([1, 2])],
    ['Dates', new Date(5), new Date(5)],
  ];
  it.each(equal)('%s are equal', (_name, a, b) => {
    expect(pyEquals(a, b)).toBe(true);
    expect(pyEquals(b, a)).toBe(true);
  });

  const different: [string, unknown, unknown][] = [
    ['1 and 2', 1, 2],
    ['1.5 and 1n', 1.5, 1n],
    ['1 and "1"', 1, '1'],
    ['true and 1 (JS keeps booleans apart)', true, 1],
    ['null and undefined', null, undefined],
    ['arrays of different length', [1, 2], [1, 2, 3]],
    ['nested arrays that differ deep', [1, [2, [3]]], [1, [2, [4]]]],
    ['array and object', [1], { 0: 1 }],
    ['objects with different keys', { a: 1 }, { b: 1 }],
    ['objects with extra key', { a: 1 }, { a: 1, b: 2 }],
    ['Maps with different values', new Map([['a', 1]]), new Map([['a', 2]])],
    ['Map and object', new Map([['a', 1]]), { a: 1 }],
    ['Sets', new Set([1]), new Set([2])],
    ['typed arrays of different types', new Int8Array([1]), new Uint8Array([1])],
    ['typed arrays with different elements', new Int32Array([1, 2]), new Int32Array([1, 3])],
    ['Dates', new Date(5), new Date(6)],
    ['class instances with equal fields', new (class A {})(), new (class A {})()],
    ['RegExps (identity only)', /a/, /a/],
  ];
  it.each(different)('%s are not equal', (_name, a, b) => {
    expect(pyEquals(a, b)).toBe(false);
    expect(pyEquals(b, a)).toBe(false);
  });

  it('compares an object to itself by identity, and cyclic structures without overflowing', () => {
    const inst = new (class X {})();
    expect(pyEquals(inst, inst)).toBe(true);
    const a: unknown[] = [1];
    a.push(a);
    const b: unknown[] = [1];
    b.push(b);
    expect(pyEquals(a, b)).toBe(true);
    const c: unknown[] = [2];
    c.push(c);
    expect(pyEquals(a, c)).toBe(false);
  });
});

describe('pyCompare', () => {
  const table: [string, unknown, unknown, number][] = [
    ['numbers', 1, 2, -1],
    ['equal numbers', 2, 2, 0],
    ['number and bigint', 3, 2n, 1],
    ['bigint and fraction', 1n, 1.5, -1],
    ['1 and 1n', 1, 1n, 0],
    ['booleans as numbers', false, true, -1],
    ['boolean and number', true, 0.5, 1],
    ['strings', 'apple', 'banana', -1],
    ['prefix sorts first', 'ab', 'abc', -1],
    ['uppercase before lowercase (code points, not locale)', 'Z', 'a', -1],
    ['code point, not UTF-16 unit', '\u{10000}', '\uffff', 1],
    ['arrays lexicographically', [1, 2], [1, 3], -1],
    ['shorter array first', [1], [1, 0], -1],
    ['nested arrays', [[1, 'b']], [[1, 'a']], 1],
    ['equal arrays', [1, 'a'], [1n, 'a'], 0],
    ['Dates', new Date(1), new Date(2), -1],
    ['NaN is neither less nor greater', NaN, 1, 0],
  ];
  it.each(table)('%s', (_name, a, b, expected) => {
    expect(pyCompare(a, b)).toBe(expected);
    expect(pyCompare(b, a)).toBe(expected === 0 ? 0 : -expected);
  });

  const refused: [string, unknown, unknown, string][] = [
    ['string and number', 'a', 1, "'<' not supported between instances of 'string' and 'number'"],
    ['number and string', 1, 'a', "'<' not supported between instances of 'number' and 'string'"],
    ['null and null', null, null, "'<' not supported between instances of 'null' and 'null'"],
    ['undefined and number', undefined, 1, "'<' not supported between instances of 'undefined' and 'number'"],
    ['objects', {}, {}, "'<' not supported between instances of 'Object' and 'Object'"],
    ['array and number', [1], 1, "'<' not supported between instances of 'Array' and 'number'"],
    ['Maps', new Map(), new Map(), "'<' not supported between instances of 'Map' and 'Map'"],
    ['arrays whose first difference is mixed', [1, 'a'], [1, 2], "'<' not supported between instances of 'string' and 'number'"],
  ];
  it.each(refused)('%s is a TypeError', (_name, a, b, msg) => {
    throws(() => pyCompare(a, b), TypeError, msg);
  });

  it('only needs the first differing pair to be orderable', () => {
    expect(pyCompare([1, 'a'], [2, 3])).toBe(-1);
  });
});

describe('checkKey', () => {
  it.each([['s'], [1], [1.5], [NaN], [2n], [true], [null], [undefined], ['__proto__']])('accepts %s', (key) => {
    expect(checkKey(key)).toBe(key);
  });
  it.each([[[1, 2]], [{ a: 1 }], [new Map()], [Symbol('s')], [() => 1], [new Date(0)]])('refuses %s', (key) => {
    throws(() => checkKey(key), TypeError, /manager dict keys must be primitives.*JSON\.stringify/);
  });
  it('names the type', () => {
    throws(() => checkKey([1]), TypeError, /^unhashable key type 'Array'/);
  });
});

describe('ManagedDict', () => {
  it('builds from a plain object, a Map, pairs, or nothing', () => {
    expect(new ManagedDict({ a: 1, b: 2 }).items()).toEqual([['a', 1], ['b', 2]]);
    expect(new ManagedDict(new Map<unknown, unknown>([[1, 'x'], ['y', 2]])).items()).toEqual([[1, 'x'], ['y', 2]]);
    expect(new ManagedDict([['k', 'v'], [2n, null]]).items()).toEqual([['k', 'v'], [2n, null]]);
    expect(new ManagedDict(new Set([['s', 1]])).items()).toEqual([['s', 1]]);
    expect(new ManagedDict().length()).toBe(0);
    expect(new ManagedDict(null).length()).toBe(0);
  });

  it('refuses bad init forms', () => {
    throws(() => new ManagedDict(5), TypeError, /^init must be a plain object, a Map or an iterable/);
    throws(() => new ManagedDict(new Date()), TypeError, /^init must be a plain object/);
    throws(() => new ManagedDict([['a', 1], 'b']), TypeError, /^init: element #1 must be a \[key, value\] array/);
    throws(() => new ManagedDict([['a', 1, 2]]), ValueError, 'init: dictionary update sequence element #0 has length 3; 2 is required');
    throws(() => new ManagedDict([[[1], 1]]), TypeError, /manager dict keys must be primitives/);
    throws(() => new ManagedDict(new Map([[{}, 1]])), TypeError, /manager dict keys must be primitives/);
  });

  it('get, set, has, delete', () => {
    const d = new ManagedDict();
    d.set('a', 1);
    d.set('a', 2);
    d.set(null, 'n');
    expect(d.get('a')).toBe(2);
    expect(d.get(null)).toBe('n');
    expect(d.get('missing')).toBeUndefined();
    expect(d.get('missing', 7)).toBe(7);
    expect(d.has('a')).toBe(true);
    expect(d.has('b')).toBe(false);
    d.delete('a');
    expect(d.has('a')).toBe(false);
    expect(d.length()).toBe(1);
    throws(() => d.delete('a'), KeyError, '"a"');
    throws(() => d.delete(5n), KeyError, '5n');
    throws(() => d.get([1]), TypeError, /manager dict keys must be primitives/);
    throws(() => d.set({}, 1), TypeError, /manager dict keys must be primitives/);
    throws(() => d.has(new Map()), TypeError, /manager dict keys must be primitives/);
  });

  it('keys that are == share an entry and keep the first key, as Python', () => {
    const d = new ManagedDict();
    d.set(1, 'a');
    d.set(1n, 'b');
    d.set(-0, 'c');
    d.set(true, 'bool');
    d.set('1', 'str');
    d.set(NaN, 'nan');
    expect(d.items()).toEqual([[1, 'b'], [-0, 'c'], [true, 'bool'], ['1', 'str'], [NaN, 'nan']]);
    expect(d.get(0)).toBe('c');
    expect(d.get(1n)).toBe('b');
    expect(d.get(NaN)).toBe('nan');
    expect(d.has(1.5)).toBe(false);
  });

  it('keys, values and items are arrays in insertion order, and copies', () => {
    const d = new ManagedDict({ x: 1, y: 2 });
    expect(d.keys()).toEqual(['x', 'y']);
    expect(d.values()).toEqual([1, 2]);
    const items = d.items();
    items[0][1] = 99;
    expect(d.get('x')).toBe(1);
  });

  it('update takes every init form and checks all pairs first', () => {
    const d = new ManagedDict({ a: 1 });
    d.update({ b: 2 });
    d.update(new Map([['c', 3]]));
    d.update([['a', 10]]);
    d.update(undefined);
    expect(d.items()).toEqual([['a', 10], ['b', 2], ['c', 3]]);
    throws(() => d.update([['d', 4], [[], 5]]), TypeError, /manager dict keys must be primitives/);
    expect(d.has('d')).toBe(false);
    throws(() => d.update([['e']]), ValueError, 'other: dictionary update sequence element #0 has length 1; 2 is required');
    throws(() => d.update(3), TypeError, /^other must be a plain object/);
  });

  it('pop with and without a default', () => {
    const d = new ManagedDict({ a: 1 });
    expect(d.pop('missing', 'dflt')).toBe('dflt');
    expect(d.pop('missing', undefined)).toBeUndefined();
    throws(() => d.pop('missing'), KeyError, '"missing"');
    expect(d.pop('a')).toBe(1);
    expect(d.length()).toBe(0);
    throws(() => d.pop('a', 1, 2), TypeError, 'pop expected at most 2 arguments, got 3');
  });

  it('popitem takes the last inserted', () => {
    const d = new ManagedDict([['a', 1], ['b', 2]]);
    d.set('a', 3); // updating keeps the position
    expect(d.popitem()).toEqual(['b', 2]);
    expect(d.popitem()).toEqual(['a', 3]);
    throws(() => d.popitem(), KeyError, 'popitem(): dictionary is empty');
  });

  it('setdefault, clear, length', () => {
    const d = new ManagedDict();
    expect(d.setdefault('a', [1])).toEqual([1]);
    expect(d.setdefault('a', [2])).toEqual([1]);
    expect(d.setdefault('u')).toBeUndefined();
    expect(d.has('u')).toBe(true);
    expect(d.length()).toBe(2);
    d.clear();
    expect(d.length()).toBe(0);
    expect(d.keys()).toEqual([]);
  });

  it('copy is a plain object when every key is a string, otherwise a Map', () => {
    const strings = new ManagedDict({ a: 1, b: [2] }).copy();
    expect(strings).not.toBeInstanceOf(Map);
    expect(Object.getPrototypeOf(strings)).toBe(Object.prototype);
    expect(strings).toEqual({ a: 1, b: [2] });
    expect(new ManagedDict().copy()).toEqual({});
    const mixed = new ManagedDict([['a', 1], [2, 'b']]).copy();
    expect(mixed).toBeInstanceOf(Map);
    expect([...(mixed as Map<unknown, unknown>)]).toEqual([['a', 1], [2, 'b']]);
    const d = new ManagedDict({ a: 1 });
    expect(d[kSnapshot]()).toEqual({ a: 1 });
    (d.copy() as Record<string, unknown>).a = 5;
    expect(d.get('a')).toBe(1);
  });

  it("'__proto__' and 'constructor' are ordinary keys (no prototype pollution)", () => {
    const before = protoNames();
    const d = new ManagedDict(JSON.parse('{"__proto__": {"polluted": 1}}'));
    d.set('constructor', 'c');
    d.set('__proto__', { polluted: 2 });
    expect(d.get('__proto__')).toEqual({ polluted: 2 });
    expect(d.keys()).toEqual(['__proto__', 'constructor']);
    const c = d.copy() as Record<string, unknown>;
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
    expect(Object.hasOwn(c, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(c, '__proto__')?.value).toEqual({ polluted: 2 });
    expect(c.constructor).toBe('c');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(protoNames()).toEqual(before);
  });
});

describe('ManagedList', () => {
  it('builds from any iterable', () => {
    expect(new ManagedList([1, 2]).copy()).toEqual([1, 2]);
    expect(new ManagedList(new Set(['a', 'b'])).copy()).toEqual(['a', 'b']);
    expect(new ManagedList('hé😀').copy()).toEqual(['h', 'é', '😀']);
    expect(new ManagedList().copy()).toEqual([]);
    throws(() => new ManagedList(5), TypeError, /^init must be iterable/);
    throws(() => new ManagedList({ a: 1 }), TypeError, /^init must be iterable/);
  });

  it('get and set with negative indexes and range errors', () => {
    const l = new ManagedList(['a', 'b', 'c']);
    expect(l.get(0)).toBe('a');
    expect(l.get(-1)).toBe('c');
    expect(l.get(-3)).toBe('a');
    throws(() => l.get(3), RangeError, 'list index out of range');
    throws(() => l.get(-4), RangeError, 'list index out of range');
    l.set(-1, 'z');
    l.set(0, 'y');
    expect(l.copy()).toEqual(['y', 'b', 'z']);
    throws(() => l.set(3, 'x'), RangeError, 'list assignment index out of range');
    throws(() => l.set(-4, 'x'), RangeError, 'list assignment index out of range');
    throws(() => l.get(1.5), TypeError, /^index must be an integer/);
    throws(() => l.get('0'), TypeError, /^index must be an integer/);
    throws(() => l.set(null, 1), TypeError, /^index must be an integer/);
  });

  it('append, extend (itself too), insert with clamping', () => {
    const l = new ManagedList([1]);
    l.append([2]);
    l.extend([3, 4]);
    l.extend(new Set([5]));
    expect(l.copy()).toEqual([1, [2], 3, 4, 5]);
    const twice = new ManagedList([1, 2]);
    twice.extend(twice.copy());
    expect(twice.copy()).toEqual([1, 2, 1, 2]);
    throws(() => l.extend(7), TypeError, /^iterable must be iterable/);
    const ins = new ManagedList(['a', 'b']);
    ins.insert(1, 'x');
    ins.insert(-1, 'y');
    ins.insert(100, 'end');
    ins.insert(-100, 'start');
    expect(ins.copy()).toEqual(['start', 'a', 'x', 'y', 'b', 'end']);
    throws(() => ins.insert(0.5, 'z'), TypeError, /^index must be an integer/);
  });

  it('pop', () => {
    const l = new ManagedList([1, 2, 3, 4]);
    expect(l.pop()).toBe(4);
    expect(l.pop(0)).toBe(1);
    expect(l.pop(-2)).toBe(2);
    throws(() => l.pop(5), RangeError, 'pop index out of range');
    throws(() => l.pop(-2), RangeError, 'pop index out of range');
    expect(l.pop()).toBe(3);
    throws(() => l.pop(), RangeError, 'pop from empty list');
    throws(() => l.pop('x'), TypeError, /^index must be an integer/);
  });

  it('remove, index and count use pyEquals', () => {
    const l = new ManagedList([1, [2, 3], NaN, 'a', 1n, { k: [1] }]);
    expect(l.count(1)).toBe(2);
    expect(l.count(NaN)).toBe(1);
    expect(l.count('zz')).toBe(0);
    expect(l.index([2, 3])).toBe(1);
    expect(l.index(NaN)).toBe(2);
    expect(l.index({ k: [1] })).toBe(5);
    expect(l.index(1n)).toBe(0);
    expect(l.index(1, 1)).toBe(4);
    expect(l.index(1, -2)).toBe(4);
    expect(l.index('a', null, -2)).toBe(3);
    throws(() => l.index(1, 1, 4), ValueError, '1 is not in list');
    throws(() => l.index('b'), ValueError, '"b" is not in list');
    throws(() => l.index([9]), ValueError, '[9] is not in list');
    throws(() => l.index(1, 'x'), TypeError, /^start must be an integer/);
    l.remove([2, 3]);
    l.remove(1n);
    expect(l.copy()).toEqual([NaN, 'a', 1n, { k: [1] }]);
    throws(() => l.remove('q'), ValueError, 'list.remove(x): x not in list');
  });

  it('reverse', () => {
    const l = new ManagedList([1, 2, 3]);
    l.reverse();
    expect(l.copy()).toEqual([3, 2, 1]);
  });

  it('sort is stable, numeric and by code point, and reverse keeps equal items in order', () => {
    const n = new ManagedList([10, 2, 1n, 3.5, true, -1]);
    n.sort();
    expect(n.copy()).toEqual([-1, 1n, true, 2, 3.5, 10]); // 1n == true: original order kept
    const s = new ManagedList(['b', 'B', 'a', 'é', 'A']);
    s.sort({ reverse: true });
    expect(s.copy()).toEqual(['é', 'b', 'a', 'B', 'A']);
    const stable = new ManagedList([[1, 'x'], [0, 'y'], [1, 'x']].map((p, i) => [p[0], i]));
    stable.sort();
    expect(stable.copy()).toEqual([[0, 1], [1, 0], [1, 2]]);
    const eq = new ManagedList([1, 1n, true, 0]);
    eq.sort({ reverse: true });
    expect(eq.copy()).toEqual([1, 1n, true, 0]);
    const one = new ManagedList([{}]);
    one.sort();
    expect(one.copy()).toEqual([{}]);
  });

  it('sort refuses mixed kinds, undefined and a key function, leaving the list unchanged', () => {
    const l = new ManagedList([3, 'a', 1]);
    throws(() => l.sort(), TypeError, /^'<' not supported between instances of '(string|number)' and '(string|number)'$/);
    expect(l.copy()).toEqual([3, 'a', 1]);
    const u = new ManagedList([2, undefined, 1]);
    throws(() => u.sort(), TypeError, "'<' not supported between instances of 'undefined' and 'number'");
    expect(u.copy()).toEqual([2, undefined, 1]);
    throws(() => l.sort({ key: 'x' }), TypeError, /functions cannot be sent to the manager.*sort a copy locally/);
    throws(() => l.sort({ reverse: 1 }), TypeError, /^options\.reverse must be a boolean/);
    throws(() => l.sort({ cmp: 1 }), TypeError, "sort() got an unexpected option 'cmp'");
    throws(() => l.sort([]), TypeError, /^options must be an options object/);
    const ok = new ManagedList([2, 1]);
    ok.sort({ key: null, reverse: false });
    expect(ok.copy()).toEqual([1, 2]);
  });

  it('length, copy is a detached plain array, slice with Python bounds', () => {
    const l = new ManagedList([0, 1, 2, 3, 4]);
    expect(l.length()).toBe(5);
    const c = l.copy();
    expect(Array.isArray(c)).toBe(true);
    c.push(9);
    expect(l.length()).toBe(5);
    expect(l[kSnapshot]()).toEqual([0, 1, 2, 3, 4]);
    expect(l.slice()).toEqual([0, 1, 2, 3, 4]);
    expect(l.slice(1, 3)).toEqual([1, 2]);
    expect(l.slice(-2)).toEqual([3, 4]);
    expect(l.slice(null, -3)).toEqual([0, 1]);
    expect(l.slice(-100, 100)).toEqual([0, 1, 2, 3, 4]);
    expect(l.slice(4, 1)).toEqual([]);
    expect(l.slice(undefined, 2)).toEqual([0, 1]);
    throws(() => l.slice(0.5), TypeError, /^start must be an integer/);
    throws(() => l.slice(0, '1'), TypeError, /^stop must be an integer/);
  });
});

describe('ManagedNamespace', () => {
  it('get, set, delete, has, copy', () => {
    const ns = new ManagedNamespace({ x: 1 });
    ns.set('y', [2]);
    ns.set('_private', 'data');
    expect(ns.get('x')).toBe(1);
    expect(ns.get('y')).toEqual([2]);
    expect(ns.get('_private')).toBe('data');
    expect(ns.has('x')).toBe(true);
    ns.delete('x');
    expect(ns.has('x')).toBe(false);
    throws(() => ns.get('x'), ValueError, "Namespace has no attribute 'x'");
    throws(() => ns.delete('x'), ValueError, "Namespace has no attribute 'x'");
    expect(ns.copy()).toEqual({ y: [2], _private: 'data' });
    expect(ns[kSnapshot]()).toEqual({ y: [2], _private: 'data' });
    expect(new ManagedNamespace().copy()).toEqual({});
  });

  it('names must be strings; init must be a plain object', () => {
    const ns = new ManagedNamespace();
    throws(() => ns.get(1), TypeError, /^name must be a string/);
    throws(() => ns.set(Symbol('s'), 1), TypeError, /^name must be a string/);
    throws(() => ns.has(null), TypeError, /^name must be a string/);
    throws(() => ns.delete([]), TypeError, /^name must be a string/);
    throws(() => new ManagedNamespace([1]), TypeError, /^init must be a plain object/);
    throws(() => new ManagedNamespace('x'), TypeError, /^init must be a plain object/);
  });

  it("'__proto__' and 'constructor' are plain names (no prototype pollution)", () => {
    const before = protoNames();
    const ns = new ManagedNamespace(JSON.parse('{"__proto__": {"polluted": true}}'));
    ns.set('constructor', 5);
    expect(ns.get('__proto__')).toEqual({ polluted: true });
    expect(ns.get('constructor')).toBe(5);
    throws(() => ns.get('toString'), ValueError, "Namespace has no attribute 'toString'");
    expect(ns.has('hasOwnProperty')).toBe(false);
    const c = ns.copy();
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
    expect(Object.keys(c)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(protoNames()).toEqual(before);
  });
});

describe('ManagedValue', () => {
  it('checks the typecode and stores the value as given', () => {
    const v = new ManagedValue('i', 5);
    expect(v.get()).toBe(5);
    v.set('not coerced');
    expect(v.get()).toBe('not coerced');
    expect(v[kSnapshot]()).toBe('not coerced');
    expect(v.typecode).toBe('i');
    expect(new ManagedValue('c_double', 1.5).typecode).toBe('d');
    throws(() => new ManagedValue('z', 1), ValueError, /^typecode must be one of 'c', 'u', 'b'/);
    throws(() => new ManagedValue(5, 1), TypeError, /^typecode must be a typecode string/);
  });
});

describe('ManagedArray', () => {
  it('zero-fills a size or copies a sequence', () => {
    expect(new ManagedArray('d', 3).copy()).toEqual([0, 0, 0]);
    expect(new ManagedArray('i', [1, -2, 3]).copy()).toEqual([1, -2, 3]);
    expect(new ManagedArray('q', [1, 2n]).copy()).toEqual([1n, 2n]);
    expect(new ManagedArray('f', new Set([0.5])).copy()).toEqual([0.5]);
    expect(new ManagedArray('B', 0).length()).toBe(0);
  });

  it('refuses bad typecodes, sizes and values', () => {
    throws(() => new ManagedArray('x', 1), ValueError, /^typecode must be one of/);
    throws(() => new ManagedArray('i', -1), RangeError, /^size must be between 0/);
    throws(() => new ManagedArray('i', 1.5), TypeError, /^size must be an integer/);
    throws(() => new ManagedArray('i', { a: 1 }), TypeError, /^sizeOrSequence must be a size or an iterable/);
    throws(() => new ManagedArray('b', [1, 200]), RangeError, /^sizeOrSequence\[1\] 200 is out of range for 'b'/);
    throws(() => new ManagedArray('i', [1.5]), TypeError, /^sizeOrSequence\[0\] must be an integer/);
  });

  it('get and set with negative indexes; values checked, never wrapped', () => {
    const a = new ManagedArray('h', [1, 2, 3]);
    expect(a.get(-1)).toBe(3);
    a.set(-3, 10);
    a.set(1, -5);
    expect(a.copy()).toEqual([10, -5, 3]);
    throws(() => a.get(3), RangeError, 'array index out of range');
    throws(() => a.get(-4), RangeError, 'array index out of range');
    throws(() => a.set(3, 1), RangeError, 'array assignment index out of range');
    throws(() => a.set(0, 40000), RangeError, /^value 40000 is out of range for 'h'/);
    throws(() => a.set(0, 'x'), TypeError, /^value must be an integer for 'h'/);
    throws(() => a.set(0, 1.5), TypeError, /^value must be an integer/);
    throws(() => a.get('1'), TypeError, /^index must be an integer/);
    expect(a.copy()).toEqual([10, -5, 3]);
    const big = new ManagedArray('Q', 1);
    big.set(0, 2n ** 64n - 1n);
    expect(big.get(0)).toBe(2n ** 64n - 1n);
    throws(() => big.set(0, -1n), RangeError, /out of range for 'Q'/);
  });

  it("'c' elements are byte numbers and 'u' elements one-character strings", () => {
    const c = new ManagedArray('c', 'hi');
    expect(c.copy()).toEqual([104, 105]);
    c.set(0, 'H');
    c.set(1, 33);
    expect(c.get(0)).toBe(72);
    expect(c.copy()).toEqual([72, 33]);
    expect(new ManagedArray('c', Buffer.from([1, 2])).copy()).toEqual([1, 2]);
    throws(() => c.set(0, 'ab'), TypeError, /single byte for 'c'/);
    const u = new ManagedArray('u', 'aé');
    expect(u.copy()).toEqual(['a', 'é']);
    u.set(0, 'z');
    expect(u.get(0)).toBe('z');
    expect(u.get(-1)).toBe('é');
    throws(() => u.set(0, 'zz'), TypeError, /single character for 'u'/);
    expect(new ManagedArray('u', ['x', 'y']).copy()).toEqual(['x', 'y']);
  });

  it('length, copy, slice', () => {
    const a = new ManagedArray('i', [0, 1, 2, 3]);
    expect(a.length()).toBe(4);
    expect(a.slice(1, -1)).toEqual([1, 2]);
    expect(a.slice(-2)).toEqual([2, 3]);
    expect(a.slice(3, 1)).toEqual([]);
    expect(a.slice(null, 100)).toEqual([0, 1, 2, 3]);
    const c = a.copy();
    expect(Array.isArray(c)).toBe(true);
    c[0] = 99;
    expect(a.get(0)).toBe(0);
    expect(a[kSnapshot]()).toEqual([0, 1, 2, 3]);
  });
});

describe('exposed', () => {
  const classes = { ManagedDict, ManagedList, ManagedNamespace, ManagedValue, ManagedArray };
  it.each(Object.entries(classes))('%s exposes exactly its public methods', (_name, cls) => {
    const methods = Object.getOwnPropertyNames(cls.prototype).filter(
      (n) => n !== 'constructor' && typeof Object.getOwnPropertyDescriptor(cls.prototype, n)?.value === 'function',
    );
    expect([...cls.exposed].sort()).toEqual(methods.sort());
    expect(Object.isFrozen(cls.exposed)).toBe(true);
    expect(typeof (cls.prototype as unknown as Record<symbol, unknown>)[kSnapshot]).toBe('function');
  });
  it('lists what the contract names', () => {
    expect(ManagedDict.exposed).toEqual(
      expect.arrayContaining(['get', 'set', 'delete', 'has', 'keys', 'values', 'items', 'update', 'pop', 'popitem', 'setdefault', 'clear', 'length', 'copy']),
    );
    expect(ManagedList.exposed).toHaveLength(14);
    expect(kSnapshot).toBe(Symbol.for('multiprocessing.manager.snapshot'));
  });
});
