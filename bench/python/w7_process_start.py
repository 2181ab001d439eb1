"""W7 process-start: start and join, one after another, N processes that do nothing,
with each start method. One untimed start first (forkserver starts its server then)."""
import multiprocessing as mp
import time

from _common import check, emit, finish, median, parse_args

BENCH = 'process-start'


def noop():
    pass


def start_join(ctx, impl):
    p = ctx.Process(target=noop)
    p.start()
    p.join()
    check(p.exitcode == 0, f'{impl}: process exited with {p.exitcode}')


def measure(method, n, repeats):
    impl = f'py:{method}'
    ctx = mp.get_context(method)
    start_join(ctx, impl)
    values = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            start_join(ctx, impl)
        values.append((time.perf_counter() - t0) * 1000 / n)
    emit(BENCH, impl, median(values), 'ms/process', n)


def main():
    args = parse_args()
    n = 3 if args.quick else 20
    for method in ('fork', 'forkserver', 'spawn'):
        measure(method, n, args.repeats)
    finish()


if __name__ == '__main__':
    main()
