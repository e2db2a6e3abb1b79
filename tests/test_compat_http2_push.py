"""h2push.compat.flask_http2_push: flask-http2-push 0.0.3's decorator; where manifests are found.

What a flask-http2-push app relies on, in this project's words: ``@http2push()`` reads
``push_manifest.json``, ``@http2push('path.json')`` another file; a relative path is found in
the working directory, as the original looked, and in ``app.root_path``, where h2push's own
API looks (so an app inside a package finds a manifest at the project root, and a manifest
beside the package too); an error names both places when neither has it; ``"type":
"document"`` entries are linked and pushed, never hinted, with one warning. The same
resolution and ``document`` handling hold for :func:`h2push.flask.http2push` and
:class:`h2push.flask.H2Push`.
"""

from __future__ import annotations

import inspect
import json
import logging
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from conftest import TLSFiles, free_port
from h2push._core.manifest import ManifestError
from h2push.compat import flask_http2_push
from h2push.compat.flask_http2_push import http2push
from h2push.flask import H2Push, preloads_resolver
from h2push.flask import http2push as h2push_http2push
from nghttp import nghttp
from processes import h2push_command, running

SCRIPT = {"/scripts/some_file.js": {"type": "script", "weight": 1}}
STYLE = {"/styles/some_style.css": {"type": "style", "weight": 1}}
WITH_DOCUMENT = {
    "/fonts/some_font.ttf": {"type": "font", "weight": 2},
    "/components/some_component.html": {"type": "document", "weight": 1},
}


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory, the working directory, with its app in the package ``pkg``."""
    (tmp_path / "pkg").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def packaged_app(project: Path, decorator: Callable[..., Any], *args: Any) -> Flask:
    app = Flask("pkg", root_path=str(project / "pkg"))

    @app.route("/")
    @decorator(*args)
    def index() -> str:
        return "hello, world!"

    return app


def link_of(app: Flask, **kwargs: Any) -> str | None:
    response = app.test_client().get("/", **kwargs)
    assert response.status_code == 200
    return response.headers.get("Link")


# --- the decorator's API -------------------------------------------------------------------


def test_the_default_manifest_is_push_manifest_json() -> None:
    parameter = inspect.signature(http2push).parameters["manifest"]
    assert parameter.default == "push_manifest.json" == flask_http2_push.PUSH_MANIFEST


def test_the_default_manifest_at_the_project_root_serves_a_packaged_app(project: Path) -> None:
    write(project / "push_manifest.json", SCRIPT)
    assert link_of(packaged_app(project, http2push)) == (
        "</scripts/some_file.js>; rel=preload; as=script"
    )


def test_a_custom_manifest_path_relative_to_the_working_directory(project: Path) -> None:
    write(project / "test" / "custom_manifest.json", STYLE)
    app = packaged_app(project, http2push, "test/custom_manifest.json")
    assert link_of(app) == "</styles/some_style.css>; rel=preload; as=style"


def test_every_entry_goes_into_one_link_header(project: Path) -> None:
    write(project / "multiple.json", WITH_DOCUMENT)
    assert link_of(packaged_app(project, http2push, "multiple.json")) == (
        "</fonts/some_font.ttf>; rel=preload; as=font; crossorigin, "
        "</components/some_component.html>; rel=preload; as=document"
    )


def test_the_views_own_link_value_is_kept_first(project: Path) -> None:
    write(project / "push_manifest.json", SCRIPT)
    app = Flask("pkg", root_path=str(project / "pkg"))

    @app.route("/")
    @http2push()
    def index() -> Any:
        return "hi", {"Link": "<https://cdn.example>; rel=preconnect"}

    assert link_of(app) == (
        "<https://cdn.example>; rel=preconnect, </scripts/some_file.js>; rel=preload; as=script"
    )


def test_an_absolute_path_is_read_as_given(project: Path, tmp_path_factory: Any) -> None:
    manifest = write(tmp_path_factory.mktemp("elsewhere") / "m.json", STYLE)
    assert link_of(packaged_app(project, http2push, str(manifest))) == (
        "</styles/some_style.css>; rel=preload; as=style"
    )


# --- where a relative manifest path is found --------------------------------------------------


@pytest.mark.parametrize("decorator", [http2push, h2push_http2push], ids=["compat", "h2push"])
def test_a_manifest_beside_the_package_is_found_too(project: Path, decorator: Any) -> None:
    write(project / "pkg" / "push_manifest.json", STYLE)
    assert link_of(packaged_app(project, decorator)) == (
        "</styles/some_style.css>; rel=preload; as=style"
    )


@pytest.mark.parametrize("decorator", [http2push, h2push_http2push], ids=["compat", "h2push"])
def test_a_manifest_in_the_working_directory_is_found_too(project: Path, decorator: Any) -> None:
    write(project / "push_manifest.json", SCRIPT)
    assert link_of(packaged_app(project, decorator)) == (
        "</scripts/some_file.js>; rel=preload; as=script"
    )


def test_with_both_compat_reads_the_working_directorys_and_h2push_the_root_paths(
    project: Path,
) -> None:
    write(project / "push_manifest.json", SCRIPT)
    write(project / "pkg" / "push_manifest.json", STYLE)
    assert "some_file.js" in str(link_of(packaged_app(project, http2push)))
    assert "some_style.css" in str(link_of(packaged_app(project, h2push_http2push)))


@pytest.mark.parametrize("decorator", [http2push, h2push_http2push], ids=["compat", "h2push"])
def test_a_missing_manifest_is_an_error_naming_both_places(project: Path, decorator: Any) -> None:
    app = packaged_app(project, decorator, "static/my_manifest.json")
    app.testing = True
    with pytest.raises(ManifestError) as caught:
        app.test_client().get("/")
    message = str(caught.value)
    assert str(project / "pkg" / "static" / "my_manifest.json") in message
    assert str(project / "static" / "my_manifest.json") in message
    assert "root_path" in message
    assert "working directory" in message


@pytest.mark.parametrize(
    "setup",
    [
        lambda app: H2Push(app, manifest="conf/push.json"),
        lambda app: (app.config.update(H2PUSH_MANIFEST="conf/push.json"), H2Push(app)),
    ],
    ids=["argument", "config"],
)
def test_h2push_finds_its_manifest_in_the_working_directory_too(
    project: Path, setup: Callable[[Flask], object]
) -> None:
    write(project / "conf" / "push.json", STYLE)
    app = Flask("pkg", root_path=str(project / "pkg"))
    setup(app)

    @app.route("/")
    def index() -> str:
        return "page"

    assert link_of(app, headers={"Accept": "text/html"}) == (
        "</styles/some_style.css>; rel=preload; as=style"
    )


def test_h2push_without_a_default_manifest_anywhere_runs_without_one(project: Path) -> None:
    app = Flask("pkg", root_path=str(project / "pkg"))
    H2Push(app)

    @app.route("/")
    def index() -> str:
        return "page"

    assert link_of(app, headers={"Accept": "text/html"}) is None


def test_h2push_reads_a_default_manifest_from_the_working_directory(project: Path) -> None:
    write(project / "push_manifest.json", STYLE)
    app = Flask("pkg", root_path=str(project / "pkg"))
    H2Push(app)

    @app.route("/")
    def index() -> str:
        return "page"

    assert link_of(app, headers={"Accept": "text/html"}) == (
        "</styles/some_style.css>; rel=preload; as=style"
    )


# --- "type": "document" ------------------------------------------------------------------------


def test_document_entries_are_linked_never_hinted_and_warned_about_once(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(project / "push_manifest.json", WITH_DOCUMENT)
    caplog.set_level(logging.WARNING, logger="h2push.flask")
    app = packaged_app(project, http2push)
    hints: list[list[tuple[str, str]]] = []
    navigation = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
    for _ in range(3):
        link = link_of(app, headers=navigation, environ_base={"wsgi.early_hints": hints.append})
        assert "</components/some_component.html>; rel=preload; as=document" in str(link)
    resolve = preloads_resolver(app)
    assert resolve is not None
    assert "/components/some_component.html" in [p.url for p in resolve("/", True)]

    assert hints  # the font went out in a 103 ...
    for sent in hints:  # ... the document never did
        assert all("some_component.html" not in value for _, value in sent)
    warnings = [r for r in caplog.records if "document" in r.getMessage()]
    assert len(warnings) == 1
    assert "/components/some_component.html" in warnings[0].getMessage()
    assert "browsers ignore" in warnings[0].getMessage()


APP_SOURCE = """\
from flask import Flask

