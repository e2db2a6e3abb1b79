"""Headless Chromium over the DevTools protocol, against Hypercorn serving a 103 over TLS.

The positive tests prove that a real browser acts on the 103 (``initiatorType ==
"early-hints"``); the negative controls prove the tests can tell: the same server, the same page,
only the browser's trust in the certificate differs, and the hints are no longer reported.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps import hint_app
from conftest import TLSFiles, free_port, require_program
from h2push._tools._common import find_chromium
from h2push._tools.browser import (
    BrowserError,
    BrowserTimeoutError,
    Chromium,
    PageLoad,
    ResourceTiming,
    chromium_command,
)
from h2push._tools.serve.devcert import spki_sha256_base64
from pixels import png_pixels
from processes import running

REPO = Path(__file__).resolve().parent.parent
STARTUP_S = 20.0
HINTED = frozenset({"/style.css", "/app.js"})

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def base_url(tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve tests.apps.hint_app with Hypercorn over TLS (ALPN h2); yield its base URL."""
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = [sys.executable, "-m", "hypercorn", *tls, "--bind", f"127.0.0.1:{port}"]
    with running([*command, "tests.apps.hint_app:app"], port=port, cwd=REPO):
        yield f"https://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def chromium_path() -> str:
    require_program("chromium")
    path = find_chromium()
    assert path is not None
    return path


@pytest.fixture(scope="module")
def spki(tls_files: TLSFiles) -> str:
    return spki_sha256_base64(tls_files.cert.read_bytes())


@pytest.fixture(scope="module")
def browser(chromium_path: str, spki: str) -> Iterator[Chromium]:
    """One Chromium for the module, trusting the test certificate, with the Log domain on."""
    with Chromium(executable=chromium_path, spki=[spki]) as chromium:
        yield chromium


def _describe(load: PageLoad) -> str:
    return ", ".join(f"{r.path}={r.initiator_type}" for r in load.resources)


# --------------------------------------------------------------------------- a tiny PNG reader


# --------------------------------------------------------------------------- no browser needed


