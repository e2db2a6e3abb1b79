"""Every real path to a browser: Chromium through Caddy, Apache httpd, h2o and nghttpx.

The matrix: Python server x proxy (Debian's Caddy 2.6, Apache httpd 2.4 with ``H2EarlyHints on``,
h2o 2.2, nghttpx 1.52) x HTTP/2 to the client. The app is :mod:`apps.proxy_site` (a Flask app with
``H2PUSH_PROXY = "forwards-103"``, a page that thinks 200 ms, three hinted static files).

* Gunicorn serving WSGI (``wsgi.early_hints``) and Hypercorn under ``h2push serve``: Chromium
  reaches each proxy over an emulated 50 ms round trip (:mod:`h2push._tools.serve.netem`) and loads
  the page
  ten times, each with an empty cache and no cookies. Through a proxy that forwards the 103
  (Caddy, Apache httpd, nghttpx) at least 95 % of the hinted same-origin resources must be
  reported with ``initiatorType == "early-hints"``. Gunicorn writes its 103 over HTTP/1.1 to the
  proxy; Hypercorn sends one only over HTTP/2 and HTTP/3, so each proxy reaches it over HTTP/2
  (Caddy and Apache ask for ``h2`` by ALPN to a TLS upstream, nghttpx with ``proto=h2``).
* h2o 2.2.5 cannot carry a 103: it speaks only HTTP/1.1 to its upstream, so Hypercorn sends it
  none, and Gunicorn's 103 it consumes (it pushes what it names) without forwarding it. The
  test proves it: no 103 reaches Chromium, no resource is reported as ``early-hints``, and
  Chromium preloads them from the final response's Link header instead.
* Gunicorn's ASGI worker (103 as ``http.response.informational``, over HTTP/1.1) and Uvicorn
  (103 over HTTP/2 only): nghttp, refusing push as browsers do, must get the 103 with every
  hinted path through Caddy, Apache httpd and nghttpx, and none through h2o.

No proxy may log an error. nginx 1.22.1 (Debian 12, ``proxy_http_version 1.1`` as keep-alive
setups have it) is the other kind of proxy: with ``"pushes-from-link"`` no 103 leaves the app and
nginx pushes from the Link header; with ``"forwards-103"`` it takes Gunicorn's 103 for the final
response and the page is lost, which is why that mode exists. (Over nginx's default
``proxy_http_version 1.0`` Gunicorn sends no 103 at all.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from apps.proxy_site import HINTED
from conftest import TLSFiles, free_port, require_module, require_program
from h2push._tools._common import find_chromium
from h2push._tools.browser import Chromium, PageLoad
from h2push._tools.serve.devcert import spki_sha256_base64
from h2push._tools.serve.netem import LatencyRelay
from nghttp import nghttp
from processes import stop, wait_for_port
from proxies import (
    ASGI_UPSTREAMS,
    PROXIES,
    UPSTREAMS,
    Origin,
    Proxy,
    Upstream,
    error_lines,
    proxy,
    sbin_program,
    upstream,
)

pytestmark = pytest.mark.peer

LOADS = 10
RTT_MS = 50
REQUIRED_SHARE = 0.95
FORWARDS_103: frozenset[Proxy] = frozenset({"caddy", "apache", "nghttpx"})


@pytest.fixture(scope="module")
def origins(
    tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Upstream, Origin]]:
    """Gunicorn and ``h2push serve``, each serving apps.proxy_site, for the whole module."""
    directory = tmp_path_factory.mktemp("origins")
    with (
        upstream("gunicorn", directory, tls_files) as gunicorn,
        upstream("hypercorn", directory, tls_files) as hypercorn,
    ):
        yield {"gunicorn": gunicorn, "hypercorn": hypercorn}


@pytest.fixture(scope="module")
def browser(tls_files: TLSFiles) -> Iterator[Chromium]:
    """One Chromium for the module; each load starts with an empty cache and no cookies."""
    require_program("chromium")
    spki = spki_sha256_base64(tls_files.cert.read_bytes())
    with Chromium(executable=find_chromium(), spki=[spki]) as chromium:
        yield chromium


@dataclass
class Tally:
    """Hinted resources over several loads: how Chromium says it fetched each."""

    loads: int = 0
    with_103: int = 0
    hinted: int = 0
    used: int = 0
    initiators: dict[str, int] = field(default_factory=dict)

    def add(self, load: PageLoad) -> None:
        self.loads += 1
        self.with_103 += load.early_hints_received
        for path in sorted(HINTED):
            initiator = str(load.initiator_of(path))
            self.hinted += 1
            self.used += initiator == "early-hints"
            self.initiators[initiator] = self.initiators.get(initiator, 0) + 1

    def __str__(self) -> str:
        return (
            f"103 reached Chromium in {self.with_103} of {self.loads} loads; {self.used} of"
            f" {self.hinted} hinted resources used from it; initiators {self.initiators}"
        )


def _visits(browser: Chromium, url: str) -> Tally:
    tally = Tally()
    for _ in range(LOADS):
        browser.clear_cache()
        browser.call("Network.clearBrowserCookies")
        load = browser.load(url)
        assert load.navigation.response_status == 200
        assert load.navigation.next_hop_protocol == "h2"
        assert load.console_errors == ()
        tally.add(load)
    return tally


@pytest.mark.parametrize("kind", PROXIES)
@pytest.mark.parametrize("server", UPSTREAMS)
def test_chromium_uses_the_103_through_the_proxy(
    kind: Proxy,
    server: Upstream,
    origins: dict[Upstream, Origin],
    browser: Chromium,
    tls_files: TLSFiles,
    tmp_path: Path,
) -> None:
    origin = origins[server]
    with (
        proxy(kind, tmp_path, origin, tls_files) as running,
        LatencyRelay(running.port, rtt_ms=RTT_MS) as relay,
    ):
        tally = _visits(browser, f"https://127.0.0.1:{relay.port}/")
    print(f"{server} behind {kind}: {tally}")
    assert error_lines(running) == []
    if kind in FORWARDS_103:
        assert tally.used >= REQUIRED_SHARE * tally.hinted, str(tally)
    else:  # h2o 2.2.5: the 103 stops there; Chromium preloads from the final Link header
        assert tally.with_103 == 0, str(tally)
        assert tally.used == 0, str(tally)
        assert tally.initiators == {"link": tally.hinted}, str(tally)


# --------------------------------------------------------------------------- ASGI servers


@pytest.fixture(scope="module")
def asgi_origins(
    tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Upstream, Origin]]:
    """Gunicorn's ASGI worker and Uvicorn (HTTP/2 over TLS), each serving apps.proxy_site."""
    for module in ("uvicorn", "zttp"):
        require_module(module)
    directory = tmp_path_factory.mktemp("asgi-origins")
    with (
        upstream("gunicorn-asgi", directory, tls_files) as gunicorn,
        upstream("uvicorn", directory, tls_files) as uvicorn,
    ):
        yield {"gunicorn-asgi": gunicorn, "uvicorn": uvicorn}


