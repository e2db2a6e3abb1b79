"""The Flask extension, through Flask's test client.

Real servers (Gunicorn sending the 103 through ``wsgi.early_hints``) are in test_gunicorn.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, make_response, render_template_string, session
from hypothesis import event, given
from hypothesis import strategies as st

from fuzzing import fuzz, raised_by_h2push, with_line_breaker
from h2push._core.links import PreloadError
from h2push._core.manifest import Manifest, ManifestError
from h2push.flask import H2Push, SessionTracker, http2push, preloads_resolver, push

MAIN_CSS = "</static/css/main.css>; rel=preload; as=style"
APP_JS = "</static/js/app.js>; rel=preload; as=script"
SINGLE_PAGE = {
    "/static/css/main.css": {"type": "style", "weight": 2},
    "/static/js/app.js": {"type": "script", "weight": 1},
}
NAVIGATE = {"Sec-Fetch-Mode": "navigate"}
HTML = {"Accept": "text/html,application/xhtml+xml"}


def write_manifest(directory: Path, data: object, name: str = "push_manifest.json") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def make_app(root: Path, **config: Any) -> Flask:
    app = Flask(__name__, root_path=str(root))
    app.config.update(TESTING=True, **config)
    return app


def links(response: Any) -> list[str]:
    """The response's Link values, split on the commas between link-values."""
    return [v for field in response.headers.getlist("Link") for v in field.split(", ")]


class Recorder:
    """A ``wsgi.early_hints`` callable recording its calls, with an event log views share."""

    def __init__(self, events: list[str] | None = None) -> None:
        self.calls: list[list[tuple[str, str]]] = []
        self.events = events if events is not None else []

    def __call__(self, headers: list[tuple[str, str]]) -> None:
        self.calls.append(list(headers))
        self.events.append("103")


# --- the decorator -----------------------------------------------------------------------


def test_decorator_without_extension_reads_default_manifest_relative_to_root_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_manifest(tmp_path / "root", SINGLE_PAGE)
    monkeypatch.chdir(tmp_path)  # not the app root: the path is relative to root_path
    app = make_app(tmp_path / "root")

    @app.route("/")
    @http2push()
    def index() -> str:
        return "home"

    response = app.test_client().get("/")
    assert response.status_code == 200
    assert response.text == "home"
    assert response.headers.getlist("Link") == [f"{MAIN_CSS}, {APP_JS}"]


def test_decorator_with_explicit_path_and_appending_to_the_views_link(tmp_path: Path) -> None:
    write_manifest(tmp_path, {"/static/img/a.png": {"type": "image"}}, "static/my_manifest.json")
    app = make_app(tmp_path)

    @app.route("/")
    @http2push("static/my_manifest.json")
    def index() -> Any:
        response = make_response("home")
        response.headers["Link"] = "<https://fonts.example>; rel=preconnect"
        return response

    @app.route("/tuple")
    @http2push("static/my_manifest.json")
    def as_tuple() -> Any:
        return "created", 201, {"Link": "</x.css>; rel=preload; as=style"}

    client = app.test_client()
    assert links(client.get("/")) == [
        "<https://fonts.example>; rel=preconnect",
        "</static/img/a.png>; rel=preload; as=image",
    ]
    response = client.get("/tuple")
    assert response.status_code == 201
    assert links(response) == [
        "</x.css>; rel=preload; as=style",
        "</static/img/a.png>; rel=preload; as=image",
    ]


def test_decorated_views_of_two_apps_without_extension_keep_their_own_state(
    tmp_path: Path,
) -> None:
    write_manifest(tmp_path, {"/static/app.css": {"type": "style"}})
    apps = [make_app(tmp_path), make_app(tmp_path)]
    for app in apps:

        @app.route("/")
        @http2push()
        def index() -> str:
            return "home"

    for app in apps:
        assert links(app.test_client().get("/")) == ["</static/app.css>; rel=preload; as=style"]
    first, second = (app.extensions["h2push.standalone"] for app in apps)
    assert first is not second


def test_decorator_without_extension_sends_early_hints_before_the_view(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)
    events: list[str] = []

    @app.route("/")
    @http2push()
    def index() -> str:
        events.append("view")
        return "home"

    recorder = Recorder(events)
    client = app.test_client()
    client.get("/", headers=NAVIGATE, environ_base={"wsgi.early_hints": recorder})
    assert events == ["103", "view"]
    assert recorder.calls == [[("Link", MAIN_CSS), ("Link", APP_JS)]]
    client.get("/", headers={"Sec-Fetch-Mode": "cors"}, environ_base={"wsgi.early_hints": recorder})
    assert len(recorder.calls) == 1


