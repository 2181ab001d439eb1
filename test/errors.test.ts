import { describe, expect, it } from 'vitest';
import * as mp from 'multiprocessing';
import { createRequire } from 'node:module';

const codes: Record<string, string> = {
  Empty: 'ERR_MP_EMPTY', Full: 'ERR_MP_FULL', TimeoutError: 'ERR_MP_TIMEOUT', ProcessError: 'ERR_MP_PROCESS',
  ValueError: 'ERR_MP_VALUE', AuthenticationError: 'ERR_MP_AUTH', BrokenBarrierError: 'ERR_MP_BROKEN_BARRIER',
  WorkerLostError: 'ERR_MP_WORKER_LOST', EOFError: 'ERR_MP_EOF', CancelledError: 'ERR_MP_CANCELLED',
};

describe('errors', () => {
  it.each(Object.entries(codes))('%s has code %s and extends MultiprocessingError', (name, code) => {
    const Cls = (mp as unknown as Record<string, new (m: string) => Error & { code: string }>)[name];
    const err = new Cls('boom');
    expect(err).toBeInstanceOf(mp.MultiprocessingError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(err.name).toBe(name);
    expect(err.message).toBe('boom');
  });

  it('BufferTooShort carries the whole message', () => {
    const err = new mp.BufferTooShort(Buffer.from('hello'));
    expect(err.code).toBe('ERR_MP_BUFFER_TOO_SHORT');
    expect(err.data.toString()).toBe('hello');
  });

  it('RemoteError keeps the cause and the remote stack', () => {
    const cause = new RangeError('inner');
    const err = new mp.RemoteError('outer', cause, 'stack text');
    expect(err.cause).toBe(cause);
    expect(err.remoteStack).toBe('stack text');
    expect(err.code).toBe('ERR_MP_REMOTE');
  });

  it('ESM and CommonJS entry points share one module instance', () => {
    const require = createRequire(import.meta.url);
    const cjs = require('multiprocessing');
    expect(cjs.ValueError).toBe(mp.ValueError);
  });
});
