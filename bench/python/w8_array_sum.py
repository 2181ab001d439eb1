"""W8 shared-array-sum: two processes each sum one half of 10,000,000 doubles (i * 0.5)
in shared memory; time from "go" to both sums received, processes warm (started, one
untimed round done). Sums are checked exactly (every partial sum is exact in a double).

py:Array       mp.Array('d', N), a plain `for i in range(lo, hi): s += a[i]` loop over
               a.get_obj() (the raw ctypes array: element access without the per-element
               lock, as mp:Array has none)
py:Array(sum)  the same array, builtin sum() over a slice (the fastest pure-Python way)
py:numpy       numpy over multiprocessing.shared_memory, v[lo:hi].sum()
"""
import multiprocessing as mp
import time
from multiprocessing import shared_memory

import numpy as np

from _common import check, emit, finish, median, parse_args

BENCH = 'shared-array-sum'


def halves(n):
    mid = n // 2
    return [(lo, hi, (hi - lo) * (lo + hi - 1) / 4) for lo, hi in ((0, mid), (mid, n))]


def array_worker(conn, arr, mode):
    raw = arr.get_obj()
    while True:
        msg = conn.recv()
        if msg is None:
            return
        lo, hi = msg
        if mode == 'loop':
            s = 0.0
            for i in range(lo, hi):
                s += raw[i]
        else:
            s = sum(raw[lo:hi])
        conn.send(s)


def numpy_worker(conn, shm, n):
    v = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
    while True:
        msg = conn.recv()
        if msg is None:
            break
        lo, hi = msg
        conn.send(float(v[lo:hi].sum()))
    del v


def measure(impl, n, repeats, target, args):
    """Start two workers (not timed), one untimed round, then `repeats` timed rounds."""
    parts = halves(n)
    conns, procs = [], []
    for _ in parts:
        parent, child = mp.Pipe()
        p = mp.Process(target=target, args=(child, *args))
        p.start()
        conns.append(parent)
        procs.append(p)

    def one_round():
        t0 = time.perf_counter()
        for c, (lo, hi, _) in zip(conns, parts):
            c.send((lo, hi))
        sums = [c.recv() for c in conns]
        t1 = time.perf_counter()
        for s, (lo, hi, expected) in zip(sums, parts):
            check(s == expected, f'{impl}: sum of [{lo}, {hi}) = {s}, expected {expected}')
        return n / (t1 - t0)

    one_round()
    values = [one_round() for _ in range(repeats)]
    for c in conns:
        c.send(None)
    for p in procs:
        p.join()
        check(p.exitcode == 0, f'{impl}: worker exited with {p.exitcode}')
    emit(BENCH, impl, median(values), 'elem/s', n)


def main():
    args = parse_args()
    n = 1_000_000 if args.quick else 10_000_000
    # fork (Linux's default in 3.11) hands the workers the parent's mappings as they are.
    mp.set_start_method('fork')

    arr = mp.Array('d', n)
    np.frombuffer(arr.get_obj(), dtype=np.float64)[:] = np.arange(n, dtype=np.float64) * 0.5
    measure('py:Array', n, args.repeats, array_worker, (arr, 'loop'))
    measure('py:Array(sum)', n, args.repeats, array_worker, (arr, 'sum'))
    del arr

    shm = shared_memory.SharedMemory(create=True, size=n * 8)
    try:
        v = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
        v[:] = np.arange(n, dtype=np.float64) * 0.5
        del v
        measure('py:numpy', n, args.repeats, numpy_worker, (shm, n))
    finally:
        shm.close()
        shm.unlink()
    finish()


if __name__ == '__main__':
    main()