def test_decorator_push_calls_are_delivered_without_extension(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)

    @app.route("/")
    @http2push()
    def index() -> str:
        return render_template_string("{{ url }}", url=push("/static/extra.js", as_="script"))

    response = app.test_client().get("/")
    assert response.text == "/static/extra.js"
    assert links(response) == [MAIN_CSS, APP_JS, "</static/extra.js>; rel=preload; as=script"]


def test_decorator_with_extension_adds_its_manifest_once(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    write_manifest(tmp_path, {"/static/about.css": {"type": "style", "weight": 5}}, "about.json")
    app = make_app(tmp_path)
    H2Push(app)

    @app.route("/about")  # registered after H2Push(app): loaded on the first request
    @http2push("about.json")
    def about() -> str:
        return "about"

    client = app.test_client()
    response = client.get("/about", headers=NAVIGATE)
    assert response.headers.getlist("Link") == [
        f"</static/about.css>; rel=preload; as=style, {MAIN_CSS}, {APP_JS}"
    ]
    # Not a navigation: the app's single-page manifest stays out, the view's still applies.
    response = client.get("/about", headers={"Sec-Fetch-Mode": "cors"})
    assert links(response) == ["</static/about.css>; rel=preload; as=style"]


def test_decorator_missing_default_manifest_is_an_error(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    @app.route("/")
    @http2push()
    def index() -> str:
        return "home"

    with pytest.raises(ManifestError, match=r"push_manifest\.json"):
        app.test_client().get("/")


def test_decorator_missing_explicit_manifest_fails_at_init(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    @app.route("/")
    @http2push("static/nope.json")
    def index() -> str:
        return "home"

    with pytest.raises(ManifestError, match=r"static/nope\.json: not found") as caught:
        H2Push(app)
    assert caught.value.source == "static/nope.json"
    assert str(tmp_path / "static" / "nope.json") in str(caught.value)  # root_path, named


def test_decorator_missing_manifest_registered_after_init_fails_on_first_request(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    H2Push(app)

    @app.route("/other")
    def other() -> str:
        return "other"

    @app.route("/")
    @http2push("nope.json")
    def index() -> str:
        return "home"

    with pytest.raises(ManifestError, match=r"nope\.json"):
        app.test_client().get("/other")  # every view's manifest loads on the first request


def test_decorator_absolute_missing_manifest_fails_when_decorating(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"absent\.json"):
        http2push(str(tmp_path / "absent.json"))


def test_decorator_loads_its_manifest_once(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)

    @app.route("/")
    @http2push()
    def index() -> str:
        return "home"

    client = app.test_client()
    assert links(client.get("/")) == [MAIN_CSS, APP_JS]
    path.write_text("not json", encoding="utf-8")
    assert links(client.get("/")) == [MAIN_CSS, APP_JS]


def test_decorator_without_parentheses_is_a_type_error() -> None:
    def index() -> str:
        return "home"

    with pytest.raises(TypeError, match=r"@http2push\(\)"):
        http2push(index)  # type: ignore[arg-type]


# --- the extension and its manifest -----------------------------------------------------


def test_missing_default_manifest_means_no_manifest(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    H2Push(app)
    app.add_url_rule("/", "index", lambda: "home")
    response = app.test_client().get("/", headers=NAVIGATE)
    assert response.status_code == 200
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    "setup",
    [
        lambda app: H2Push(app, manifest="static/push.json"),
        lambda app: H2Push(app, manifest="push_manifest.json"),  # explicit, even if the default
        lambda app: (app.config.update(H2PUSH_MANIFEST="static/push.json"), H2Push(app)),
    ],
    ids=["argument", "argument-default-name", "config"],
)
def test_missing_explicit_manifest_fails_at_init(
    tmp_path: Path, setup: Callable[[Flask], object]
) -> None:
    app = make_app(tmp_path)
    with pytest.raises(ManifestError, match="not found in the app's root_path") as caught:
        setup(app)
    assert str(tmp_path) in str(caught.value)
    assert "h2push" not in app.extensions


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        ({"/a.css": {"type": 5}}, ("/a.css", "type"), "wrong type"),
        ({"/a.css\r\nSet-Cookie: x=1": {"type": "style"}}, ("/a.css\r\nSet-Cookie: x=1",), "\\r"),
        ({"static/a.css": {"type": "style"}}, ("static/a.css",), "absolute path"),
        ({"/a.css": {"type": "style", "weight": -1}}, ("/a.css", "weight"), "negative"),
    ],
    ids=["bad-type", "crlf-in-key", "relative-url", "negative-weight"],
)
def test_bad_manifest_fails_at_init_naming_file_key_and_reason(
    tmp_path: Path, data: object, key: tuple[str, ...], reason: str
) -> None:
    path = write_manifest(tmp_path, data)
    app = make_app(tmp_path)
    with pytest.raises(ManifestError) as caught:
        H2Push(app)
    error = caught.value
    assert (error.source, error.key) == (str(path), key)
    assert reason in error.reason
    assert str(path) in str(error)
    assert json.dumps(key[0]) in str(error)


def test_absolute_manifest_path_and_manifest_object(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "elsewhere", SINGLE_PAGE)
    for manifest in (str(path), Manifest.load(path)):
        app = make_app(tmp_path / "root")
        H2Push(app, manifest=manifest)
        app.add_url_rule("/", "index", lambda: "home")
        assert links(app.test_client().get("/", headers=NAVIGATE)) == [MAIN_CSS, APP_JS]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (NAVIGATE, [MAIN_CSS, APP_JS]),
        (HTML, [MAIN_CSS, APP_JS]),
        ({"Sec-Fetch-Mode": "cors", "Accept": "text/html"}, []),
        ({"Accept": "*/*"}, []),
        ({}, []),
    ],
    ids=["sec-fetch-navigate", "accept-html", "sec-fetch-cors", "accept-any", "no-headers"],
)
def test_single_page_manifest_applies_to_navigations(
    tmp_path: Path, headers: dict[str, str], expected: list[str]
) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)
    H2Push(app)
    app.add_url_rule("/page", "page", lambda: "page")
    assert links(app.test_client().get("/page", headers=headers)) == expected


