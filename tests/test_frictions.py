"""Apps as they come: factories, Django's own wrapper and static files, the access log, install.

``h2push serve`` and ``h2push manifest --app`` load factories, checked on a small app of this
file's own and, end to end, on Flask's tutorial app flaskr (from the Flask sdist,
:mod:`flaskr`). The Django project ``examples/django_project`` uses
:func:`h2push.django.get_asgi_application`, whose own middleware sends the 103 and the pushes,
so the command line's flags must reach it; a fresh ``startproject`` shows the admin's
stylesheets under ASGI. Servers run as the real command in a subprocess; curl and nghttp look
at what they send.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TLSFiles, free_port, require_module, require_program
from h2push._tools.serve.server import AppLoadError, detect_interface, import_app
from nghttp import nghttp
from processes import h2push_command, running
from tutorial import flaskr_project

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
    require_module("django")
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


# --------------------------------------------------------------------------- h2push manifest


def _h2push(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        h2push_command(*args),
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _environment() -> dict[str, str]:
    source = str(REPO / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize("spec", ["flaskr:create_app()", "flaskr:create_app"])
def test_manifest_for_flaskr_from_its_factory(tmp_path: Path, spec: str) -> None:
    project = flaskr_project(tmp_path)

    result = _h2push(project, "manifest", "--app", spec, "-o", "flaskr/push_manifest.json")

    assert result.returncode == 0, result.stderr
    written = json.loads((project / "flaskr" / "push_manifest.json").read_text())
    assert written == {"index.html": {"/static/style.css": {"type": "style", "weight": 80}}}


def test_a_missing_h2push_manifest_names_the_file_and_the_command(tmp_path: Path) -> None:
    require_module("django")
    project = tmp_path / "django_project"
    shutil.copytree(DJANGO_PROJECT, project)
    manifest = project / "push_manifest.json"
    manifest.unlink()

    served = _h2push(
        project, "serve", "mysite.asgi:application", "--bind", f"127.0.0.1:{free_port()}"
    )
    assert served.returncode == 1
    assert f"{manifest}: H2PUSH_MANIFEST names this file, which does not exist yet" in served.stderr
    assert (
        f"create it from the project directory with `h2push manifest --app"
        f" mysite.asgi:application -o {manifest}`"
    ) in served.stderr

    # The command it names can import the project and write the file.
    written = _h2push(project, "manifest", "--app", "mysite.asgi:application", "-o", str(manifest))
    assert written.returncode == 0, written.stderr
    entries = json.loads(manifest.read_text())["index.html"]
    assert "/static/app.css" in entries


DJANGO_SETUP = {  # what the README's Django section says, applied to a fresh startproject
    "    'django.contrib.staticfiles',\n": "    'django.contrib.staticfiles',\n    'h2push',\n",
    "MIDDLEWARE = [\n": "MIDDLEWARE = [\n    'h2push.django.H2PushMiddleware',\n",
}
WHITENOISE_SETUP = {  # what docs/frameworks.md says for static files under ASGI
    "    'django.middleware.security.SecurityMiddleware',\n": (
        "    'django.middleware.security.SecurityMiddleware',\n"
        "    'whitenoise.middleware.WhiteNoiseMiddleware',\n"
    ),
}
WHITENOISE_SETTINGS = """
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_MAX_AGE = 60
"""


def _edit(path: Path, replacements: dict[str, str], append: str = "") -> None:
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text + append)


def test_django_admin_under_asgi_needs_its_static_files_served(tmp_path: Path) -> None:
    require_module("django")
    require_module("whitenoise")
    run = functools.partial(subprocess.run, cwd=tmp_path, env=_environment(), timeout=120)
    run([sys.executable, "-m", "django", "startproject", "mysite", "."], check=True)
    _edit(
        tmp_path / "mysite" / "settings.py",
        DJANGO_SETUP,
        '\nH2PUSH_MANIFEST = BASE_DIR / "push_manifest.json"\n',
    )
    _edit(
        tmp_path / "mysite" / "asgi.py",
        {
            "from django.core.asgi import get_asgi_application": (
                "from h2push.django import get_asgi_application"
            )
        },
    )
    run([sys.executable, "manage.py", "migrate", "-v0"], check=True)
    args = (
        "manifest",
        "--app",
        "mysite.asgi:application",
        "/admin/login/",
        "-o",
        "push_manifest.json",
    )

    # Under ASGI Django serves no static files: the admin's stylesheets answer 404.
    refused = _h2push(tmp_path, *args)
    assert refused.returncode == 1
    assert "error: admin/login/index.html: stylesheet GET /static/admin/css/base.css: 404" in (
        refused.stderr
    )
    assert "add WhiteNoise" in refused.stderr
    assert not (tmp_path / "push_manifest.json").exists()

    _edit(tmp_path / "mysite" / "settings.py", WHITENOISE_SETUP, WHITENOISE_SETTINGS)
    run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], check=True)
    written = _h2push(tmp_path, *args)
    assert written.returncode == 0, written.stderr
    entries = json.loads((tmp_path / "push_manifest.json").read_text())["admin/login/index.html"]
    assert "/static/admin/css/base.css" in entries
    assert entries["/static/admin/css/login.css"] == {"type": "style", "weight": 80}


# --------------------------------------------------------------------------- the README


def test_the_readme_starts_with_how_to_install_every_extra() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    readme = (REPO / "README.md").read_text()
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    first = readme.split("\n## ", 2)[1]

    assert first.startswith("Install\n")
    assert 'pip install "h2push[flask]"' in first
    for extra in set(extras) - {"dev"}:
        assert f'pip install "h2push[{extra}]"' in first, extra


# --------------------------------------------------------------------------- h2push bench


@pytest.mark.peer
def test_bench_flaskr_from_its_factory(tmp_path: Path) -> None:
    require_program("chromium")
    project = flaskr_project(tmp_path)
    written = _h2push(
        project, "manifest", "--app", "flaskr:create_app()", "-o", "flaskr/push_manifest.json"
    )
    assert written.returncode == 0, written.stderr
    args = ["--runs", "1", "--protocol", "h2", "--client", "chromium", "--rtt-ms", "20"]

    result = _h2push(project, "bench", "--app", "flaskr:create_app()", *args)

    assert result.returncode == 0, result.stderr
    assert "(hinted: the app's own declarations)" in result.stderr
    assert "Page complete, ms: flaskr:create_app() /: rtt 20 ms" in result.stdout
    for strategy in ("nothing", "link", "hints", "push", "push+103"):
        assert f"| chromium | h2 | {strategy} |" in result.stdout
    assert "chromium h2 hints: " in result.stdout
