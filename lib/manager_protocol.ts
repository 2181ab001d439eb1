// The manager protocol: what a proxy and a manager server say to each other over one
// authenticated socket (mp.connection framing, codec.ts payloads).
//
//   request  [requestId, objectId, method, args]   requestId 0: no reply wanted
//   reply    [requestId, kind, value]
//
// Object 0 is the server itself (create, incref, decref, shutdown, ...). Requests are
// multiplexed: one connection per client process and server, any number of calls in
// flight, replies in the order the calls finish (a Lock.acquire that waits does not hold
// up a dict.get behind it).
//
// A proxy travels as a token (a shared handle of kind 'ManagerProxy'): which server
// (its random id and the address to reach it), which object, its typeid and methods.
import { availableParallelism } from 'node:os';
import * as errors from './errors.js';
import type { Address } from './listener.js';
import { HANDLE_KIND } from './reduction.js';
import { Scoped } from './scoped.js';

export const SERVER_OBJECT = 0;

/** How long a side polls its socket for the other's next message before it sleeps. */
export const SPIN_MICROS = 50;
/** Spinning only pays when the other side can run on another CPU meanwhile. */
const SPIN = availableParallelism() > 1;

/**
 * When to poll a socket briefly instead of sleeping on it. A caller in a loop of calls
 * gets its reply, and a server its next request, within tens of microseconds, and a
 * sleep and wake-up costs as much again; but a spin that catches nothing only burns a
 * CPU the other side may need (three processes on two cores). So: spin while spins pay;
 * after two misses in a row, sleep for the next 64 times, then try again.
 */
export class SpinPolicy {
  private skip = 0;
  private misses = 0;
  private hits = 0;

  /** Microseconds to spin now (0: do not). */
  budget(): number {
    if (!SPIN) return 0;
    if (this.skip > 0) {
      this.skip--;
      return 0;
    }
    // A loop whose every call is answered within the spin would never return to the
    // event loop (timers, other sockets): every 32nd time, it waits there instead.
    if (this.hits >= 32) {
      this.hits = 0;
      return 0;
    }
    return SPIN_MICROS;
  }

  /** Whether the spin that budget() allowed caught something. */
  result(hit: boolean): void {
    if (hit) {
      this.misses = 0;
      this.hits++;
    } else if (++this.misses >= 2) {
      this.misses = 0;
      this.skip = 64;
    }
  }
}

/** Reply kinds. */
export const RETURN = 0;
/** The method threw: the value describes the error, which the client rebuilds with its own type. */
export const ERROR = 1;
/** The request itself failed (unknown object, hidden method): a RemoteError on the client. */
export const FAILED = 2;
/** The method's result is a new managed object: the value is its token. */
export const PROXY = 3;

export type ReplyKind = typeof RETURN | typeof ERROR | typeof FAILED | typeof PROXY;
export type Request = [requestId: number, objectId: number, method: string, args: unknown[]];
export type Reply = [requestId: number, kind: ReplyKind, value: unknown];

export const PROXY_KIND = 'ManagerProxy';

export interface Token {
  readonly [HANDLE_KIND]: typeof PROXY_KIND;
  /** The server's random id (addresses differ by who looks: 0.0.0.0 vs the host name). */
  readonly server: string;
  readonly address: Address;
  readonly id: number;
  readonly typeid: string;
  /** The methods the proxy may call. */
  readonly exposed: readonly string[];
  /** Which proxy class to build: a built-in one's name, or '' for an AutoProxy. */
  readonly proxy: string;
  /** The authkey as hex, when it is not the receiving process's own (local transports only). */
  readonly authkey?: string;
  readonly [field: string]: unknown;
}

/** More arguments than any method takes: a request with more is malformed (a huge holey array is a cheap way to stall a server). */
const MAX_ARGS = 64;

export function isRequest(v: unknown): v is Request {
  return (
    Array.isArray(v) &&
    v.length === 4 &&
    Number.isSafeInteger(v[0]) &&
    Number.isSafeInteger(v[1]) &&
    typeof v[2] === 'string' &&
    Array.isArray(v[3]) &&
    v[3].length <= MAX_ARGS
  );
}

export function isReply(v: unknown): v is Reply {
  return Array.isArray(v) && v.length === 3 && Number.isSafeInteger(v[0]) && typeof v[1] === 'number';
}

// --------------------------------------------------------------------------- errors

export interface WireError {
  name: string;
  message: string;
  stack: string;
  code?: string;
}

/** An error as plain data (structured clone drops `code` and our classes). */
export function errorToWire(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      message: err.message,
      stack: err.stack ?? `${err.name}: ${err.message}`,
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: 'Error', message: String(err), stack: `Error: ${String(err)}` };
}

type ErrorClass = new (message: string) => Error;

const STANDARD: Record<string, ErrorClass> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Our error classes that take a plain message, by name. */
function libraryClass(name: string): ErrorClass | undefined {
  if (!Object.hasOwn(errors, name)) return undefined;
  const C = (errors as Record<string, unknown>)[name];
  if (typeof C !== 'function' || !(C.prototype instanceof errors.MultiprocessingError)) return undefined;
  if (name === 'RemoteError' || name === 'BufferTooShort' || name === 'WorkerLostError') return undefined;
  return C as ErrorClass;
}

/** The server's error rebuilt with its own class where we know it, and the server's stack. */
export function errorFromWire(w: unknown): Error {
  const e = (w ?? {}) as Partial<WireError>;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const message = typeof e.message === 'string' ? e.message : '';
  const C = libraryClass(name) ?? (Object.hasOwn(STANDARD, name) ? STANDARD[name] : undefined);
  const err = C !== undefined ? new C(message) : new Error(message);
  if (C === undefined) err.name = name;
  if (typeof e.stack === 'string') err.stack = e.stack;
  if (typeof e.code === 'string' && !(err instanceof errors.MultiprocessingError)) {
    (err as { code?: string }).code = e.code;
  }
  return err;
}

/** A failed request (not the method's own error): a RemoteError whose cause is the server's. */
export function remoteFailure(w: unknown): errors.RemoteError {
  const cause = errorFromWire(w);
  return new errors.RemoteError(`${cause.name}: ${cause.message}`, cause, cause.stack ?? '');
}

// ----------------------------------------------------------- revival context

/**
 * Tokens revive differently depending on who is reading: inside a server, a token of
 * that server's own objects is the object itself; a client reading its server's reply
 * reaches the server at the address it already uses. The reader sets the context for
 * the duration of one decode (revival is synchronous).
 */
export interface RevivalContext {
  /** Inside a server: the object a token of this server names (a FAILED error if none). */
  readonly serverId?: string;
  referent?(id: number): object;
  /** A client reading a reply from this server (its id), on this connection. */
  readonly replyFrom?: { serverId: string | null; authkey: Buffer | null; adopt(token: Token): unknown };
}

const context = new Scoped<RevivalContext | null>(null);

export function revivalContext(): RevivalContext | null {
  return context.value;
}

export function withRevivalContext<T>(ctx: RevivalContext, fn: () => T): T {
  return context.run(ctx, fn);
}

/** A loopback host (or a Unix socket): no authkey needed to listen there. */
export function isLocalAddress(address: Address): boolean {
  if (typeof address === 'string') return true;
  const host = address[0].toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}