def test_multi_page_manifest_by_path(tmp_path: Path) -> None:
    write_manifest(
        tmp_path,
        {
            "index.html": {"/static/home.css": {"type": "style"}},
            "about.html": {"/static/about.css": {"type": "style"}},
        },
    )
    app = make_app(tmp_path)
    H2Push(app)
    for rule in ("/", "/about", "/other"):
        app.add_url_rule(rule, rule, lambda: "page")
    client = app.test_client()
    assert links(client.get("/", headers=NAVIGATE)) == ["</static/home.css>; rel=preload; as=style"]
    assert links(client.get("/about", headers=NAVIGATE)) == [
        "</static/about.css>; rel=preload; as=style"
    ]
    assert links(client.get("/other", headers=NAVIGATE)) == []


def test_config_overrides_constructor_per_app(tmp_path: Path) -> None:
    write_manifest(tmp_path / "a", SINGLE_PAGE)
    write_manifest(tmp_path / "b", {"/b.css": {"type": "style"}}, "b.json")
    ext = H2Push(early_hints=False)
    plain = make_app(tmp_path / "a")
    configured = make_app(tmp_path / "b", H2PUSH_MANIFEST="b.json", H2PUSH_EARLY_HINTS=True)
    for app in (plain, configured):
        ext.init_app(app)
        app.add_url_rule("/", "index", lambda: "home")
    assert not hasattr(ext, "app")
    recorder = Recorder()
    hints = {"wsgi.early_hints": recorder}
    response = plain.test_client().get("/", headers=NAVIGATE, environ_base=hints)
    assert links(response) == [MAIN_CSS, APP_JS]
    assert recorder.calls == []  # early_hints=False from the constructor
    response = configured.test_client().get("/", headers=NAVIGATE, environ_base=hints)
    assert links(response) == ["</b.css>; rel=preload; as=style"]
    assert recorder.calls == [[("Link", "</b.css>; rel=preload; as=style")]]


def test_disabled_by_config(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path, H2PUSH_ENABLED=False)
    H2Push(app)

    @app.route("/")
    def index() -> str:
        return render_template_string("{{ push('/x.css', as='style') }}")

    response = app.test_client().get("/", headers=NAVIGATE)
    assert response.text == "/x.css"
    assert "Link" not in response.headers
    assert preloads_resolver(app)("/", True) == ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"H2PUSH_MAX_PUSHES": -1}, ValueError),
        ({"H2PUSH_MAX_PUSHES": "10"}, TypeError),
        ({"H2PUSH_EARLY_HINTS": "false"}, TypeError),
        ({"H2PUSH_ENABLED": 0}, TypeError),
        ({"H2PUSH_MANIFEST": 3}, TypeError),
    ],
)
def test_bad_settings_fail_at_init(
    tmp_path: Path, config: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error, match="H2PUSH_"):
        H2Push(make_app(tmp_path, **config))


