"""Hostile input, in process: every limit of docs/security.md holds, and costs no work beyond it.

What a client sends (headers, cookies, ``Cache-Digest``), what an app copies from users into
``push()``, and what a manifest file holds, each at its worst: too long, malformed, spelled to
name another origin, or built to make decoding expensive. Each test checks h2push's *own*
rejection (a :class:`~h2push._core.links.PreloadError`, a :class:`~h2push.ManifestError`, a
``DigestError``, a value left out), never a framework's. ``test_hostile_serve.py`` runs the same
attacks against ``h2push serve``.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import os
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from ada_url import URL
from hypothesis import given
from hypothesis import strategies as st

from conftest import require_module
from fuzzing import fuzz
from h2push import Manifest, ManifestError, Preload
from h2push._core.digest import CacheDigest, DigestError
from h2push._core.links import MAX_URL_CHARS, LinkValue, PreloadError, parse_link_header
from h2push._core.manifest import MAX_PAGE_PRELOADS
from h2push._core.plan import (
    MAX_EARLY_HINTS_BYTES,
    MAX_INHERITED_VALUE_BYTES,
    MAX_LINK_BYTES,
    RequestFacts,
    plan,
    push_headers,
)
from h2push._delivery.ledger import Connections
from h2push.asgi import H2PushMiddleware, push
from h2push.trackers import (
    MAX_CACHE_DIGEST_ENTRIES,
    MAX_CACHE_DIGEST_LOG2_N,
    CookieDigestTracker,
    parse_cache_digest,
)
from h2push.versions import StaticVersions

SITE = "https://site.example"
BASE = SITE + "/shop/page"
H2 = {"http.response.push": {}, "http.response.early_hint": {}}
NAVIGATE = [(b"sec-fetch-mode", b"navigate")]
Message = dict[str, Any]

#: Characters that end a header line or a line of text somewhere: bare CR, bare LF, NUL, and
#: the Unicode line separators some parsers and logs honour (U+2028, U+0085 NEXT LINE).
LINE_BREAKERS = ["\r", "\n", "\0", "\u2028", "\u0085"]


def resolves_off_origin(text: str) -> bool:
    """Whether a browser (WHATWG URL parsing, ada) resolves ``text`` on BASE to another origin."""
    try:
        url = URL(text, BASE)
    except ValueError:
        return False  # not a URL: nothing is fetched
    return url.origin != SITE


def scope(
    *,
    path: str = "/",
    headers: list[tuple[bytes, bytes]] | None = None,
    client: tuple[str, int] = ("127.0.0.1", 40000),
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"site.example"), *(NAVIGATE if headers is None else headers)],
        "extensions": H2,
        "client": client,
        "server": ("127.0.0.1", 443),
    }


def run(app: Any, request_scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(request_scope, receive, send))
    return sent


def pushing_page(urls: Iterable[str], **push_kwargs: Any) -> Any:
    """An ASGI page that calls push() with each of ``urls``, as a template with user data."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for url in urls:
            push(scope, url, as_="style", **push_kwargs)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": b"<p>page</p>"})

    return app


def emitted_targets(sent: list[Message]) -> list[str]:
    """Every URL h2push put in a 103, a Link header or a push promise."""
    targets: list[str] = []
    for message in sent:
        if message["type"] == "http.response.early_hint":
            for link in message["links"]:
                targets += [v.target for v in parse_link_header(link.decode("latin-1"))]
        elif message["type"] == "http.response.push":
            targets.append(message["path"])
        elif message["type"] == "http.response.start":
            for name, value in message["headers"]:
                if name == b"link":
                    targets += [v.target for v in parse_link_header(value.decode("latin-1"))]
    return targets


# --- cross-origin spellings --------------------------------------------------------------------

# Pieces browsers treat specially at the start of a URL: slashes and backslashes (special schemes
# read "\" as "/"), tab and newlines (removed anywhere), C0 controls and spaces (trimmed),
# schemes, percent-encodings of all of those, and a host.
_SPELLING_PIECES = st.sampled_from(
    [
        "/", "\\", "\t", "\n", "\r", " ", "\x00", "\x0c", "\x1f", "%2F", "%2f", "%5C", "%09",
        "http:", "https:", "HTTPS:", "hTtP:", "//", "\\\\", "/\\", "\\/", "@", ":", ".", "..",
        "evil.example", "site.example", "x.css", "?", "#", "%", "\u3002", "\uff0f", "\u2215",
    ]
)  # fmt: skip
off_origin_spellings = (
    st.lists(_SPELLING_PIECES, min_size=1, max_size=8).map("".join).filter(resolves_off_origin)
)


