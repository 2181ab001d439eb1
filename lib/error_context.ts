// An OS error with the operation that met it in front of its message, keeping what code
// looks at: the class (RangeError/TypeError for bad arguments, else Error), `code`
// ('ENOSPC', 'ENOMEM', ...), `syscall` and `hint`; the original is the `cause`.

export function withContext(err: unknown, what: string): Error {
  const e = err as (NodeJS.ErrnoException & { hint?: string }) | null | undefined;
  const Kind = err instanceof RangeError ? RangeError : err instanceof TypeError ? TypeError : Error;
  const out = new Kind(`${what}: ${e?.message ?? String(err)}`, { cause: err }) as NodeJS.ErrnoException & { hint?: string };
  if (e?.code !== undefined) out.code = e.code;
  if (e?.syscall !== undefined) out.syscall = e.syscall;
  if (e?.hint !== undefined) out.hint = e.hint;
  return out;
}
