"""``h2push.testing``: the server fixture, ``fetch`` and the assertion helpers themselves."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from h2push._core.manifest import Manifest
from h2push._tools.serve.server import AppLoadError
from h2push.testing import (
    Served,
    ServeFactory,
    assert_hinted,
    assert_linked,
    assert_pushed,
    fetch,
    serve,
)

pytest_plugins = ["h2push.testing"]

pytestmark = pytest.mark.peer

MANIFEST = Manifest.from_dict(
    {
        "/app.css": {"type": "style", "weight": 2},
        "/app.js": {"type": "script", "weight": 1},
        "/hero.png": {"type": "image", "nopush": True},
    }
)


async def site(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI app: a page, two files, and a 404 for /missing.css."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await asyncio.sleep(0.01)
    status = 404 if scope["path"] == "/missing.css" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"<p>" + scope["path"].encode()})


def wsgi_site(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html"), ("Link", "</w.css>; rel=preload")])
    return [b"<p>wsgi"]


def test_fetch_reports_the_103_the_pushes_and_the_response(h2push_serve: ServeFactory) -> None:
    server = h2push_serve(site, manifest=MANIFEST)

    result = server.fetch("/")

    assert result.status == 200
    assert result.header("Link") == result.link_header
    assert result.early_hint_count == 1
    assert result.early_hint_links == (
        "</app.css>; rel=preload; as=style",
        "</app.js>; rel=preload; as=script",
        "</hero.png>; rel=preload; as=image",  # nopush is for proxies: never in a 103
    )
    assert result.hinted_paths == ("/app.css", "/app.js", "/hero.png")
    assert result.pushed_paths == ("/app.css", "/app.js")
    assert result.pushed_statuses == {"/app.css": 200, "/app.js": 200}
    assert result.linked_paths == ("/app.css", "/app.js", "/hero.png")
    assert_hinted(result, ["/app.css", "/app.js", "/hero.png"], exact=True)
    assert_pushed(result, ["/app.js"])
    assert_pushed(result, ["/app.css", "/app.js"], exact=True)
    assert_linked(result, ["/hero.png"])
    # Not a navigation: the single-page manifest does not apply.
    plain = server.fetch("/", navigation=False)
    assert (plain.early_hint_count, plain.pushed_paths, plain.link_header) == (0, (), None)
    # A client that refuses push gets the hints and no push.
    refusing = fetch(server.url("/"), cacert=server.ca_file, push=False)
    assert refusing.pushed_paths == ()
    assert refusing.hinted_paths == ("/app.css", "/app.js", "/hero.png")


def test_assertion_messages_say_what_arrived(h2push_serve: ServeFactory) -> None:
    result = h2push_serve(site, manifest=MANIFEST).fetch("/")

    with pytest.raises(AssertionError, match=r"not hinted: \['/other.css'\]") as caught:
        assert_hinted(result, ["/app.css", "/other.css"])
    assert "pushed:  ['/app.css', '/app.js']" in str(caught.value)
    with pytest.raises(AssertionError, match=r"pushed but not expected: \['/app.js'\]"):
        assert_pushed(result, ["/app.css"], exact=True)
    with pytest.raises(AssertionError, match=r"not pushed: \['/hero.png'\]"):
        assert_pushed(result, ["/hero.png"])
    with pytest.raises(AssertionError, match=r"not linked: \['/x.css'\]"):
        assert_linked(result, ["/x.css"])


def test_a_failed_push_fails_assert_pushed(h2push_serve: ServeFactory) -> None:
    manifest = Manifest.from_dict({"/missing.css": {"type": "style"}})
    result = h2push_serve(site, manifest=manifest).fetch("/")

    assert result.pushed_statuses == {"/missing.css": 404}
    with pytest.raises(AssertionError, match=r"without a 2xx status: \{'/missing.css': 404\}"):
        assert_pushed(result, ["/missing.css"])


def test_a_wsgi_app_is_served_as_h2push_serve_does(h2push_serve: ServeFactory) -> None:
    result = h2push_serve(wsgi_site).fetch("/")

    assert result.status == 200
    assert_pushed(result, ["/w.css"], exact=True)  # its Link preload, as nginx would push it


def test_the_server_stops_at_the_end_of_the_block() -> None:
    with serve(site) as server:
        assert server.fetch("/").status == 200
        port = server.port
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_the_certificate_is_trusted_through_the_ca_file_only() -> None:
    with serve(site) as server:
        context = ssl.create_default_context()  # the system's CAs: not this throwaway one
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
        assert len(server.spki) == 44


def test_an_emulated_round_trip_delays_the_handshake() -> None:
    with serve(site, rtt_ms=40) as server:
        result = server.fetch("/")
    assert result.status == 200
    assert result.trace.connection.connected_ms < 40 < result.trace.connection.tls_ms


def test_serve_refuses_what_is_not_an_app() -> None:
    with pytest.raises(AppLoadError, match="neither an ASGI nor a WSGI"), serve(42):
        pass


def test_url_needs_an_absolute_path() -> None:
    served = Served(
        base_url="https://127.0.0.1:1", port=1, ca_file=Path("ca"), cert_file=Path("c"), spki=""
    )
    assert served.url() == "https://127.0.0.1:1/"
    with pytest.raises(ValueError, match="must start with /"):
        served.url("index.html")