def test_the_oracle_resolves_the_known_spellings_off_origin() -> None:
    for spelling in ["/\\evil.example/x.css", "\\\\evil.example/x", "/\t/evil.example/x",
                     "//evil.example/x", "http:evil.example/x", " //evil.example/x",
                     "/\n/evil.example/", "\\/evil.example/x"]:  # fmt: skip
        assert resolves_off_origin(spelling), spelling
    assert not resolves_off_origin("/%2F%2Fevil.example/x.css")  # a path on this origin
    assert not resolves_off_origin("https:evil.example/x")  # same scheme: a relative path


@pytest.mark.parametrize(
    "spelling", ["/\\evil.example/x.css", "/\\/evil.example/x.css", "\\\\evil.example/x.css"]
)
def test_backslash_spellings_are_refused_everywhere(spelling: str) -> None:
    with pytest.raises(PreloadError) as raised:
        Preload(url=spelling, as_="style")
    assert raised.value.field == "url"
    with pytest.raises(ManifestError, match=r"backslash|absolute path"):
        Manifest.from_dict({spelling: {"type": "style"}})
    with pytest.raises(ValueError, match="backslash"):
        LinkValue(spelling)
    sent = run(H2PushMiddleware(pushing_page([spelling, "/ok.css"])), scope())
    assert emitted_targets(sent).count("/ok.css") >= 2  # in the Link header and pushed
    assert spelling not in emitted_targets(sent)


# The only forms that may name another origin: an absolute URL, or a network-path reference
# (RFC 3986 §4.2). h2push takes them for what they are: hinted and linked, never pushed.
EXPLICIT_OTHER_ORIGIN = ("http://", "https://", "//")


def _refused(spelling: str) -> str:
    try:
        Preload(url=spelling, as_="style")
    except PreloadError as error:
        return error.field
    return ""


@fuzz
@given(spelling=off_origin_spellings)
def test_no_spelling_a_browser_resolves_off_origin_is_sent_as_this_origins(spelling: str) -> None:
    explicit = spelling.startswith(EXPLICIT_OTHER_ORIGIN)
    if not explicit:
        assert _refused(spelling) == "url", spelling
    elif not _refused(spelling):
        preload = Preload(url=spelling, as_="style")
        assert not preload.same_origin
        assert not preload.pushable
    with pytest.raises(ManifestError):
        Manifest.from_dict({spelling: {"type": "style"}})
    sent = run(H2PushMiddleware(pushing_page([spelling]), push_preload=True), scope())
    assert all(explicit and target == spelling for target in emitted_targets(sent)), spelling
    assert not [m for m in sent if m["type"] == "http.response.push"]


@fuzz
@given(text=st.lists(_SPELLING_PIECES | st.text(max_size=3), max_size=8).map("".join))
def test_every_url_h2push_calls_same_origin_is(text: str) -> None:
    try:
        preload = Preload(url=text)
    except (PreloadError, TypeError):
        return
    if preload.same_origin:
        assert URL(text, BASE).origin == SITE, text


def test_an_apps_own_link_header_with_a_backslash_spelling_is_not_pushed() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        link = b"</\\evil.example/x.css>; rel=preload; as=style, </ok.css>; rel=preload; as=style"
        headers = [(b"content-type", b"text/html"), (b"link", link)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"<p>"})

    sent = run(H2PushMiddleware(app, push_preload=True), scope())
    assert [m["path"] for m in sent if m["type"] == "http.response.push"] == ["/ok.css"]


# --- header injection: h2push's own rejection --------------------------------------------------


def _spots(char: str) -> list[str]:
    return [f"/a.css{char}", f"/a{char}b.css", f"{char}/a.css", f"/a.css{char}X-Injected: 1"]


@pytest.mark.parametrize("char", LINE_BREAKERS, ids=["cr", "lf", "nul", "u2028", "u0085"])
def test_line_breakers_are_refused_by_the_preload_itself(char: str) -> None:
    for url in _spots(char):
        with pytest.raises(PreloadError) as raised:
            Preload(url=url)
        assert raised.value.field == "url", url
        with pytest.raises(PreloadError):
            Preload(url="/a.css", as_="style", type=f"text/css{char}")
        with pytest.raises(ValueError, match="contains"):
            LinkValue(url)
        with pytest.raises(ManifestError, match=r"contains|must be an absolute path"):
            Manifest.from_dict({url: {"type": "style"}})


