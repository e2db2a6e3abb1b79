"""The example apps in ``examples/``, each served by the real ``h2push serve`` (Hypercorn).

Over HTTP/2 nghttp must receive one 103 with the example's manifest links, before the 200 that
the home page's 200 ms of thinking delays, and a PUSH_PROMISE for every pushable resource (the
manifest's, and the logo the page's template or handler adds with ``push()``); over HTTP/1.1
curl must get the page and its Link header. The Flask and FastAPI examples are also loaded in
headless Chromium, through a 50 ms emulated round trip (``--rtt-ms``; over a bare loopback
Chromium can drop a 103 that arrives before it has sent its request): the stylesheet, font and
script must come from the 103, the font only once, the page must render, and nothing may log an
error.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import TLSFiles, free_port, require_module, require_program
from nghttp import Log, nghttp
from pixels import png_pixels
from processes import SRC, h2push_command, stop, wait_for_port

pytestmark = pytest.mark.peer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MANIFEST_LINKS = (
    "</static/app.css>; rel=preload; as=style",
    "</static/dejavu-serif-bold.woff2>; rel=preload; as=font; crossorigin",
    "</static/app.js>; rel=preload; as=script",
)
MANIFEST_PATHS = ["/static/app.css", "/static/dejavu-serif-bold.woff2", "/static/app.js"]
PUSHED = [*MANIFEST_PATHS, "/static/logo.svg"]  # the logo: push() in the template or handler
THINK_TIME_S = 0.2


@dataclass(frozen=True)
class Example:
    name: str
    directory: str
    app: str
    framework: str


EXAMPLE_LIST = [
    Example("flask", "flask_app", "app:app", "Flask"),
    Example("quart", "quart_app", "app:app", "Quart"),
    Example("starlette", "starlette_app", "app:app", "Starlette"),
    Example("fastapi", "fastapi_app", "app:app", "FastAPI"),
    Example("django", "django_project", "mysite.asgi:application", "Django"),
]
BY_NAME = {example.name: example for example in EXAMPLE_LIST}


@dataclass(frozen=True)
class Running:
    example: Example
    url: str


def _serve(example: Example, tls_files: TLSFiles, tmp_path: Path, *extra: str) -> Iterator[Running]:
    require_module({"django": "django"}.get(example.name, example.name))
    port = free_port()
    command = h2push_command(
        "serve",
        example.app,
        "--bind",
        f"127.0.0.1:{port}",
        "--certfile",
        str(tls_files.cert),
        "--keyfile",
        str(tls_files.key),
        *extra,
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "PYTHONDONTWRITEBYTECODE": "1",  # leave the example's directory as it is
        "H2PUSH_CACHE_DIR": str(tmp_path / "cache"),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=EXAMPLES / example.directory,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, log)
        yield Running(example, f"https://127.0.0.1:{port}")
    finally:
        stop(process)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")


@pytest.fixture(scope="module", params=[e.name for e in EXAMPLE_LIST])
def served(
    request: pytest.FixtureRequest, tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    example = BY_NAME[request.param]
    yield from _serve(example, tls_files, tmp_path_factory.mktemp(example.name))


def _main_stream(log: Log) -> int:
    return next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")


def _links(headers: list[tuple[str, str]]) -> list[str]:
    return [value for name, value in headers if name == "link"]


def test_http2_103_and_pushes_that_nghttp_receives(served: Running) -> None:
    log = nghttp(served.url + "/", "-H", "accept: text/html")
    stream = _main_stream(log)

    (hint,) = log.informational
    assert (hint.stream_id, hint.header(":status")) == (stream, "103")
    assert tuple(_links(hint.headers)) == MANIFEST_LINKS
    final = log.final_headers(stream)
    assert final.header(":status") == "200"
    assert final.t_s - hint.t_s > THINK_TIME_S * 0.5  # the 103 left before the page's thinking
    link = ", ".join(_links(final.headers))
    for path in PUSHED:
        assert f"<{path}>; rel=preload" in link

    promised = [frame.header(":path") for frame in log.promises]
    assert sorted(promised) == sorted(PUSHED)  # type: ignore[type-var]
    assert promised[:3] == MANIFEST_PATHS  # before the view ran, in weight order
    for promise in log.promises:
        assert promise.promised_stream_id is not None
        assert log.final_headers(promise.promised_stream_id).header(":status") == "200"
        assert log.stream_ended(promise.promised_stream_id)
    assert log.stream_ended(stream)


def test_a_routes_own_manifest_adds_to_the_103_and_the_pushes(served: Running) -> None:
    log = nghttp(served.url + "/about", "-H", "accept: text/html")

    (hint,) = log.informational
    assert tuple(_links(hint.headers)) == (
        *MANIFEST_LINKS,
        "</static/about.css>; rel=preload; as=style",
    )
    promised = [frame.header(":path") for frame in log.promises]
    assert "/static/about.css" in promised
    assert log.final_headers(_main_stream(log)).header(":status") == "200"


def test_http11_returns_the_page_and_its_link_header(served: Running, tls_files: TLSFiles) -> None:
    curl = require_program("curl")
    result = subprocess.run(
        [
            *(curl, "-s", "-i", "--http1.1", "--max-time", "20", "--cacert", str(tls_files.ca)),
            *("-H", "accept: text/html", served.url + "/"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    head, _, body = result.stdout.partition("\n\n")

    assert head.startswith("HTTP/1.1 200"), result.stdout[:300]
    assert not re.search(r"(?m)^HTTP/1.1 103", result.stdout)  # HTTP/1.1 offers no 103 here
    link = ", ".join(re.findall(r"(?im)^link: (.*)$", head))
    for value in MANIFEST_LINKS:
        assert value in link
    assert "</static/logo.svg>; rel=preload; as=image" in link
    assert f"<h1>{served.example.framework}</h1>" in body


# --------------------------------------------------------------------------- Chromium

# The page's colours (examples/*/static/app.css, logo.svg).
BACKGROUND_RGB = (0x0F, 0x6E, 0x6E)
CARD_RGB = (0xF2, 0xB0, 0x1E)
INK_RGB = (0xFB, 0xFA, 0xF7)


@pytest.fixture(scope="module", params=["flask", "fastapi"])
def served_far(
    request: pytest.FixtureRequest, tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """An example served through a 50 ms emulated round trip, as a browser elsewhere sees it."""
    example = BY_NAME[request.param]
    yield from _serve(
        example, tls_files, tmp_path_factory.mktemp(f"{example.name}-far"), "--rtt-ms", "50"
    )


def test_chromium_takes_the_stylesheet_font_and_script_from_the_103(
    served_far: Running, tls_files: TLSFiles
) -> None:
    require_program("chromium")
    from h2push._tools.browser import Chromium
    from h2push._tools.serve.devcert import spki_sha256_base64

    with Chromium(spki=[spki_sha256_base64(tls_files.cert.read_bytes())]) as browser:
        load = browser.load(served_far.url + "/", settle_s=0.3)
        png = browser.screenshot()
        ran = browser.evaluate("document.documentElement.dataset.ran")
        font_ready = browser.evaluate("document.fonts.check('700 48px \"Example Serif\"')")
        shown = browser.evaluate("document.getElementById('hinted').textContent")

    described = [(r.path, r.initiator_type) for r in load.resources]
    for path in MANIFEST_PATHS:
        assert load.initiator_of(path) == "early-hints", described
    font_fetches = [r for r in load.resources if r.path == "/static/dejavu-serif-bold.woff2"]
    assert len(font_fetches) == 1, described  # crossorigin right: one fetch, not two
    assert load.navigation.response_status == 200
    assert load.navigation.next_hop_protocol == "h2"
    assert load.console_errors == ()
    assert ran == "yes"
    assert font_ready is True
    # The page lists its early-hints entries in Resource Timing order, which is the order they
    # finished arriving, not the manifest's.
    assert sorted(shown.split(", ")) == sorted(MANIFEST_PATHS)
    # Rendered, styled, with the font: the background, the card, and the white heading.
    background, card, logo = png_pixels(png, [(10, 10), (400, 200), (104, 192)])
    assert background == BACKGROUND_RGB
    assert card == CARD_RGB
    assert logo == BACKGROUND_RGB  # the pushed logo drew its circle on the card
    assert INK_RGB in png_pixels(png, [(x, 85) for x in range(48, 200)])  # the heading
