"""``h2push check``: real Chromium says which hints a page used, and the check names the cause.

The browser tests run the command as a user does, against ``tests.apps.check_app`` (one page per
finding) served by Hypercorn over TLS, or an app it starts itself with ``--app``. The tests of
:func:`h2push._tools.check.diagnose.diagnose` feed it facts and need no browser.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TLSFiles, free_port, require_program
from h2push._core.manifest import Manifest
from h2push._tools.check.diagnose import cache_problems, diagnose, manifest_entry
from h2push._tools.check.model import LinkFact, PageFacts, ProbeFact, RequestFact, TimingFact
from h2push._tools.check.run import link_facts
from processes import SRC, running

REPO = Path(__file__).resolve().parent.parent
PAGE = "https://127.0.0.1:8443/"


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def served(tls_files: TLSFiles) -> Iterator[str]:
    """Serve tests.apps.check_app with Hypercorn over TLS (ALPN h2); yield its base URL."""
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = [sys.executable, "-m", "hypercorn", *tls, "--bind", f"127.0.0.1:{port}"]
    with running([*command, "tests.apps.check_app:app"], port=port, cwd=REPO):
        yield f"https://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def site(served: str) -> str:
    """The same site, for tests that also need Chromium."""
    require_program("chromium")
    return served


def _check(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return _h2push("check", *args, cwd=cwd)


def _h2push(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "h2push", *args],
        cwd=cwd,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _report(site: str, path: str, tls_files: TLSFiles) -> tuple[int, dict[str, Any]]:
    done = _check(site + path, "--cacert", str(tls_files.ca), "--json")
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def _row(report: dict[str, Any], path: str) -> dict[str, Any]:
    rows = {row["path"]: row for row in report["resources"]}
    assert path in rows, report
    return rows[path]


@pytest.mark.peer
@pytest.mark.parametrize(
    ("page", "resource", "outcome", "cause"),
    [
        ("/no-store", "/static/no-store.css", "fetched again", "no-store"),
        ("/no-cache", "/static/no-cache.css", "fetched again", "must revalidate"),
        ("/vary", "/static/vary.css", "fetched again", "Cookie (the page's Set-Cookie"),
        ("/unused", "/static/unused.js", "never used", "not used by the page"),
        ("/missing", "/static/missing.css", None, "error status 404"),
        ("/font-link", "/static/font.woff2", "fetched again", "lacks crossorigin"),
    ],
)
def test_a_wasted_hint_exits_1_naming_its_cause(
    site: str, tls_files: TLSFiles, page: str, resource: str, outcome: str | None, cause: str
) -> None:
    status, report = _report(site, page, tls_files)
    row = _row(report, resource)
    assert status == 1, report
    assert outcome is None or row["outcome"] == outcome, row
    assert any(cause in reason for reason in row["reasons"]), row
    assert row["wasted_bytes"] > 0 or outcome is None, row
    assert report["ok"] is False


@pytest.mark.peer
def test_every_hint_used_exits_0(site: str, tls_files: TLSFiles) -> None:
    status, report = _report(site, "/", tls_files)
    assert status == 0, report
    outcomes = {row["path"]: row["outcome"] for row in report["resources"]}
    assert outcomes == dict.fromkeys(
        ["/static/site.css", "/static/app.js", "/static/font.woff2"], "early-hints"
    )
    assert report["late"] == []


@pytest.mark.peer
def test_a_late_font_that_is_not_hinted_is_listed_with_its_entry(
    site: str, tls_files: TLSFiles
) -> None:
    done = _check(site + "/late", "--cacert", str(tls_files.ca))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Discovered late and not hinted" in done.stdout
    listed = done.stdout.split("Add to push_manifest.json", 1)[1]
    entry = json.loads(listed[listed.index("{") :].split("\nOK:", 1)[0])
    assert entry == {
        "/static/font.woff2": {"type": "font", "weight": 1, "crossorigin": "anonymous"}
    }
    # The entry is one h2push reads, and it hints the font as a CORS fetch.
    (preload,) = Manifest.from_dict(entry).preloads_for("/")
    assert "crossorigin" in str(preload)
    assert "stylesheet /static/site.css" in done.stdout


@pytest.mark.peer
def test_a_well_configured_flask_app_started_with_app_exits_0() -> None:
    require_program("chromium")
    done = _check("--app", "tests.apps.check_flask:app")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith(" /")}
    assert "early-hints" in lines["/static/css/main.css"], done.stdout
    assert "early-hints" in lines["/static/js/app.js"], done.stdout
    assert "OK: every hint and preload was used" in done.stdout


def test_an_app_that_does_not_start_exits_2() -> None:
    done = _check("--app", "tests.apps.no_such_module:app")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "h2push serve exited" in done.stderr
    assert "no_such_module" in done.stderr


def test_a_page_that_cannot_be_loaded_exits_2(tls_files: TLSFiles) -> None:
    done = _check(f"https://127.0.0.1:{free_port()}/", "--insecure")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot connect" in done.stderr


def test_an_untrusted_certificate_exits_2_saying_what_to_do(served: str) -> None:
    done = _check(served + "/")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--cacert FILE" in done.stderr


# --------------------------------------------------------------------------- h2push trace


def _caching(output: str) -> list[str]:
    """The caching lines at the end of ``h2push trace``'s summary."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("caching:"))
    return lines[start:]


