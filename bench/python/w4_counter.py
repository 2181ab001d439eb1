"""W4 counter-contended: two processes each do `with v.get_lock(): v.value += 1` N times
on one mp.Value('i'); time from "go" to both done (processes started before, untimed).
Check: the counter ends at 2 * N."""
import multiprocessing as mp
import time

from _common import check, emit, finish, median, parse_args

BENCH = 'counter-contended'


def worker(v, go, conn, n):
    lock = v.get_lock()
    conn.send('ready')
    go.wait()
    for _ in range(n):
        with lock:
            v.value += 1
    conn.send('done')


def one_round(n):
    v = mp.Value('i', 0)
    go = mp.Event()
    conns, procs = [], []
    for _ in range(2):
        mine, theirs = mp.Pipe()
        p = mp.Process(target=worker, args=(v, go, theirs, n))
        p.start()
        conns.append(mine)
        procs.append(p)
    for c in conns:
        c.recv()
    t0 = time.perf_counter()
    go.set()
    for c in conns:
        c.recv()
    t1 = time.perf_counter()
    for p in procs:
        p.join()
        check(p.exitcode == 0, f'py:Value+get_lock: worker exited with {p.exitcode}')
    check(v.value == 2 * n, f'py:Value+get_lock: counter is {v.value}, expected {2 * n}')
    return 2 * n / (t1 - t0)


def main():
    args = parse_args()
    n = 10_000 if args.quick else 100_000
    values = [one_round(n) for _ in range(args.repeats)]
    emit(BENCH, 'py:Value+get_lock', median(values), 'ops/s', 2 * n)
    finish()


if __name__ == '__main__':
    main()
