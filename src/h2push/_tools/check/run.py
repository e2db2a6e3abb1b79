"""Load one page in Chromium and gather the facts ``h2push check`` diagnoses.

The page is loaded once in a fresh profile of the installed Chromium, with the HTTP cache on
(``Network.setCacheDisabled`` turns early hints off and is never sent). A loopback server is
reached through a :class:`~h2push._tools.serve.netem.LatencyRelay` that emulates ``rtt_ms``:
Chromium is told
to resolve the page's ``host:port`` to the relay (``--host-resolver-rules``), so the page keeps
its own origin. A self-signed or private-CA certificate is trusted the way Chromium still honours
103 Early Hints for: its SPKI is pinned (``--ignore-certificate-errors-spki-list``), after it was
verified against ``--cacert``, or accepted as is with ``--insecure``. Plain
``--ignore-certificate-errors`` would make Chromium ignore every 103 (DESIGN, facts).

Besides the browser, h2push's HTTP/2 client (:func:`h2push._tools.trace.session.trace`) loads the
page once
with push accepted, to see what the server pushes (Chromium refuses push), and fetches each
hinted resource the page never asked for, to size what the hint cost.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from h2push._core.errors import H2PushError
from h2push._core.links import parse_link_header
from h2push._tools._common import free_port
from h2push._tools.browser import BrowserError, Chromium, DevToolsEvent, PageLoad
from h2push._tools.check.model import (
    LinkFact,
    PageFacts,
    ProbeFact,
    PushFact,
    RequestFact,
    TimingFact,
)
from h2push._tools.serve.devcert import spki_sha256_base64
from h2push._tools.serve.netem import LatencyRelay
from h2push._tools.trace.models import TraceError
from h2push._tools.trace.session import tls_context, trace

DEFAULT_RTT_MS: Final = 50.0
"""The round trip emulated in front of a loopback server, in milliseconds."""

UNUSED_PRELOAD_WAIT_S: Final = 4.0
"""How long to wait after the load event, in seconds: Chromium reports a preload the page has not
used 3 s after the load event ("was preloaded using link preload but not used")."""

_NAVIGATION_HEADERS: Final = (
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-dest", "document"),
    ("sec-fetch-site", "none"),
)
_MAX_PROBES: Final = 20
_PREFLIGHT_TIMEOUT_S: Final = 10.0


class CheckError(H2PushError):
    """The page could not be loaded or the server not started: ``h2push check`` exits 2.

    The message is one line that says what failed and what to do next.
    """


# --------------------------------------------------------------------------- trust


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_spki(
    host: str, port: int, *, cacert: str | Path | None, insecure: bool, timeout_s: float = 10.0
) -> str:
    """Return the SPKI digest of the certificate ``host:port`` presents, once it is trusted.

    Args:
        host (str): The server's name or address, also sent as SNI and checked against the
            certificate unless ``insecure``.
        port (int): Its TCP port.
        cacert (str | Path | None): PEM file of the CA(s) to verify against; the system store
            when None.
        insecure (bool): Accept the certificate without verifying it.
        timeout_s (float): Limit for connect and handshake, in seconds.

    Returns:
        str: The base64 SHA-256 of the leaf's SubjectPublicKeyInfo, for Chromium's
        ``--ignore-certificate-errors-spki-list``.

    Raises:
        CheckError: The server cannot be reached, or its certificate does not verify.
    """
    try:
        context = tls_context(insecure=insecure, cacert=cacert)
    except TraceError as error:
        raise CheckError(f"--cacert: {error}") from None
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as error:
        raise CheckError(
            f"the certificate of {host}:{port} is not trusted ({error.verify_message}):"
            " trust its CA with --cacert FILE, or use --insecure"
        ) from None
    except (OSError, ssl.SSLError) as error:
        raise CheckError(f"cannot connect to {host}:{port}: {error}") from None
    if der is None:
        raise CheckError(f"{host}:{port} presented no certificate")
    return spki_sha256_base64(ssl.DER_cert_to_PEM_cert(der).encode("ascii"))


# --------------------------------------------------------------------------- facts from events


def _headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """DevTools header objects to lower-case names; repeated names joined by a line feed."""
    found: dict[str, str] = {}
    for name, value in (raw or {}).items():
        key = str(name).lower()
        found[key] = f"{found[key]}\n{value}" if key in found else str(value)
    return found


def link_facts(value: str, base: str) -> tuple[LinkFact, ...]:
    """The ``preload`` and ``modulepreload`` links of a ``Link`` field value (RFC 8288).

    Args:
        value (str): The field value; several field lines may be joined by commas or line feeds
            (Chromium joins a 103's lines with line feeds).
        base (str): The URL the targets are relative to (the page's).

    Returns:
        tuple[LinkFact, ...]: In order; other relations are left out.
    """
    facts = []
    for link in parse_link_header(value.replace("\n", ", ")):
        rel = next((r for r in ("preload", "modulepreload") if r in link.rels), None)
        if rel is None:
            continue
        crossorigin = None
        if link.has("crossorigin"):
            given = (link.get("crossorigin") or "").lower()
            crossorigin = "use-credentials" if given == "use-credentials" else "anonymous"
        facts.append(
            LinkFact(
                url=urljoin(base, link.target),
                rel=rel,
                as_=link.get("as"),
                crossorigin=crossorigin,
            )
        )
    return tuple(facts)


@dataclass
class _Request:
    """What the events of one DevTools request id said, as they arrive.

    ``fact`` takes what an event says as it is; the times (DevTools timestamps, in seconds) and
    the header fields, which a later event may say better, are kept apart until the end.
    """

    fact: RequestFact = field(default_factory=lambda: RequestFact(url=""))
    start_s: float = 0.0
    end_s: float | None = None
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None
    raw_response_headers: dict[str, str] | None = None


def _initiator_url(initiator: Mapping[str, Any]) -> str | None:
    if initiator.get("url"):
        return str(initiator["url"])
    for frame in initiator.get("stack", {}).get("callFrames", ()):
        if frame.get("url"):
            return str(frame["url"])
    return None


def facts_from_load(
    url: str,
    load: PageLoad,
    *,
    pushed: Sequence[PushFact] = (),
    server_hints: Sequence[LinkFact] = (),
    notes: Sequence[str] = (),
) -> PageFacts:
    """Build the :class:`PageFacts` of one Chromium page load (``Network`` domain events on).

    Args:
        url (str): The URL asked for.
        load (PageLoad): What :meth:`Chromium.load` returned with ``network_domain=True``.
        pushed (Sequence[PushFact]): What the server pushed to h2push's client.
        server_hints (Sequence[LinkFact]): The preloads of the first 103 h2push's client got.
        notes (Sequence[str]): What could not be observed.

    Returns:
        PageFacts: Without probes (see :func:`collect`).

    Raises:
        CheckError: The events hold no document request (the page did not load).
    """
    requests: dict[str, _Request] = {}
    document_id: str | None = None
    early_hints: Mapping[str, Any] | None = None
    for event in load.network_events:
        params = event.params
        request_id = str(params.get("requestId", ""))
        entry = requests.setdefault(request_id, _Request())
        _apply(event, entry)
        if event.method == "Network.requestWillBeSent" and params.get("type") == "Document":
            if document_id is None and params.get("loaderId") == request_id:
                document_id = request_id
        elif event.method == "Network.responseReceivedEarlyHints" and early_hints is None:
            early_hints = params.get("headers", {})
    if document_id is None or document_id not in requests:
        raise CheckError(f"{url}: Chromium reported no request for the page")
    document = requests.pop(document_id)
    base = document.fact.url or url
    t0 = document.start_s

    def ms(seconds: float) -> float:
        return max(seconds - t0, 0.0) * 1000.0

    hints = link_facts(_headers(early_hints).get("link", ""), base) if early_hints else ()
    response = document.raw_response_headers or document.response_headers or {}
    linked = link_facts(response.get("link", ""), base)
    subresources = [
        replace(
            entry.fact,
            start_ms=ms(entry.start_s),
            request_headers=entry.request_headers or {},
            response_headers=entry.response_headers or entry.raw_response_headers or {},
        )
        for entry in requests.values()
        if entry.fact.url and not entry.fact.url.startswith(("data:", "blob:"))
    ]
    navigation = load.navigation
    return PageFacts(
        url=base,
        status=document.fact.status or navigation.response_status,
        request_headers=document.request_headers or {},
        response_headers=response,
        hints=hints,
        linked=linked,
        pushed=tuple(pushed),
        server_hints=tuple(server_hints),
        protocol=navigation.next_hop_protocol,
        requests=tuple(subresources),
        timings=tuple(
            TimingFact(
                url=timing.name,
                initiator_type=timing.initiator_type,
                start_ms=timing.start_time_ms,
                response_end_ms=timing.response_end_ms,
                transfer_size=timing.transfer_size,
                encoded_body_size=timing.encoded_body_size,
            )
            for timing in load.resources
        ),
        warnings=load.console_warnings,
        html_end_ms=ms(document.end_s) if document.end_s else navigation.response_end_ms,
        load_end_ms=navigation.load_event_end_ms,
        notes=tuple(notes),
    )


def _apply(event: DevToolsEvent, entry: _Request) -> None:
    """Record what one ``Network`` event says about its request."""
    params = event.params
    if event.method == "Network.requestWillBeSent":
        request = params.get("request", {})
        if entry.fact.url:  # a redirect reuses the request id: keep the first hop's initiator
            entry.fact = replace(entry.fact, url=str(request["url"]))
            return
        initiator = params.get("initiator", {})
        entry.fact = replace(
            entry.fact,
            url=str(request.get("url", "")),
            resource_type=str(params.get("type", "")),
            initiator_type=str(initiator.get("type", "other")),
            initiator_url=_initiator_url(initiator),
            link_preload=bool(request.get("isLinkPreload")),
        )
        entry.start_s = float(params.get("timestamp", 0.0))
        if entry.request_headers is None:
            entry.request_headers = _headers(request.get("headers"))
    elif event.method == "Network.requestWillBeSentExtraInfo":
        entry.request_headers = _headers(params.get("headers"))  # as sent, cookies included
    elif event.method == "Network.responseReceived":
        response = params.get("response", {})
        entry.response_headers = _headers(response.get("headers"))
        entry.fact = replace(
            entry.fact,
            status=int(response.get("status", 0)) or None,
            from_early_hints=bool(response.get("fromEarlyHints")),
            from_cache=entry.fact.from_cache
            or bool(response.get("fromDiskCache") or response.get("fromPrefetchCache")),
        )
    elif event.method == "Network.responseReceivedExtraInfo":
        entry.raw_response_headers = _headers(params.get("headers"))
    elif event.method == "Network.requestServedFromCache":
        entry.fact = replace(entry.fact, from_cache=True)
    elif event.method == "Network.loadingFinished":
        entry.fact = replace(entry.fact, encoded_bytes=int(params.get("encodedDataLength", 0)))
        entry.end_s = float(params.get("timestamp", 0.0))
    elif event.method == "Network.loadingFailed":
        entry.fact = replace(entry.fact, failure=str(params.get("errorText", "failed")))
        entry.end_s = float(params.get("timestamp", 0.0))


# --------------------------------------------------------------------------- the run


def _pushes(
    url: str, *, cacert: str | Path | None, insecure: bool
) -> tuple[list[PushFact], list[str], tuple[LinkFact, ...]]:
    """Load the page once with h2push's HTTP/2 client, push accepted.

    Returns:
        What was pushed, notes on what could not be observed, and the preloads of the first
        103 the client received.
    """
    try:
        result = trace(
            url,
            insecure=insecure,
            cacert=cacert,
            enable_push=True,
            headers=_NAVIGATION_HEADERS,
            timeout_s=_PREFLIGHT_TIMEOUT_S,
        )
    except (TraceError, ValueError) as error:
        note = f"pushes not observed: h2push's HTTP/2 client could not load the page ({error})"
        return [], [note], ()
    return (
        [
            PushFact(
                url=urljoin(url, pushed.path),
                status=pushed.status,
                headers=dict(pushed.headers),
                body_bytes=pushed.body_bytes,
            )
            for pushed in result.pushes
        ],
        [],
        link_facts(", ".join(result.early_hints[0].links), url) if result.early_hints else (),
    )


def _probe(url: str, as_: str | None, *, cacert: str | Path | None, insecure: bool) -> ProbeFact:
    """GET one hinted resource as a subresource request (no navigation: no 103, no push)."""
    headers = [
        ("accept", "*/*"),
        ("sec-fetch-mode", "cors" if as_ == "font" else "no-cors"),
        ("sec-fetch-dest", as_ or "empty"),
    ]
    try:
        result = trace(
            url,
            insecure=insecure,
            cacert=cacert,
            enable_push=False,
            headers=headers,
            timeout_s=_PREFLIGHT_TIMEOUT_S,
        )
    except (TraceError, ValueError):
        return ProbeFact(url=url, status=None)
    main = result.main
    return ProbeFact(
        url=url,
        status=main.status,
        headers={name: value for name, value in main.headers if not name.startswith(":")},
        body_bytes=main.body_bytes,
    )


def collect(
    url: str,
    *,
    rtt_ms: float = DEFAULT_RTT_MS,
    cacert: str | Path | None = None,
    insecure: bool = False,
    spki: Sequence[str] = (),
    timeout_s: float = 30.0,
    wait_s: float = UNUSED_PRELOAD_WAIT_S,
    executable: str | None = None,
) -> PageFacts:
    """Load ``url`` once in a fresh Chromium profile and return what it showed.

    Args:
        url (str): An ``https://`` URL (browsers use 103 Early Hints over HTTP/2 and HTTP/3 only).
        rtt_ms (float): The round trip to emulate in front of a loopback server, in ms; 0 for
            none. A server elsewhere is reached over the real network and this is ignored.
        cacert (str | Path | None): PEM file of the CA(s) that issued the server's certificate.
        insecure (bool): Trust the server's certificate without verifying it.
        spki (Sequence[str]): SPKI digests to trust without looking at the server (the
            certificate of a server :func:`served_app` started).
        timeout_s (float): Limit for the page's load event, in seconds.
        wait_s (float): Time to wait after the load event for Chromium's report of preloads the
            page did not use, in seconds (it comes 3 s after the load event).
        executable (str | None): The Chromium program; found on PATH when None.

    Returns:
        PageFacts: The facts of the load, probes of unused hints included.

    Raises:
        CheckError: The URL is not ``https``, the certificate is not trusted, Chromium is
            missing, or the page could not be loaded.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise CheckError(
            f"{url!r}: give an https:// URL (browsers use 103 Early Hints over HTTP/2 only)"
        )
    host, port = parts.hostname, parts.port or 443
    pins = list(spki)
    if not pins:  # verified here first, so that an untrusted certificate is a clear error
        pins.append(server_spki(host, port, cacert=cacert, insecure=insecure))
    trusted_insecure = insecure or bool(spki)
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        extra_args = []
        if rtt_ms > 0 and _is_loopback(host):
            relay = LatencyRelay(port, rtt_ms=rtt_ms, upstream_host=_resolve_loopback(host))
            stack.enter_context(relay)
            authority = f"[{host}]" if ":" in host else host
            extra_args.append(
                f"--host-resolver-rules=MAP {authority}:{port} 127.0.0.1:{relay.port}"
            )
        elif rtt_ms > 0:
            notes.append(
                f"{host} is not on this machine: its real round trip applies, not --rtt-ms"
            )
        pushed, trace_notes, server_hints = _pushes(url, cacert=cacert, insecure=trusted_insecure)
        notes += trace_notes
        try:
            browser = stack.enter_context(
                Chromium(
                    spki=pins,
                    executable=executable,
                    extra_args=extra_args,
                    network_domain=True,
                )
            )
            load = browser.load(url, timeout_s=timeout_s, settle_s=wait_s)
        except BrowserError as error:
            raise CheckError(f"Chromium could not load {url}: {error}") from None
    facts = facts_from_load(url, load, pushed=pushed, server_hints=server_hints, notes=notes)
    return _with_probes(facts, cacert=cacert, insecure=trusted_insecure)


def _resolve_loopback(host: str) -> str:
    return "127.0.0.1" if host.lower() == "localhost" else host


def _with_probes(facts: PageFacts, *, cacert: str | Path | None, insecure: bool) -> PageFacts:
    """Add a direct GET of each same-origin hint or preload the page never asked for."""
    requested = {request.url for request in facts.requests}
    pushed = {push.url for push in facts.pushed}
    origin = urlsplit(facts.url)[:2]
    wanted: dict[str, str | None] = {}
    for link in (*facts.hints, *facts.linked):
        if link.url in requested or link.url in pushed or urlsplit(link.url)[:2] != origin:
            continue
        wanted.setdefault(link.url, link.as_)
    probes = tuple(
        _probe(url, as_, cacert=cacert, insecure=insecure)
        for url, as_ in list(wanted.items())[:_MAX_PROBES]
    )
    if not probes:
        return facts
    return replace(facts, probes=probes)


# --------------------------------------------------------------------------- --app


@dataclass(frozen=True)
class ServedApp:
    """An app ``h2push serve`` is serving for a check.

    Attributes:
        url (str): Its base URL, ``https://127.0.0.1:PORT``.
        spki (str): The SPKI digest of the certificate it serves (the development certificate).
    """

    url: str
    spki: str


@contextlib.contextmanager
def served_app(
    spec: str,
    *,
    manifest: str | Path | None = None,
    serve_args: Sequence[str] = (),
    timeout_s: float = 30.0,
) -> Iterator[ServedApp]:
    """Serve ``spec`` with ``h2push serve`` on a free loopback port until the block ends.

    The server runs as ``python -m h2push serve SPEC`` in the current directory, so ``SPEC``
    means what it means to ``h2push serve`` (``module:app``, an app factory call). No round
    trip is emulated by the server itself: :func:`collect` puts its relay in front.

    Args:
        spec (str): The application, as ``h2push serve`` takes it.
        manifest (str | Path | None): A ``push_manifest.json`` for ``--manifest``.
        serve_args (Sequence[str]): More ``h2push serve`` options.
        timeout_s (float): Limit for the server to start listening, in seconds.

    Yields:
        ServedApp: Its base URL and the SPKI of its certificate.

    Raises:
        CheckError: The server exited or did not listen in time; the message ends with its
            output.
    """
    port = free_port()
    command = [sys.executable, "-m", "h2push", "serve", spec, "--bind", f"127.0.0.1:{port}"]
    command += ["--rtt-ms", "0", *(["--manifest", str(manifest)] if manifest else []), *serve_args]
    directory = Path(tempfile.mkdtemp(prefix="h2push-check-"))
    log = directory / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        spki = _wait_for_server(process, port, log, timeout_s)
        yield ServedApp(url=f"https://127.0.0.1:{port}", spki=spki)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        with contextlib.suppress(OSError):
            log.unlink()
            directory.rmdir()


def _wait_for_server(
    process: subprocess.Popen[bytes], port: int, log: Path, timeout_s: float
) -> str:
    """The SPKI ``h2push serve`` printed, once its port accepts connections."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = log.read_text(errors="replace")
        if process.poll() is not None:
            tail = " | ".join(text.strip().splitlines()[-5:])
            raise CheckError(f"h2push serve exited with status {process.returncode}: {tail}")
        spki = next(
            (
                line.split(":", 1)[1].strip()
                for line in text.splitlines()
                if line.strip().startswith("SPKI:")
            ),
            None,
        )
        if spki:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.5),
            ):
                return spki
        if time.monotonic() >= deadline:
            raise CheckError(
                f"h2push serve did not listen on 127.0.0.1:{port} within {timeout_s:g} s"
            )
        time.sleep(0.1)
