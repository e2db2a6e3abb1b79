"""Learning with real apps, no manifest, in Chromium: flaskr, Django admin, a web font.

Each app is set up as the README says but with **no manifest**, served by ``h2push serve`` over
an emulated 50 ms round trip. The first navigation gets no 103 (as without h2push); from the
second on, at least 95 % of the head's same-origin stylesheets and scripts, and the fonts they
name, must be reported by Chromium with ``initiatorType == "early-hints"`` over ten loads, each
with an empty cache and no cookies. What the head names is read by Chromium from the DOM, not
by h2push's scanner. Two Hypercorn workers sharing a Redis server: a page learned through one
is hinted by whichever serves the next navigation. A renamed (hashed) stylesheet is hinted by
its new name after one response, and never by the old one again (nghttp, `h2push serve`).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TLSFiles, free_port, require_program
from h2push._tools._common import find_chromium
from h2push._tools.browser import Chromium
from h2push._tools.serve.devcert import spki_sha256_base64
from nghttp import Log, nghttp
from processes import h2push_command, running
from tutorial import django_project, flaskr_project

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[1]
LOADS = 10
REQUIRED_SHARE = 0.95
RTT_MS = "50"
# The head's same-origin stylesheets and scripts, and the fonts (read by Chromium).
CRITICAL = """(() => {
    const same = (url) => new URL(url, location.href).origin === location.origin;
    const path = (url) => new URL(url, location.href).pathname;
    const head = [
        ...document.head.querySelectorAll('link[rel~=stylesheet][href]'),
        ...document.head.querySelectorAll('script[src]'),
    ].map((e) => e.href || e.src).filter(same).map(path);
    const fonts = performance.getEntriesByType('resource')
        .filter((r) => /\\.(woff2?|ttf|otf)$/.test(new URL(r.name).pathname))
        .map((r) => r.name).filter(same).map(path);
    return [...new Set([...head, ...fonts])];
})()"""


@pytest.fixture(scope="module")
def browser(tls_files: TLSFiles) -> Iterator[Chromium]:
    require_program("chromium")
    spki = spki_sha256_base64(tls_files.cert.read_bytes())
    with Chromium(executable=find_chromium(), spki=[spki]) as chromium:
        yield chromium


def _serve(cwd: Path, app: str, tls: TLSFiles, *extra: str) -> Iterator[str]:
    port = free_port()
    certificate = ["--certfile", str(tls.cert), "--keyfile", str(tls.key)]
    command = h2push_command(
        "serve", app, *certificate, "--bind", f"127.0.0.1:{port}", "--rtt-ms", RTT_MS, *extra
    )
    with running(command, port=port, cwd=cwd):
        yield f"https://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def flaskr(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[str]:
    site = flaskr_project(tmp_path_factory.mktemp("flaskr-learn"))
    yield from _serve(site, "flaskr:create_app()", tls_files)


@pytest.fixture(scope="module")
def django_admin(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[str]:
    """A fresh startproject with h2push added as the README says, and no manifest."""
    site = django_project(tmp_path_factory.mktemp("django-learn"), manifest_setting=False)
    yield from _serve(site, "mysite.asgi:application", tls_files)


def _learned_loads(browser: Chromium, url: str) -> tuple[int, int, list[str]]:
    """Load ``url`` once (no 103 expected), then LOADS times; count critical resources used."""
    browser.clear_cache()
    browser.call("Network.clearBrowserCookies")
    first = browser.load(url)
    assert first.navigation.response_status == 200
    assert not first.early_hints_received, "a 103 on the first navigation, before any learning"
    used = total = 0
    misses: list[str] = []
    for _ in range(LOADS):
        browser.clear_cache()
        browser.call("Network.clearBrowserCookies")
        load = browser.load(url)
        assert load.navigation.response_status == 200
        critical = browser.evaluate(CRITICAL)
        assert critical, "the page names no same-origin stylesheet or script"
        for path in critical:
            total += 1
            initiator = load.initiator_of(path)
            if initiator == "early-hints":
                used += 1
            else:
                misses.append(f"{path}: {initiator}")
    return used, total, misses


@pytest.fixture(scope="module")
def fastapi_fonts(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[str]:
    """This project's FastAPI example without its site manifest: a stylesheet with a web font."""
    site = tmp_path_factory.mktemp("fastapi-learn")
    shutil.copytree(REPO / "examples" / "fastapi_app" / "static", site / "static")
    source = (REPO / "examples" / "fastapi_app" / "app.py").read_text()
    shutil.copy(REPO / "examples" / "fastapi_app" / "about_manifest.json", site)
    line = next(line for line in source.splitlines(True) if '"push_manifest.json"' in line)
    (site / "app.py").write_text(source.replace(line, ""))
    yield from _serve(site, "app:app", tls_files)


