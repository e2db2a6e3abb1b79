"""Chromium over HTTP/3: ``h2push serve --http3`` and Caddy in front of Gunicorn.

``h2push serve --http3`` adds Hypercorn's QUIC listener (aioquic) on the same port over UDP and
announces it with ``Alt-Svc``; Caddy 2.6 serves HTTP/3 on its HTTPS port and forwards
Gunicorn's 103 (written over HTTP/1.1 through ``wsgi.early_hints``). The app is
:mod:`apps.proxy_site`. Chromium is started with ``--origin-to-force-quic-on`` for both origins
and loads each page ten times with an empty cache and no cookies: every load and every hinted
resource must come over ``h3``, and at least 95 % of the hinted resources must be reported with
``initiatorType == "early-hints"``.

The emulated round trip of the other browser tests (:mod:`h2push._tools.serve.netem`) relays TCP
only, so
QUIC goes over the bare loopback here. Measured: Chromium used the 103 in every load all the
same (over QUIC its request is sent before the server can answer it).

Caddy is reached as ``localhost``: Chromium sends no SNI for an IP address, and Caddy 2.6 then
fails the QUIC handshake (``net::ERR_QUIC_PROTOCOL_ERROR``), while over TCP it serves its one
certificate.

Chromium never sends MAX_PUSH_ID, so it accepts no push over HTTP/3: under ``h2push serve`` no
push is offered for its streams, and no tracker cookie reaches it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.proxy_site import HINTED
from conftest import ON_CI, TLSFiles, free_port, require_program
from h2push._tools._common import find_chromium
from h2push._tools.browser import Chromium
from h2push._tools.serve.devcert import spki_sha256_base64
from nghttp import nghttp
from processes import SRC, running
from proxies import ROOT, Origin, Running, error_lines, proxy, upstream

pytestmark = pytest.mark.peer

LOADS = 10
REQUIRED_SHARE = 0.95
APP = "tests.apps.proxy_site:app"


@dataclass(frozen=True)
class Site:
    """A server Chromium reaches over HTTP/3: its origin (``HOST:PORT``) and its log."""

    origin: str
    log: Path

    @property
    def url(self) -> str:
        return f"https://{self.origin}/"


@pytest.fixture(scope="module")
def serve_h3(tls_files: TLSFiles) -> Iterator[Site]:
    """``h2push serve --http3`` serving apps.proxy_site."""
    if importlib.util.find_spec("aioquic") is None:
        message = "aioquic is not installed (pip install 'h2push[http3]')"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    command = [sys.executable, "-m", "h2push", "serve", APP, "--http3"]
    command += ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command += ["--bind", f"127.0.0.1:{port}"]
    with running(command, port=port, cwd=ROOT) as log:
        yield Site(origin=f"127.0.0.1:{port}", log=log)


@pytest.fixture(scope="module")
def caddy_h3(
    tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Site, Running, Origin]]:
    """Caddy (HTTP/3 on its HTTPS port) in front of Gunicorn serving apps.proxy_site."""
    directory = tmp_path_factory.mktemp("caddy-h3")
    with (
        upstream("gunicorn", directory, tls_files) as origin,
        proxy("caddy", directory, origin, tls_files) as caddy,
    ):
        yield Site(origin=f"localhost:{caddy.port}", log=caddy.output), caddy, origin


@pytest.fixture(scope="module")
def browser(
    tls_files: TLSFiles, serve_h3: Site, caddy_h3: tuple[Site, Running, Origin]
) -> Iterator[Chromium]:
    """One Chromium for the module, forcing QUIC for both origins."""
    require_program("chromium")
    spki = spki_sha256_base64(tls_files.cert.read_bytes())
    origins = [serve_h3.origin, caddy_h3[0].origin]
    with Chromium(executable=find_chromium(), spki=[spki], quic_origins=origins) as chromium:
        yield chromium


def _cookies(browser: Chromium, url: str) -> set[str]:
    return {c["name"] for c in browser.call("Network.getCookies", {"urls": [url]})["cookies"]}


def _check_loads(browser: Chromium, site: Site) -> str:
    used = hinted = 0
    for _ in range(LOADS):
        browser.clear_cache()
        browser.call("Network.clearBrowserCookies")
        load = browser.load(site.url)
        assert load.navigation.response_status == 200
        assert load.navigation.next_hop_protocol == "h3"
        assert load.console_errors == ()
        for path in HINTED:
            hinted += 1
            used += load.initiator_of(path) == "early-hints"
            assert load.by_path()[path].next_hop_protocol == "h3", path
        assert _cookies(browser, site.url) == set()  # no push, so no tracker cookie
    summary = f"{used} of {hinted} hinted resources used from the 103, over h3"
    assert used >= REQUIRED_SHARE * hinted, summary
    return summary


def test_chromium_uses_the_103_over_http3_from_h2push_serve(
    browser: Chromium, serve_h3: Site
) -> None:
    print(f"h2push serve --http3: {_check_loads(browser, serve_h3)}")
    output = serve_h3.log.read_text()
    assert "Traceback" not in output
    assert "ERROR" not in output


def test_chromium_uses_the_103_over_http3_through_caddy(
    browser: Chromium, caddy_h3: tuple[Site, Running, Origin]
) -> None:
    site, caddy, _ = caddy_h3
    print(f"Caddy (HTTP/3) in front of Gunicorn: {_check_loads(browser, site)}")
    assert error_lines(caddy) == []


def test_h2push_serve_announces_http3_and_prints_the_chromium_line(serve_h3: Site) -> None:
    port = serve_h3.origin.rsplit(":", 1)[1]
    log = nghttp(serve_h3.url, "--no-push", "-H", "accept: text/html")
    stream = next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")
    assert log.final_headers(stream).header("alt-svc") == f'h3=":{port}"; ma=3600'
    assert len(log.informational) == 1  # the 103 still goes out over HTTP/2
    banner = serve_h3.log.read_text()
    assert f"--enable-quic --origin-to-force-quic-on={serve_h3.origin}" in banner


def test_http3_without_aioquic_says_what_to_install() -> None:
    # sys.modules[name] = None makes the import fail, as on a machine without the extra.
    code = (
        "import sys; sys.modules['aioquic'] = None\n"
        "from h2push.cli import main\n"
        "main(['serve', 'tests.apps.proxy_site:app', '--http3', '--bind', '127.0.0.1:1'])\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "--http3 needs aioquic: pip install 'h2push[http3]'" in result.stderr