@pytest.mark.parametrize(
    ("page", "flagged"),
    [
        ("/no-store", "/static/no-store.css (pushed): no-store (Cache-Control: no-store)"),
        (
            "/vary",
            "/static/vary.css (pushed): Vary: Cookie (and the page sets a cookie",
        ),
    ],
)
def test_trace_flags_a_pushed_response_a_browser_cannot_reuse(
    served: str, tls_files: TLSFiles, page: str, flagged: str
) -> None:
    done = _h2push("trace", served + page, "--cacert", str(tls_files.ca))
    assert done.returncode == 0, done.stderr
    caching = _caching(done.stdout)
    assert caching[0] == "caching: 1 hinted/pushed response(s) a browser fetches again:"
    assert caching[1].strip().startswith(flagged), caching


def test_trace_fetches_a_hint_that_was_not_pushed_to_flag_no_cache(
    served: str, tls_files: TLSFiles
) -> None:
    done = _h2push("trace", served + "/no-cache", "--cacert", str(tls_files.ca), "--no-push")
    assert done.returncode == 0, done.stderr
    assert _caching(done.stdout)[1].strip() == (
        "/static/no-cache.css (hinted): must revalidate (Cache-Control: no-cache)"
    )
    quiet = _h2push(
        "trace", served + "/no-cache", "--insecure", "--no-push", "--no-fetch-hints", "--json"
    )
    assert json.loads(quiet.stdout)["cache"] == []


def test_trace_finds_cacheable_hints_reusable(served: str, tls_files: TLSFiles) -> None:
    done = _h2push("trace", served + "/", "--cacert", str(tls_files.ca), "--json")
    assert done.returncode == 0, done.stderr
    cache = json.loads(done.stdout)["cache"]
    assert [(c["path"], c["delivery"], c["problems"]) for c in cache] == [
        (path, "pushed", [])
        for path in ("/static/site.css", "/static/app.js", "/static/font.woff2")
    ]
    text = _h2push("trace", served + "/", "--cacert", str(tls_files.ca)).stdout
    assert _caching(text) == ["caching: all 3 hinted/pushed response(s) reusable"]


# --------------------------------------------------------------------------- the diagnosis


def _css(**fields: Any) -> RequestFact:
    return RequestFact(url=PAGE + "app.css", resource_type="Stylesheet", status=200, **fields)


def test_a_hint_read_from_the_early_fetch_is_used() -> None:
    facts = PageFacts(
        url=PAGE,
        status=200,
        hints=(LinkFact(url=PAGE + "app.css", rel="preload", as_="style"),),
        requests=(_css(from_early_hints=True),),
    )
    report = diagnose(facts)
    assert [(row.path, row.outcome, row.reasons) for row in report.rows] == [
        ("/app.css", "early-hints", ())
    ]
    assert report.ok


def test_a_vary_on_a_cookie_the_page_did_not_set_is_named_when_it_changed() -> None:
    hint = LinkFact(url=PAGE + "app.css", rel="preload", as_="style")
    again = _css(
        request_headers={"cookie": "a=2"},
        response_headers={"vary": "Accept-Encoding, Cookie", "cache-control": "max-age=60"},
        encoded_bytes=900,
    )
    facts = PageFacts(
        url=PAGE, status=200, request_headers={"cookie": "a=1"}, hints=(hint,), requests=(again,)
    )
    (row,) = diagnose(facts).rows
    assert row.outcome == "fetched again"
    assert row.reasons == ("Vary on a header that changed: cookie (changed)",)
    assert row.wasted_bytes == 900