@pytest.mark.parametrize("char", LINE_BREAKERS, ids=["cr", "lf", "nul", "u2028", "u0085"])
def test_line_breakers_in_push_drop_the_preload_with_h2pushs_log_line(
    char: str, caplog: pytest.LogCaptureFixture
) -> None:
    bad = _spots(char)
    with caplog.at_level(logging.WARNING, logger="h2push"):
        sent = run(H2PushMiddleware(pushing_page([*bad, "/ok.css"])), scope())
    dropped = [r for r in caplog.records if r.name == "h2push" and "dropped" in r.message]
    assert len(dropped) == len(bad)  # one line each, from h2push itself
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    for name, value in start["headers"]:
        assert not any(c in value for c in b"\r\n\0"), (name, value)
    assert set(emitted_targets(sent)) == {"/ok.css"}
    with pytest.raises(PreloadError):  # strict code gets h2push's ValueError
        run(H2PushMiddleware(pushing_page(bad[:1], strict=True)), scope())


@pytest.mark.parametrize("char", LINE_BREAKERS, ids=["cr", "lf", "nul", "u2028", "u0085"])
def test_line_breakers_in_flask_push_are_h2pushs_to_refuse(
    char: str, caplog: pytest.LogCaptureFixture
) -> None:
    flask = require_module("flask")
    from h2push.flask import H2Push
    from h2push.flask import push as flask_push

    app = flask.Flask(__name__)
    H2Push(app, manifest=None)
    raised: list[BaseException] = []

    @app.route("/")
    def index() -> str:
        for url in _spots(char):
            flask_push(url, as_="style")
            try:
                flask_push(url, as_="style", strict=True)
            except PreloadError as error:  # h2push's, before Werkzeug could see it
                raised.append(error)
        flask_push("/ok.css", as_="style")
        return "<p>page</p>"

    with caplog.at_level(logging.WARNING, logger="h2push"):
        response = app.test_client().get("/", headers={"Sec-Fetch-Mode": "navigate"})
    assert response.status_code == 200
    assert response.headers["Link"] == "</ok.css>; rel=preload; as=style"
    assert len(raised) == len(_spots(char))
    assert all(isinstance(e, PreloadError) and e.field == "url" for e in raised)
    assert len([r for r in caplog.records if "dropped" in r.message]) == len(_spots(char))


# --- push() from user data: length -------------------------------------------------------------


@pytest.mark.parametrize("length", [MAX_URL_CHARS + 1, 27_000, 100_000, 1_000_000])
def test_an_oversized_push_url_is_dropped_in_bounded_time(
    length: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = "/" + "a" * (length - 1)
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="h2push"):
        sent = run(H2PushMiddleware(pushing_page([url, "/ok.css"])), scope())
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < 0.5
    assert set(emitted_targets(sent)) == {"/ok.css"}
    (line,) = [r.getMessage() for r in caplog.records if "dropped" in r.message]
    assert len(line) < 500  # the log line is cut too
    Preload(url="/" + "a" * (MAX_URL_CHARS - 1))  # the limit itself is allowed


def test_many_pushes_keep_the_103_and_link_header_within_their_budgets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manifest = Manifest.from_dict(
        {f"/static/{i:04}-{'x' * 200}.css": {"type": "style", "weight": i} for i in range(60)}
    )
    urls = [f"/u/{i}-{'y' * 900}.js" for i in range(40)]
    with caplog.at_level(logging.WARNING, logger="h2push"):
        sent = run(H2PushMiddleware(pushing_page(urls), manifest=manifest), scope())
    (hint,) = [m for m in sent if m["type"] == "http.response.early_hint"]
    assert len(b", ".join(hint["links"])) <= MAX_EARLY_HINTS_BYTES
    start = next(m for m in sent if m["type"] == "http.response.start")
    (link,) = [v for n, v in start["headers"] if n == b"link"]
    assert len(link) <= MAX_LINK_BYTES
    # The highest weights are kept: the manifest's heaviest entry leads both.
    assert hint["links"][0].startswith(b"</static/0059-")
    assert link.startswith(b"</static/0059-")
    assert any("left out" in r.message for r in caplog.records)
    pushes = [m for m in sent if m["type"] == "http.response.push"]
    assert len(pushes) <= 10
    assert all(len(m["path"]) <= MAX_URL_CHARS for m in pushes)


# --- request headers copied into push promises --------------------------------------------------


