"""Tests of the trackers: the cookie digest, the Cache-Digest header, and Firehose connectors.

The fuzz targets (``@fuzz``) run at the size of the fuzz profile (tests/fuzzing.py).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable

import httpx
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from fuzzing import fuzz
from h2push._core.digest import CacheDigest, DigestError
from h2push._core.links import Preload
from h2push._core.plan import RequestFacts, plan
from h2push.trackers import (
    MAX_CACHE_DIGEST_CHARS,
    MAX_CACHE_DIGEST_ENTRIES,
    MAX_COOKIE_VALUE_CHARS,
    ClientState,
    CookieDigestTracker,
    DigestEntry,
    FirehoseTracker,
    Tracker,
    as_tracker,
    parse_cache_digest,
)

HOST = "example.com"
ORIGIN = f"https://{HOST}"
CSS = ("/static/app.css", '"v1"')
JS = ("/static/app.js", '"v7"')
FONT = ("/static/font.woff2", None)
PROBES = [CSS, JS, FONT, ("/", None), ("/static/app.css", None), ("/static/app.css", '"v2"')]

Headers = list[tuple[bytes, bytes]]


def cookie_pair(response_headers: Headers) -> bytes:
    """The ``name=value`` part of the single set-cookie header."""
    ((name, value),) = response_headers
    assert name == b"set-cookie"
    return value.split(b";", 1)[0]


def cookie_value(response_headers: Headers) -> str:
    return cookie_pair(response_headers).split(b"=", 1)[1].decode("ascii")


def deliver(tracker: Tracker, keys: Iterable[tuple[str, str | None]], headers: Headers) -> Headers:
    """One request that delivers ``keys``; returns the response headers the tracker adds."""
    state = tracker.load(headers)
    state.add(keys)
    return state.response_headers()


def with_cookie(tracker: Tracker, keys: Iterable[tuple[str, str | None]]) -> Headers:
    """Request headers carrying the cookie a response delivering ``keys`` sets."""
    return [(b"cookie", cookie_pair(deliver(tracker, keys, [])))]


def knows_nothing(state: ClientState) -> bool:
    return not any(state.has(url, version) for url, version in PROBES)


# --- the cookie digest ----------------------------------------------------------------------


def test_round_trip() -> None:
    tracker = CookieDigestTracker()
    state = tracker.load([(b"host", HOST.encode())])
    assert knows_nothing(state)
    assert state.response_headers() == []
    state.add([CSS, JS])
    assert state.has(*CSS)  # known for the rest of this request too
    headers = state.response_headers()
    assert headers == state.response_headers()  # idempotent
    value = cookie_value(headers)
    assert (
        headers[0][1]
        == (f"h2push={value}; Path=/; Max-Age=604800; Secure; HttpOnly; SameSite=Lax").encode()
    )
    digest = CacheDigest.from_base64url(value)
    assert (digest.log2_n, digest.log2_p, len(digest.values)) == (6, 7, 2)

    later = tracker.load([(b"cookie", cookie_pair(headers))])
    assert later.has(*CSS)
    assert later.has(*JS)
    assert not later.has(*FONT)
    assert later.known_urls([CSS, JS, FONT]) == {CSS[0], JS[0]}
    later.add([CSS])  # already there: the cookie does not change, no header
    assert later.response_headers() == []
    later.add([FONT])
    merged = CacheDigest.from_base64url(cookie_value(later.response_headers()))
    assert len(merged.values) == 3


def test_cookie_settings() -> None:
    tracker = CookieDigestTracker(cookie_name="known", max_age_s=3600, secure=False)
    headers = deliver(tracker, [CSS], [])
    header = headers[0][1].decode()
    assert re.fullmatch(
        r"known=[A-Za-z0-9_-]+; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax", header
    )
    value = cookie_value(headers).encode()
    assert tracker.load([(b"cookie", b"known=" + value)]).has(*CSS)
    assert not tracker.load([(b"cookie", b"h2push=" + value)]).has(*CSS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cookie_name": "h2 push"}, "cookie_name"),
        ({"cookie_name": ""}, "cookie_name"),
        ({"cookie_name": "a;b"}, "cookie_name"),
        ({"max_age_s": 0}, "max_age_s"),
        ({"max_age_s": 1.5}, "max_age_s"),
        ({"max_age_s": True}, "max_age_s"),
        ({"log2_n": 17}, "log2_n"),
        ({"log2_p": -1}, "log2_p"),
        ({"log2_n": 8, "log2_p": 16}, "more than 512"),
    ],
)
def test_cookie_tracker_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CookieDigestTracker(**kwargs)  # type: ignore[arg-type]


def test_crumbs_over_several_cookie_fields() -> None:
    """HTTP/2 may send each cookie in its own field (RFC 9113 §8.2.3); WSGI joins them."""
    tracker = CookieDigestTracker()
    pair = cookie_pair(deliver(tracker, [CSS], []))
    shapes: list[Headers] = [
        [(b"cookie", b"a=1"), (b"cookie", pair), (b"cookie", b"b=2; c=3")],
        [(b"cookie", b"a=1;" + pair + b";b=2")],
        [(b"cookie", b"a=1, " + pair + b", b=2")],  # fields joined with commas
        [(b"Cookie", b"a=1; " + pair)],  # names compared case-insensitively
        [(b"cookie", pair.replace(b"=", b'="', 1) + b'"')],  # a quoted value
    ]
    for headers in shapes:
        assert tracker.load(headers).has(*CSS), headers
    werkzeug_style = [("Cookie", "a=1; " + pair.decode()), ("Host", HOST)]
    assert tracker.load(werkzeug_style).has(*CSS)


def test_first_valid_cookie_of_the_name_counts() -> None:
    tracker = CookieDigestTracker()
    pair = cookie_pair(deliver(tracker, [CSS], []))
    headers = [(b"cookie", b"h2push=garbage"), (b"cookie", pair), (b"cookie", b"h2push=AAA")]
    assert tracker.load(headers).has(*CSS)


def test_a_changed_version_is_not_known() -> None:
    tracker = CookieDigestTracker()
    state = tracker.load(with_cookie(tracker, [CSS]))
    assert state.has(*CSS)
    assert not state.has(CSS[0], '"v2"')
    assert not state.has(CSS[0], None)


def test_64_keys_fit_in_200_bytes() -> None:
    tracker = CookieDigestTracker()
    assert tracker.max_value_chars == 99
    for trial in range(50):
        keys = [(f"/static/{trial}/asset-{i}.js", f'"{trial}-{i}"') for i in range(64)]
        headers = deliver(tracker, keys, [])
        assert len(cookie_value(headers)) <= 99
        assert len(headers[0][1]) < 200  # the whole Set-Cookie line, attributes included
        state = tracker.load([(b"cookie", cookie_pair(headers))])
        assert all(state.has(url, version) for url, version in keys)


def test_full_digest_starts_again_with_the_new_keys() -> None:
    tracker = CookieDigestTracker()
    first = [(f"/a/{i}.js", None) for i in range(64)]
    headers = with_cookie(tracker, first)
    state = tracker.load(headers)
    state.add([("/b/new.js", None)])  # the 65th key
    digest = CacheDigest.from_base64url(cookie_value(state.response_headers()))
    assert len(digest.values) == 1
    assert "/b/new.js" in digest

    state = tracker.load(headers)
    state.add([(f"/c/{i}.js", None) for i in range(100)])  # more than N in one response
    digest = CacheDigest.from_base64url(cookie_value(state.response_headers()))
    assert len(digest.values) == 64
    assert all(f"/c/{i}.js" in digest for i in range(64))

    state = tracker.load(headers)  # several adds in one response: all of them are kept
    state.add([("/d/1.js", None)])
    state.add([("/d/2.js", None)])
    digest = CacheDigest.from_base64url(cookie_value(state.response_headers()))
    assert len(digest.values) == 2
    assert "/d/1.js" in digest
    assert "/d/2.js" in digest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _malformed_cookies() -> list[object]:
    ours = CacheDigest.from_urls([CSS], log2_n=6)
    many = CacheDigest.from_urls([(f"/x/{i}", None) for i in range(70)] + [CSS], log2_n=6)
    return [
        pytest.param("", id="empty"),
        pytest.param("!!!", id="not-base64"),
        pytest.param(ours.to_base64url() + "A", id="cut-garbage"),
        pytest.param(ours.to_base64url()[:-2], id="truncated"),
        pytest.param(_b64(b"\xff" * 40), id="not-a-digest"),
        pytest.param("A" * (MAX_COOKIE_VALUE_CHARS + 1), id="oversized"),
        pytest.param(CacheDigest.from_urls([CSS], log2_n=6, log2_p=5).to_base64url(), id="p"),
        pytest.param(CacheDigest.from_urls([CSS], log2_n=7).to_base64url(), id="n"),
        pytest.param(CacheDigest.from_urls([CSS]).to_base64url(), id="n-from-count"),
        pytest.param(many.to_base64url(), id="more-than-n-keys"),
        pytest.param("h2push=" + ours.to_base64url(), id="name-twice"),
        pytest.param(ours.to_base64url() + "é", id="non-ascii"),
    ]


@pytest.mark.parametrize("value", _malformed_cookies())
def test_malformed_cookie_counts_as_empty(value: str) -> None:
    tracker = CookieDigestTracker()
    state = tracker.load([(b"cookie", f"a=1; h2push={value}".encode())])
    assert not state.has(*CSS)
    assert state.response_headers() == []  # nothing delivered: the cookie is left alone
    state.add([JS])
    digest = CacheDigest.from_base64url(cookie_value(state.response_headers()))
    assert len(digest.values) == 1  # replaced, not merged
    assert JS in digest


def test_add_rejects_a_single_str_and_non_keys() -> None:
    state = CookieDigestTracker().load([])
    with pytest.raises(TypeError, match="single str"):
        state.add("/static/app.css")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="resource key"):
        state.add([("/a.css", 3)])  # type: ignore[list-item]
    state.add(["/a.css"])  # a bare URL is (url, None)
    assert state.has("/a.css")


def test_a_key_that_cannot_be_hashed_is_skipped() -> None:
    tracker = CookieDigestTracker()
    state = tracker.load([])
    state.add([("/bad\ud800.css", None), CSS])
    later = tracker.load([(b"cookie", cookie_pair(state.response_headers()))])
    assert later.has(*CSS)
    assert not later.has("/bad\ud800.css")


def test_known_urls_feeds_plan() -> None:
    tracker = CookieDigestTracker()
    headers = with_cookie(tracker, [CSS])
    preloads = [Preload(url=CSS[0], as_="style"), Preload(url=JS[0], as_="script")]
    versions = dict([CSS, JS])
    state = tracker.load(headers)
    known = state.known_urls((p.url, versions[p.url]) for p in preloads)
    todo = plan(RequestFacts(can_push=True), preloads, known=known)
    assert [p.url for p in todo.pushes] == [JS[0]]
    state.add((url, versions[url]) for url in todo.remember)
    final = tracker.load([(b"cookie", cookie_pair(state.response_headers()))])
    assert final.known_urls([CSS, JS]) == {CSS[0], JS[0]}


def test_a_real_cookie_jar_returns_the_cookie() -> None:
    """httpx's cookie jar (the standard library's http.cookiejar) stores and sends it back."""
    tracker = CookieDigestTracker()
    seen: list[bool] = []

    def app(request: httpx.Request) -> httpx.Response:
        state = tracker.load(request.headers.raw)
        seen.append(state.has(*CSS))
        state.add([CSS])
        return httpx.Response(200, headers=state.response_headers())

    with httpx.Client(transport=httpx.MockTransport(app), base_url=ORIGIN) as client:
        client.get("/")
        client.get("/page")
    assert seen == [False, True]


# --- the Cache-Digest header ----------------------------------------------------------------


def header_digest(keys: Iterable[tuple[str, str | None]], *, validators: bool = False) -> str:
    """A Cache-Digest value as a service worker sends it: absolute URLs of the origin."""
    absolute = [(ORIGIN + url, version if validators else None) for url, version in keys]
    return CacheDigest.from_urls(absolute).to_base64url()


def test_cache_digest_header_is_honoured() -> None:
    tracker = CookieDigestTracker()
    value = header_digest([CSS, FONT])
    state = tracker.load(
        [(b"host", HOST.encode()), (b"cache-digest", f"{value}; complete".encode())]
    )
    assert state.has(*CSS)
    assert state.has(CSS[0], '"other"')  # without validators, any version
    assert state.has(*FONT)
    assert not state.has(*JS)
    assert state.known_urls([CSS, JS, FONT]) == {CSS[0], FONT[0]}


def test_cache_digest_header_wins_over_the_cookie() -> None:
    tracker = CookieDigestTracker()
    cookie = with_cookie(tracker, [JS])
    header = (b"cache-digest", header_digest([CSS]).encode())
    state = tracker.load([(b"host", HOST.encode()), *cookie, header])
    assert state.has(*CSS)
    assert not state.has(*JS)  # the cookie says so, the client's cache does not
    state.add([FONT])  # the cookie is still kept up to date
    assert state.has(*FONT)
    later = tracker.load([(b"cookie", cookie_pair(state.response_headers()))])
    assert later.has(*JS)
    assert later.has(*FONT)


@pytest.mark.parametrize(
    "header",
    [
        b"!!!",
        b"",
        b"AfdA; c o m p l e t e",
        b"\xff\xfe",
        b"A" * (MAX_CACHE_DIGEST_CHARS + 1),
        b"AA==",
    ],
)
def test_malformed_cache_digest_header_falls_back_to_the_cookie(header: bytes) -> None:
    tracker = CookieDigestTracker()
    cookie = with_cookie(tracker, [JS])
    state = tracker.load([(b"host", HOST.encode()), *cookie, (b"cache-digest", header)])
    assert state.has(*JS)
    assert not state.has(*CSS)


def test_cache_digest_origin() -> None:
    tracker = CookieDigestTracker()
    header = (b"cache-digest", header_digest([CSS]).encode())
    assert tracker.load([header], authority=HOST).has(*CSS)
    assert tracker.load([header], authority=f"{HOST}:443").has(*CSS)  # the default port
    assert tracker.load([header], authority="EXAMPLE.com").has(*CSS)
    assert tracker.load([header, (b"host", f"{HOST}:443".encode())]).has(*CSS)
    assert not tracker.load([header], authority=f"{HOST}:8443").has(*CSS)
    assert not tracker.load([header], authority=HOST, scheme="http").has(*CSS)
    assert not tracker.load([header], authority="other.example").has(*CSS)
    assert not tracker.load([header]).has(*CSS)  # no authority at all: header unusable
    assert not tracker.load([header], authority=HOST, scheme="ftp").has(*CSS)
    http = (b"cache-digest", CacheDigest.from_urls([f"http://{HOST}{CSS[0]}"]).to_base64url())
    assert tracker.load([http], authority=f"{HOST}:80", scheme="http").has(*CSS)
    absolute = (b"cache-digest", CacheDigest.from_urls(["https://cdn.example/x.js"]).to_base64url())
    assert tracker.load([absolute], authority=HOST).has("https://cdn.example/x.js")
    assert not tracker.load([absolute], authority=HOST).has("x.js")  # relative: never known


def test_cache_digest_flags() -> None:
    tracker = CookieDigestTracker()

    def load(value: str) -> ClientState:
        return tracker.load([(b"cache-digest", value.encode())], authority=HOST)

    with_etags = header_digest([CSS, FONT], validators=True)
    state = load(f"{with_etags}; complete; VALIDATORS")
    assert state.has(*CSS)
    assert not state.has(CSS[0], '"v2"')  # another version: push it again
    assert not state.has(CSS[0], None)  # no version to compare with
    assert not state.has(*FONT)  # (url, None) cannot be looked up in a validators digest

    assert not load(f"{header_digest([CSS])}; stale").has(*CSS)
    fresh_and_stale = f"{header_digest([CSS])}, {header_digest([JS])};stale"
    state = load(fresh_and_stale)
    assert state.has(*CSS)
    assert not state.has(*JS)
    assert load(f"{header_digest([CSS])};reset;unknown-flag").has(*CSS)


def test_cache_digest_over_several_fields() -> None:
    tracker = CookieDigestTracker()
    headers = [
        (b"cache-digest", b"!!bad, " + header_digest([CSS]).encode()),
        (b"cache-digest", header_digest([JS]).encode() + b";complete,"),
    ]
    state = tracker.load(headers, authority=HOST)
    assert state.has(*CSS)
    assert state.has(*JS)
    assert not state.has(*FONT)


def test_parse_cache_digest() -> None:
    value = header_digest([CSS])
    digest = CacheDigest.from_base64url(value)
    assert parse_cache_digest([f"{value} ;\tComplete ; stale"]) == (
        DigestEntry(digest=digest, complete=True, stale=True),
    )
    assert parse_cache_digest([f",, {value},"]) == (DigestEntry(digest=digest),)
    assert parse_cache_digest([f"{value}; complete=1"]) == ()  # a flag is a token
    assert parse_cache_digest([f"{value};"]) == ()  # an empty flag is not a token
    assert parse_cache_digest([";complete"]) == ()
    many = ", ".join([value] * (MAX_CACHE_DIGEST_ENTRIES + 5))
    assert len(parse_cache_digest([many])) == MAX_CACHE_DIGEST_ENTRIES


# --- Firehose connectors --------------------------------------------------------------------


class Connector:
    """Flask-Firehose's connector shape, with its calls recorded."""

    def __init__(self, pushed: Iterable[str] = ()) -> None:
        self.pushed = set(pushed)
        self.writes: list[set[str]] = []

    def get_pushed(self) -> set[str]:
        return set(self.pushed)

    def set_pushed(self, pushed: set[str]) -> None:
        self.writes.append(set(pushed))
        self.pushed = set(pushed)


