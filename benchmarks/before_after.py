"""Run one benchmark script against two checkouts of tpstore, alternately, in one run.

    python benchmarks/before_after.py --before DIR [--after DIR] [--rounds N] \
        -- bench_writers.py --skip-processes

For a before/after comparison of a change: check the commit before it out elsewhere
(`git worktree add ../before <commit>`), then run a script of this folder with the
`tpstore` package of each checkout in turn (`PYTHONPATH` set to the checkout, so the
same script and the same contenders run against both), `--rounds` times, alternating,
so that both see the same machine. Each run's output is printed under the checkout's
commit. A ratio between the two is only meaningful between runs of the same round;
every script also prints its own hand-written contenders, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def commit_of(tree: Path) -> str:
    """The checkout's commit, short, with `+changes` when its work tree differs from it."""
    head = _git(tree, "log", "-1", "--format=%h %s")
    dirty = _git(tree, "status", "--porcelain", "--untracked-files=no")
    return f"{head or tree}{' +changes' if dirty else ''}"


def _git(tree: Path, *arguments: str) -> str:
    command = ["git", "-C", str(tree), *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the older checkout")
    parser.add_argument("--after", type=Path, default=HERE.parent, help="default: this one")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("script", help="a script of this folder, e.g. bench_writers.py")
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    script = HERE / args.script
    arguments = [a for a in args.arguments if a != "--"]
    for round_ in range(1, args.rounds + 1):
        for label, tree in (("before", args.before.resolve()), ("after", args.after.resolve())):
            print(f"\n=== round {round_}, {label}: {commit_of(tree)} ({tree})", flush=True)
            environment = {**os.environ, "PYTHONPATH": str(tree)}
            subprocess.run([sys.executable, str(script), *arguments], env=environment, check=True)


if __name__ == "__main__":
    main()
