"""``benchmarks/fuzz.py`` runs the fuzz targets at the size asked for and prints their figures."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_fuzz_benchmark_runs_each_target_at_the_size_asked_for() -> None:
    targets = "test_parse_never_fails_on_arbitrary_text or test_fuzz_cookie_value"
    result = subprocess.run(
        [sys.executable, "benchmarks/fuzz.py", "--examples", "60", "-k", targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = re.findall(r"^tests/(\S+)\s+(\d+)\s+(\d+)\s+[\d.]+\s+(.+)$", result.stdout, re.MULTILINE)
    assert sorted((name, int(passing)) for name, passing, _, _ in rows) == [
        ("test_links.py::test_parse_never_fails_on_arbitrary_text", 60),
        ("test_trackers.py::test_fuzz_cookie_value", 60),
    ]
    assert all(stopped == "settings.max_examples=60" for *_, stopped in rows)
    assert "2 targets, 120 passing examples" in result.stdout


def test_a_short_run_fails_the_benchmark() -> None:
    spec = importlib.util.spec_from_file_location("fuzz_benchmark", ROOT / "benchmarks/fuzz.py")
    assert spec is not None
    assert spec.loader is not None
    fuzz = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = fuzz  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(fuzz)
    finally:
        del sys.modules[spec.name]
    output = """
tests/test_links.py::test_x:

  - during reuse phase (0.10 seconds):
    - Typical runtimes: ~ 1ms, of which < 1ms in data generation
    - 3 passing, 0 failing, and 0 invalid test cases

  - during generate phase (2.50 seconds):
    - Typical runtimes: ~ 0-1 ms, of which < 1ms in data generation
    - 97 passing, 0 failing, and 4 invalid test cases

  - Stopped because settings.max_examples=100

tests/test_digest.py::test_small:

  - during generate phase (0.01 seconds):
    - 12 passing, 0 failing, and 0 invalid test cases

  - Stopped because nothing left to do
"""
    first, second = fuzz.parse_statistics(output)
    assert (first.name, first.passing, first.invalid) == ("tests/test_links.py::test_x", 100, 4)
    assert abs(first.seconds - 2.6) < 1e-9
    assert not first.exhausted
    assert (second.passing, second.exhausted) == (12, True)
