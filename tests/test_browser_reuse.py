"""Real apps nobody here wrote, set up as the README says, served by ``h2push serve``.

* flaskr, the tutorial app of the Flask sdist (``examples/tutorial``), fetched the way a user
  would (``pip download --no-deps --no-binary :all: flask``) into a cache directory, with
  ``H2Push(app)`` added in ``create_app()`` and a manifest written by ``h2push manifest --app``.
  It reads the session in a ``before_app_request`` hook, so its static files ``Vary: Cookie``,
  and Flask serves them ``no-cache`` by default: both used to waste the hint.
* Django's admin login page, in a fresh ``django-admin startproject``, with ``h2push`` in
  ``INSTALLED_APPS``, its middleware first, h2push's ``get_asgi_application`` in ``asgi.py`` and
  the static files served as Django's documentation says for a server other than
  ``runserver`` in development (``staticfiles_urlpatterns()``).
* This project's FastAPI example (``examples/fastapi_app``), with ``StaticFiles``.

Each is served over an emulated 50 ms round trip (``--rtt-ms 50``) and loaded ten times in one
headless Chromium with an empty cache and no cookies (a fresh profile each time, but for the
connection), flaskr also ten times logged in. At least 95 % of the resources in the 103 must be
reported with ``initiatorType == "early-hints"``, and no h2push cookie may reach Chromium: a
browser refuses push (``SETTINGS_ENABLE_PUSH = 0``), so h2push tracks nothing for it. nghttp,
which takes pushes, shows the other side: pushes and the tracker's cookie; with ``--no-push``
neither; and a path that matches no route gets no 103 and no push.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import TLSFiles, free_port, require_program
from h2push._tools._common import find_chromium
from h2push._tools.browser import Chromium, PageLoad
from h2push._tools.serve.devcert import spki_sha256_base64
from nghttp import Frame, Log, nghttp
from processes import h2push_command, running
from tutorial import django_project, flaskr_project

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[1]
LOADS = 10
RTT_MS = "50"
REQUIRED_SHARE = 0.95
TRACKER_COOKIE = "h2push"
NAVIGATION = ("-H", "accept: text/html")


def _run(command: list[str], cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(cwd)])}
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass(frozen=True)
class Site:
    """A served app: its URL, the page to load, and what the 103 for that page hinted."""

    url: str
    page: str
    hinted: frozenset[str]
    log: Path


def _hinted(url: str) -> frozenset[str]:
    """The same-origin paths in the 103 of a navigation to ``url`` (what nghttp received)."""
    log = nghttp(url, *NAVIGATION, "--no-push")
    informational = log.informational
    assert len(informational) == 1, log.output
    links = [v for n, v in informational[0].headers if n == "link"]
    paths = {link.split(">")[0].lstrip("<") for value in links for link in value.split(",")}
    return frozenset(p.strip() for p in paths if p.strip().startswith("/"))


def _serve(cwd: Path, app: str, page: str, tls: TLSFiles) -> Iterator[Site]:
    port = free_port()
    certificate = ["--certfile", str(tls.cert), "--keyfile", str(tls.key)]
    bind = ["--bind", f"127.0.0.1:{port}", "--rtt-ms", RTT_MS]
    with running(h2push_command("serve", app, *certificate, *bind), port=port, cwd=cwd) as log:
        url = f"https://127.0.0.1:{port}"
        yield Site(url=url, page=page, hinted=_hinted(url + page), log=log)


# --------------------------------------------------------------------------- the apps


@pytest.fixture(scope="module")
def flaskr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """flaskr from the Flask sdist, with H2Push(app) and a manifest, as the README says."""
    site = flaskr_project(tmp_path_factory.mktemp("flaskr"))
    _run(
        h2push_command(
            "manifest", "--app", "flaskr:create_app()", "-o", "flaskr/push_manifest.json", "/"
        ),
        site,
    )
    return site


@pytest.fixture(scope="module")
def flaskr(flaskr_dir: Path, tls_files: TLSFiles) -> Iterator[Site]:
    yield from _serve(flaskr_dir, "flaskr:create_app()", "/", tls_files)


@pytest.fixture(scope="module")
def django_admin(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[Site]:
    """A fresh startproject with h2push added as the README says; its admin login page."""
    site = django_project(tmp_path_factory.mktemp("django"))
    app = "mysite.asgi:application"
    _run(
        h2push_command("manifest", "--app", app, "-o", "push_manifest.json", "/admin/login/"), site
    )
    yield from _serve(site, app, "/admin/login/", tls_files)


@pytest.fixture(scope="module")
def fastapi_example(tls_files: TLSFiles) -> Iterator[Site]:
    yield from _serve(REPO / "examples" / "fastapi_app", "app:app", "/", tls_files)


@pytest.fixture(scope="module")
def browser(tls_files: TLSFiles) -> Iterator[Chromium]:
    """One Chromium for the module; each load starts with an empty cache and no cookies."""
    require_program("chromium")
    spki = spki_sha256_base64(tls_files.cert.read_bytes())
    with Chromium(executable=find_chromium(), spki=[spki]) as chromium:
        yield chromium


# --------------------------------------------------------------------------- measuring


@dataclass
class Tally:
    """Hinted same-origin resources over several loads, and how many Chromium took from the 103."""

    hinted: int = 0
    used: int = 0
    misses: list[str] | None = None

    def add(self, load: PageLoad, hinted: frozenset[str]) -> None:
        assert load.early_hints_received, f"no 103 reached Chromium for {load.url}"
        for path in sorted(hinted):
            self.hinted += 1
            initiator = load.initiator_of(path)
            if initiator == "early-hints":
                self.used += 1
            else:
                self.misses = [*(self.misses or []), f"{path}: {initiator}"]

    def check(self, name: str) -> None:
        share = self.used / self.hinted
        print(f"{name}: {self.used} of {self.hinted} hinted resources used from the 103")
        assert share >= REQUIRED_SHARE, f"{name}: {self.used}/{self.hinted}; {self.misses}"


def _cookies(browser: Chromium, url: str) -> dict[str, str]:
    found = browser.call("Network.getCookies", {"urls": [url + "/"]})["cookies"]
    return {cookie["name"]: cookie["value"] for cookie in found}


def _visits(browser: Chromium, site: Site, *, logged_in: bool = False) -> Tally:
    tally = Tally()
    for _ in range(LOADS):
        browser.clear_cache()
        if not logged_in:
            browser.call("Network.clearBrowserCookies")
        load = browser.load(site.url + site.page)
        assert load.navigation.response_status == 200
        tally.add(load, site.hinted)
        assert TRACKER_COOKIE not in _cookies(browser, site.url)
    return tally


def _log_in(browser: Chromium, site: Site) -> None:
    browser.call("Network.clearBrowserCookies")
    browser.load(site.url + "/auth/register")
    browser.evaluate(
        """(async () => {
            const form = new URLSearchParams({username: 'reader', password: 'secret'});
            await fetch('/auth/register', {method: 'POST', body: form});
            await fetch('/auth/login', {method: 'POST', body: form});
        })()"""
    )
    assert "session" in _cookies(browser, site.url)


# --------------------------------------------------------------------------- the tests


def test_flaskr_hints_are_used_on_first_visits_and_logged_in(
    browser: Chromium, flaskr: Site
) -> None:
    assert flaskr.hinted == {"/static/style.css"}
    _visits(browser, flaskr).check("flaskr, first visits")
    _log_in(browser, flaskr)
    tally = _visits(browser, flaskr, logged_in=True)
    assert browser.evaluate("document.body.innerText.includes('Log Out')") is True
    tally.check("flaskr, logged in")
    assert "session" in _cookies(browser, flaskr.url)  # the app's own cookie is untouched


def test_django_admin_login_hints_are_used(browser: Chromium, django_admin: Site) -> None:
    assert "/static/admin/css/base.css" in django_admin.hinted
    _visits(browser, django_admin).check("Django admin login")


def test_fastapi_example_hints_are_used(browser: Chromium, fastapi_example: Site) -> None:
    assert "/static/app.css" in fastapi_example.hinted
    _visits(browser, fastapi_example).check("FastAPI example")


def _final(log: Log) -> Frame:
    """The final response to the request nghttp sent (its first HEADERS)."""
    stream = next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")
    return log.final_headers(stream)


def _tracker_cookies(log: Log) -> list[str]:
    final = _final(log)
    return [v for n, v in final.headers if n == "set-cookie" and v.startswith(TRACKER_COOKIE + "=")]


def test_the_tracker_cookie_goes_only_to_a_client_that_takes_pushes(flaskr: Site) -> None:
    pushing = nghttp(flaskr.url + "/", *NAVIGATION)
    assert [p.header(":path") for p in pushing.promises] == ["/static/style.css"]
    assert len(_tracker_cookies(pushing)) == 1
    refusing = nghttp(flaskr.url + "/", *NAVIGATION, "--no-push")  # SETTINGS_ENABLE_PUSH = 0
    assert len(refusing.informational) == 1  # the 103 still goes out
    assert refusing.promises == []
    assert _tracker_cookies(refusing) == []


def test_hinted_static_file_gets_a_lifetime_and_a_missing_page_no_hints(flaskr: Site) -> None:
    style = nghttp(flaskr.url + "/static/style.css", "--no-push")
    assert _final(style).header("cache-control") == "max-age=60"
    for site_path in ("/nope", "/auth"):  # a 404; a redirect to /auth/... is also no page
        log = nghttp(flaskr.url + site_path, *NAVIGATION)
        assert log.informational == [], site_path
        assert log.promises == [], site_path


def test_a_path_with_no_route_gets_no_hints_in_fastapi_and_django(
    fastapi_example: Site, django_admin: Site
) -> None:
    for site in (fastapi_example, django_admin):
        log = nghttp(site.url + "/nope", *NAVIGATION)
        assert _final(log).header(":status") == "404"
        assert log.informational == []
        assert log.promises == []


OFFER_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    offered = b"yes" if "http.response.push" in scope.get("extensions", {}) else b"no"
    headers = [(b"content-type", b"text/plain"), (b"x-push-offered", offered)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def test_hypercorn_offers_push_only_to_clients_that_accept_it(
    tmp_path: Path, tls_files: TLSFiles
) -> None:
    # Hypercorn 0.18 lists http.response.push for every HTTP/2 request; under h2push serve a
    # stream of a client that sent SETTINGS_ENABLE_PUSH = 0 is not offered it.
    (tmp_path / "offer.py").write_text(OFFER_APP)
    port = free_port()
    certificate = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = h2push_command("serve", "offer:app", *certificate, "--bind", f"127.0.0.1:{port}")
    with running(command, port=port, cwd=tmp_path):
        url = f"https://127.0.0.1:{port}/"
        assert _final(nghttp(url)).header("x-push-offered") == "yes"
        assert _final(nghttp(url, "--no-push")).header("x-push-offered") == "no"


@pytest.mark.parametrize("name", ["flaskr", "django_admin", "fastapi_example"])
def test_h2push_check_finds_every_hint_used(
    name: str, request: pytest.FixtureRequest, tls_files: TLSFiles
) -> None:
    """``h2push check`` on each real app, as a user would run it: exit 0, every hint used."""
    require_program("chromium")
    site: Site = request.getfixturevalue(name)
    command = h2push_command("check", site.url + site.page, "--cacert", str(tls_files.ca))
    done = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    used = {row["path"] for row in report["resources"] if row["outcome"] == "early-hints"}
    assert site.hinted <= used, report