def test_push_promises_copy_only_short_visible_request_values() -> None:
    css = Preload(url="/a.css", as_="style")
    ordinary = [
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36"),
        (b"accept-language", b"en-GB,en;q=0.9"),
        (b"accept-encoding", b"gzip, br"),
    ]
    assert dict(push_headers(css, ordinary)).keys() == {
        b"accept",
        b"user-agent",
        b"accept-language",
        b"accept-encoding",
    }
    hostile = [
        (b"user-agent", b"U" * 60_000),
        (b"accept-language", b"en\x80\xff"),
        (b"accept-encoding", b"gzip"),
        (b"accept-encoding", b"br"),  # repeated: left out rather than chosen
    ]
    assert push_headers(css, hostile) == [(b"accept", b"text/css,*/*;q=0.1")]
    limit = b"a" * MAX_INHERITED_VALUE_BYTES
    assert (b"user-agent", limit) in push_headers(css, [(b"user-agent", limit)])


def test_a_long_user_agent_costs_the_push_promises_nothing() -> None:
    manifest = Manifest.from_dict({f"/{i}.css": {"type": "style"} for i in range(10)})
    headers = [*NAVIGATE, (b"user-agent", b"U" * 60_000)]
    started = time.perf_counter()
    sent = run(H2PushMiddleware(pushing_page([]), manifest=manifest), scope(headers=headers))
    assert time.perf_counter() - started < 0.5
    pushes = [m for m in sent if m["type"] == "http.response.push"]
    assert len(pushes) == 10
    assert all(sum(len(v) for _, v in m["headers"]) < 200 for m in pushes)


# --- cookie and Cache-Digest ------------------------------------------------------------------


def _hostile_digest(log2_n: int, log2_p: int, size: int) -> str:
    """A digest claiming ``log2_n`` and ``log2_p``, then ``size`` bytes of one-bit codes."""
    header = (log2_n << 11 | log2_p << 6).to_bytes(2, "big")
    return base64.urlsafe_b64encode(header + b"\xff" * size).rstrip(b"=").decode("ascii")


def test_a_cache_digest_with_a_large_n_is_refused_before_decoding() -> None:
    value = _hostile_digest(31, 0, 4000)
    started = time.perf_counter()
    for _ in range(100):
        assert parse_cache_digest([value]) == ()
    assert (time.perf_counter() - started) / 100 < 0.002
    with pytest.raises(DigestError, match="log2_n=31"):
        CacheDigest.from_base64url(value, max_log2_n=MAX_CACHE_DIGEST_LOG2_N)


def test_a_cache_digest_header_costs_a_bounded_decode() -> None:
    # The worst the limits allow: digests at the largest N, one-bit codes, as many as read.
    one = _hostile_digest(MAX_CACHE_DIGEST_LOG2_N, 0, 200)
    header = ", ".join([one] * 40)[:8000]
    started = time.perf_counter()
    for _ in range(20):
        entries = parse_cache_digest([header])
    elapsed_ms = (time.perf_counter() - started) / 20 * 1000
    assert len(entries) <= MAX_CACHE_DIGEST_ENTRIES
    assert sum(len(e.digest.values) for e in entries) <= MAX_CACHE_DIGEST_ENTRIES * 362
    assert elapsed_ms < 20


def test_a_cookie_at_another_n_is_refused_unread() -> None:
    tracker = CookieDigestTracker()
    value = _hostile_digest(12, 0, 300)
    state = tracker.load([(b"cookie", f"h2push={value}".encode())])
    assert state.known_urls(["/a.css"]) == frozenset()
    with pytest.raises(DigestError, match="log2_n=12"):
        CacheDigest.from_base64url(value, max_log2_n=tracker.log2_n, max_log2_p=tracker.log2_p)


# --- memory: reference cycles, ledger, versions, plan memo --------------------------------------


class _TrackedState:
    """A client state that can be watched for being freed."""

    def __init__(self) -> None:
        self.added: list[object] = []

    def has(self, url: str, version: str | None = None) -> bool:
        return False

    def known_urls(self, candidates: Iterable[object]) -> frozenset[str]:
        list(candidates)
        return frozenset()

    def add(self, keys: Iterable[object]) -> None:
        self.added.extend(keys)

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        return []


class _WatchingTracker:
    blocking = False

    def __init__(self) -> None:
        self.states: list[weakref.ref[_TrackedState]] = []

    def load(self, headers: object, *, authority: str | None = None, scheme: str = "https") -> Any:
        state = _TrackedState()
        self.states.append(weakref.ref(state))
        return state


