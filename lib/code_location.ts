// Where code lives: turning paths, file URLs and module specifiers into one another
// (including TypeScript's './x.js' for x.ts), the text of source files, the user file
// that called into this library (read from the stack), and the process's entry module.
// lib/targets.ts uses these to find where a target function is exported.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type AnyFunction = (...args: unknown[]) => unknown;

// ---------------------------------------------------------------------------------------
// Files and URLs

const DIST_DIRS: string[] = (() => {
  const dirs = [__dirname];
  try {
    const real = realpathSync(__dirname);
    if (real !== __dirname) dirs.push(real);
  } catch {
    // keep the one we have
  }
  return dirs;
})();

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * `cache`'s answer for `key`: computed on the first ask and kept. A cache that holds
 * `limit` answers is emptied first. (The answers kept here and in targets.ts are asked
 * at every start, while the parent's code is still cold.)
 */
export function remembered<K, V>(cache: Map<K, V>, limit: number, key: K, compute: (key: K) => V): V {
  if (cache.has(key)) return cache.get(key) as V;
  const value = compute(key);
  if (cache.size >= limit) cache.clear();
  cache.set(key, value);
  return value;
}

/** inLibrary's answers by path: asked for every stack frame and module at each start. */
const libraryFiles = new Map<string, boolean>();

const isLibraryFile = (file: string): boolean => DIST_DIRS.some((d) => isInside(d, file));

export function inLibrary(file: string): boolean {
  return remembered(libraryFiles, 4096, file, isLibraryFile);
}

/** An absolute path as a file URL; file URLs and bare specifiers unchanged. */
export function toUrl(fileOrUrl: string): string {
  if (fileOrUrl.startsWith('file:')) return fileOrUrl;
  if (path.isAbsolute(fileOrUrl)) return pathToFileURL(fileOrUrl).href;
  return fileOrUrl;
}

/** toPath's answers for file URLs: each start asks for its caller's (a URL parse, ~60 us cold). */
const urlPaths = new Map<string, string | undefined>();

function pathOfUrl(url: string): string | undefined {
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

/** The path of a file URL or absolute path; undefined for anything else. */
export function toPath(fileOrUrl: string): string | undefined {
  if (!fileOrUrl.startsWith('file:')) return path.isAbsolute(fileOrUrl) ? fileOrUrl : undefined;
  return remembered(urlPaths, 1024, fileOrUrl, pathOfUrl);
}

export function inNodeModules(file: string): boolean {
  return file.split(/[\\/]/).includes('node_modules');
}

// TypeScript sources import './x.js' for a file that is x.ts; tsx maps it when loading.
const TS_TWINS: Record<string, string[]> = { '.js': ['.ts', '.tsx'], '.mjs': ['.mts'], '.cjs': ['.cts'], '.jsx': ['.tsx'] };

/** A file URL for a file that exists: `url` itself or its TypeScript twin; else undefined. */
export function existingFile(url: string): string | undefined {
  const p = toPath(url);
  if (p === undefined) return undefined;
  if (existsSync(p)) return url;
  const ext = path.extname(p);
  for (const twin of TS_TWINS[ext] ?? []) {
    const q = p.slice(0, -ext.length) + twin;
    if (existsSync(q)) return pathToFileURL(q).href;
  }
  return undefined;
}

/** Resolve a module specifier written in `fromFile` (path or URL) to a file URL, or undefined. */
export function resolveSpecifier(spec: string, fromFile: string): string | undefined {
  const fromPath = toPath(fromFile);
  if (fromPath === undefined) return undefined;
  if (spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('/') || spec.startsWith('file:')) {
    try {
      return existingFile(new URL(spec, pathToFileURL(fromPath)).href);
    } catch {
      return undefined;
    }
  }
  if (spec.startsWith('node:')) return undefined;
  try {
    const resolved = createRequire(fromPath).resolve(spec);
    return path.isAbsolute(resolved) ? pathToFileURL(resolved).href : undefined;
  } catch {
    return undefined;
  }
}

const texts = new Map<string, string | null>();

export function fileText(file: string): string | null {
  let text = texts.get(file);
  if (text === undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      text = null;
    }
    texts.set(file, text);
  }
  return text;
}

// ---------------------------------------------------------------------------------------
// The calling file and the entry module

/**
 * The file (file URL or absolute path) of the first stack frame outside this library's
 * dist/ directory and outside node: internals: the user code that called us.
 */
export function callerFile(): string | undefined {
  for (const file of stackFiles(callerFile)) {
    if (file.startsWith('node:') || file.startsWith('internal/')) continue;
    const p = toPath(file);
    if (p === undefined || inLibrary(p)) continue;
    return file;
  }
  return undefined;
}

/** The script names of the frames above `above`, outermost last. */
function stackFiles(above: AnyFunction): string[] {
  const holder: { stack?: unknown } = {};
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  try {
    Error.stackTraceLimit = Infinity;
    Error.prepareStackTrace = (_err, sites) => sites;
    Error.captureStackTrace(holder, above);
    void holder.stack; // formatted lazily on first access: do it while our hook is in place
  } catch {
    // a frozen Error: fall through to whatever stack we got
  } finally {
    try {
      Error.stackTraceLimit = limit;
      Error.prepareStackTrace = prepare;
    } catch {
      // frozen
    }
  }
  const stack = holder.stack;
  if (Array.isArray(stack)) {
    const files: string[] = [];
    for (const site of stack as NodeJS.CallSite[]) {
      let file: string | null | undefined;
      try {
        file = site.isEval() ? undefined : site.getFileName();
      } catch {
        file = undefined;
      }
      if (typeof file === 'string' && file !== '') files.push(file);
    }
    return files;
  }
  // Someone else's prepareStackTrace won: parse the text ("at f (file:1:2)", "at file:1:2").
  if (typeof stack !== 'string') return [];
  const files: string[] = [];
  for (const line of stack.split('\n')) {
    const m = /^\s*at (?:.*\((.+?):\d+:\d+\)|(?:async )?(.+?):\d+:\d+)$/.exec(line);
    const file = m?.[1] ?? m?.[2];
    if (file !== undefined && !file.includes('eval at ')) files.push(file);
  }
  return files;
}

let mainOverride: { url: string | undefined } | null = null;
let mainComputed: { url: string | undefined } | null = null;

/** In a child: the entry module of the main process (the process helper passes it in). */
export function setMainModule(url: string | undefined): void {
  mainOverride = { url: url === undefined ? undefined : toUrl(url) };
}

/** The entry module of this process as a file URL (the main process's, in a child), if any. */
export function mainModule(): string | undefined {
  if (mainOverride !== null) return mainOverride.url;
  mainComputed ??= { url: computeMain() };
  return mainComputed.url;
}

function computeMain(): string | undefined {
  let file: string | undefined = require.main?.filename;
  if (file === undefined) {
    const arg = process.argv[1];
    if (typeof arg !== 'string' || arg === '') return undefined;
    file = path.resolve(arg);
    if (!existsSync(file)) {
      try {
        file = require.resolve(file);
      } catch {
        return undefined;
      }
    }
  }
  if (inLibrary(file)) return undefined;
  return pathToFileURL(file).href;
}
