"""h2push.compat.flask_firehose: Flask-Firehose 0.2.3's API and behaviour, built on h2push.

What a Flask-Firehose app relies on, said in this project's words: the constructor
``Firehose(app=None, connector=None)`` and ``init_app``; ``push()`` in views and templates
returning the URL; the pushed set kept by a connector, by default in the session under
``h2-pushed``; a repeat request leaving out what was already pushed; ``set_pushed`` after each
response that pushed something new; and Firehose's documented deployment, nginx with
``http2_push_preload on``, pushing on the first visit and not on the second, with no setting
of h2push's.
"""

from __future__ import annotations

import inspect
import os
import pwd
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string

from conftest import TLSFiles, free_port, require_module, require_program
from h2push._core.links import parse_link_header
from h2push.compat.flask_firehose import Connector, Firehose, push
from h2push.flask import H2Push
from nghttp import nghttp
from processes import running

ROOT = Path(__file__).resolve().parents[1]

TEMPLATE = "<link rel=stylesheet href=\"{{ push('/static/main.css', as='style') }}\">"


def make_app(firehose: Firehose | None = None, *, secret: str | None = "key") -> Flask:
    app = Flask(__name__)
    if secret is not None:
        app.config["SECRET_KEY"] = secret
    if firehose is not None:
        firehose.init_app(app)

    @app.route("/view")
    def view() -> str:
        returned = push("/static/app.js", **{"as": "script", "rel": "preload"})
        return f"returned {returned}"

    @app.route("/template")
    def template() -> str:
        return render_template_string(TEMPLATE)

    @app.route("/both")
    def both() -> str:
        push("/static/app.js", as_="script")
        return render_template_string(TEMPLATE)

    @app.route("/plain")
    def plain() -> str:
        return "nothing pushed"

    return app


def link_targets(value: str | None) -> list[str]:
    return [link.target for link in parse_link_header(value or "")]


class RecordingConnector:
    """A connector of Flask-Firehose's shape keeping one client's set in memory."""

    def __init__(self, pushed: set[str] | None = None) -> None:
        self.pushed = set(pushed or ())
        self.calls: list[set[str]] = []

    def get_pushed(self) -> set[str]:
        return set(self.pushed)

    def set_pushed(self, inset: set[str]) -> None:
        self.calls.append(set(inset))
        self.pushed = set(inset)


# --- the API -----------------------------------------------------------------------------


def test_the_constructor_has_flask_firehoses_signature() -> None:
    parameters = inspect.signature(Firehose).parameters
    assert list(parameters) == ["app", "connector"]
    assert parameters["app"].default is None
    assert parameters["connector"].default is None
    assert isinstance(Firehose(), H2Push)


def test_the_app_is_set_up_directly_or_by_init_app() -> None:
    direct = Flask(__name__)
    direct.config["SECRET_KEY"] = "key"
    Firehose(direct)
    factory_made = make_app(Firehose())
    for app in (direct, factory_made):
        assert "push" in app.jinja_env.globals
        assert "h2push" in app.extensions


@pytest.mark.parametrize(
    "build",
    [
        Firehose,  # called as Firehose(app, connector): positional, as Flask-Firehose allowed
        lambda app, c: Firehose(app, connector=c),
        lambda app, c: Firehose(connector=c).init_app(app),
    ],
    ids=["positional", "keyword", "factory"],
)
def test_a_custom_connector_is_used(build: Any) -> None:
    connector = RecordingConnector({"/static/app.js"})
    app = make_app()
    build(app, connector)

    response = app.test_client().get("/both")

    # What the connector had is left out; the new URL is linked and recorded.
    assert link_targets(response.headers.get("Link")) == ["/static/main.css"]
    assert connector.calls == [{"/static/app.js", "/static/main.css"}]


def test_the_connector_class_itself_works_as_in_flask_firehose() -> None:
    # Flask-Firehose's default argument was the class, with static methods.
    app = make_app()
    firehose = Firehose(app, Connector)
    assert firehose.connector is Connector
    client = app.test_client()
    assert link_targets(client.get("/view").headers.get("Link")) == ["/static/app.js"]
    assert client.get("/view").headers.get("Link") is None


def test_a_connector_without_its_methods_is_refused() -> None:
    with pytest.raises(TypeError, match="get_pushed"):
        Firehose(connector=object())  # type: ignore[arg-type]


def test_push_returns_the_url_in_views_and_templates() -> None:
    client = make_app(Firehose()).test_client()
    assert client.get("/view").text == "returned /static/app.js"
    assert client.get("/template").text == '<link rel=stylesheet href="/static/main.css">'


def test_pushes_from_view_and_template_are_linked_as_preloads() -> None:
    response = make_app(Firehose()).test_client().get("/both")
    assert response.headers.getlist("Link") == [
        "</static/app.js>; rel=preload; as=script, </static/main.css>; rel=preload; as=style"
    ]


# --- what a client was pushed ----------------------------------------------------------------


def test_the_pushed_set_is_kept_in_the_session_under_h2_pushed() -> None:
    client = make_app(Firehose()).test_client()
    client.get("/both")
    with client.session_transaction() as session:
        assert set(session["h2-pushed"].split(",")) == {"/static/app.js", "/static/main.css"}


def test_a_set_written_by_flask_firehose_is_honoured() -> None:
    client = make_app(Firehose()).test_client()
    with client.session_transaction() as session:
        session["h2-pushed"] = "/static/main.css"  # as Flask-Firehose 0.2.3 left it
    response = client.get("/both")
    assert link_targets(response.headers.get("Link")) == ["/static/app.js"]


