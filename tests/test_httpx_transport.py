"""h2push.httpx against real servers: h2push serve (pushing), bare Hypercorn, HTTP/1.1.

Every body the transport returns is compared with what plain httpx over HTTP/1.1 gets for the
same URL; the push cache's counters say how each answer came.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_servers import bare_hypercorn, cleartext_hypercorn, h2push_serve, nginx_static
from conftest import TLSFiles
from h2push.httpx import AsyncPushTransport, PushTransport

PRELOAD = {"preload": '"/items/*"'}


@pytest.fixture(scope="module")
def pushing(tls_files: TLSFiles) -> Iterator[str]:
    with h2push_serve(tls_files) as origin:
        yield origin


@pytest.fixture
def client(tls_files: TLSFiles) -> Iterator[httpx.Client]:
    with httpx.Client(transport=PushTransport(verify=str(tls_files.ca))) as client:
        yield client


def stats(client: httpx.Client) -> Any:
    transport = client._transport
    assert isinstance(transport, PushTransport)
    return transport.push_stats


def plain(origin: str, path: str, tls: TLSFiles, **headers: str) -> bytes:
    """The body plain httpx (HTTP/1.1) gets."""
    context = ssl.create_default_context(cafile=str(tls.ca))
    with httpx.Client(verify=context) as client:
        response = client.get(origin + path, headers=headers)
        response.raise_for_status()
        return response.content


def fetch_list(client: httpx.Client, origin: str, kind: str, **headers: str) -> list[str]:
    response = client.get(f"{origin}/{kind}", headers={"preload": '"/items/*"', **headers})
    response.raise_for_status()
    return list(response.json()["items"])


def requests_seen(origin: str, tls: TLSFiles) -> dict[str, dict[str, int]]:
    return dict(json.loads(plain(origin, "/requests", tls)))


# --------------------------------------------------------------------------- a pushing server


def test_pushed_items_are_served_without_a_round_trip(
    pushing: str, client: httpx.Client, tls_files: TLSFiles
) -> None:
    urls = fetch_list(client, pushing, "items")
    before = stats(client)
    bodies = {url: client.get(pushing + url) for url in urls}
    after = stats(client)
    assert after.served - before.served == 5
    assert after.requests_sent == before.requests_sent  # no item request left the client
    for url, response in bodies.items():
        assert response.status_code == 200
        assert response.http_version == "HTTP/2"
        assert response.extensions.get("h2push_pushed") is True
        assert response.content == plain(pushing, url, tls_files)
    seen = requests_seen(pushing, tls_files)
    assert all(seen["pushed"].get(url) for url in urls)


def test_async_transport_gathered(pushing: str, tls_files: TLSFiles) -> None:
    async def main() -> tuple[list[bytes], Any]:
        transport = AsyncPushTransport(verify=str(tls_files.ca))
        async with httpx.AsyncClient(transport=transport) as client:
            listing = await client.get(f"{pushing}/items", headers=PRELOAD)
            urls = listing.json()["items"]
            responses = await asyncio.gather(*(client.get(pushing + u) for u in urls))
            return [r.content for r in responses], transport.push_stats

    bodies, counted = asyncio.run(main())
    assert counted.served == 5
    assert counted.requests_sent == 1
    assert bodies == [plain(pushing, f"/items/{i}", tls_files) for i in range(5)]


def test_a_request_waits_for_a_pushed_response_still_arriving(
    pushing: str, client: httpx.Client, tls_files: TLSFiles
) -> None:
    urls = fetch_list(client, pushing, "slow")  # each item takes the app half a second
    bodies = [client.get(pushing + url).content for url in urls]
    assert stats(client).served == 5
    seen = requests_seen(pushing, tls_files)
    assert not any(url in seen["direct"] for url in urls)  # none was asked for again
    assert all(seen["pushed"][url] == 1 for url in urls)
    assert bodies == [json.dumps({"path": url, "index": i}).encode() for i, url in enumerate(urls)]


def test_a_pushed_response_is_used_once(
    pushing: str, client: httpx.Client, tls_files: TLSFiles
) -> None:
    """No stale body: the second GET of a pushed URL goes to the server."""
    fetch_list(client, pushing, "counter")
    first = client.get(f"{pushing}/counter/0").json()
    second = client.get(f"{pushing}/counter/0").json()
    assert stats(client).served >= 1
    assert second["served"] == first["served"] + 1


def test_no_store_is_refused(pushing: str, client: httpx.Client, tls_files: TLSFiles) -> None:
    urls = fetch_list(client, pushing, "nostore")
    bodies = [client.get(pushing + url).content for url in urls]
    counted = stats(client)
    assert counted.refused_no_store == 5
    assert counted.cancelled >= 5
    assert counted.served == 0
    assert bodies == [plain(pushing, url, tls_files) for url in urls]


def test_no_cache_is_not_served_from_the_cache(
    pushing: str, client: httpx.Client, tls_files: TLSFiles
) -> None:
    urls = fetch_list(client, pushing, "nocache")
    bodies = [client.get(pushing + url).content for url in urls]
    counted = stats(client)
    assert counted.refused_no_cache == 5
    assert counted.served == 0
    assert bodies == [plain(pushing, url, tls_files) for url in urls]


def test_vary_that_does_not_match_goes_to_the_server(
    pushing: str, client: httpx.Client, tls_files: TLSFiles
) -> None:
    urls = fetch_list(client, pushing, "vary", **{"accept-language": "en"})
    responses = [client.get(pushing + u, headers={"accept-language": "fr"}) for u in urls]
    counted = stats(client)
    assert counted.vary_mismatch == 5
    assert counted.served == 0
    assert [r.json()["lang"] for r in responses] == ["fr"] * 5


def test_vary_that_matches_is_served(pushing: str, client: httpx.Client) -> None:
    urls = fetch_list(client, pushing, "vary", **{"accept-language": "en"})
    responses = [client.get(pushing + u, headers={"accept-language": "en"}) for u in urls]
    assert stats(client).served == 5
    assert [r.json()["lang"] for r in responses] == ["en"] * 5


def test_an_unwanted_push_is_cancelled(pushing: str, tls_files: TLSFiles) -> None:
    transport = PushTransport(verify=str(tls_files.ca), want_push=lambda path: path != "/items/1")
    with httpx.Client(transport=transport) as client:
        urls = fetch_list(client, pushing, "items")
        bodies = [client.get(pushing + url).content for url in urls]
        counted = transport.push_stats
    assert counted.refused_unwanted == 1
    assert counted.cancelled >= 1
    assert counted.served == 4
    assert bodies == [plain(pushing, url, tls_files) for url in urls]


def test_the_cache_is_bounded_in_entries(pushing: str, tls_files: TLSFiles) -> None:
    transport = PushTransport(verify=str(tls_files.ca), max_pushed_responses=2)
    with httpx.Client(transport=transport) as client:
        urls = fetch_list(client, pushing, "items")
        bodies = [client.get(pushing + url).content for url in urls]
        counted = transport.push_stats
    assert counted.evicted == 3
    assert counted.served == 2
    assert bodies == [plain(pushing, url, tls_files) for url in urls]


def test_the_cache_is_bounded_in_bytes(pushing: str, tls_files: TLSFiles) -> None:
    limit = 3 * 1024 * 1024  # one 2 MiB item fits, two do not
    transport = PushTransport(verify=str(tls_files.ca), max_pushed_bytes=limit)
    with httpx.Client(transport=transport) as client:
        urls = fetch_list(client, pushing, "big")
        bodies = [client.get(pushing + url).content for url in urls]
        counted = transport.push_stats
    # Room comes back as pushed items are used, so more than one may be served in the end.
    assert counted.refused_too_large >= 1
    assert counted.served + counted.refused_too_large + counted.evicted == 5
    assert bodies == [plain(pushing, url, tls_files) for url in urls]


def test_preload_goes_to_the_server_as_it_is(pushing: str, client: httpx.Client) -> None:
    value = '"/a/*";x=1,   "/b~1c" , "/"'
    assert client.get(f"{pushing}/echo", headers={"preload": value}).json() == {"preload": value}


def test_large_bodies_flow(pushing: str, client: httpx.Client, tls_files: TLSFiles) -> None:
    """A body larger than the flow-control windows arrives whole, streamed or read."""
    expected = plain(pushing, "/big/3", tls_files)
    assert client.get(f"{pushing}/big/3").content == expected
    with client.stream("GET", f"{pushing}/big/3") as response:
        assert b"".join(response.iter_bytes()) == expected
    assert client.get(f"{pushing}/items/0").status_code == 200


def test_a_read_timeout_is_raised_and_the_connection_stays_usable(
    pushing: str, client: httpx.Client
) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{pushing}/sleep", timeout=httpx.Timeout(5, read=0.3))
    assert client.get(f"{pushing}/items/2").json()["index"] == 2


# --------------------------------------------------------------------------- TLS


def test_verification_refuses_an_unknown_ca(pushing: str) -> None:
    with (
        httpx.Client(transport=PushTransport(verify=True)) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"{pushing}/items/0")


@pytest.mark.parametrize("kind", ["context", "false"])
def test_verify_takes_what_httpx_takes(pushing: str, tls_files: TLSFiles, kind: str) -> None:
    verify: Any = (
        ssl.create_default_context(cafile=str(tls_files.ca)) if kind == "context" else False
    )
    with httpx.Client(transport=PushTransport(verify=verify)) as client:
        assert client.get(f"{pushing}/items/4").json()["index"] == 4


# ------------------------------------------------------------------- servers that do not push


def test_bare_hypercorn_over_http2(tls_files: TLSFiles, tmp_path: Path) -> None:
    with (
        bare_hypercorn(tls_files, tmp_path, alpn=("h2", "http/1.1")) as origin,
        httpx.Client(transport=PushTransport(verify=str(tls_files.ca))) as client,
    ):
        urls = fetch_list(client, origin, "counter")
        responses = [client.get(origin + url) for url in urls]
        counted = stats(client)
        assert all(r.http_version == "HTTP/2" for r in responses)
        assert [r.json()["served"] for r in responses] == [1] * 5
        assert counted.promised == 0
        assert counted.requests_sent == 6


def test_an_http11_server(tls_files: TLSFiles, tmp_path: Path) -> None:
    with (
        bare_hypercorn(tls_files, tmp_path, alpn=("http/1.1",)) as origin,
        httpx.Client(transport=PushTransport(verify=str(tls_files.ca))) as client,
    ):
        urls = fetch_list(client, origin, "items")
        responses = [client.get(origin + url) for url in urls]
        assert all(r.http_version == "HTTP/1.1" for r in responses)
        assert [r.content for r in responses] == [plain(origin, u, tls_files) for u in urls]
        assert stats(client).promised == 0


def test_cleartext_http11() -> None:
    with (
        cleartext_hypercorn() as origin,
        httpx.Client(transport=PushTransport()) as client,
    ):
        response = client.get(f"{origin}/items/3", headers=PRELOAD)
        assert response.http_version == "HTTP/1.1"
        assert response.json()["index"] == 3


def test_a_connection_the_server_closed_is_replaced(tls_files: TLSFiles, tmp_path: Path) -> None:
    """Hypercorn closes an idle connection (GOAWAY, then TCP); the next request reconnects."""
    with (
        bare_hypercorn(tls_files, tmp_path, alpn=("h2",), keep_alive_s=0.5) as origin,
        httpx.Client(transport=PushTransport(verify=str(tls_files.ca))) as client,
    ):
        assert client.get(f"{origin}/items/0").json()["index"] == 0
        time.sleep(1.5)
        assert client.get(f"{origin}/items/1").json()["index"] == 1
        assert client.get(f"{origin}/items/2").json()["index"] == 2


def test_no_cache_in_the_request_skips_the_push_cache(pushing: str, client: httpx.Client) -> None:
    fetch_list(client, pushing, "counter")
    pushed = client.get(f"{pushing}/counter/1", headers={"cache-control": "no-cache"}).json()
    again = client.get(f"{pushing}/counter/1").json()
    assert stats(client).served == 0
    assert again["served"] == pushed["served"] + 1


@pytest.mark.peer
@pytest.mark.parametrize("http2", [False, True], ids=["http/1.1", "h2"])
def test_nginx_without_push(tls_files: TLSFiles, tmp_path: Path, http2: bool) -> None:
    """Another server's HTTP/1.1 and HTTP/2: right answers, no pushes, nothing stale."""
    root = tmp_path / "root" / "items"
    root.mkdir(parents=True)
    (tmp_path / "root" / "items.json").write_text(
        json.dumps({"items": [f"/items/{i}" for i in range(5)]})
    )
    for i in range(5):
        (root / f"{i}.json").write_text(json.dumps({"index": i}))
    server, origin = nginx_static(tls_files, tmp_path, http2=http2)
    with server, httpx.Client(transport=PushTransport(verify=str(tls_files.ca))) as client:
        urls = fetch_list(client, origin, "items")
        responses = [client.get(origin + url) for url in urls]
        assert [r.json() for r in responses] == [{"index": i} for i in range(5)]
        assert {r.http_version for r in responses} == {"HTTP/2" if http2 else "HTTP/1.1"}
        (root / "0.json").write_text(json.dumps({"index": 0, "changed": True}))
        assert client.get(f"{origin}/items/0").json() == {"index": 0, "changed": True}
        assert stats(client).promised == 0