def test_init_twice_and_bad_tracker(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    H2Push(app)
    with pytest.raises(RuntimeError, match="already"):
        H2Push(app)
    with pytest.raises(TypeError, match="get_pushed"):
        H2Push(tracker=object())  # type: ignore[arg-type]


# --- push() ------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)
    H2Push(app)
    return app


def test_push_in_view_and_template_reach_link_header_after_the_views_own(app: Flask) -> None:
    @app.route("/")
    def index() -> Any:
        push("/static/js/view.js", as_="script")
        html = render_template_string(
            "<link rel=stylesheet href=\"{{ push(url_for('static', filename='css/t.css'),"
            " as='style') }}\">"
        )
        response = make_response(html)
        response.headers["Link"] = "<https://fonts.example>; rel=preconnect"
        return response

    response = app.test_client().get("/", headers=NAVIGATE)
    assert response.text == '<link rel=stylesheet href="/static/css/t.css">'
    assert links(response) == [
        "<https://fonts.example>; rel=preconnect",
        MAIN_CSS,
        APP_JS,
        "</static/js/view.js>; rel=preload; as=script",
        "</static/css/t.css>; rel=preload; as=style",
    ]


def test_push_not_a_navigation_still_links(app: Flask) -> None:
    @app.route("/api")
    def api() -> Any:
        push("/static/data.json", as_="fetch")
        return {"ok": True}

    response = app.test_client().get("/api", headers={"Sec-Fetch-Mode": "cors"})
    assert links(response) == ["</static/data.json>; rel=preload; as=fetch; crossorigin"]


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (
            ("crossorigin", "nopush"),
            {"rel": "preload", "as": "font"},
            "</f>; rel=preload; as=font; crossorigin; nopush",
        ),
        ((), {"as": "style", "rel": "preload"}, "</f>; rel=preload; as=style"),
        ((), {"as_": "style"}, "</f>; rel=preload; as=style"),
        ((), {"as": "font", "type": "font/woff2"},
         '</f>; rel=preload; as=font; type="font/woff2"; crossorigin'),
        ((), {"crossorigin": "use-credentials", "as": "fetch"},
         "</f>; rel=preload; as=fetch; crossorigin=use-credentials"),
        ((), {"crossorigin": True, "as": "script"}, "</f>; rel=preload; as=script; crossorigin"),
        ((), {"rel": "modulepreload", "fetchpriority": "high"},
         "</f>; rel=modulepreload; fetchpriority=high"),
        ((), {"as": "image", "nopush": True, "weight": 3}, "</f>; rel=preload; as=image; nopush"),
    ],
    ids=["firehose-flags", "firehose-as", "as_", "type", "use-credentials", "crossorigin-true",
         "modulepreload", "nopush-weight"],
)  # fmt: skip
def test_push_call_shapes(
    app: Flask, args: tuple[str, ...], kwargs: dict[str, Any], expected: str
) -> None:
    @app.route("/")
    def index() -> str:
        assert push("/f", *args, **kwargs) == "/f"
        return "home"

    response = app.test_client().get("/", headers={"Sec-Fetch-Mode": "cors"})
    assert links(response) == [expected]


def test_push_firehose_shape_in_a_template(app: Flask) -> None:
    @app.route("/")
    def index() -> str:
        return render_template_string(
            "{{ push('/static/font.woff2', 'crossorigin', 'nopush', rel='preload', as='font') }}"
        )

    response = app.test_client().get("/", headers={"Sec-Fetch-Mode": "cors"})
    assert response.text == "/static/font.woff2"
    assert links(response) == ["</static/font.woff2>; rel=preload; as=font; crossorigin; nopush"]


