// isMainModule(): the entry-module guard, Python's `if __name__ == '__main__'`.
//
// A child imports its target's module, so that module's top-level code runs again there.
// Code that starts processes belongs behind this guard, which is true only in the process
// that ran the module as its entry (`node file`), and never in a child: a child has a
// parent process, and its entry is the library's bootstrap.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentProcess } from './process.js';
import { mainModule } from './targets.js';
import { describe } from './validate.js';

const realpaths = new Map<string, string>();

function real(file: string): string {
  let r = realpaths.get(file);
  if (r === undefined) {
    try {
      r = fs.realpathSync(file);
    } catch {
      r = path.resolve(file);
    }
    realpaths.set(file, r);
  }
  return r;
}

function toPath(ref: string | URL): string {
  if (ref instanceof URL) return fileURLToPath(ref);
  return ref.startsWith('file:') ? fileURLToPath(ref) : ref;
}

export type ModuleRef = ImportMeta | { url: string } | { filename: string } | string | URL;

/**
 * True only in the process that ran this module as its entry, never in a child. Pass
 * `import.meta` (ESM), `module` (CommonJS), or a file URL or path.
 */
export function isMainModule(ref: ModuleRef): boolean {
  let file: string;
  if (typeof ref === 'string' || ref instanceof URL) file = toPath(ref);
  else if (typeof ref === 'object' && ref !== null && typeof (ref as { url?: unknown }).url === 'string') {
    file = toPath((ref as { url: string }).url);
  } else if (typeof ref === 'object' && ref !== null && typeof (ref as { filename?: unknown }).filename === 'string') {
    file = (ref as { filename: string }).filename;
  } else {
    throw new TypeError(`isMainModule() takes import.meta, a CommonJS module, a file URL or a path, got ${describe(ref)}`);
  }
  if (parentProcess() !== null) return false;
  const entry = mainModule();
  return entry !== undefined && real(file) === real(toPath(entry));
}
