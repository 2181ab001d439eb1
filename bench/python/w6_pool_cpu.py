"""W6 pool-map-cpu: each task counts the primes below 300000 by trial division; 32 tasks
on a Pool of 2. Reports the pool's seconds and its speed-up over the 32 tasks run serially
in this process (medians of the repeats)."""
import multiprocessing as mp
import time

from _common import check, emit, finish, median, parse_args

BENCH = 'pool-map-cpu'
TASKS = 32
EXPECTED = {30_000: 3245, 300_000: 25997}  # pi(limit)


def count_primes(limit):
    count = 0
    for n in range(2, limit):
        if n % 2 == 0:
            count += n == 2
            continue
        d = 3
        while d * d <= n:
            if n % d == 0:
                break
            d += 2
        else:
            count += 1
    return count


def seconds(label, run_all, tasks, repeats):
    expected = EXPECTED[tasks[0]]
    values = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run_all(tasks)
        t1 = time.perf_counter()
        check(len(out) == TASKS and all(c == expected for c in out), f'py:Pool.map ({label}): wrong counts {out}')
        values.append(t1 - t0)
    return median(values)


def main():
    args = parse_args()
    limit = 30_000 if args.quick else 300_000
    tasks = [limit] * TASKS
    serial = seconds('serial', lambda ts: [count_primes(t) for t in ts], tasks, args.repeats)
    with mp.Pool(2) as pool:
        pool.map(count_primes, [1000] * 4, chunksize=1)  # workers up
        parallel = seconds('pool', lambda ts: pool.map(count_primes, ts), tasks, args.repeats)
    emit(BENCH, 'py:Pool.map', parallel, 's', TASKS)
    emit(BENCH, 'py:Pool.map', serial / parallel, 'speedup', TASKS)
    finish()


if __name__ == '__main__':
    main()
