"""Load, bounded: h2load against ``h2push serve`` (the demo, 2 workers): nothing fails or leaks.

The machinery is ``benchmarks/load.py``'s, which runs the full size
(``-n 50000 -c 50 -m 10``); here the run is small enough for ``make test`` on two cores shared
with other tests: ``-n 2000 -c 10 -m 10``, after a warm-up of three runs of 200 requests on 20
connections (``measure`` in ``benchmarks/load.py`` says why the warm-up carries more). Every
request is a navigation, so each one gets its 103 and its planned pushes (which h2load refuses).
Asserted: no failed, errored or timed-out request; every page whole (h2load's body bytes are
requests x page size: it counts a 103 as the response's status, so its status columns prove
nothing); the server's resident memory (parent and workers) after the run within 20 MB of after
the warm-up; and no ``Traceback``, ``ERROR`` or ``Exception`` in the server's output.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from conftest import require_program

pytestmark = pytest.mark.peer

REQUESTS, CLIENTS, STREAMS, WORKERS = 2000, 10, 10, 2
WARMUP_REQUESTS = 600
ERROR_LINE = re.compile(r"Traceback|ERROR|Exception")

SAMPLE = """\
finished in 4.77s, 419.32 req/s, 1.42MB/s
requests: 2000 total, 2000 started, 2000 done, 1999 succeeded, 1 failed, 0 errored, 0 timeout
status codes: 0 2xx, 2000 3xx, 0 4xx, 0 5xx
traffic: 6.79MB (7119350) total, 18.31KB (18750) headers (space savings 96.76%), \
6.72MB (7046000) data
"""


def _load_benchmark() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "load.py"
    spec = importlib.util.spec_from_file_location("h2push_benchmark_load", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


load = _load_benchmark()


def test_h2load_summary_is_read() -> None:
    summary = load.parse_h2load(SAMPLE)
    assert (summary.total, summary.succeeded, summary.failed, summary.errored) == (2000, 1999, 1, 0)
    assert summary.timeout == 0
    assert summary.requests_per_s == pytest.approx(419.32)
    assert summary.data_bytes == 7046000
    assert summary.status == (0, 2000, 0, 0)
    assert summary.line.startswith("requests: 2000 total")


def test_a_summary_without_its_lines_is_an_error() -> None:
    with pytest.raises(ValueError, match="no h2load summary"):
        load.parse_h2load("progress: 10% done\n")


def test_h2push_serve_holds_a_bounded_load(tmp_path: Path) -> None:
    program = require_program("h2load")
    log = tmp_path / "serve.log"
    with load.serve_demo(workers=WORKERS, cache_dir=tmp_path / "cache", log=log) as server:
        result = load.measure(
            server,
            requests=REQUESTS,
            clients=CLIENTS,
            streams=STREAMS,
            warmup_requests=WARMUP_REQUESTS,
            program=program,
        )
        print(result.report())
    run = result.run
    assert (run.total, run.succeeded) == (REQUESTS, REQUESTS), run.output
    assert (run.failed, run.errored, run.timeout) == (0, 0, 0), run.output
    assert run.status[2:] == (0, 0)  # no 4xx or 5xx as a first status either
    assert run.data_bytes == REQUESTS * result.page_bytes  # every page arrived whole
    for warmup in result.warmup:
        assert (warmup.failed, warmup.errored, warmup.timeout) == (0, 0, 0), warmup.output
    assert len(result.rss_warm) >= WORKERS + 1  # the parent and its workers were measured
    assert result.rss_delta_bytes <= load.RSS_GROWTH_LIMIT_BYTES, result.report()
    errors = [line for line in log.read_text().splitlines() if ERROR_LINE.search(line)]
    assert errors == [], log.read_text()
