// A function's source text: reading it, checking it (comments and strings blanked), and
// the expression that rebuilds it; and, in the child, rebuilding a function sent as
// source text ('source' refs of lib/targets.ts). The rebuilt function runs in sloppy mode
// with `require`, `module`, `exports`, `__filename` and `__dirname` of the file that
// sent it in scope; a variable of its old enclosing scope fails with a ReferenceError
// that says what to do.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { types as utilTypes } from 'node:util';
import { type AnyFunction, mainModule, toPath } from './code_location.js';

// ---------------------------------------------------------------------------------------
// Reading a function's source

/** Source text with comments and string/template contents blanked (for keyword checks). */
export function codeOnly(src: string): string {
  let out = '';
  const reopen: number[] = []; // brace depths at which a template's ${ } closes
  let depth = 0;
  let inTemplate = false;
  let i = 0;
  const n = src.length;
  while (i < n) {
    const ch = src[i]!;
    if (inTemplate) {
      if (ch === '\\') i += 2;
      else if (ch === '`') {
        inTemplate = false;
        out += ' ';
        i++;
      } else if (ch === '$' && src[i + 1] === '{') {
        reopen.push(depth++);
        inTemplate = false;
        out += ' ';
        i += 2;
      } else i++;
      continue;
    }
    if (ch === '/' && src[i + 1] === '/') {
      const end = src.indexOf('\n', i);
      i = end < 0 ? n : end;
    } else if (ch === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      out += ' ';
    } else if (ch === '"' || ch === "'") {
      i++;
      while (i < n && src[i] !== ch && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1;
      i++;
      out += ' ';
    } else if (ch === '`') {
      inTemplate = true;
      i++;
    } else if (ch === '{') {
      depth++;
      out += ch;
      i++;
    } else if (ch === '}') {
      depth--;
      i++;
      if (reopen.length > 0 && reopen[reopen.length - 1] === depth) {
        reopen.pop();
        inTemplate = true;
      } else out += ch;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

export const NATIVE_SOURCE = /\{\s*\[native code\]\s*\}\s*$/;
export const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function word(name: string): string {
  return `(?<![\\p{ID_Continue}$])${escapeRe(name)}(?![\\p{ID_Continue}$])`;
}

/**
 * A JS expression that evaluates to the function whose source is `source`, or null if
 * none compiles. Plain functions, arrows, async functions and generators are expressions
 * as they are; method shorthand (`foo(x) { ... }`, `async *gen() {}`, `get x() {}`) is
 * taken out of an object literal.
 */
export function sourceExpression(source: string): string | null {
  return sourceForms(source).find(compiles) ?? null;
}

/** The expressions sourceExpression tries, in its order. */
function sourceForms(source: string): string[] {
  const plain = `(${source}\n)`;
  const method =
    `((o) => { const d = Object.getOwnPropertyDescriptor(o, Reflect.ownKeys(o)[0]);` +
    ` return d.value ?? d.get ?? d.set; })({ ${source}\n })`;
  return [plain, method];
}

function compiles(expr: string): boolean {
  try {
    new Function(`return ${expr}`);
    return true;
  } catch {
    return false;
  }
}

export function functionSource(fn: Function): string {
  try {
    return Function.prototype.toString.call(fn);
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------
// Child: rebuild from source

/**
 * Wrap a function rebuilt from source so that "X is not defined" (X not a global, X in
 * its source: a variable it captured in the parent) becomes a ReferenceError that names X
 * and says what to do, for sync throws and rejected promises alike. The original error
 * is the `cause`. Errors thrown while a returned generator is iterated are not rewritten.
 */
export function wrapSourceTarget(fn: AnyFunction, source: string, name = fn.name): AnyFunction {
  // (Parenthesized: compiled with this function, which the zygote's rehearsal runs, instead
  // of in each forked child.)
  const wrapped = (function (this: unknown, ...args: unknown[]): unknown {
    let result: unknown;
    try {
      result = Reflect.apply(fn, this, args);
    } catch (err) {
      throw explainScopeError(err, source, name);
    }
    if (utilTypes.isPromise(result)) {
      return (result as Promise<unknown>).then(undefined, (err: unknown) => {
        throw explainScopeError(err, source, name);
      });
    }
    return result;
  });
  Object.defineProperty(wrapped, 'name', { value: name, configurable: true });
  return wrapped;
}

/**
 * `require` for a rebuilt function, as createRequire(filename) makes it, but made on its
 * first use: making one costs a forked child ~0.1 ms of its start, and most targets never
 * call it.
 */
function lazyRequire(filename: string): NodeJS.Require {
  let made: NodeJS.Require | undefined;
  const real = () => (made ??= createRequire(filename));
  const lazy = ((id: string) => real()(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: { paths?: string[] }) => real().resolve(request, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => real().resolve.paths(request);
  // Plain properties once assigned, as on createRequire's function.
  const lazily = (key: 'cache' | 'main' | 'extensions'): PropertyDescriptor => ({
    get: () => real()[key],
    set: (value: unknown) => Object.defineProperty(lazy, key, { value, writable: true, enumerable: true, configurable: true }),
    enumerable: true,
    configurable: true,
  });
  Object.defineProperties(lazy, {
    resolve: { value: resolve, writable: true, enumerable: true, configurable: true },
    cache: lazily('cache'),
    main: lazily('main'),
    extensions: lazily('extensions'),
  });
  return lazy;
}

function explainScopeError(err: unknown, source: string, name: string): unknown {
  if (!(err instanceof ReferenceError)) return err;
  const m = /^(\S+) is not defined$/.exec(err.message);
  if (m === null) return err;
  const variable = m[1]!;
  if (variable in globalThis || !new RegExp(word(variable), 'u').test(codeOnly(source))) return err;
  const who = name === '' ? 'the target function' : `target '${name}'`;
  const error = new ReferenceError(
    `${variable} is not defined: ${who} uses '${variable}' from the scope it was defined in, but it was sent ` +
      'to this process as source text (it is not exported from a module), so it cannot see that scope. ' +
      `Export the function from its module (or pass ${variable} in args).`,
    { cause: err },
  );
  return Object.assign(error, { variable });
}

/** Rebuild a function from its source text, with CommonJS-style locals of `file`. */
export function rebuild(source: string, name: string, file: string | undefined): AnyFunction {
  // Each form compiled once, as the function that makes the target (a separate "does it
  // compile" check would compile every target twice, in every child).
  let make: Function | undefined;
  for (const expr of sourceForms(source)) {
    try {
      make = new Function('require', 'module', 'exports', '__filename', '__dirname', `return ${expr}`);
      break;
    } catch {
      // not this form
    }
  }
  if (make === undefined) {
    throw new TypeError(`target ${name === '' ? '(anonymous)' : `'${name}'`}: its source text cannot be rebuilt here`);
  }
  const main = mainModule();
  const filename = file ?? (main === undefined ? undefined : toPath(main)) ?? path.join(process.cwd(), '[mp-target]');
  const localRequire = lazyRequire(filename);
  const mod = { exports: {}, filename, id: filename };
  let built: unknown;
  try {
    built = make(localRequire, mod, mod.exports, filename, path.dirname(filename));
  } catch (err) {
    throw explainScopeError(err, source, name);
  }
  if (typeof built !== 'function') throw new TypeError(`target '${name}': its source text did not rebuild a function`);
  return wrapSourceTarget(built as AnyFunction, source, name);
}