def test_push_as_extension_method_like_firehose() -> None:
    ext = H2Push()
    assert ext.push is push


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("/a.css>; rel=preload, </evil",), {}, PreloadError, "url"),
        (("/a.css",), {"as_": "style\r\nSet-Cookie: x=1"}, PreloadError, "as_"),
        (("/a.css",), {"as": "stylesheet"}, PreloadError, "as_"),
        (("/a.css",), {"type": "text/css\r\nX: y"}, PreloadError, "type"),
        (("static/a.css",), {}, PreloadError, "absolute path"),
        (("/a.css\x00",), {}, PreloadError, "url"),
        (("/a.css", "async"), {}, ValueError, "flag"),
        (("/a.css",), {"media": "print"}, TypeError, "media"),
        (("/a.css",), {"as": "style", "as_": "style"}, TypeError, "twice"),
        (("/a.css", "crossorigin"), {"crossorigin": "anonymous"}, TypeError, "twice"),
        ((b"/a.css",), {}, TypeError, "str"),
    ],
    ids=["link-injection", "crlf-in-as", "unknown-as", "crlf-in-type", "relative", "nul",
         "unknown-flag", "unknown-attr", "as-twice", "crossorigin-twice", "bytes-url"],
)  # fmt: skip
def test_push_rejects_bad_values_at_the_call(
    app: Flask, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with app.test_request_context("/"), pytest.raises(error, match=match):
        push(*args, strict=True, **kwargs)


def test_push_injection_in_a_template_raises(app: Flask) -> None:
    @app.route("/")
    def index() -> str:
        return render_template_string(
            "{{ push(url, as='style', strict=True) }}", url="/a.css>, </evil"
        )

    with pytest.raises(ValueError, match="url"):
        app.test_client().get("/")


def test_push_needs_somewhere_to_go(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.add_url_rule("/", "index", lambda: push("/a.css", as_="style"))
    with pytest.raises(RuntimeError, match="H2Push"):
        app.test_client().get("/")
    with pytest.raises(RuntimeError, match="H2Push"):
        push("/a.css")
    app = make_app(tmp_path)
    H2Push(app)
    with app.app_context():  # rendering outside a request, e.g. an e-mail: nothing to carry it
        assert push("/a.css", as_="style") == "/a.css"


_text = st.text(max_size=30)
_VALID_ATTRS = {
    "rel": st.sampled_from(["preload", "modulepreload"]),
    "as": st.sampled_from(["style", "script", "font", "image", "fetch", "document"]),
    "crossorigin": st.sampled_from(["anonymous", "use-credentials", True, ""]),
    "type": st.sampled_from(["font/woff2", "text/css"]),
    "fetchpriority": st.sampled_from(["high", "low", "auto"]),
    "nopush": st.booleans(),
    "weight": st.integers(0, 7),
}


@st.composite
def _attrs(draw: st.DrawFn) -> dict[str, Any]:
    """Attributes push() accepts, then maybe one replaced by arbitrary text or a wrong type."""
    attrs: dict[str, Any] = draw(st.fixed_dictionaries({}, optional=_VALID_ATTRS))
    if draw(st.booleans()):
        key = draw(st.sampled_from([*_VALID_ATTRS, "as_", "media"]))
        attrs[key] = draw(st.one_of(_text, st.booleans(), st.integers(-2, 5), st.none()))
    return attrs


_fuzz_app = Flask(__name__)
_fuzz_app.config["TESTING"] = True
H2Push(_fuzz_app, manifest=None)
_fuzz_case: dict[str, Any] = {}


@_fuzz_app.route("/")
def _fuzz_view() -> str:
    case = _fuzz_case
    return push(case["url"], *case["flags"], strict=True, **case["attrs"])


@fuzz
@given(
    url=st.one_of(
        st.sampled_from(["/static/app.css", "https://cdn.example/a.js"]),
        _text,
        _text.map(lambda s: "/" + s),
        with_line_breaker(_text),
    ),
    flags=st.one_of(
        st.lists(st.sampled_from(["crossorigin", "nopush"]), unique=True),
        st.lists(_text, max_size=1),
    ),
    attrs=_attrs(),
)
def test_push_never_lets_cr_lf_or_nul_into_a_header(
    url: str, flags: list[str], attrs: dict[str, Any]
) -> None:
    _fuzz_case.update(url=url, flags=flags, attrs=attrs)
    rejected: BaseException | None = None
    try:
        response = _fuzz_app.test_client().get("/", headers={"Sec-Fetch-Mode": "cors"})
    except (ValueError, TypeError) as error:
        rejected = error
    if rejected is not None:
        event(f"rejected: {type(rejected).__name__}")
        assert raised_by_h2push(rejected), rejected  # h2push's own rejection, not Werkzeug's
        return
    event("accepted")
    assert response.status_code == 200
    for name, value in response.headers.items():
        assert not any(c in name + value for c in "\r\n\0"), (name, value)
    assert links(response)[0].startswith(f"<{url}>")


# --- trackers ----------------------------------------------------------------------------


class RecordingTracker:
    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.gets = 0
        self.sets: list[set[str]] = []

    def get_pushed(self) -> set[str]:
        self.gets += 1
        return set(self.known)

    def set_pushed(self, pushed: set[str]) -> None:
        self.sets.append(pushed)


def test_tracker_is_consulted_and_told_what_was_delivered(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)
    tracker = RecordingTracker({"/static/old.css"})
    H2Push(app, tracker=tracker, proxy=True)  # WSGI cannot push: only a proxy in front does

    @app.route("/")
    def index() -> str:
        push("/static/view.js", as_="script")
        return "home"

    client = app.test_client()
    client.get("/", headers={"Sec-Fetch-Mode": "no-cors"})
    assert tracker.gets == 1  # push() gave a candidate; not a navigation: nothing delivered
    assert tracker.sets == []
    client.get("/", headers=NAVIGATE)
    assert tracker.gets == 2  # once per request
    # The proxy pushes a navigation's Link preloads: all of them count as delivered.
    assert tracker.sets[-1] == {
        "/static/old.css",
        "/static/css/main.css",
        "/static/js/app.js",
        "/static/view.js",
    }


def test_tracker_not_asked_when_nothing_is_declared(tmp_path: Path) -> None:
    tracker = RecordingTracker(set())
    app = make_app(tmp_path)
    H2Push(app, tracker=tracker)
    app.add_url_rule("/", "index", lambda: "home")
    app.test_client().get("/", headers=NAVIGATE)
    assert (tracker.gets, tracker.sets) == (0, [])


class FirehoseConnector:
    """Flask-Firehose's default connector: the pushed set in the session, comma-separated."""

    @staticmethod
    def get_pushed() -> set[str]:
        value = session.get("h2-pushed")
        return set(value.split(",")) if value else set()

    @staticmethod
    def set_pushed(pushed: set[str]) -> None:
        session["h2-pushed"] = ",".join(sorted(pushed))


@pytest.mark.parametrize("tracker", [FirehoseConnector, SessionTracker()], ids=["firehose", "ours"])
def test_firehose_connector_shape_plugs_in(tmp_path: Path, tracker: object) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path, SECRET_KEY="test")
    H2Push(app, tracker=tracker, proxy=True)  # type: ignore[arg-type]
    app.add_url_rule("/", "index", lambda: "home")
    app.add_url_rule("/seen", "seen", lambda: session.get("h2-pushed", ""))
    client = app.test_client()
    client.get("/", headers=NAVIGATE)
    assert client.get("/seen").text == "/static/css/main.css,/static/js/app.js"


def test_session_tracker_without_secret_key_does_nothing(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)
    H2Push(app, tracker=SessionTracker())
    app.add_url_rule("/", "index", lambda: "home")
    response = app.test_client().get(
        "/", headers=NAVIGATE, environ_base={"wsgi.early_hints": Recorder()}
    )
    assert response.status_code == 200  # Flask-Firehose answered 500 here
    assert "Set-Cookie" not in response.headers


def test_the_default_tracker_is_a_cookie_digest(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)
    H2Push(app, proxy=True)
    app.add_url_rule("/", "index", lambda: "home")
    client = app.test_client()
    first = client.get("/", headers=NAVIGATE)
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith("h2push=")
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    # The next navigation knows both: still hinted and linked, linked with nopush.
    second = client.get("/", headers={**NAVIGATE, "Cookie": cookie.split(";")[0]})
    assert "</static/css/main.css>; rel=preload; as=style; nopush" in second.headers["Link"]
    assert "Set-Cookie" not in second.headers


@pytest.mark.parametrize(
    "environ",
    [
        {"wsgi.early_hints": Recorder()},
        {"wsgi.early_hints": Recorder(), "SERVER_PROTOCOL": "HTTP/2"},
        {"SERVER_PROTOCOL": "HTTP/2"},
    ],
    ids=["103", "103-http2", "http2"],
)
def test_no_tracker_cookie_without_a_pushing_proxy(tmp_path: Path, environ: dict[str, Any]) -> None:
    # A WSGI server cannot push: a cookie would only change the Cookie header between the
    # 103's preload and the page's use of it (Vary: Cookie), so the browser fetches again.
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path, SECRET_KEY="test")
    tracker = RecordingTracker(set())
    H2Push(app)
    other = make_app(tmp_path)
    H2Push(other, tracker=tracker)
    for each in (app, other):
        each.add_url_rule("/", "index", lambda: "home")
        response = each.test_client().get("/", headers=NAVIGATE, environ_base=environ)
        assert response.status_code == 200
        assert links(response) == [MAIN_CSS, APP_JS]
        assert "Set-Cookie" not in response.headers
    assert (tracker.gets, tracker.sets) == (0, [])


