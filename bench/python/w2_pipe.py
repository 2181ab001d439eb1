"""W2 pipe-pingpong: the parent sends [i], the child echoes it, the parent waits for the
echo before sending the next; N round trips timed after 1000 untimed.

py:Pipe     multiprocessing.Pipe (pickled objects)
py:os.pipe  two raw os.pipe()s carrying 8 bytes each way (the wake-up floor)
"""
import multiprocessing as mp
import os
import struct
import time

from _common import check, emit, finish, median, parse_args

BENCH = 'pipe-pingpong'
PACK = struct.Struct('<q')


def pipe_echo(conn):
    while True:
        m = conn.recv()
        if m is None:
            break
        conn.send(m)


def raw_echo(r, w, unused):
    for fd in unused:  # the parent's ends, inherited by fork: keep EOF reachable
        os.close(fd)
    while True:
        data = os.read(r, 8)
        if len(data) < 8:
            break
        os.write(w, data)


def pipe_rounds(conn, count):
    bad = 0
    send, recv = conn.send, conn.recv
    t0 = time.perf_counter()
    for i in range(count):
        send([i])
        if recv()[0] != i:
            bad += 1
    return time.perf_counter() - t0, bad


def raw_rounds(fds, count):
    r, w = fds
    bad = 0
    pack, unpack = PACK.pack, PACK.unpack
    t0 = time.perf_counter()
    for i in range(count):
        os.write(w, pack(i))
        if unpack(os.read(r, 8))[0] != i:
            bad += 1
    return time.perf_counter() - t0, bad


def measure(impl, rounds, arg, n, warm, repeats):
    rounds(arg, warm)
    values = []
    for _ in range(repeats):
        s, bad = rounds(arg, n)
        check(bad == 0, f'{impl}: {bad} of {n} echoes did not match')
        values.append(s * 1e6 / n)
    emit(BENCH, impl, median(values), 'us/roundtrip', n)


def main():
    args = parse_args()
    n, warm = (2_000, 100) if args.quick else (20_000, 1_000)
    ctx = mp.get_context('fork')  # raw fds are inherited by fork

    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=pipe_echo, args=(theirs,))
    p.start()
    measure('py:Pipe', pipe_rounds, mine, n, warm, args.repeats)
    mine.send(None)
    p.join()
    check(p.exitcode == 0, f'py:Pipe: echo process exited with {p.exitcode}')

    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    p = ctx.Process(target=raw_echo, args=(down_r, up_w, (down_w, up_r)))
    p.start()
    os.close(down_r)
    os.close(up_w)
    measure('py:os.pipe', raw_rounds, (up_r, down_w), n, warm, args.repeats)
    os.close(down_w)
    p.join()
    os.close(up_r)
    check(p.exitcode == 0, f'py:os.pipe: echo process exited with {p.exitcode}')
    finish()


if __name__ == '__main__':
    main()