@pytest.mark.parametrize(
    ("name", "page"),
    [("flaskr", "/"), ("django_admin", "/admin/login/"), ("fastapi_fonts", "/")],
)
def test_a_page_with_no_manifest_is_hinted_from_the_second_navigation(
    browser: Chromium, request: pytest.FixtureRequest, name: str, page: str
) -> None:
    url: str = request.getfixturevalue(name)
    used, total, misses = _learned_loads(browser, url + page)
    print(f"{name}: {used} of {total} critical resources used from the learned 103")
    assert used / total >= REQUIRED_SHARE, misses


# --------------------------------------------------------------------------- Redis

APP = """
import os
from flask import Flask
from h2push.flask import H2Push

app = Flask(__name__)
app.config["H2PUSH_LEARN"] = os.environ["LEARN_REDIS_URL"]
H2Push(app)


@app.get("/")
def index():
    page = (
        '<!doctype html><html><head><link rel="stylesheet" href="/static/site.css">'
        '<script src="/static/site.js" defer></script></head><body>'
    )
    return page, {"x-worker": str(os.getpid())}
"""


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    program = require_program("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        import redis

        client = redis.Redis(port=port)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_two_workers_sharing_redis_hint_what_either_learned(
    tmp_path: Path, tls_files: TLSFiles, redis_url: str
) -> None:
    (tmp_path / "learnapp.py").write_text(APP)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "site.css").write_text("body { color: #333 }")
    (tmp_path / "static" / "site.js").write_text("void 0;")
    port = free_port()
    certificate = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = h2push_command(
        "serve", "learnapp:app", *certificate, "--bind", f"127.0.0.1:{port}", "--workers", "2"
    )
    url = f"https://127.0.0.1:{port}/"
    with running(command, port=port, cwd=tmp_path, env={"LEARN_REDIS_URL": redis_url}):
        first = nghttp(url, "-H", "accept: text/html", "--no-push")
        assert first.informational == []  # nothing learned yet, by any worker
        learned_by = first.final_headers(_stream(first)).header("x-worker")
        time.sleep(0.5)  # the worker writes to Redis after the response, off the request path
        # Each nghttp run is a new connection, which either worker may accept: every
        # navigation must be hinted, and some must come from the worker that did not learn.
        others = 0
        for _ in range(12):
            log = nghttp(url, "-H", "accept: text/html", "--no-push")
            assert len(log.informational) == 1, log.output
            links = " ".join(v for n, v in log.informational[0].headers if n == "link")
            assert "/static/site.css" in links, links
            assert "/static/site.js" in links, links
            others += log.final_headers(_stream(log)).header("x-worker") != learned_by
        print(f"{others} of 12 navigations hinted by the worker that did not learn the page")
        assert others > 0, "every connection went to one worker: the test proves nothing"


def _stream(log: Log) -> int:
    """The stream of the request nghttp made (the first HEADERS frame it sent)."""
    return next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")


RENAMING_APP = """
from pathlib import Path
from flask import Flask
from h2push.flask import H2Push

app = Flask(__name__)
H2Push(app)


@app.get("/")
def index():
    name = Path("name.txt").read_text().strip()
    return f'<head><link rel="stylesheet" href="/static/{name}"></head><body>'
"""


def test_a_renamed_stylesheet_is_hinted_by_its_new_name_after_one_response(
    tmp_path: Path, tls_files: TLSFiles
) -> None:
    (tmp_path / "renaming.py").write_text(RENAMING_APP)
    (tmp_path / "name.txt").write_text("app.1111.css")
    port = free_port()
    certificate = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = h2push_command("serve", "renaming:app", *certificate, "--bind", f"127.0.0.1:{port}")
    url = f"https://127.0.0.1:{port}/"

    def hinted() -> str:
        log = nghttp(url, "-H", "accept: text/html", "--no-push")
        return " ".join(v for f in log.informational for n, v in f.headers if n == "link")

    with running(command, port=port, cwd=tmp_path):
        assert hinted() == ""
        assert "/static/app.1111.css" in hinted()
        (tmp_path / "name.txt").write_text("app.2222.css")
        assert "/static/app.1111.css" in hinted()  # went out before the view named the new one
        for _ in range(5):
            links = hinted()
            assert "/static/app.2222.css" in links
            assert "app.1111" not in links