class BrokenTracker:
    def __init__(self, *, get_fails: bool, set_fails: bool) -> None:
        self.get_fails, self.set_fails = get_fails, set_fails
        self.sets: list[set[str]] = []

    def get_pushed(self) -> set[str]:
        if self.get_fails:
            raise ConnectionError("redis is down")
        return set()

    def set_pushed(self, pushed: set[str]) -> None:
        if self.set_fails:
            raise ConnectionError("redis is down")
        self.sets.append(pushed)


@pytest.mark.parametrize(
    ("get_fails", "set_fails"), [(True, False), (False, True)], ids=["get", "set"]
)
def test_failing_tracker_is_logged_once_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, get_fails: bool, set_fails: bool
) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)
    tracker = BrokenTracker(get_fails=get_fails, set_fails=set_fails)
    H2Push(app, tracker=tracker, proxy=True)  # the proxy delivers: the set is written
    app.add_url_rule("/", "index", lambda: "home")
    client = app.test_client()
    with caplog.at_level(logging.DEBUG, logger="h2push"):
        for _ in range(2):
            response = client.get("/", headers=NAVIGATE)
            assert response.status_code == 200
            assert links(response) == [MAIN_CSS, APP_JS]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # one per outage, not one per request
    assert "tracker connector failed" in warnings[0].getMessage()
    assert "redis is down" in warnings[0].getMessage()
    assert tracker.sets == []  # a set that could not be read is never overwritten


# --- wsgi.early_hints --------------------------------------------------------------------


