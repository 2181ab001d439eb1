"""W9 manager-dict: a Manager().dict() proxy's d.get(k) over the manager's socket.

manager-dict-get      us/roundtrip, N calls after 1000 untimed, one client
manager-dict-clients  calls/s, 2 client processes x N from "go" to both done
                      (clients started, connected and warmed before, untimed)
"""
import multiprocessing as mp
import time

from _common import check, emit, finish, median, parse_args


def gets(d, count):
    bad = 0
    for _ in range(count):
        if d.get('k') != 42:
            bad += 1
    return bad


def client(d, go, results, n, warm):
    gets(d, warm)
    results.put('ready')
    go.wait()
    results.put(gets(d, n))


def main():
    args = parse_args()
    n, warm = (1_000, 100) if args.quick else (10_000, 1_000)
    with mp.Manager() as manager:
        d = manager.dict({'k': 42})
        check(gets(d, warm) == 0, 'py:Manager.dict: wrong value')
        values = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            bad = gets(d, n)
            values.append((time.perf_counter() - t0) * 1e6 / n)
            check(bad == 0, f'py:Manager.dict: {bad} wrong values')
        emit('manager-dict-get', 'py:Manager.dict', median(values), 'us/roundtrip', n)

        rates = []
        for _ in range(args.repeats):
            go = mp.Event()
            results = mp.Queue()
            procs = [mp.Process(target=client, args=(d, go, results, n, warm)) for _ in range(2)]
            for p in procs:
                p.start()
            for _ in procs:
                check(results.get(timeout=60) == 'ready', 'py:Manager.dict: client not ready')
            t0 = time.perf_counter()
            go.set()
            for _ in procs:
                check(results.get(timeout=120) == 0, 'py:Manager.dict: a client read wrong values')
            rates.append(2 * n / (time.perf_counter() - t0))
            for p in procs:
                p.join()
        emit('manager-dict-clients', 'py:Manager.dict', median(rates), 'calls/s', 2 * n)
    finish()


if __name__ == '__main__':
    main()