@pytest.mark.peer
def test_spki_digest_matches_the_openssl_pipeline(tls_files: TLSFiles) -> None:
    require_program("openssl")
    pipeline = (
        f"openssl x509 -in '{tls_files.cert}' -pubkey -noout"
        " | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"
    )
    expected = subprocess.run(
        ["sh", "-c", pipeline], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    assert spki_sha256_base64(tls_files.cert.read_bytes()) == expected
    assert len(expected) == 44


def test_spki_digest_rejects_what_is_not_a_certificate() -> None:
    with pytest.raises(ValueError, match="cert_pem"):
        spki_sha256_base64(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="cert_pem"):
        spki_sha256_base64(b"not even PEM")


def test_chromium_command_is_the_documented_flag_set(tmp_path: Path) -> None:
    command = chromium_command(
        executable="/opt/chromium",
        user_data_dir=tmp_path,
        spki=["AAAA", "BBBB"],
        extra_args=["--window-size=800,600"],
    )
    assert command == [
        "/opt/chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path}",
        "--ignore-certificate-errors-spki-list=AAAA,BBBB",
        "--remote-debugging-port=0",
        "--window-size=800,600",
        "about:blank",
    ]
    assert not any(
        arg.startswith("--ignore-certificate-errors-spki")
        for arg in chromium_command(executable="c", user_data_dir=tmp_path)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"port": 70000}, "port"), ({"spki": ["a,b"]}, "spki")],
)
def test_chromium_command_rejects_bad_values(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        chromium_command(executable="c", user_data_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_missing_chromium_is_a_browser_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserError, match="not installed"):
        chromium_command(user_data_dir=tmp_path)
    with (
        pytest.raises(BrowserError, match="cannot run"),
        Chromium(executable=str(tmp_path / "chromium")),
    ):
        pass


def test_page_load_helpers_match_on_the_url_path() -> None:
    def resource(name: str, initiator: str) -> ResourceTiming:
        return ResourceTiming(
            name=name,
            initiator_type=initiator,
            start_time_ms=1.0,
            response_start_ms=2.0,
            response_end_ms=3.5,
            transfer_size=0,
            encoded_body_size=10,
            next_hop_protocol="h2",
        )

    first = resource("https://127.0.0.1:1/app.js?v=1#x", "early-hints")
    load = PageLoad(
        url="https://127.0.0.1:1/",
        navigation=None,  # type: ignore[arg-type]
        resources=(first, resource("https://127.0.0.1:1/app.js", "script")),
    )
    assert first.path == "/app.js"
    assert first.duration_ms == 2.5
    assert load.by_path() == {"/app.js": first}
    assert load.initiator_of("/app.js") == "early-hints"
    assert load.initiator_of("/style.css") is None
    assert load.hinted_paths() == {"/app.js"}


# --------------------------------------------------------------------------- with Chromium


@pytest.mark.peer
def test_hinted_resources_are_reported_as_early_hints(browser: Chromium, base_url: str) -> None:
    # The shared browser has the Log domain enabled: this test also shows Log.enable keeps hints.
    load = browser.load(f"{base_url}/")
    assert load.hinted_paths() == HINTED, _describe(load)
    assert load.initiator_of("/style.css") == "early-hints"
    assert load.initiator_of("/app.js") == "early-hints"
    navigation = load.navigation
    assert navigation.response_status == 200
    assert navigation.next_hop_protocol == "h2"
    assert load.early_hints_received
    # The 103 arrived while the app was still thinking, well before the 200.
    think_ms = hint_app.THINK_TIME_S * 1000
    assert (
        navigation.final_response_headers_start_ms - navigation.first_interim_response_start_ms
        > think_ms * 0.75
    )
    assert load.load_event_end_ms > 0
    assert load.first_contentful_paint_ms is not None
    assert load.console_errors == ()
    assert browser.evaluate("document.documentElement.dataset.ran") == "yes"


@pytest.mark.peer
def test_screenshot_shows_the_styled_page(browser: Chromium, base_url: str) -> None:
    unstyled = browser.load(f"{base_url}/missing")  # a plain-text 404: black on white
    assert unstyled.navigation.response_status == 404
    assert png_pixels(browser.screenshot(), [(20, 20)]) == [(255, 255, 255)]
    browser.load(f"{base_url}/")
    background, box = png_pixels(browser.screenshot(), [(20, 20), (200, 160)])
    assert background == hint_app.BACKGROUND_RGB
    assert box == hint_app.BOX_RGB


@pytest.mark.peer
def test_console_errors_are_collected(browser: Chromium, base_url: str) -> None:
    load = browser.load(f"{base_url}/broken")
    errors = "\n".join(load.console_errors)
    assert "logged on purpose" in errors  # console.error (Runtime)
    assert "thrown on purpose" in errors  # uncaught exception (Runtime)
    assert "missing.png" in errors  # failed subresource (Log)
    assert browser.load(f"{base_url}/").console_errors == ()


@pytest.mark.peer
def test_evaluate_returns_values_and_raises_on_exceptions(browser: Chromium) -> None:
    assert browser.evaluate("Promise.resolve([1, 'a', {b: null}])") == [1, "a", {"b": None}]
    with pytest.raises(BrowserError, match="ReferenceError"):
        browser.evaluate("no_such_function()")


@pytest.mark.peer
def test_clear_cache_keeps_early_hints(browser: Chromium, base_url: str) -> None:
    browser.clear_cache()
    load = browser.load(f"{base_url}/")
    assert load.hinted_paths() == HINTED, _describe(load)


@pytest.mark.peer
def test_a_slow_load_times_out_and_the_browser_recovers(browser: Chromium, base_url: str) -> None:
    with pytest.raises(BrowserTimeoutError, match="timed out"):
        browser.load(f"{base_url}/", timeout_s=hint_app.THINK_TIME_S / 4)
    load = browser.load(f"{base_url}/")
    assert load.hinted_paths() == HINTED, _describe(load)


@pytest.mark.peer
def test_without_the_log_domain_hints_are_reported_too(
    chromium_path: str, spki: str, base_url: str
) -> None:
    with Chromium(executable=chromium_path, spki=[spki], log_domain=False) as chromium:
        load = chromium.load(f"{base_url}/")
    assert load.hinted_paths() == HINTED, _describe(load)


@pytest.mark.peer
def test_ignored_certificate_errors_hide_early_hints(chromium_path: str, base_url: str) -> None:
    """Negative control: the 103 arrives, but an untrusted certificate makes Chromium skip it."""
    with Chromium(executable=chromium_path, extra_args=["--ignore-certificate-errors"]) as chromium:
        load = chromium.load(f"{base_url}/")
    assert load.navigation.response_status == 200
    assert load.early_hints_received
    assert load.hinted_paths() == frozenset(), _describe(load)
    assert load.initiator_of("/style.css") == "link"
    assert load.initiator_of("/app.js") == "script"


@pytest.mark.peer
def test_an_untrusted_certificate_fails_the_navigation(chromium_path: str, base_url: str) -> None:
    with (
        Chromium(executable=chromium_path) as chromium,
        pytest.raises(BrowserError, match="ERR_CERT_AUTHORITY_INVALID"),
    ):
        chromium.load(f"{base_url}/")


@pytest.mark.peer
def test_closing_stops_the_browser_and_removes_its_profile(chromium_path: str) -> None:
    chromium = Chromium(executable=chromium_path)
    with chromium:
        pid = chromium.pid
        profile = chromium.user_data_dir
        assert pid is not None
        assert profile is not None
        assert (profile / "DevToolsActivePort").is_file()
    assert chromium.pid is None
    assert chromium.user_data_dir is None
    assert not profile.exists()
    assert _live_processes_in_group(pid) == []  # nor any process the browser started


def _live_processes_in_group(pgid: int, wait_s: float = 5.0) -> list[int]:
    """Return the processes of group ``pgid`` that are not zombies, once none are or time is up."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    deadline = time.monotonic() + wait_s
    while True:
        live = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # pid (comm) state ppid pgrp ...; comm may contain spaces, so split after ")".
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                live.append(int(stat.parent.name))
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.05)
