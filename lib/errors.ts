// The error classes of API.md. Each has a stable `code`; all extend MultiprocessingError.

export class MultiprocessingError extends Error {
  readonly code: string = 'ERR_MP';
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

function defineError<C extends string>(code: C) {
  return class extends MultiprocessingError {
    override readonly code: C = code;
  };
}

/** get on an empty queue without blocking or after a timeout (Python's queue.Empty). */
export class Empty extends defineError('ERR_MP_EMPTY') {}
/** put on a full queue without blocking or after a timeout (Python's queue.Full). */
export class Full extends defineError('ERR_MP_FULL') {}
/** AsyncResult.get(timeout) ran out (multiprocessing.TimeoutError). */
export class TimeoutError extends defineError('ERR_MP_TIMEOUT') {}
/** Misuse of a process: start twice, join before start, a daemon starting a child. */
export class ProcessError extends defineError('ERR_MP_PROCESS') {}
/** Bad argument value or state (Python's ValueError). */
export class ValueError extends defineError('ERR_MP_VALUE') {}
/** A connection's authkey does not match. */
export class AuthenticationError extends defineError('ERR_MP_AUTH') {}
/** Barrier aborted, reset or timed out. */
export class BrokenBarrierError extends defineError('ERR_MP_BROKEN_BARRIER') {}
/** The pool worker running a task died. */
export class WorkerLostError extends defineError('ERR_MP_WORKER_LOST') {
  /** The worker's exit code (process.exit(n)), or null when a signal ended it. */
  readonly exitcode: number | null;
  /** The signal that ended the worker ('SIGKILL', ...), or null. */
  readonly signal: string | null;
  constructor(message: string, info: { exitcode?: number | null; signal?: string | null } = {}) {
    super(message);
    this.exitcode = info.exitcode ?? null;
    this.signal = info.signal ?? null;
  }
}
/** A ProcessPoolExecutor task cancelled before it started (concurrent.futures.CancelledError). */
export class CancelledError extends defineError('ERR_MP_CANCELLED') {}
/** recv on a connection whose other end is closed and drained. */
export class EOFError extends defineError('ERR_MP_EOF') {}

/** recvBytesInto's buffer is too small; `data` holds the whole message. */
export class BufferTooShort extends defineError('ERR_MP_BUFFER_TOO_SHORT') {
  readonly data: Buffer;
  constructor(data: Buffer, message = `buffer too short: the message is ${data.length} bytes`) {
    super(message);
    this.data = data;
  }
}

/** An error thrown inside a worker or manager. `cause` is the original error. */
export class RemoteError extends defineError('ERR_MP_REMOTE') {
  readonly remoteStack: string;
  constructor(message: string, cause: unknown, remoteStack = '') {
    super(message, { cause });
    this.remoteStack = remoteStack;
  }
}

/** A manager dict has no such key (Python's KeyError: `del d[k]`, `d.pop(k)` without a default). */
export class KeyError extends defineError('ERR_MP_KEY') {}