def test_a_requests_state_is_freed_when_it_ends_without_the_cycle_collector() -> None:
    tracker = _WatchingTracker()
    manifest = Manifest.from_dict({"/a.css": {"type": "style"}})
    app = H2PushMiddleware(pushing_page(["/b.css"]), manifest=manifest, tracker=tracker)
    gc.collect()
    gc.disable()
    try:
        for port in range(5):
            run(app, scope(client=("127.0.0.1", 41000 + port)))
        assert len(tracker.states) == 5
        assert [ref() for ref in tracker.states] == [None] * 5
    finally:
        gc.enable()


def test_the_push_ledger_is_bounded_in_bytes_and_swept_of_idle_connections() -> None:
    now = [0.0]
    ledger = Connections(idle_s=30.0, capacity=10_000, max_bytes=1_000_000, clock=lambda: now[0])
    for port in range(4000):
        entry = ledger.get((("10.0.0.1", port), ("127.0.0.1", 443)))
        ledger.record(entry, [f"/{port}/{'u' * 2000}-{i}" for i in range(3)])
        assert ledger.bytes <= 1_000_000
    assert 0 < len(ledger) < 200
    now[0] += 31
    ledger.get((("10.0.0.2", 1), ("127.0.0.1", 443)))  # any planning sweeps the idle ones
    assert len(ledger) == 1
    assert ledger.bytes < 1000


def test_the_middlewares_ledger_forgets_what_it_cannot_hold() -> None:
    app = H2PushMiddleware(pushing_page([]), max_ledger_bytes=200_000)
    for port in range(300):
        urls = [f"/{port}/{i}-{'u' * 900}.css" for i in range(3)]
        app.app = pushing_page(urls)
        run(app, scope(client=("127.0.0.1", 42000 + port)))
    assert app.connections is not None
    assert 150_000 < app.connections.bytes <= 200_000
    assert len(app.connections) < 100


def test_static_versions_keep_a_bounded_cache(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_text("a")
    versions = StaticVersions(tmp_path, "/static/", max_bytes=100_000)
    for i in range(2000):
        assert versions(f"/static/{'x' * 20_000}{i}.css") is None
    assert versions._bytes <= 100_000
    assert len(versions._cache) < 10
    assert versions("/static/a.css") is not None


def test_the_plan_memo_is_bounded_and_keeps_no_path() -> None:
    app = H2PushMiddleware(pushing_page([]))
    candidates = (Preload(url="/a.css", as_="style"),)
    for i in range(50):
        facts = RequestFacts(path=f"/{'p' * 5000}{i}", navigation=True, can_early_hint=True)
        assert app._delivery.prepare(facts, candidates).plan == plan(facts, candidates)
    # Long paths are planned afresh: the memo keeps none of them.
    assert not app._delivery._memo
    for i in range(3000):
        app._delivery.prepare(RequestFacts(), (Preload(url=f"/{i}.css"),))
    assert len(app._delivery._memo) <= 1024


# --- manifests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000, "nested too deep|not valid JSON"),
        ('{"/a.css": {"type": "style", "weight": 1' + "0" * 5000 + "}}", "not valid JSON"),
        ('{"/a.css": {"type": "style", "weight": 1' + "0" * 40 + "}}", "at most"),
        ('{"/a.css": {"type": "style", "weight": 1e999}}', "wrong type"),
        ('{"/a.css": {"type": ["style"]}}', "wrong type"),
        ('{"/a.css": {"type": "style", "nopush": "yes"}}', "wrong type"),
        ('{"/a.css": 7}', "must be an object"),
        ('{"index.html": {"/a.css": {"type": {"x": 1}}}}', "wrong type"),
        ("\ufeff{}", "not valid JSON"),
        ('{"/a.css": {"type": "style"}}' + " " * 10, None),
    ],
    ids=["deep", "long-number", "huge-weight", "infinite", "list-type", "string-bool",
         "number-entry", "object-type", "bom", "fine"],
)  # fmt: skip
def test_every_malformed_manifest_is_one_manifest_error(
    tmp_path: Path, content: str, message: str | None
) -> None:
    path = tmp_path / "push_manifest.json"
    path.write_text(content)
    if message is None:
        assert Manifest.load(path).preloads_for("/")
        return
    with pytest.raises(ManifestError, match=message) as raised:
        Manifest.load(path)
    assert str(path) in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "data",
    [{1: {}}, {"/a.css": {1: "x"}}, {"index.html": {"/a.css": {"type": "style", 2: 3}}},
     {None: {"type": "style"}}, {("a",): {}}],
    ids=["int-key", "int-entry-key", "int-field-key", "none-key", "tuple-key"],
)  # fmt: skip
def test_non_string_keys_are_a_manifest_error(data: dict[Any, Any]) -> None:
    with pytest.raises(ManifestError, match="key must be a string"):
        Manifest.from_dict(data)