class BrokenConnector(Connector):
    def __init__(self, *, get_fails: bool, set_fails: bool) -> None:
        super().__init__({"/old.css"})
        self.get_fails = get_fails
        self.set_fails = set_fails

    def get_pushed(self) -> set[str]:
        if self.get_fails:
            raise RuntimeError("session store down")
        return super().get_pushed()

    def set_pushed(self, pushed: set[str]) -> None:
        if self.set_fails:
            raise RuntimeError("session store down")
        super().set_pushed(pushed)


def test_firehose_connector() -> None:
    connector = Connector({CSS[0]})
    tracker = as_tracker(connector)
    assert isinstance(tracker, FirehoseTracker)
    assert tracker.blocking
    state = tracker.load([])
    assert state.has(*CSS)
    assert state.has(CSS[0], '"any version"')  # the connector keeps URLs only
    assert not state.has(*JS)
    state.add([CSS])
    assert connector.writes == []  # nothing new
    state.add([JS, FONT])
    assert connector.writes == [{CSS[0], JS[0], FONT[0]}]
    assert state.response_headers() == []
    assert tracker.load([]).known_urls([CSS, JS, FONT, ("/other", None)]) == {
        CSS[0],
        JS[0],
        FONT[0],
    }


def test_firehose_connector_returning_none_means_empty(caplog: pytest.LogCaptureFixture) -> None:
    class NoneConnector(Connector):
        def get_pushed(self) -> set[str]:
            return None  # type: ignore[return-value]

    connector = NoneConnector()
    with caplog.at_level(logging.WARNING, logger="h2push"):
        state = FirehoseTracker(connector).load([])
        assert not state.has(*CSS)
        state.add([CSS])
    assert connector.writes == [{CSS[0]}]
    assert caplog.records == []