def test_abandoned_responses_do_not_stall_the_connection(
    pushing: str, client: httpx.Client
) -> None:
    """Unread bodies give their flow-control credit back (24 x up to 1 MiB > a 16 MiB window)."""
    for _ in range(24):
        with client.stream("GET", f"{pushing}/big/1", timeout=5) as response:
            next(response.iter_raw())
            time.sleep(0.05)  # the rest of the stream's window arrives, unread
    assert client.get(f"{pushing}/big/2", timeout=5).json()["index"] == 2


def test_threads_share_one_sync_transport(pushing: str, client: httpx.Client) -> None:
    urls = fetch_list(client, pushing, "items")
    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        indexes = list(pool.map(lambda url: client.get(pushing + url).json()["index"], urls))
    assert indexes == list(range(5))
    assert stats(client).served == 5


def test_a_connect_timeout_is_raised() -> None:
    """A server that takes the TCP connection but never answers the TLS handshake."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # never accepted: the kernel completes TCP, nobody speaks TLS
        port = listener.getsockname()[1]
        with (
            httpx.Client(transport=PushTransport(verify=False)) as client,
            pytest.raises(httpx.ConnectTimeout),
        ):
            client.get(f"https://127.0.0.1:{port}/", timeout=httpx.Timeout(5, connect=0.3))


# --------------------------------------------------------------------------- the constructors


SIGNATURE = (
    "(*, verify: 'ssl.SSLContext | str | bool' = True, cert: 'Any' = None,"
    " trust_env: 'bool' = True, max_pushed_responses: 'int' = 128,"
    " max_pushed_bytes: 'int' = 16777216, pushed_max_age_s: 'float' = 60.0,"
    " want_push: 'Callable[[str], bool] | None' = None) -> 'None'"
)


@pytest.mark.parametrize("transport", [PushTransport, AsyncPushTransport])
def test_both_transports_take_the_documented_arguments(transport: type) -> None:
    """Keyword-only, with the defaults the module documents (128 responses, 16 MiB, 60 s)."""
    assert str(inspect.signature(transport)) == SIGNATURE


@pytest.mark.parametrize("transport", [PushTransport, AsyncPushTransport])
@pytest.mark.parametrize(
    "argument", ["max_pushed_responses", "max_pushed_bytes", "pushed_max_age_s"]
)
def test_a_negative_limit_is_refused(transport: type, argument: str) -> None:
    with pytest.raises(ValueError, match=f"^{argument} -1 must not be negative$"):
        transport(**{argument: -1})