def test_only_a_regular_file_is_read_as_a_manifest(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero, Path("/dev/null"), tmp_path):
        started = time.perf_counter()
        with pytest.raises(ManifestError, match="cannot be read"):
            Manifest.load(path)
        assert time.perf_counter() - started < 1.0


def test_a_manifest_too_large_or_with_too_many_entries_says_so(tmp_path: Path) -> None:
    large = tmp_path / "large.json"
    large.write_text(json.dumps({"/a.css": {"type": "style"}}) + " " * (1 << 20))
    with pytest.raises(ManifestError, match=r"more than the 1048576 read.*MAX_MANIFEST_BYTES"):
        Manifest.load(large)
    many = {f"/{i}.css": {"type": "style"} for i in range(10_001)}
    with pytest.raises(ManifestError, match="more than 10000 resources"):
        Manifest.from_dict(many)
    pages = {f"p{i}.html": {f"/{j}.css": {"type": "style"} for j in range(100)} for i in range(101)}
    with pytest.raises(ManifestError, match="more than 10000 resources"):
        Manifest.from_dict(pages)


def test_a_page_keeps_what_one_page_can_use(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="h2push"):
        manifest = Manifest.from_dict(
            {f"/{i}.css": {"type": "style", "weight": i % 100} for i in range(5000)}
        )
    (preloads,) = manifest.entries.values()
    assert len(preloads) == MAX_PAGE_PRELOADS
    assert preloads[0].weight == 99
    assert any("5000 resources" in r.message for r in caplog.records)
    facts = RequestFacts(navigation=True, can_early_hint=True, can_push=True)
    started = time.perf_counter()
    for i in range(200):
        plan(RequestFacts(path=f"/{i}", navigation=True, can_push=True), preloads)
    assert (time.perf_counter() - started) / 200 < 0.005
    assert plan(facts, preloads).pushes


@fuzz
@given(document=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4),
    max_leaves=30,
))  # fmt: skip
def test_any_document_is_a_manifest_or_one_manifest_error(document: object) -> None:
    message = ""
    try:
        Manifest.from_dict(document)
    except ManifestError as error:
        message = str(error)
    assert "\n" not in message


def test_discovery_reads_no_fifo_or_device_as_a_site_file(tmp_path: Path) -> None:
    from h2push._tools.discover.models import FetchError
    from h2push._tools.discover.sites import FileSite

    (tmp_path / "index.html").write_text('<link rel="stylesheet" href="/a.css">')
    os.mkfifo(tmp_path / "a.css")
    (tmp_path / "b.css").symlink_to("/dev/zero")
    site = FileSite(tmp_path)
    for path in ("/a.css", "/b.css"):
        started = time.perf_counter()
        with pytest.raises(FetchError, match=r"not a regular file|outside the site root"):
            site.read(path, dest="style")
        assert time.perf_counter() - started < 1.0
    assert site.read("/index.html", dest="document")[0].startswith(b"<link")


def test_the_flask_adapter_reads_a_hostile_digest_at_a_bounded_cost(tmp_path: Path) -> None:
    flask = require_module("flask")
    from h2push.flask import H2Push

    (tmp_path / "push_manifest.json").write_text(
        json.dumps({"/static/a.css": {"type": "style"}, "/static/b.js": {"type": "script"}})
    )
    app = flask.Flask(__name__, root_path=str(tmp_path))
    H2Push(app)
    app.add_url_rule("/", "index", lambda: "<p>page</p>")
    hostile = {
        "Sec-Fetch-Mode": "navigate",
        "Cache-Digest": ", ".join([_hostile_digest(31, 0, 2700)] * 3),
        "Cookie": "h2push=" + _hostile_digest(31, 0, 380),
    }
    client = app.test_client()
    started = time.perf_counter()
    for _ in range(50):
        response = client.get("/", headers=hostile)
        assert response.status_code == 200
        assert "</static/a.css>" in response.headers["Link"]
    assert (time.perf_counter() - started) / 50 < 0.02