def test_firehose_tracker_honours_cache_digest() -> None:
    tracker = FirehoseTracker(Connector({JS[0]}))
    state = tracker.load([(b"cache-digest", header_digest([CSS]).encode())], authority=HOST)
    assert state.has(*CSS)
    assert not state.has(*JS)


@pytest.mark.parametrize(("get_fails", "set_fails"), [(True, False), (False, True), (True, True)])
def test_failing_connector_is_logged_once(
    caplog: pytest.LogCaptureFixture, get_fails: bool, set_fails: bool
) -> None:
    connector = BrokenConnector(get_fails=get_fails, set_fails=set_fails)
    tracker = FirehoseTracker(connector)
    with caplog.at_level(logging.WARNING, logger="h2push"):
        for _ in range(3):
            state = tracker.load([])
            assert state.has("/old.css") is not get_fails
            state.add([JS])
            assert state.response_headers() == []
    warnings = [r for r in caplog.records if r.name == "h2push" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].exc_info is not None  # user code: the traceback helps
    assert connector.pushed == {"/old.css"}  # never shrunk, never written when unreadable


def test_as_tracker() -> None:
    tracker = CookieDigestTracker()
    assert as_tracker(tracker) is tracker
    with pytest.raises(TypeError, match="not a tracker"):
        as_tracker(object())  # type: ignore[arg-type]

    class NoBlocking:
        def load(self) -> None: ...

    with pytest.raises(TypeError, match="blocking"):
        as_tracker(NoBlocking())  # type: ignore[arg-type]


