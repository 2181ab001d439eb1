// Node's flags as a process was given them: NODE_OPTIONS split as Node splits it, and a test
// for a flag in a list of arguments. Kept free of imports: the zygote's watcher loads it first.

/**
 * NODE_OPTIONS as arguments: split at spaces outside double quotes; quotes are dropped and,
 * inside them, a backslash keeps the next character (`"--require=/a b/x.js"` is one).
 */
export function nodeOptionsArgs(value: string = process.env.NODE_OPTIONS ?? ''): string[] {
  const args: string[] = [];
  let quoted = false;
  let fresh = true;
  for (let i = 0; i < value.length; i++) {
    let c = value[i]!;
    if (c === '\\' && quoted) c = value[++i] ?? '';
    else if (c === ' ' && !quoted) {
      fresh = true;
      continue;
    } else if (c === '"') {
      quoted = !quoted;
      continue;
    }
    if (fresh) args.push(c);
    else args[args.length - 1] += c;
    fresh = false;
  }
  return args;
}

/** Whether `args` hold one of `flags`, as `--flag value` or `--flag=value`. */
export function hasFlag(args: readonly string[], flags: readonly string[]): boolean {
  return args.some((a) => flags.some((f) => a === f || a.startsWith(`${f}=`)));
}