@pytest.mark.parametrize("kind", PROXIES)
@pytest.mark.parametrize("server", ASGI_UPSTREAMS)
def test_the_103_of_asgi_servers_through_the_proxy(
    kind: Proxy,
    server: Upstream,
    asgi_origins: dict[Upstream, Origin],
    tls_files: TLSFiles,
    tmp_path: Path,
) -> None:
    # Gunicorn's ASGI worker writes the 103 over HTTP/1.1 (http.response.informational);
    # Uvicorn only over HTTP/2, which Caddy, Apache (h2://) and nghttpx (proto=h2) speak to it.
    with proxy(kind, tmp_path, asgi_origins[server], tls_files) as running:
        log = nghttp(running.url + "/", "-H", "accept: text/html", "--no-push")  # as a browser
    stream = next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")
    statuses = [
        f.header(":status") for f in log.frames if f.stream_id == stream and f.header(":status")
    ]
    print(f"{server} behind {kind}: {statuses}")
    assert error_lines(running) == []
    assert statuses == (["103", "200"] if kind in FORWARDS_103 else ["200"]), log.output
    if kind in FORWARDS_103:
        (hint,) = log.informational
        links = ", ".join(v for n, v in hint.headers if n == "link")
        assert sorted(path.split(">")[0].strip(" <") for path in links.split(",")) == sorted(HINTED)


# --------------------------------------------------------------------------- nginx < 1.29


def _nginx_conf(directory: Path, port: int, upstream_port: int, tls: TLSFiles) -> str:
    temp = "\n".join(
        f"    {name}_temp_path {directory}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        http2_push_preload on;
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def _upstream_statuses(origin: Origin) -> list[str]:
    """The status lines Gunicorn wrote for a navigation, as curl saw them over HTTP/1.1."""
    curl = require_program("curl")
    url = f"http://127.0.0.1:{origin.port}/"
    command = [curl, "-s", "-i", "--http1.1", "--max-time", "10", "-H", "Accept: text/html", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
    return [line.split()[1] for line in result.stdout.splitlines() if line.startswith("HTTP/")]


@pytest.mark.parametrize("mode", ["pushes-from-link", "forwards-103"])
def test_nginx_before_1_29_needs_the_pushes_from_link_mode(
    mode: str, tls_files: TLSFiles, tmp_path: Path
) -> None:
    program = sbin_program("nginx")
    version = subprocess.run([program, "-v"], capture_output=True, text=True, check=False).stderr
    with upstream("gunicorn", tmp_path, tls_files, proxy_mode=mode) as origin:
        sent = _upstream_statuses(origin)
        port = free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(_nginx_conf(tmp_path, port, origin.port, tls_files))
        (tmp_path / "error.log").touch()
        with (tmp_path / "nginx.out").open("wb") as output:
            process = subprocess.Popen(
                [program, "-c", str(conf), "-p", str(tmp_path)],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, process, tmp_path / "nginx.out")
            log = nghttp(f"https://127.0.0.1:{port}/", "-H", "accept: text/html")
        finally:
            stop(process)
        errors = (tmp_path / "error.log").read_text()
    stream = next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")
    statuses = [
        f.header(":status") for f in log.frames if f.stream_id == stream and f.header(":status")
    ]
    print(f"{version.strip()}, {mode}: the app sent {sent}; nghttp got {statuses}")
    if mode == "forwards-103":
        # nginx before 1.29 passes Gunicorn's 103 on as the final response: the page is lost
        # (nghttp gets an interim status, then body data, and resets the stream).
        assert sent == ["103", "200"]
        assert statuses == ["103"], log.output
        return
    assert sent == ["200"]  # no 103 leaves the app
    assert statuses == ["200"], log.output
    assert log.data_frames(stream), log.output
    assert log.stream_ended(stream), log.output
    assert sorted(str(p.header(":path")) for p in log.promises) == sorted(HINTED), log.output
    assert "[error]" not in errors, errors