# --- fuzzing: what clients send never raises ------------------------------------------------

_VALID = [
    CacheDigest.from_urls([CSS], log2_n=6).to_base64url(),
    CacheDigest.from_urls([CSS, JS, FONT], log2_n=6).to_base64url(),
    header_digest([CSS]),
    header_digest([CSS, JS], validators=True),
]


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    """A valid digest value, often mutated: cut, extended, or one character changed."""
    value = draw(st.sampled_from(_VALID))
    how = draw(st.sampled_from(["keep", "cut", "extend", "change"]))
    if how == "cut":
        value = value[: draw(st.integers(0, len(value)))]
    elif how == "extend":
        value += draw(st.text(alphabet=st.characters(codec="ascii"), max_size=6))
    elif how == "change":
        i = draw(st.integers(0, len(value) - 1))
        value = value[:i] + draw(st.characters()) + value[i + 1 :]
    return value


_ANY_TEXT = st.one_of(st.text(max_size=300), near_valid())
_ANY_FIELD = st.one_of(st.binary(max_size=300), _ANY_TEXT)
_FLAGS = st.sampled_from(
    ["complete", "validators", "stale", "reset", "COMPLETE", "x", "", "=", " "]
)


@st.composite
def cache_digest_fields(draw: st.DrawFn) -> list[bytes | str]:
    """Cache-Digest field values: random, or lists of near-valid entities with flags."""
    if draw(st.booleans()):
        return draw(st.lists(_ANY_FIELD, min_size=1, max_size=3))
    entities = []
    for _ in range(draw(st.integers(1, 4))):
        flags = draw(st.lists(st.one_of(_FLAGS, st.text(max_size=5)), max_size=3))
        entities.append(";".join([draw(near_valid()), *flags]))
    return [draw(st.sampled_from([",", ", ", " ,\t"])).join(entities)]