def test_early_hints_once_before_the_view_hintable_only_on_navigations(tmp_path: Path) -> None:
    write_manifest(
        tmp_path,
        {
            **SINGLE_PAGE,
            "/static/data.bin": {"type": "", "weight": 9},  # no "as": linked, not hinted
            "https://fonts.example": {"rel": "preconnect"},
        },
    )
    app = make_app(tmp_path)
    H2Push(app)
    events: list[str] = []

    @app.route("/")
    def index() -> str:
        events.append("view")
        push("/static/late.css", as_="style")  # after the 103: Link header only
        return "home"

    recorder = Recorder(events)
    client = app.test_client()
    response = client.get("/", headers=HTML, environ_base={"wsgi.early_hints": recorder})
    assert events == ["103", "view"]
    assert recorder.calls == [
        [("Link", MAIN_CSS), ("Link", APP_JS), ("Link", "<https://fonts.example>; rel=preconnect")]
    ]
    assert links(response) == [
        "</static/data.bin>; rel=preload",
        MAIN_CSS,
        APP_JS,
        "<https://fonts.example>; rel=preconnect",
        "</static/late.css>; rel=preload; as=style",
    ]
    for headers in ({"Sec-Fetch-Mode": "cors"}, {"Accept": "*/*"}):
        client.get("/", headers=headers, environ_base={"wsgi.early_hints": recorder})
    assert len(recorder.calls) == 1


