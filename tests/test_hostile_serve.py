"""Hostile input against ``h2push serve``: each attack costs what ordinary load costs.

The machinery is ``benchmarks/hostile.py``'s: one ``h2push serve`` of a small Flask app, 2,000
ordinary navigations (h2load) and 2,000 push-accepting ones (nghttp), then each attack with the
same number of requests on the same server. Asserted per attack: the run's time within 2x of
its ordinary run, the server's RSS after it within 20 MB of after the ordinary run, every page
whole with no 5xx (the 60,000-character ``User-Agent`` is refused whole by design, before HPACK
decodes it). Then single nghttp requests show what the frames hold: no ``User-Agent`` copied
into a push promise, no frame over 16,384 bytes, Link and 103 within their budgets, and nothing
for a backslash spelling of another origin. Last, a manifest ``h2push serve`` cannot use stops
it at once with one message.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from conftest import require_program
from h2push.plan import MAX_EARLY_HINTS_BYTES, MAX_LINK_BYTES
from nghttp import Log, parse
from processes import h2push_command

pytestmark = [pytest.mark.peer, pytest.mark.timeout(600)]

REQUESTS = 2000
MAX_FRAME_BYTES = 16384


def _load_benchmark() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "hostile.py"
    spec = importlib.util.spec_from_file_location("h2push_benchmark_hostile", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


hostile = _load_benchmark()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    require_program("h2load")
    require_program("nghttp")
    directory = tmp_path_factory.mktemp("hostile")
    hostile.write_site(directory)
    with hostile.serve(directory) as running:
        yield running


@pytest.fixture(scope="module")
def results(server: object) -> dict[str, tuple[object, object]]:
    measured = hostile.measure(server, REQUESTS)
    print(hostile.report(measured, REQUESTS))
    return {outcome.attack.name: (outcome, baseline) for outcome, baseline in measured}


@pytest.mark.parametrize("attack", [a.name for a in hostile.attacks()])
def test_an_attack_costs_no_more_than_ordinary_load(
    results: dict[str, tuple[object, object]], attack: str
) -> None:
    outcome, baseline = results[attack]
    assert hostile.verdict(outcome, baseline, REQUESTS) == [], hostile.report(
        list(results.values()), REQUESTS
    )
    summary = outcome.summary  # type: ignore[attr-defined]
    if outcome.attack.refused:  # type: ignore[attr-defined]
        assert summary.succeeded == 0
    elif summary is not None:
        assert (summary.failed, summary.errored, summary.timeout) == (0, 0, 0), summary.output


def test_the_server_logged_no_h2push_failure(
    server: object, results: dict[str, tuple[object, object]]
) -> None:
    log = server.log.read_text()  # type: ignore[attr-defined]
    assert not re.search(r"MemoryError|RecursionError|h2push/[a-z_]+\.py", log), log[-5000:]
    # push() from user data: one line per dropped preload, no traceback.
    assert "push() preload dropped" in log


def nghttp(
    server: object, path: str, *headers: str
) -> tuple[Log, subprocess.CompletedProcess[str]]:
    command = ["nghttp", "-nv", "-H", "accept: text/html"]
    for header in headers:
        command += ["-H", header]
    url = server.url + path  # type: ignore[attr-defined]
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=30, check=False
    )
    return parse(result.stdout), result


def header_bytes(log: Log, name: str, *, informational: bool) -> int:
    frames = log.informational if informational else log.received("HEADERS")
    return max((sum(len(v) for n, v in f.headers if n == name) for f in frames), default=0)


def test_a_long_user_agent_is_not_copied_into_push_promises(server: object) -> None:
    log, result = nghttp(server, "/", "user-agent: " + "U" * 8000)
    assert result.returncode == 0, result.stderr
    assert len(log.promises) == 3
    for promise in log.promises:
        assert promise.header("user-agent") is None
        assert promise.length <= MAX_FRAME_BYTES
    assert log.final_headers(13).header(":status") == "200"


def test_a_header_block_over_the_limit_is_refused_and_the_next_client_served(
    server: object,
) -> None:
    _, refused = nghttp(server, "/", "user-agent: " + "U" * 60_000)
    assert refused.returncode != 0
    log, result = nghttp(server, "/")
    assert result.returncode == 0
    assert log.final_headers(13).header(":status") == "200"


@pytest.mark.parametrize(
    "value",
    ["/static/" + "a" * 12_000, "/a%0Db.css", "/a%0Ab.css", "/a%00b.css", "/a%E2%80%A8b.css",
     "/a%C2%85b.css", "/%5Cevil.example/x.css", "%5C%5Cevil.example/x.css"],
    ids=["12k", "cr", "lf", "nul", "u2028", "u0085", "slash-backslash", "backslashes"],
)  # fmt: skip
def test_a_push_value_from_user_data_costs_the_page_nothing(server: object, value: str) -> None:
    log, result = nghttp(server, f"/?u={value}")
    assert result.returncode == 0, result.stderr
    final = log.final_headers(13)
    assert final.header(":status") == "200"
    assert all(frame.length <= MAX_FRAME_BYTES for frame in log.frames)
    assert header_bytes(log, "link", informational=True) <= MAX_EARLY_HINTS_BYTES
    assert header_bytes(log, "link", informational=False) <= MAX_LINK_BYTES
    emitted = [p.header(":path") for p in log.promises]
    emitted += [v for f in log.received("HEADERS") for n, v in f.headers if n == "link"]
    assert not any("evil" in text or "aaaa" in text for text in map(str, emitted)), emitted
    assert sorted(map(str, (p.header(":path") for p in log.promises))) == [
        "/static/a.css",
        "/static/b.js",
        "/static/c.css",
    ]


def _serve_exits(tmp_path: Path, manifest: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "site").mkdir(exist_ok=True)
    hostile.write_site(tmp_path / "site")
    env = {**os.environ, "H2PUSH_CACHE_DIR": str(tmp_path / "cache")}
    env["PYTHONPATH"] = os.pathsep.join([str(hostile.SRC), str(tmp_path / "site")])
    command = h2push_command("serve", "hostile_app:app", "--manifest", str(manifest))
    return subprocess.run(
        [*command, "--bind", "127.0.0.1:0"],
        cwd=tmp_path / "site",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_manifest_that_is_a_fifo_stops_serve_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "push_manifest.json"
    os.mkfifo(fifo)
    result = _serve_exits(tmp_path, fifo)
    assert result.returncode != 0
    assert "not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_manifest_too_large_stops_serve_with_one_message(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({f"/{i}.css": {"type": "style"} for i in range(100_000)}))
    result = _serve_exits(tmp_path, huge)
    assert result.returncode != 0
    assert "MAX_MANIFEST_BYTES" in result.stderr
    assert "Traceback" not in result.stderr