def _field(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def _expected_cookie(value: str) -> CacheDigest | None:
    """What the cookie tracker should make of one value (the test's own reading)."""
    if len(value) > MAX_COOKIE_VALUE_CHARS:
        return None
    try:
        digest = CacheDigest.from_base64url(value)
    except DigestError:
        return None
    ok = (digest.log2_n, digest.log2_p) == (6, 7) and len(digest.values) <= 64
    return digest if ok else None


@fuzz
@given(cookies=st.lists(_ANY_FIELD, max_size=3), cache_digest=cache_digest_fields())
def test_fuzz_request_headers_never_raise(
    cookies: list[bytes | str], cache_digest: list[bytes | str]
) -> None:
    tracker = CookieDigestTracker()
    headers: list[tuple[bytes, bytes]] = [(b"host", HOST.encode())]
    headers += [(b"cookie", _field(c)) for c in cookies]
    headers += [(b"cache-digest", _field(c)) for c in cache_digest]
    state = tracker.load(headers)
    for url, version in PROBES:
        state.has(url, version)
    state.known_urls(PROBES)
    assert state.response_headers() == []  # nothing was delivered
    state.add([JS])
    response = state.response_headers()
    if response:  # the cookie changed: whatever the client sent, ours is valid and holds JS
        digest = _expected_cookie(cookie_value(response))
        assert digest is not None
        assert JS in digest


@fuzz
@given(value=_ANY_TEXT, others=st.sampled_from(["", "a=1; ", 'a=1, b="2"; ']))
@example(value=_VALID[0], others="")
@example(value=_VALID[1], others="a=1; ")
def test_fuzz_cookie_value(value: str, others: str) -> None:
    """A fuzzed ``h2push`` value counts as empty unless it is a digest at our N and P."""
    tracker = CookieDigestTracker()
    raw = f"{others}h2push={value}".encode("utf-8", "surrogatepass")
    state = tracker.load([(b"cookie", raw)])
    clean = not set(value) & set(';, \t"')  # otherwise the crumb splits into another value
    expected = _expected_cookie(value) if clean else None
    event("valid digest at our N and P" if expected is not None else "counts as empty")
    for url, version in PROBES:
        found = state.has(url, version)
        if clean:
            assert found == (expected is not None and (url, version) in expected)
        elif found:  # a split value: whatever counted must itself be a valid digest
            assert any(
                (digest := _expected_cookie(candidate)) is not None and (url, version) in digest
                for candidate in _split_values(value)
            )


def _split_values(value: str) -> list[str]:
    """The values named ``h2push`` in ``h2push=<value>`` once split into crumbs."""
    first, *crumbs = re.split("[;,]", value)
    values = [first]
    for crumb in crumbs:
        name, equals, rest = crumb.partition("=")
        if equals and name.strip(" \t") == "h2push":
            values.append(rest)
    stripped = [v.strip(" \t") for v in values]
    return [v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v for v in stripped]


@fuzz
@given(fields=cache_digest_fields())
def test_fuzz_cache_digest_header_never_raises(fields: list[bytes | str]) -> None:
    """Any Cache-Digest fields: ``has`` answers a bool and never raises."""
    tracker = CookieDigestTracker()
    state = tracker.load([(b"cache-digest", _field(f)) for f in fields], authority=HOST)
    for url, version in PROBES:
        assert state.has(url, version) in (True, False)


# What each value of _VALID holds, written out: (plain URLs, (URL, validator) pairs). The first
# two are cookie digests (paths, not absolute URLs): a Cache-Digest header matches nothing in
# them. None of PROBES is a false positive of any of them.
_HELD: list[tuple[set[str], set[tuple[str, str | None]]]] = [
    (set(), set()),
    (set(), set()),
    ({CSS[0]}, set()),
    (set(), {CSS, JS}),
]
_ENTITY_FLAGS = ["complete", "COMPLETE", "validators", "Validators", "stale", "STALE", "reset"]
_ENTITY_FLAGS += ["x", "", "=", " ", "a b", "complete=1"]
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2


def _expected_has(entities: list[tuple[int, list[str]]], url: str, version: str | None) -> bool:
    """The test's own reading of draft-ietf-httpbis-cache-digest-02 for one probe."""
    for index, flags in entities:
        if not all(_TOKEN.fullmatch(flag.strip(" \t")) for flag in flags):
            continue  # a flag that is not a token: the entity does not parse
        names = {flag.strip(" \t").lower() for flag in flags}
        if "stale" in names:
            continue
        plain, keyed = _HELD[index]
        if "validators" in names:
            if version is not None and (url, version) in keyed:
                return True
        elif url in plain:
            return True
    return False


@fuzz
@given(
    entities=st.lists(
        st.tuples(
            st.integers(0, len(_VALID) - 1), st.lists(st.sampled_from(_ENTITY_FLAGS), max_size=3)
        ),
        min_size=1,
        max_size=4,
    ),
    separator=st.sampled_from([",", ", ", " ,\t"]),
)
def test_fuzz_cache_digest_entities_are_read_as_the_draft_says(
    entities: list[tuple[int, list[str]]], separator: str
) -> None:
    """``has`` is True only for what a fresh entity holds (expected values written out)."""
    field = separator.join(";".join([_VALID[index], *flags]) for index, flags in entities)
    event(f"{sum(_expected_has(entities, u, v) for u, v in PROBES)} probes held")
    state = CookieDigestTracker().load([(b"cache-digest", field.encode())], authority=HOST)
    for url, version in PROBES:
        assert state.has(url, version) == _expected_has(entities, url, version), (url, version)
