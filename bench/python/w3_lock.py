"""W3 lock-uncontended: acquire(); release() N times in one process, loop included."""
import multiprocessing as mp
import time

from _common import check, emit, finish, median, parse_args

BENCH = 'lock-uncontended'


def loop(lock, n):
    acquire = lock.acquire
    release = lock.release
    count = 0
    t0 = time.perf_counter_ns()
    for _ in range(n):
        acquire()
        count += 1
        release()
    t1 = time.perf_counter_ns()
    return count, (t1 - t0) / n


def measure(impl, lock, n, repeats):
    loop(lock, n // 10)  # warm-up
    values = []
    for _ in range(repeats):
        count, ns = loop(lock, n)
        check(count == n, f'{impl}: loop counted {count}, expected {n}')
        values.append(ns)
    released = lock.acquire(False)
    if released:
        lock.release()
    check(released, f'{impl}: lock still held after the loop')
    emit(BENCH, impl, median(values), 'ns/op', n)


def main():
    args = parse_args()
    n = 100_000 if args.quick else 1_000_000
    measure('py:Lock', mp.Lock(), n, args.repeats)
    measure('py:RLock', mp.RLock(), n, args.repeats)
    finish()


if __name__ == '__main__':
    main()