def test_an_error_status_and_max_age_0_are_both_named() -> None:
    hint = LinkFact(url=PAGE + "app.css", rel="preload", as_="style")
    again = _css(response_headers={"cache-control": "max-age=0"}, encoded_bytes=10)
    facts = PageFacts(url=PAGE, status=200, hints=(hint,), requests=(replace_status(again, 404),))
    (row,) = diagnose(facts).rows
    assert row.reasons == ("error status 404", "must revalidate (Cache-Control: max-age=0)")
    assert not diagnose(facts).ok


def replace_status(request: RequestFact, status: int) -> RequestFact:
    return dataclasses.replace(request, status=status)


def test_a_hint_only_probed_is_never_used_and_sized() -> None:
    facts = PageFacts(
        url=PAGE,
        status=200,
        hints=(LinkFact(url=PAGE + "big.js", rel="preload", as_="script"),),
        probes=(ProbeFact(url=PAGE + "big.js", status=200, body_bytes=50_000),),
    )
    (row,) = diagnose(facts).rows
    assert (row.outcome, row.wasted_bytes) == ("never used", 50_000)


def test_resources_found_early_in_the_html_are_not_late() -> None:
    found = RequestFact(
        url=PAGE + "a.css", resource_type="Stylesheet", initiator_type="parser", start_ms=40.0
    )
    from_css = RequestFact(
        url=PAGE + "f.woff2",
        resource_type="Font",
        initiator_type="parser",
        initiator_url=PAGE + "a.css",
        start_ms=90.0,
    )
    after_load = RequestFact(url=PAGE + "beacon", resource_type="Fetch", start_ms=900.0)
    facts = PageFacts(
        url=PAGE,
        status=200,
        requests=(found, from_css, after_load),
        timings=(TimingFact(url=PAGE + "a.css", initiator_type="link"),),
        html_end_ms=60.0,
        load_end_ms=500.0,
    )
    report = diagnose(facts)
    assert [(late.path, late.found_in) for late in report.late] == [
        ("/f.woff2", "stylesheet /a.css")
    ]
    assert report.ok  # late discoveries are advice, not a failed hint


def test_cache_problems_reads_cache_control_and_vary() -> None:
    assert cache_problems({"cache-control": "public, max-age=3600"}) == []
    assert cache_problems({"cache-control": 'no-cache="set-cookie", max-age=60'}) == []
    assert cache_problems({"cache-control": "No-Store"})[0].startswith("no-store")
    assert cache_problems({"vary": "accept-encoding"}) == []
    assert cache_problems({"vary": "Origin"}) == ["Vary: Origin"]


def test_manifest_entries_are_valid_manifest_entries() -> None:
    entries = {
        f"/{name}": manifest_entry(kind, f"/{name}")
        for name, kind in [("a.css", "Stylesheet"), ("b.js", "Script"), ("c.woff2", "Other")]
    }
    preloads = {str(p) for p in Manifest.from_dict(entries).preloads_for("/")}
    assert any("as=font" in p and "crossorigin" in p for p in preloads), preloads


def test_link_facts_read_a_103_whose_lines_chromium_joined_with_line_feeds() -> None:
    value = "</a.css>; rel=preload; as=style\n</f.woff2>; rel=preload; as=font; crossorigin"
    value += ", <https://cdn.example>; rel=preconnect"
    assert link_facts(value, PAGE) == (
        LinkFact(url=PAGE + "a.css", rel="preload", as_="style"),
        LinkFact(url=PAGE + "f.woff2", rel="preload", as_="font", crossorigin="anonymous"),
    )


def test_a_103_the_browser_never_received_fails_the_page() -> None:
    sent = (LinkFact(url=PAGE + "app.css", rel="preload", as_="style"),)
    lost = diagnose(PageFacts(url=PAGE, status=200, protocol="h2", server_hints=sent))
    assert not lost.ok
    assert "Chromium received none" in lost.problems[0]
    plain = diagnose(PageFacts(url=PAGE, status=200, protocol="http/1.1"))
    assert plain.ok
    assert plain.notes == (
        "the page came over http/1.1: browsers use 103 Early Hints over HTTP/2 and HTTP/3 only",
    )