from h2push.compat.flask_http2_push import http2push

app = Flask(__name__)


@app.route("/")
@http2push()
def index():
    return "<!doctype html><title>packaged</title><p>hello, world!"


@app.route("/components/part.html")
def part():
    return "<p>a part"
"""


@pytest.fixture(scope="module")
def packaged_server(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Iterator[str]:
    project = tmp_path_factory.mktemp("packaged_project")
    (project / "pkg" / "static").mkdir(parents=True)
    (project / "pkg" / "__init__.py").write_text(textwrap.dedent(APP_SOURCE))
    (project / "pkg" / "static" / "site.css").write_text("p { color: teal }")
    manifest = {
        "/static/site.css": {"type": "style", "weight": 2},
        "/components/part.html": {"type": "document", "weight": 1},
    }
    write(project / "push_manifest.json", manifest)  # the project root, as flask-http2-push had
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = h2push_command("serve", "pkg:app", "--bind", f"127.0.0.1:{port}", *tls)
    with running(command, port=port, cwd=project):
        yield f"https://127.0.0.1:{port}"


@pytest.mark.peer
def test_a_packaged_app_under_h2push_serve_pushes_a_document_and_hints_only_the_rest(
    packaged_server: str,
) -> None:
    log = nghttp(packaged_server + "/", "-H", "accept: text/html")
    page = next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")
    assert log.final_headers(page).header(":status") == "200"
    (hint,) = log.informational
    assert [value for name, value in hint.headers if name == "link"] == [
        "</static/site.css>; rel=preload; as=style"
    ]
    assert [p.header(":path") for p in log.promises] == [
        "/static/site.css",
        "/components/part.html",
    ]
    for promise in log.promises:
        assert promise.promised_stream_id is not None
        assert log.final_headers(promise.promised_stream_id).header(":status") == "200"
    link = ", ".join(v for n, v in log.final_headers(page).headers if n == "link")
    assert "</components/part.html>; rel=preload; as=document" in link
    assert " send RST_STREAM frame" not in log.output
