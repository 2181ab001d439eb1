"""W5 pool-map-trivial: a pool of 2 maps x * 2 over range(N). Pool creation and the
input list are not timed; one small untimed map warms the pool first."""
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor

from _common import check, emit, finish, median, parse_args

BENCH = 'pool-map-trivial'


def double(x):
    return x * 2


def measure(impl, map_all, n, repeats):
    inputs = list(range(n))
    warm = map_all(inputs[:100])
    check(warm == [2 * x for x in range(100)], f'{impl}: warm-up map gave a wrong result')
    expected = [2 * x for x in inputs]
    values = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = map_all(inputs)
        t1 = time.perf_counter()
        check(out == expected, f'{impl}: wrong results (length {len(out)})')
        values.append(n / (t1 - t0))
    emit(BENCH, impl, median(values), 'items/s', n)


def main():
    args = parse_args()
    n = 2_000 if args.quick else 100_000
    with mp.Pool(2) as pool:
        measure('py:Pool.map', lambda xs: pool.map(double, xs), n, args.repeats)
        measure('py:Pool.map(chunksize=1)', lambda xs: pool.map(double, xs, chunksize=1), n, args.repeats)
    with ProcessPoolExecutor(2) as ex:
        for chunksize in (1, 1000):
            measure(
                f'py:ProcessPoolExecutor.map(chunksize={chunksize})',
                lambda xs, c=chunksize: list(ex.map(double, xs, chunksize=c)),
                n,
                args.repeats,
            )
    finish()


if __name__ == '__main__':
    main()