def test_early_hints_failure_does_not_break_the_response(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(headers: list[tuple[str, str]]) -> None:
        raise BrokenPipeError("client went away")

    app.add_url_rule("/", "index", lambda: "home")
    with caplog.at_level(logging.WARNING, logger="h2push.flask"):
        response = app.test_client().get(
            "/", headers=NAVIGATE, environ_base={"wsgi.early_hints": broken}
        )
    assert response.status_code == 200
    assert links(response) == [MAIN_CSS, APP_JS]
    assert "103" in caplog.text


# --- preloads_resolver -------------------------------------------------------------------


def test_preloads_resolver(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    write_manifest(tmp_path, {"/static/about.css": {"type": "style"}}, "about.json")
    app = make_app(tmp_path)
    H2Push(app)

    @app.route("/about/")
    @http2push("about.json")
    def about() -> str:
        return "about"

    @app.post("/form")
    def form() -> str:
        return "posted"

    resolve = preloads_resolver(app)
    assert resolve is not None
    manifest = [MAIN_CSS, APP_JS]
    assert [str(p) for p in resolve("/about/", True)] == [
        *manifest,
        "</static/about.css>; rel=preload; as=style",
    ]
    # No page there: a redirect to /about/, a 405 (POST only), a 404. No 103, no push.
    assert resolve("/about", True) is None
    assert resolve("/form", True) is None
    assert resolve("/nowhere", True) is None
    # The single-page manifest is for navigations; the view's own manifest for every request.
    assert [str(p) for p in resolve("/about/", False)] == [
        "</static/about.css>; rel=preload; as=style"
    ]
    assert resolve("/nowhere", False) is None
    assert preloads_resolver(object()) is None


def test_preloads_resolver_without_extension(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path)

    @app.route("/")
    @http2push()
    def index() -> str:
        return "home"

    app.add_url_rule("/plain", "plain", lambda: "plain")
    resolve = preloads_resolver(app)
    assert resolve is not None
    assert [str(p) for p in resolve("/", False)] == [MAIN_CSS, APP_JS]
    assert list(resolve("/plain", True)) == []


def test_preloads_resolver_fails_on_a_bad_view_manifest(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    @app.route("/")
    @http2push("missing.json")
    def index() -> str:
        return "home"

    with pytest.raises(ManifestError, match=r"missing\.json"):
        preloads_resolver(app)


_LINE_BREAKS = {ord("\r"): None, ord("\n"): None, 0: None}
_tracked_app: Flask | None = None


def _tracked() -> Flask:
    global _tracked_app  # noqa: PLW0603 - one app for every Hypothesis example
    if _tracked_app is None:
        import tempfile

        root = Path(tempfile.mkdtemp())
        write_manifest(root, SINGLE_PAGE)
        _tracked_app = make_app(root)
        H2Push(_tracked_app)
        _tracked_app.add_url_rule("/", "index", lambda: "home")
    return _tracked_app


@fuzz
@given(
    cookies=st.lists(
        st.one_of(
            st.text(max_size=300),
            st.from_regex(r"h2push=[A-Za-z0-9_-]{0,120}", fullmatch=True),
        ),
        max_size=3,
    ),
    digest=st.one_of(st.none(), st.text(max_size=200)),
)
def test_malformed_cookies_and_cache_digests_never_fail_a_request(
    cookies: list[str], digest: str | None
) -> None:
    def field(text: str) -> str:  # what a server can hand over: latin-1, no CR, LF or NUL
        return text.encode("utf-8", "replace").decode("latin-1").translate(_LINE_BREAKS)

    headers = [("Sec-Fetch-Mode", "navigate")]
    headers += [("Cookie", field(c)) for c in cookies]
    if digest is not None:
        headers.append(("Cache-Digest", field(digest)))
    response = (
        _tracked()
        .test_client()
        .get("/", headers=headers, environ_base={"wsgi.early_hints": Recorder()})
    )
    assert response.status_code == 200
    for name, value in response.headers.items():
        assert not any(c in name + value for c in "\r\n\0"), (name, value)


def test_behind_a_proxy_no_103_and_link_preloads_count_as_delivered(tmp_path: Path) -> None:
    write_manifest(tmp_path, SINGLE_PAGE)
    app = make_app(tmp_path, H2PUSH_PROXY=True)
    H2Push(app)
    app.add_url_rule("/", "index", lambda: "home")
    client = app.test_client()
    hints = Recorder()
    first = client.get("/", headers=NAVIGATE, environ_base={"wsgi.early_hints": hints})
    assert hints.calls == []  # nginx before 1.29 would take a 103 for the final response
    assert links(first) == [MAIN_CSS, APP_JS]
    cookie = first.headers["Set-Cookie"].split(";")[0]  # the proxy delivers the preloads
    second = client.get("/", headers={**NAVIGATE, "Cookie": cookie})
    # Known: linked with nopush, so nginx does not push them again.
    assert links(second) == [f"{MAIN_CSS}; nopush", f"{APP_JS}; nopush"]


# --- fuzz: any request path and headers through the Flask adapter ------------------------------

_request_app = Flask(__name__)
_request_app.config["TESTING"] = True
H2Push(_request_app, manifest=Manifest.from_dict(SINGLE_PAGE))


@_request_app.route("/")
def _request_home() -> str:
    return "<!doctype html><p>home"


@_request_app.route("/page/<name>")
def _request_page(name: str) -> str:
    push("/static/view.js", as_="script")
    return "<!doctype html><p>page"


@_request_app.route("/api")
def _request_api() -> dict[str, int]:
    push("/static/api.js", as_="script")
    return {"ok": 1}


_DECLARED = {*SINGLE_PAGE, "/static/view.js", "/static/api.js"}
_request_names = st.sampled_from(
    ["Accept", "Sec-Fetch-Mode", "Cookie", "Cache-Digest", "Host", "X-H2push-Pushed", "X-Any"]
)
# What a WSGI server can hand over: latin-1 text without CR, LF or NUL.
_request_values = st.one_of(
    st.binary(max_size=60).map(lambda b: b.translate(None, b"\r\n\0").decode("latin-1")),
    st.sampled_from(["navigate", "text/html", "*/*", "h2push=AAAA", "1", ""]),
)
_request_paths = st.one_of(
    st.sampled_from(["/", "/page/a", "/api", "/page/", "//page/a", "/static/css/main.css"]),
    st.binary(max_size=30).map(lambda b: "/" + b.translate(None, b"\0").decode("latin-1")),
    # WSGI's PATH_INFO is the path's bytes as latin-1 (PEP 3333).
    st.text(max_size=20).map(lambda s: "/page/" + s.encode("utf-8", "replace").decode("latin-1")),
)


def _targets(values: list[str]) -> set[str]:
    return {value.split(">", 1)[0].lstrip("<") for value in values}


@fuzz
@given(
    path=_request_paths,
    method=st.sampled_from(["GET", "GET", "HEAD", "POST"]),
    headers=st.lists(st.tuples(_request_names, _request_values), max_size=6),
)
def test_any_request_through_flask_is_served_safely_and_links_only_what_was_declared(
    path: str, method: str, headers: list[tuple[str, str]]
) -> None:
    hints = Recorder()
    response = _request_app.test_client().open(
        "/",
        method=method,
        headers=headers,
        environ_overrides={"PATH_INFO": path, "wsgi.early_hints": hints},
    )
    event(f"status {response.status_code}")
    assert response.status_code < 500  # the app's answers (200, 308, 404, 405); never a 500
    for name, value in response.headers.items():
        assert not any(c in name + value for c in "\r\n\0"), (name, value)
    assert _targets(links(response)) <= _DECLARED
    if response.status_code >= 400:
        assert links(response) == []
    for call in hints.calls:
        for name, value in call:
            assert name == "Link"
            assert not any(c in value for c in "\r\n\0")
        assert _targets([v for _, v in call]) <= set(SINGLE_PAGE)
    if not any(name in ("Accept", "Sec-Fetch-Mode") for name, _ in headers):
        assert hints.calls == []  # a 103 goes to navigations only
