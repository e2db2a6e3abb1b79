"""Tests of RedisTracker against a real redis-server, started per module on a free port."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port, require_module, require_program
from h2push.trackers import ClientState, RedisTracker

CSS = ("/static/app.css", '"v1"')
JS = ("/static/app.js", None)
Headers = list[tuple[bytes, bytes]]


class RedisServer:
    """A redis-server on 127.0.0.1, without persistence, in a directory of its own."""

    def __init__(self, program: str, directory: Path, port: int) -> None:
        self.program = program
        self.directory = directory
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(self.program, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + 10
            while True:
                if self.process.poll() is not None:
                    log_text = (self.directory / "redis.log").read_text(errors="replace")
                    pytest.fail(f"redis-server exited with {self.process.returncode}: {log_text}")
                try:
                    if client.ping():
                        return
                except (redis.exceptions.RedisError, OSError):
                    if time.monotonic() > deadline:
                        self.stop()
                        pytest.fail("redis-server did not answer PING within 10 s")
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    directory = tmp_path_factory.mktemp("redis")
    server = RedisServer(require_program("redis-server"), directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    return f"h2push-test-{uuid.uuid4().hex}:"


@pytest.fixture
def tracker(redis_server: RedisServer, prefix: str) -> Iterator[RedisTracker]:
    tracker = RedisTracker(redis_server.url, key_prefix=prefix, ttl_s=1234)
    yield tracker
    tracker.close()


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[object]:
    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    yield client
    client.close()


def id_cookie(headers: Headers, name: str = "h2push_id") -> Headers:
    """The request cookie header a browser sends back after ``headers``."""
    ((header, value),) = headers
    assert header == b"set-cookie"
    pair = value.split(b";", 1)[0]
    assert pair.startswith(name.encode() + b"=")
    return [(b"cookie", b"other=1; " + pair)]


def request(tracker: RedisTracker, headers: Headers, *keys: tuple[str, str | None]) -> ClientState:
    state = tracker.load(headers)
    if keys:
        state.add(keys)
    return state


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "h2push" and r.levelno == logging.WARNING]


def test_additions_are_known_on_the_next_request(tracker: RedisTracker) -> None:
    first = request(tracker, [])
    assert not first.has(*CSS)
    assert first.response_headers() == []  # no id is handed out for nothing
    first.add([CSS])
    assert first.has(*CSS)
    headers = first.response_headers()
    value = headers[0][1].decode()
    assert value.startswith("h2push_id=")
    assert value.endswith("; Path=/; Max-Age=1234; Secure; HttpOnly; SameSite=Lax")
    cookie = id_cookie(headers)

    second = request(tracker, cookie)
    assert second.has(*CSS)
    assert not second.has(CSS[0], '"v2"')  # a new version is pushed again
    assert not second.has(*JS)
    assert second.known_urls([CSS, JS]) == {CSS[0]}
    second.add([CSS])
    assert second.response_headers() == []  # nothing new: no write, no cookie
    second.add([JS])
    assert id_cookie(second.response_headers()) == cookie  # same id, Max-Age renewed

    third = request(tracker, cookie)
    assert third.has(*CSS)
    assert third.has(*JS)


def test_clients_do_not_see_each_other(tracker: RedisTracker) -> None:
    alice = id_cookie(request(tracker, [], CSS).response_headers())
    bob = id_cookie(request(tracker, [], JS).response_headers())
    assert alice != bob
    assert request(tracker, alice).known_urls([CSS, JS]) == {CSS[0]}
    assert request(tracker, bob).known_urls([CSS, JS]) == {JS[0]}


def test_key_has_the_ttl(tracker: RedisTracker, client: object, prefix: str) -> None:
    import redis

    assert isinstance(client, redis.Redis)
    cookie = id_cookie(request(tracker, [], CSS).response_headers())
    client_id = cookie[0][1].split(b"h2push_id=")[1].decode()
    key = prefix + client_id
    assert 1230 <= client.ttl(key) <= 1234
    assert client.smembers(key) == {b'/static/app.css\t"v1"'}
    client.expire(key, 100)
    request(tracker, cookie, JS)
    assert 1230 <= client.ttl(key) <= 1234  # renewed by the addition
    assert client.smembers(key) == {b'/static/app.css\t"v1"', b"/static/app.js"}


def test_round_trips_per_request(tracker: RedisTracker, client: object) -> None:
    """One SMEMBERS per request with an id, none without; one transaction per new addition."""
    import redis

    assert isinstance(client, redis.Redis)
    cookie = id_cookie(request(tracker, [], CSS).response_headers())
    client.config_resetstat()
    request(tracker, [])  # no id: Redis is not asked
    state = request(tracker, cookie, CSS)  # known: nothing written
    state.known_urls([CSS, JS])
    request(tracker, cookie, JS)
    stats = client.info("commandstats")
    calls = {name: stat["calls"] for name, stat in stats.items()}
    assert calls.get("cmdstat_smembers") == 2
    assert calls.get("cmdstat_sadd") == 1
    assert calls.get("cmdstat_exec") == 1


@pytest.mark.parametrize(
    "cookie",
    [b"h2push_id=short", b"h2push_id=" + b"!" * 22, b"h2push_id=" + b"A" * 23, b"h2push_id="],
)
def test_malformed_client_id_gets_a_new_one(tracker: RedisTracker, cookie: bytes) -> None:
    state = request(tracker, [(b"cookie", cookie)])
    assert not state.has(*CSS)
    state.add([CSS])
    new = id_cookie(state.response_headers())
    assert new[0][1] != b"other=1; " + cookie
    assert request(tracker, new).has(*CSS)


def test_a_full_set_starts_again(redis_server: RedisServer, prefix: str, client: object) -> None:
    import redis

    assert isinstance(client, redis.Redis)
    tracker = RedisTracker(redis_server.url, key_prefix=prefix, max_keys=4)
    try:
        keys = [(f"/a/{i}.js", None) for i in range(4)]
        cookie = id_cookie(request(tracker, [], *keys).response_headers())
        assert request(tracker, cookie).known_urls(keys) == {url for url, _ in keys}
        state = request(tracker, cookie, ("/b/new.js", None))
        assert state.has("/a/0.js")  # what the request started with still counts for it
        state.add([("/b/other.js", None)])
        later = request(tracker, cookie)
        assert later.known_urls([*keys, ("/b/new.js", None), ("/b/other.js", None)]) == {
            "/b/new.js",
            "/b/other.js",
        }
        key = prefix + cookie[0][1].split(b"h2push_id=")[1].decode()
        assert client.scard(key) == 2
    finally:
        tracker.close()


def test_cache_digest_header_wins(tracker: RedisTracker) -> None:
    from h2push._core.digest import CacheDigest

    cookie = id_cookie(request(tracker, [], JS).response_headers())
    digest = CacheDigest.from_urls(["https://example.com/static/app.css"]).to_base64url()
    headers = [*cookie, (b"cache-digest", digest.encode() + b"; complete")]
    state = tracker.load(headers, authority="example.com")
    assert state.has(*CSS)
    assert not state.has(*JS)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, which the test may stop and start again."""
    server = RedisServer(require_program("redis-server"), tmp_path, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_outage_answers_empty_and_warns_once(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping Redis mid-test: empty answers, no exception, one warning per outage."""
    tracker = RedisTracker(own_server.url, retry_after_s=0)
    try:
        with caplog.at_level(logging.INFO, logger="h2push"):
            cookie = id_cookie(request(tracker, [], CSS).response_headers())
            assert request(tracker, cookie).has(*CSS)
            assert warnings_of(caplog) == []

            own_server.stop()
            started = time.monotonic()
            for _ in range(5):
                state = request(tracker, cookie)
                assert not state.has(*CSS)  # knows nothing
                assert state.known_urls([CSS, JS]) == frozenset()
                state.add([JS])  # never raises
                assert state.has(*JS)  # delivered by this response
                assert state.response_headers() == []  # nothing stored: no cookie
                assert request(tracker, [], CSS).response_headers() == []
            assert time.monotonic() - started < 5
            (warning,) = warnings_of(caplog)
            assert warning.getMessage().startswith("h2push: Redis failed (SMEMBERS: ")
            assert warning.exc_info is None

            own_server.start()  # back on the same port, empty (no persistence)
            state = request(tracker, cookie, JS)
            assert not state.has(*CSS)
            again = id_cookie(state.response_headers())
            assert again == cookie  # the client keeps its id
            assert request(tracker, cookie).known_urls([CSS, JS]) == {JS[0]}
            assert "h2push: Redis works again" in caplog.messages
            assert len(warnings_of(caplog)) == 1

            own_server.stop()  # a second outage: a second warning
            for _ in range(3):
                assert not request(tracker, cookie, CSS).has(*JS)
            assert len(warnings_of(caplog)) == 2
    finally:
        tracker.close()


def test_outage_skips_redis_for_retry_after_s(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = RedisTracker(own_server.url, retry_after_s=60)
    try:
        with caplog.at_level(logging.WARNING, logger="h2push"):
            cookie = id_cookie(request(tracker, [], CSS).response_headers())
            own_server.stop()
            assert not request(tracker, cookie).has(*CSS)
            own_server.start()
            # Redis is back, but the tracker waits retry_after_s before asking it again.
            state = request(tracker, cookie, JS)
            assert not state.has(*CSS)
            assert state.response_headers() == []  # SADD was not tried either
            assert len(warnings_of(caplog)) == 1
    finally:
        tracker.close()


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install h2push\[redis\]"):
        RedisTracker()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl_s": 0}, "ttl_s"),
        ({"cookie_name": "a b"}, "cookie_name"),
        ({"max_keys": 0}, "max_keys"),
        ({"socket_timeout_s": 0}, "socket_timeout_s"),
        ({"retry_after_s": -1}, "retry_after_s"),
        ({"url": "http://127.0.0.1/"}, "redis"),
    ],
)
def test_bad_settings(kwargs: dict[str, object], message: str) -> None:
    require_module("redis")
    with pytest.raises(ValueError, match=message):
        RedisTracker(**kwargs)  # type: ignore[arg-type]


def test_through_the_asgi_middleware_redis_going_away_costs_200s_and_one_warning(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The acceptance line: a real Redis stopped mid-test gives 200 responses, one warning."""
    import asyncio

    from h2push import Manifest
    from h2push.asgi import H2PushMiddleware

    async def page(scope: object, receive: object, send: object) -> None:
        assert callable(send)
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"page"})

    manifest = Manifest.from_dict({"/static/app.css": {"type": "style", "weight": 1}})
    tracker = RedisTracker(own_server.url, retry_after_s=0)
    app = H2PushMiddleware(page, manifest=manifest, tracker=tracker)

    ports = iter(range(40000, 41000))  # a connection per request

    def get(cookie: bytes | None) -> tuple[int, list[str], Headers]:
        headers = [(b"sec-fetch-mode", b"navigate"), (b"host", b"example.test")]
        if cookie:
            headers.append((b"cookie", cookie))
        scope = {
            "type": "http", "http_version": "2", "method": "GET", "path": "/", "scheme": "https",
            "headers": headers, "extensions": {"http.response.push": {}},
            "client": ("127.0.0.1", next(ports)), "server": ("127.0.0.1", 443),
        }  # fmt: skip
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        asyncio.run(app(scope, receive, send))
        start = next(m for m in sent if m["type"] == "http.response.start")
        pushes = [str(m["path"]) for m in sent if m["type"] == "http.response.push"]
        return int(start["status"]), pushes, list(start["headers"])  # type: ignore[call-overload]

    try:
        with caplog.at_level(logging.INFO, logger="h2push"):
            status, pushes, headers = get(None)
            assert (status, pushes) == (200, ["/static/app.css"])
            cookie = next(v for n, v in headers if n == b"set-cookie").split(b";")[0]
            assert get(cookie)[:2] == (200, [])  # Redis remembers: nothing pushed again

            own_server.stop()
            for _ in range(5):
                status, pushes, _ = get(cookie)
                assert status == 200
                assert pushes == ["/static/app.css"]  # knows nothing: pushes, never fails
            assert len(warnings_of(caplog)) == 1
    finally:
        tracker.close()
