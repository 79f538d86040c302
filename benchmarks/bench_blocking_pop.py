"""How soon a blocking `popleft(timeout=...)` wakes after another process appends.

    python benchmarks/bench_blocking_pop.py [--trials N]

Method: one consumer process waits in `Deque.popleft(timeout=10)` on an empty deque in
a fresh file (WAL, durability "normal"); this process appends one item at a random
moment 50-150 ms after the consumer reported it was about to wait, and the consumer
reports the wall-clock time its pop returned. The latency of a trial is that time
minus the time just before the append began, so it includes the append's own commit.
Prints the median and the maximum over `--trials` trials (50 by default), beside the
same figures for a consumer polling with `time.sleep(0.1)` between empty pops, the
pattern blocking pops replace.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import time
from typing import Any

from _common import FreshFiles, machine_line

import tpstore


class Queue(tpstore.Store):
    jobs: tpstore.Deque[int]


def _consume(path: str, trials: int, polling: bool, waiting: Any, results: Any) -> None:
    with Queue(path, durability="normal") as store:
        for _ in range(trials):
            waiting.put(time.time())
            if polling:
                while True:
                    try:
                        item = store.jobs.popleft()
                        break
                    except IndexError:
                        time.sleep(0.1)
            else:
                item = store.jobs.popleft(timeout=10)
            results.put((item, time.time()))


def measure(path: str, trials: int, *, polling: bool) -> list[float]:
    """The wake-up latencies (seconds) of `trials` appends, one consumer process."""
    context = multiprocessing.get_context("spawn")
    waiting, results = context.Queue(), context.Queue()
    with Queue(path, durability="normal") as store:
        consumer = context.Process(target=_consume, args=(path, trials, polling, waiting, results))
        consumer.start()
        latencies = []
        for trial in range(trials):
            waiting.get(timeout=60)
            time.sleep(random.uniform(0.05, 0.15))
            appended = time.time()
            store.jobs.append(trial)
            item, popped = results.get(timeout=60)
            assert item == trial
            latencies.append(popped - appended)
        consumer.join(60)
    return latencies


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    args = parser.parse_args(argv)
    files = FreshFiles()
    print(machine_line())
    print(f"{'consumer':<28}{'median ms':>12}{'max ms':>12}")
    for label, polling in (("popleft(timeout=10)", False), ("popleft() + sleep(0.1)", True)):
        latencies = measure(str(files()), args.trials, polling=polling)
        median, worst = statistics.median(latencies) * 1e3, max(latencies) * 1e3
        print(f"{label:<28}{median:>12.1f}{worst:>12.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
