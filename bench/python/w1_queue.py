"""W1 queue-throughput: a producer process puts [i, "abc"] for i in 0..N-1 as fast as it
can; the parent gets all N. The producer reads time.monotonic_ns() (CLOCK_MONOTONIC, the
same clock in every process) just before its first put and sends it after the data; the
parent reads the clock after the N-th get. The producer is started (untimed) and waits
for "go"."""
import multiprocessing as mp
import time

from _common import check, emit, finish, median, parse_args

BENCH = 'queue-throughput'


def producer(q, ready, go, n):
    put = q.put
    ready.set()
    go.wait()
    t0 = time.monotonic_ns()
    for i in range(n):
        put([i, 'abc'])
    put(('t0', t0))


def one_round(impl, make_queue, n):
    q = make_queue()
    ready, go = mp.Event(), mp.Event()
    p = mp.Process(target=producer, args=(q, ready, go, n))
    p.start()
    ready.wait()
    go.set()
    get = q.get
    last = None
    for _ in range(n):
        last = get()
    t_end = time.monotonic_ns()
    tag, t0 = get()
    p.join()
    check(p.exitcode == 0, f'{impl}: producer exited with {p.exitcode}')
    check(last == [n - 1, 'abc'], f'{impl}: last message {last!r}, expected [{n - 1}, "abc"]')
    check(tag == 't0' and t_end > t0, f'{impl}: bad timestamp message {tag!r} {t0!r}')
    return n / ((t_end - t0) / 1e9)


def measure(impl, make_queue, n, repeats):
    values = [one_round(impl, make_queue, n) for _ in range(repeats)]
    emit(BENCH, impl, median(values), 'msg/s', n)


def main():
    args = parse_args()
    n = 20_000 if args.quick else 200_000
    measure('py:Queue', mp.Queue, n, args.repeats)
    measure('py:SimpleQueue', mp.SimpleQueue, n, args.repeats)
    finish()


if __name__ == '__main__':
    main()
