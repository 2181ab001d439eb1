// What a process forked from the forkserver's zygote (lib/zygote.ts) must redo: module
// state that names the process it belongs to (its pid in lock words) or must differ
// between processes (random caches). As Python's multiprocessing.util.register_after_fork.
// Kept free of imports: low-level modules register here.

const hooks: (() => void)[] = [];

/** Run `fn` in every process forked from this one by the zygote, first thing. */
export function registerAfterFork(fn: () => void): void {
  hooks.push(fn);
}

/**
 * The zygote's child calls this once, right after its pid is its own. (Parenthesized, and
 * so are the hooks: V8 compiles them in the zygote, not in each child; see zygote.ts.)
 */
export const runAfterFork = (function runAfterFork(): void {
  for (const fn of hooks) fn();
});
