"""``h2push serve`` with apps as they come: factories, Django's own wrapper, the access log.

Factories are checked on a small app of this file's own and, end to end, on Flask's tutorial app
flaskr (from the Flask sdist, :mod:`flaskr`). The Django project is ``examples/django_project``,
whose ``asgi.py`` uses :func:`h2push.django.get_asgi_application`: its own middleware sends the
103 and the pushes, so the command line's flags must reach it. Servers run as the real command
in a subprocess; curl and nghttp look at what they send.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TLSFiles, free_port, require_program
from flaskr import flaskr_project
from h2push.server import AppLoadError, detect_interface, import_app
from nghttp import nghttp
from processes import h2push_command, running

REPO = Path(__file__).resolve().parents[1]
DJANGO_PROJECT = REPO / "examples" / "django_project"

FACTORY_SOURCE = """
def app_for(name):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": name.encode()})
    app.made_by = name
    return app


def create_app(config=None):
    return app_for(f"create_app {config}")


def make_app(name, *, flavour="plain"):
    return app_for(f"make_app {name} {flavour}")


def needs_config(config):
    return app_for("needs_config")


def broken_factory():
    raise RuntimeError("no database")


def returns_nothing():
    return None


def wsgi_app(environ, start_response):
    start_response("200 OK", [])
    return [b"wsgi"]
"""


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of application factories in the current directory; yields its name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"factories_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(FACTORY_SOURCE)
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("attribute", "made_by"),
    [
        ("create_app()", "create_app None"),
        ("create_app", "create_app None"),  # a function without arguments is a factory
        ("create_app('production')", "create_app production"),
        ("make_app('shop', flavour='fast')", "make_app shop fast"),
        (" create_app ( ) ", "create_app None"),
    ],
)
def test_a_factory_is_called_for_the_application(
    factories: str, attribute: str, made_by: str
) -> None:
    app = import_app(f"{factories}:{attribute}")

    assert getattr(app, "made_by", None) == made_by
    assert detect_interface(app) == "asgi"


def test_a_wsgi_function_is_not_taken_for_a_factory(factories: str) -> None:
    app = import_app(f"{factories}:wsgi_app")

    assert getattr(app, "__name__", None) == "wsgi_app"
    assert detect_interface(app) == "wsgi"


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        (
            "needs_config",
            (
                r"is the function needs_config\(config\), neither an application nor a factory"
                r" callable without arguments: write '{name}:needs_config\(...\)'"
            ),
        ),
        ("broken_factory()", r"the factory {name}:broken_factory\(\) failed: RuntimeError"),
        ("broken_factory", r"the factory {name}:broken_factory\(\) failed: RuntimeError"),
        ("returns_nothing()", r"returned None, not an application"),
        ("create_app(open('x'))", r"a factory's arguments must be literals"),
        ("create_app()()", r"must look like module:attribute or module:factory\(\)"),
        ("missing()", r"'{name}' has no attribute 'missing'"),
    ],
)
def test_factories_that_cannot_be_used_say_what_to_write(
    factories: str, attribute: str, message: str
) -> None:
    with pytest.raises(AppLoadError) as caught:
        import_app(f"{factories}:{attribute}")

    text = str(caught.value)
    assert "\n" not in text
    assert re.search(message.format(name=factories), text), text


# --------------------------------------------------------------------------- real servers


def _curl(*args: str) -> str:
    curl = require_program("curl")
    result = subprocess.run(
        [curl, "-s", "-k", "--max-time", "20", *args], capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, f"curl {args} failed ({result.returncode}): {result.stderr!r}"
    return result.stdout.decode("utf-8", "replace")


def _serve(tls_files: TLSFiles, app: str, *args: str) -> tuple[list[str], int]:
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    return h2push_command("serve", app, *tls, *args, "--bind", f"127.0.0.1:{port}"), port


@pytest.mark.peer
@pytest.mark.parametrize("spec", ["flaskr:create_app()", "flaskr:create_app"])
def test_flaskr_served_from_its_factory(tmp_path: Path, tls_files: TLSFiles, spec: str) -> None:
    project = flaskr_project(tmp_path)
    command, port = _serve(tls_files, spec)

    with running(command, port=port, cwd=project) as log:
        page = _curl("--http2", "-i", "-H", "Accept: text/html", f"https://127.0.0.1:{port}/")
        stylesheet = _curl("--http2", "-i", f"https://127.0.0.1:{port}/static/style.css")

    assert page.startswith("HTTP/2 200"), page
    assert "<title>Posts - Flaskr</title>" in page
    assert stylesheet.startswith("HTTP/2 200")
    assert f"h2push serve: {spec} (WSGI)" in log.read_text()
    assert "Traceback" not in log.read_text()


@pytest.mark.peer
def test_the_access_log_has_one_line_per_request(tmp_path: Path, tls_files: TLSFiles) -> None:
    (tmp_path / "tiny.py").write_text(FACTORY_SOURCE + "\napp = create_app()\n")
    command, port = _serve(tls_files, "tiny:app", "--access-log")
    paths = ["/", "/first", "/second?x=1"]

    with running(command, port=port, cwd=tmp_path) as log:
        for path in paths:
            _curl("--http2", f"https://127.0.0.1:{port}{path}")
        # Hypercorn writes the line once the response has gone out: give it a moment.
        deadline = time.monotonic() + 5
        while True:
            output = log.read_text()
            lines = [line for line in output.splitlines() if '"GET ' in line]
            if len(lines) >= len(paths) or time.monotonic() > deadline:
                break
            time.sleep(0.05)

    assert len(lines) == len(paths), output
    for line, path in zip(lines, paths, strict=True):  # Hypercorn's format leaves out the query
        assert re.search(rf'"GET {re.escape(path.split("?")[0])} 2" 200', line), line


@pytest.mark.peer
@pytest.mark.parametrize(
    ("flags", "banner", "hints", "most_pushes"),
    [
        ((), "with 103 Early Hints and push", True, None),
        (("--no-push", "--no-early-hints"), "with Link headers only", False, 0),
        (("--no-push",), "with 103 Early Hints", True, 0),
        (("--max-pushes", "2"), "with 103 Early Hints and push", True, 2),
    ],
)
def test_the_flags_reach_djangos_own_wrapper(
    tls_files: TLSFiles, flags: tuple[str, ...], banner: str, hints: bool, most_pushes: int | None
) -> None:
    pytest.importorskip("django")
    command, port = _serve(tls_files, "mysite.asgi:application", *flags)

    with running(command, port=port, cwd=DJANGO_PROJECT) as log:
        frames = nghttp(f"https://127.0.0.1:{port}/", "-H", "accept: text/html")

    output = log.read_text()
    assert f"h2push serve: mysite.asgi:application (ASGI) {banner}\n" in output
    assert bool(frames.informational) == hints
    promises = len(frames.promises)
    if most_pushes is None:
        assert promises > 2  # the example's manifest has more than two files to push
    else:
        assert promises == most_pushes if most_pushes == 0 else 0 < promises <= most_pushes
