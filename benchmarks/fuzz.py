"""Every fuzz target at full size: 10,000 Hypothesis examples each, with the figures printed.

Run as ``python benchmarks/fuzz.py [--examples N] [-k EXPRESSION]`` from the repository (``make
fuzz``). It runs ``pytest -m fuzz`` with ``H2PUSH_FUZZ_EXAMPLES=N`` (tests/fuzzing.py: ``make
test`` runs the same targets at 300), asks Hypothesis for its statistics, and prints per target
the examples that ran (passing, and the invalid ones Hypothesis discarded), the seconds it took
and why Hypothesis stopped.

The targets and their invariants are those of docs/security.md: the Link header codec, the
manifest loader, ``push()`` arguments (Flask and ASGI), cookie and Cache-Digest decoding,
request paths and headers through the Flask and ASGI adapters, spellings of URLs that a WHATWG
parser resolves to another origin, and request headers of any size and content through
``h2push serve`` (a page or a refusal, never a 5xx, no response slower than 100 ms). Nothing
may escape but the documented declaration-time errors, no emitted header may hold CR, LF or
NUL, and nothing may be pushed for another origin or a path the plan did not choose.

The exit status is pytest's when it failed; else 1 when a target ran fewer examples than asked
for without having exhausted its input space; else 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 10_000

_TARGET = re.compile(r"^(tests/\S+::\S+):$")
_PHASE = re.compile(r"^\s+- during (\w+) phase \(([\d.]+) seconds\):")
_COUNTS = re.compile(r"^\s+- (\d+) passing, (\d+) failing, and (\d+) invalid test cases")
_STOPPED = re.compile(r"^\s+- Stopped because (.+)$")


@dataclass
class Target:
    """One fuzz target's figures, from Hypothesis's statistics."""

    name: str
    passing: int = 0
    failing: int = 0
    invalid: int = 0
    seconds: float = 0.0
    stopped: str = ""

    @property
    def exhausted(self) -> bool:
        """Hypothesis ran every input there is (a small space), not the examples asked for."""
        return "nothing left to do" in self.stopped


def parse_statistics(output: str) -> list[Target]:
    """The targets in the text of ``pytest --hypothesis-show-statistics``."""
    targets: list[Target] = []
    phase = ""
    for line in output.splitlines():
        if match := _TARGET.match(line):
            targets.append(Target(match.group(1)))
        elif not targets:
            continue
        elif match := _PHASE.match(line):
            phase = match.group(1)
            targets[-1].seconds += float(match.group(2))
        elif (match := _COUNTS.match(line)) and phase in ("reuse", "generate"):
            target = targets[-1]
            target.passing += int(match.group(1))
            target.failing += int(match.group(2))
            target.invalid += int(match.group(3))
        elif match := _STOPPED.match(line):
            targets[-1].stopped = match.group(1)
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--examples", type=int, default=EXAMPLES, help="examples per target")
    parser.add_argument("-k", dest="keyword", help="only the targets pytest -k selects")
    options = parser.parse_args(argv)

    command = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "fuzz",
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-show-statistics",
        "-o",
        "timeout=3600",  # per target; the suite's 120 s is for the bounded profile
    ]
    if options.keyword:
        command += ["-k", options.keyword]
    env = {**os.environ, "H2PUSH_FUZZ_EXAMPLES": str(options.examples)}
    print(
        f"h2push fuzz: {options.examples} examples per target; Python {platform.python_version()}"
    )
    print(f"  {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    targets = parse_statistics(result.stdout)

    width = max((len(t.name) for t in targets), default=10)
    print()
    print(f"{'target':<{width}}  {'passing':>8}  {'invalid':>8}  {'seconds':>8}  stopped because")
    for target in targets:
        print(
            f"{target.name:<{width}}  {target.passing:>8}  {target.invalid:>8}"
            f"  {target.seconds:>8.1f}  {target.stopped}"
        )
    total = sum(t.passing for t in targets)
    print(f"\n{len(targets)} targets, {total} passing examples in {elapsed:.0f} s")

    if result.returncode != 0:
        failures = result.stdout.partition("= FAILURES =")[2] or result.stdout
        print(failures.partition("Hypothesis Statistics")[0][-20000:])
        print(result.stderr[-4000:], file=sys.stderr)
        print(f"pytest failed (exit {result.returncode})", file=sys.stderr)
        return result.returncode
    if not targets:
        print("no fuzz target ran", file=sys.stderr)
        return 1
    short = [t for t in targets if t.passing < options.examples and not t.exhausted]
    for target in short:
        print(f"{target.name}: {target.passing} < {options.examples} examples", file=sys.stderr)
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