def test_a_repeated_request_leaves_out_what_was_already_pushed() -> None:
    client = make_app(Firehose()).test_client()
    assert link_targets(client.get("/view").headers.get("Link")) == ["/static/app.js"]
    assert client.get("/view").headers.get("Link") is None
    # Another page: only what this client was not pushed yet.
    assert link_targets(client.get("/both").headers.get("Link")) == ["/static/main.css"]
    assert client.get("/both").headers.get("Link") is None


def test_set_pushed_runs_after_each_response_that_pushed_whatever_the_request() -> None:
    connector = RecordingConnector()
    client = make_app(Firehose(connector=connector)).test_client()

    client.get("/view")  # no Accept header: not a navigation, still recorded (nginx pushes)
    client.get("/view", headers={"Accept": "application/json"})  # nothing new: no call
    client.get("/plain")  # nothing pushed: no call
    client.get("/template", headers={"Accept": "text/html"})

    assert connector.calls == [{"/static/app.js"}, {"/static/app.js", "/static/main.css"}]


def test_no_early_hints_go_to_the_proxy() -> None:
    hints: list[object] = []
    client = make_app(Firehose()).test_client()
    client.get(
        "/both",
        headers={"Accept": "text/html", "Sec-Fetch-Mode": "navigate"},
        environ_base={"wsgi.early_hints": hints.append},
    )
    assert hints == []  # nginx before 1.29 would take a 103 for the final response


def test_the_views_own_link_value_is_kept_first() -> None:
    app = make_app(Firehose())

    @app.route("/own")
    def own() -> Any:
        push("/static/app.js", as_="script")
        return "own", {"Link": "<https://cdn.example>; rel=preconnect"}

    link = app.test_client().get("/own").headers.get("Link")
    assert link == "<https://cdn.example>; rel=preconnect, </static/app.js>; rel=preload; as=script"


def test_without_a_secret_key_pages_still_work_and_push_each_time() -> None:
    client = make_app(Firehose(), secret=None).test_client()
    for _ in range(2):
        response = client.get("/both")
        assert response.status_code == 200
        assert link_targets(response.headers.get("Link")) == ["/static/app.js", "/static/main.css"]


def test_values_are_checked() -> None:
    """A value that could inject a header is dropped from the page (strict=True raises)."""
    app = make_app(Firehose())

    @app.route("/bad")
    def bad() -> str:
        push("/static/a.js>; rel=preload, </evil", as_="script")
        push("/static/ok.js", as_="script")
        return "page"

    @app.route("/strict")
    def strict() -> str:
        push("/static/a.js>; rel=preload, </evil", as_="script", strict=True)
        return "never"

    app.testing = True
    response = app.test_client().get("/bad")
    assert response.status_code == 200
    assert response.text == "page"
    assert link_targets(response.headers.get("Link")) == ["/static/ok.js"]
    with pytest.raises(ValueError, match="url"):
        app.test_client().get("/strict")


# --- Firehose's deployment: nginx 1.22 with http2_push_preload on ---------------------------


def nginx_conf(directory: Path, port: int, upstream: int, tls: TLSFiles) -> str:
    """Flask-Firehose's README server block; only what a test run needs around it."""
    # As root, nginx runs its workers as "nobody", who cannot enter a test's private directory.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    return f"""\
{user}worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{
    worker_connections 64;
}}
http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            http2_push_preload on;
        }}
    }}
}}
"""


#: The app behind nginx: the compat module as Flask-Firehose's users wrote it (any request), or
#: h2push's own API as docs/migrating.md's second step writes it (navigations are recorded).
SITES = {
    "compat": ("tests.apps.firehose_site:app", ()),
    "h2push-api": ("tests.apps.firehose_site.native:app", ("-H", "accept: text/html")),
}


@pytest.fixture(scope="module", params=sorted(SITES))
def firehose_behind_nginx(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles
) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    program = shutil.which("nginx", path=sbin) or require_program("nginx")
    require_module("gunicorn")
    target, headers = SITES[request.param]
    upstream = free_port()
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{upstream}"]
    directory = tmp_path_factory.mktemp("nginx_firehose")
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(nginx_conf(directory, port, upstream, tls_files))
    nginx = [program, "-c", str(conf), "-p", f"{directory}/", "-e", str(directory / "error.log")]
    with (
        running([*gunicorn, "--workers", "1", target], port=upstream, cwd=ROOT),
        running(nginx, port=port, cwd=directory),
    ):
        yield request.param, f"https://127.0.0.1:{port}", headers


@pytest.mark.peer
def test_nginx_pushes_on_the_first_visit_and_not_on_the_second(
    firehose_behind_nginx: tuple[str, str, tuple[str, ...]],
) -> None:
    from apps.firehose_site import PUSHED

    site, base, headers = firehose_behind_nginx
    url = base + "/page"
    first = nghttp(url, *headers)
    page = next(f.stream_id for f in first.frames if f.direction == "send" and f.type == "HEADERS")
    final = first.final_headers(page)
    assert final.header(":status") == "200"
    assert [p.header(":path") for p in first.promises] == list(PUSHED)
    for promise in first.promises:
        assert promise.promised_stream_id is not None
        assert first.final_headers(promise.promised_stream_id).header(":status") == "200"
    cookie = final.header("set-cookie")
    assert cookie is not None
    assert cookie.startswith("session=")

    second = nghttp(url, *headers, "-H", f"cookie: {cookie.split(';', 1)[0]}")
    page = next(f.stream_id for f in second.frames if f.direction == "send" and f.type == "HEADERS")
    assert second.final_headers(page).header(":status") == "200"
    assert second.promises == []
    link = second.final_headers(page).header("link")
    if site == "compat":  # Flask-Firehose left out what the client had
        assert link is None
    else:  # h2push links it with nopush, which nginx skips
        assert link is not None
        assert link.count("nopush") == len(PUSHED)
