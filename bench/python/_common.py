"""Helpers shared by the Python side of the benchmarks (see BENCH.md).

Each script prints one JSON line per measured implementation on stdout, in the same
format as the Node side, with impl names 'py:...'. Progress and errors go to stderr; a
failed result check prints 'ERROR ...' and makes the script exit non-zero.
"""
import argparse
import json
import math
import statistics
import sys

_failed = False


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--quick', action='store_true', help='fewer elements/repeats (smoke test)')
    p.add_argument('--repeats', type=int, default=None)
    args = p.parse_args()
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    return args


def _round(value):
    """4 significant digits, as the Node side."""
    return float(f'{value:.4g}') if math.isfinite(value) else value


def emit(bench, impl, value, unit, n):
    if not math.isfinite(value):
        fail(f'{bench} {impl}: non-finite value {value}')
        return
    line = json.dumps({'bench': bench, 'impl': impl, 'value': _round(value), 'unit': unit, 'n': n})
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def note(msg):
    sys.stderr.write(msg + '\n')
    sys.stderr.flush()


def fail(msg):
    global _failed
    _failed = True
    note('ERROR ' + msg)


def check(ok, msg):
    if not ok:
        fail(msg)
    return ok


def median(values):
    return statistics.median(values)


def finish():
    sys.exit(1 if _failed else 0)
