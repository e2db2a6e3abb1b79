"""An HTTP/2 client that records a frame-level trace of one page load (``h2push trace``).

:func:`trace` opens one TLS connection (ALPN ``h2``, RFC 9113 §3.2), sends one request, and
records every HTTP/2 frame sent and received, in order, with its time in milliseconds since the
TCP connect started. It waits until the main response and every pushed response (RFC 9113 §8.4)
have ended or been reset, then sends GOAWAY and closes. The result is a :class:`Trace`: the
ordered frames, the main :class:`Response`, each ``103 Early Hints`` response (RFC 8297) and each
:class:`Pushed` resource.

Framing and HPACK are done by ``h2``. Received bytes are cut into whole frames before they are
handed to ``h2``, so the events of each call belong to exactly one frame: a frame's wire fields
(length, flags, settings, error codes) are read from the frame itself, and its meaning (decoded
headers, the promised request) from ``h2``'s events.

The command :data:`trace_command` prints the trace in the manner of ``nghttp -nv`` followed by a
summary, or everything as one JSON document with ``--json``; ``--waterfall FILE.svg`` also draws
it (:mod:`h2push._tools.bench.waterfall`). ``--cookie-jar FILE`` sends the cookies a
:class:`CookieJarFile`
holds for the URL and keeps the ``Set-Cookie`` values of the main response, so that a second
trace is a repeat visit.
"""

from __future__ import annotations

import contextlib
import email.message
import http.cookiejar
import json
import os
import socket
import ssl
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import click
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import (
    Frame as WireFrame,
)
from hyperframe.frame import (
    GoAwayFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from h2push._core.errors import H2PushError
from h2push._core.links import parse_link_header
from h2push._tools.bench.waterfall import from_trace, render_svg
from h2push._tools.check.diagnose import cache_problems

Direction = Literal["send", "recv"]
Headers = tuple[tuple[str, str], ...]

#: Every HTTP/2 frame starts with a 9-octet header (RFC 9113 §4.1).
FRAME_HEADER_LEN = 9
#: The client connection preface (RFC 9113 §3.4); it is not a frame.
CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: What a browser navigation accepts; servers send ``103`` to navigations only.
DEFAULT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
USER_AGENT = "h2push-trace"

#: Frame type names (RFC 9113 §6, RFC 7838 ALTSVC, RFC 8336 ORIGIN, RFC 9218 PRIORITY_UPDATE).
FRAME_TYPES = {
    0x0: "DATA",
    0x1: "HEADERS",
    0x2: "PRIORITY",
    0x3: "RST_STREAM",
    0x4: "SETTINGS",
    0x5: "PUSH_PROMISE",
    0x6: "PING",
    0x7: "GOAWAY",
    0x8: "WINDOW_UPDATE",
    0x9: "CONTINUATION",
    0xA: "ALTSVC",
    0xC: "ORIGIN",
    0x10: "PRIORITY_UPDATE",
}
#: Error code names (RFC 9113 §7).
ERROR_CODES = {
    0x0: "NO_ERROR",
    0x1: "PROTOCOL_ERROR",
    0x2: "INTERNAL_ERROR",
    0x3: "FLOW_CONTROL_ERROR",
    0x4: "SETTINGS_TIMEOUT",
    0x5: "STREAM_CLOSED",
    0x6: "FRAME_SIZE_ERROR",
    0x7: "REFUSED_STREAM",
    0x8: "CANCEL",
    0x9: "COMPRESSION_ERROR",
    0xA: "CONNECT_ERROR",
    0xB: "ENHANCE_YOUR_CALM",
    0xC: "INADEQUATE_SECURITY",
    0xD: "HTTP_1_1_REQUIRED",
}
#: Setting names (RFC 9113 §6.5.2, RFC 8441, RFC 9218).
SETTING_NAMES = {
    0x1: "SETTINGS_HEADER_TABLE_SIZE",
    0x2: "SETTINGS_ENABLE_PUSH",
    0x3: "SETTINGS_MAX_CONCURRENT_STREAMS",
    0x4: "SETTINGS_INITIAL_WINDOW_SIZE",
    0x5: "SETTINGS_MAX_FRAME_SIZE",
    0x6: "SETTINGS_MAX_HEADER_LIST_SIZE",
    0x8: "SETTINGS_ENABLE_CONNECT_PROTOCOL",
    0x9: "SETTINGS_NO_RFC7540_PRIORITIES",
}
#: Request fields that HTTP/2 forbids (RFC 9113 §8.2.2); ``te`` is allowed only as ``trailers``.
CONNECTION_SPECIFIC = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)

ErrorKind = Literal["connect", "tls", "certificate", "alpn", "protocol", "timeout", "closed"]


class TraceError(H2PushError):
    """The trace could not be completed: the message is one line and says why.

    Attributes:
        kind: What failed: ``"connect"`` (refused, unreachable, unresolvable), ``"tls"``
            (handshake), ``"certificate"`` (verification), ``"alpn"`` (server did not select
            ``h2``), ``"protocol"`` (HTTP/2 protocol error or GOAWAY with an error, RFC 9113 §5.4),
            ``"timeout"`` or ``"closed"`` (the server closed the connection early).
        frames: The frames recorded before the failure, in order (possibly empty).
    """

    def __init__(self, message: str, *, kind: ErrorKind, frames: Sequence[Frame] = ()) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.frames: tuple[Frame, ...] = tuple(frames)


@dataclass(frozen=True, kw_only=True)
class Frame:
    """One HTTP/2 frame as it crossed the connection (RFC 9113 §4.1, §6).

    Attributes:
        t_ms: Milliseconds since the TCP connect started, when the frame was read from or
            written to the socket. Frames read by one ``recv`` share a time.
        direction: ``"recv"`` (from the server) or ``"send"`` (from this client).
        type: Frame type name, e.g. ``"HEADERS"``; an unknown type is ``"UNKNOWN_0xNN"``.
        stream_id: Stream identifier; 0 for connection frames.
        length: Payload length in octets, as in the frame header (includes any padding).
        flags: The flags octet.
        flag_names: Names of the set flags, e.g. ``("END_STREAM", "END_HEADERS")``.
        end_stream: True when the frame carries END_STREAM (DATA, HEADERS).
        status: ``:status`` of a received HEADERS frame (1xx, final or ``None`` for trailers).
        headers: Decoded header fields of a HEADERS or PUSH_PROMISE frame; the request fields
            for the sent HEADERS frame. Attached to the frame that started the header block
            when the block continues in CONTINUATION frames.
        path: ``:path`` of a PUSH_PROMISE or of the sent request.
        promised_stream_id: The stream a PUSH_PROMISE reserves (RFC 9113 §6.6).
        error_code: Error code of RST_STREAM or GOAWAY (RFC 9113 §7).
        error_name: Name of ``error_code``, e.g. ``"CANCEL"``.
        last_stream_id: Last stream id of a GOAWAY.
        debug_data: Additional debug data of a GOAWAY, decoded as UTF-8.
        settings: ``(name, value)`` pairs of a SETTINGS frame, in wire order.
        ack: ACK flag of SETTINGS and PING.
        increment: Window size increment of WINDOW_UPDATE, in octets.
        opaque_data: Opaque data of PING, hex.
    """

    t_ms: float
    direction: Direction
    type: str
    stream_id: int
    length: int
    flags: int
    flag_names: tuple[str, ...] = ()
    end_stream: bool = False
    status: int | None = None
    headers: Headers | None = None
    path: str | None = None
    promised_stream_id: int | None = None
    error_code: int | None = None
    error_name: str | None = None
    last_stream_id: int | None = None
    debug_data: str | None = None
    settings: tuple[tuple[str, int], ...] | None = None
    ack: bool | None = None
    increment: int | None = None
    opaque_data: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; type-specific fields appear only when they apply."""
        out: dict[str, Any] = {
            "t_ms": round(self.t_ms, 3),
            "direction": self.direction,
            "type": self.type,
            "stream_id": self.stream_id,
            "length": self.length,
            "flags": self.flags,
            "flag_names": list(self.flag_names),
            "end_stream": self.end_stream,
        }
        optional: dict[str, Any] = {
            "status": self.status,
            "headers": _pairs(self.headers) if self.headers is not None else None,
            "path": self.path,
            "promised_stream_id": self.promised_stream_id,
            "error_code": self.error_code,
            "error_name": self.error_name,
            "last_stream_id": self.last_stream_id,
            "debug_data": self.debug_data,
            "settings": dict(self.settings) if self.settings is not None else None,
            "ack": self.ack,
            "increment": self.increment,
            "opaque_data": self.opaque_data,
        }
        out.update((key, value) for key, value in optional.items() if value is not None)
        return out


@dataclass(frozen=True, kw_only=True)
class EarlyHint:
    """A ``103 Early Hints`` response on the main stream (RFC 8297).

    Attributes:
        t_ms: Milliseconds since the TCP connect started, when it arrived.
        links: The Link values it carries, one per link (a field holding several
            comma-separated links is split), e.g. ``("</style.css>; rel=preload; as=style",)``.
        headers: All its header fields, ``:status`` included.
    """

    t_ms: float
    links: tuple[str, ...]
    headers: Headers

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "t_ms": round(self.t_ms, 3),
            "links": list(self.links),
            "headers": _pairs(self.headers),
        }


@dataclass(frozen=True, kw_only=True)
class Response:
    """The final response on one stream.

    Attributes:
        stream_id: The stream it arrived on.
        status: Final ``:status``, or ``None`` when no final HEADERS arrived.
        headers: Final response header fields (``:status`` included); empty when none arrived.
        body_bytes: Octets of DATA payload received, padding excluded (``"bytes"`` in JSON).
        headers_ms: Milliseconds since connect when the final HEADERS arrived, or ``None``.
        completed_ms: Milliseconds since connect when the stream ended (END_STREAM), or ``None``
            when it was reset or had not ended when the trace stopped.
        reset: Error name of a RST_STREAM that closed the stream (e.g. ``"CANCEL"``), else ``None``.
    """

    stream_id: int
    status: int | None
    headers: Headers
    body_bytes: int
    headers_ms: float | None
    completed_ms: float | None
    reset: str | None

    @property
    def ok(self) -> bool:
        """True when the stream ended normally with a 2xx status."""
        return (
            self.status is not None and 200 <= self.status < 300 and self.completed_ms is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``body_bytes`` is written as ``bytes``)."""
        return {
            "stream_id": self.stream_id,
            "status": self.status,
            "headers": _pairs(self.headers),
            "bytes": self.body_bytes,
            "headers_ms": _round(self.headers_ms),
            "completed_ms": _round(self.completed_ms),
            "reset": self.reset,
        }


@dataclass(frozen=True, kw_only=True)
class Pushed(Response):
    """A pushed response (RFC 9113 §8.4): its promise and how it ended.

    Attributes:
        parent_stream_id: The stream the PUSH_PROMISE arrived on.
        path: ``:path`` of the promised request.
        request_headers: All header fields of the promised request.
        promised_ms: Milliseconds since connect when the PUSH_PROMISE arrived.
    """

    parent_stream_id: int
    path: str
    request_headers: Headers
    promised_ms: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``body_bytes`` is written as ``bytes``)."""
        return {
            "stream_id": self.stream_id,
            "parent_stream_id": self.parent_stream_id,
            "path": self.path,
            "request_headers": _pairs(self.request_headers),
            "promised_ms": round(self.promised_ms, 3),
            **{key: value for key, value in super().to_dict().items() if key != "stream_id"},
        }


@dataclass(frozen=True, kw_only=True)
class TLSInfo:
    """The connection: peer, timings and what TLS negotiated.

    Attributes:
        peer: ``host:port`` connected to.
        connected_ms: Milliseconds from the start of the TCP connect until it completed.
        tls_ms: Milliseconds from the start of the TCP connect until the TLS handshake completed.
        tls_version: E.g. ``"TLSv1.3"``.
        cipher: Cipher suite name.
        alpn: The ALPN protocol selected by the server (always ``"h2"`` in a :class:`Trace`).
    """

    peer: str
    connected_ms: float
    tls_ms: float
    tls_version: str
    cipher: str
    alpn: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "peer": self.peer,
            "connected_ms": round(self.connected_ms, 3),
            "tls_ms": round(self.tls_ms, 3),
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "alpn": self.alpn,
        }


@dataclass(frozen=True, kw_only=True)
class Trace:
    """Everything one traced page load showed.

    Attributes:
        url: The URL requested.
        enable_push: The SETTINGS_ENABLE_PUSH value sent (RFC 9113 §6.5.2).
        connection: Peer, timings and TLS parameters.
        request_headers: The request's header fields, pseudo-headers first.
        frames: Every frame sent and received, in order.
        main: The response to the request (stream 1).
        early_hints: Each 103 response on the main stream, in order (RFC 8297).
        pushes: Each promised resource, in promise order.
    """

    url: str
    enable_push: bool
    connection: TLSInfo
    request_headers: Headers
    frames: tuple[Frame, ...]
    main: Response
    early_hints: tuple[EarlyHint, ...]
    pushes: tuple[Pushed, ...]

    @property
    def ok(self) -> bool:
        """True when the main response ended normally with a 2xx status."""
        return self.main.ok

    def to_dict(self) -> dict[str, Any]:
        """Return the whole trace as a JSON-ready dict."""
        return {
            "url": self.url,
            "enable_push": self.enable_push,
            "connection": self.connection.to_dict(),
            "request": {"headers": _pairs(self.request_headers)},
            "frames": [frame.to_dict() for frame in self.frames],
            "main": self.main.to_dict(),
            "early_hints": [hint.to_dict() for hint in self.early_hints],
            "pushes": [pushed.to_dict() for pushed in self.pushes],
        }


# --------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    authority: str
    path: str


def _parse_url(url: str) -> _Target:
    """Split an ``https://`` URL into what the connection and the request need.

    Raises:
        ValueError: The URL is not ``https://host[:port][/path][?query]``.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        message = f"only https:// URLs are supported (HTTP/2 over TLS), got {url!r}"
        raise ValueError(message)
    try:
        port = parts.port or 443
    except ValueError as exc:
        message = f"invalid port in {url!r}"
        raise ValueError(message) from exc
    if not parts.hostname:
        message = f"no host in {url!r}"
        raise ValueError(message)
    authority = parts.netloc.rpartition("@")[2]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(host=parts.hostname, port=port, authority=authority, path=path)


def parse_header_line(line: str) -> tuple[str, str]:
    """Parse a ``-H`` argument, ``"Name: value"``, into ``(name, value)``.

    A leading colon belongs to the name (``":method: HEAD"``). Surrounding whitespace is removed.

    Raises:
        ValueError: No colon separates a non-empty name from the value.
    """
    start = 1 if line.startswith(":") else 0
    name, sep, value = line[start:].partition(":")
    name = line[:start] + name.strip()
    if not sep or len(name) == start:
        message = f"expected 'Name: value', got {line!r}"
        raise ValueError(message)
    return name, value.strip()


def _request_headers(target: _Target, extra: Iterable[tuple[str, str]]) -> Headers:
    """Build the request's header fields: defaults, then ``extra``.

    Names are lowercased (RFC 9113 §8.2.1). An extra field whose name matches a default
    (``:method``, ``:path``, ``:authority``, ``:scheme``, ``accept``, ``user-agent``) replaces it;
    ``host`` sets ``:authority``; any other extra field is added, repeats included (``cookie``).

    Raises:
        ValueError: A name or value contains CR, LF or NUL, a name is empty, an unknown
            pseudo-header is given, or a connection-specific field is given (RFC 9113 §8.2.2).
    """
    defaults = {
        ":method": "GET",
        ":scheme": "https",
        ":authority": target.authority,
        ":path": target.path,
        "accept": DEFAULT_ACCEPT,
        "user-agent": USER_AGENT,
    }
    added: list[tuple[str, str]] = []
    for raw_name, raw_value in extra:
        name = raw_name.strip().lower()
        value = raw_value.strip()
        if not name or any(char in name + value for char in "\r\n\0"):
            message = f"invalid request header {raw_name!r}: {value!r}"
            raise ValueError(message)
        if name == "host":
            name = ":authority"
        if name in CONNECTION_SPECIFIC or (name == "te" and value.lower() != "trailers"):
            message = f"{name!r} is a connection-specific header, not allowed in HTTP/2"
            raise ValueError(message)
        if name in defaults:
            defaults[name] = value
        elif name.startswith(":"):
            message = f"unknown pseudo-header {name!r}"
            raise ValueError(message)
        else:
            added.append((name, value))
    return (*defaults.items(), *added)


# --------------------------------------------------------------------------- connection


def _connect(target: _Target, deadline: float) -> socket.socket:
    """Open the TCP connection.

    Raises:
        TraceError: ``connect`` or ``timeout``.
    """
    peer = f"{target.host}:{target.port}"
    try:
        return socket.create_connection((target.host, target.port), timeout=_remaining(deadline))
    except TimeoutError as exc:
        message = f"timed out connecting to {peer}"
        raise TraceError(message, kind="timeout") from exc
    except ConnectionRefusedError as exc:
        message = f"connection to {peer} refused"
        raise TraceError(message, kind="connect") from exc
    except socket.gaierror as exc:
        message = f"cannot resolve {target.host!r}: {exc.strerror}"
        raise TraceError(message, kind="connect") from exc
    except OSError as exc:
        message = f"cannot connect to {peer}: {exc.strerror or exc}"
        raise TraceError(message, kind="connect") from exc


def _tls_context(*, insecure: bool, cacert: str | Path | None) -> ssl.SSLContext:
    """Return a client context offering ALPN ``h2`` then ``http/1.1`` (RFC 9113 §3.2, §9.2).

    Raises:
        TraceError: ``tls``: ``cacert`` cannot be loaded.
    """
    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            context = ssl.create_default_context(cafile=str(cacert) if cacert is not None else None)
        except (OSError, ssl.SSLError) as exc:
            message = f"cannot load CA certificates from {cacert}: {exc}"
            raise TraceError(message, kind="tls") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # http/1.1 is offered too so that an HTTP/1.1-only server says so instead of failing the
    # handshake, and the error can name what it chose.
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def _handshake(
    raw: socket.socket, target: _Target, context: ssl.SSLContext, deadline: float
) -> ssl.SSLSocket:
    """Run the TLS handshake on ``raw`` and check that ALPN selected ``h2``.

    Raises:
        TraceError: ``certificate``, ``tls``, ``alpn``, ``timeout`` or ``closed``.
    """
    peer = f"{target.host}:{target.port}"
    try:
        raw.settimeout(_remaining(deadline))
        tls = context.wrap_socket(raw, server_hostname=target.host)
    except ssl.SSLCertVerificationError as exc:
        message = f"TLS certificate verification failed for {peer}: {exc.verify_message}"
        raise TraceError(message, kind="certificate") from exc
    except ssl.SSLError as exc:
        message = f"TLS handshake with {peer} failed: {exc.reason or exc}"
        raise TraceError(message, kind="tls") from exc
    except TimeoutError as exc:
        message = f"timed out in the TLS handshake with {peer}"
        raise TraceError(message, kind="timeout") from exc
    except OSError as exc:
        message = f"connection to {peer} lost in the TLS handshake: {exc.strerror or exc}"
        raise TraceError(message, kind="closed") from exc
    finally:
        raw.close()  # wrap_socket took over the descriptor, or failed
    protocol = tls.selected_alpn_protocol()
    if protocol != "h2":
        tls.close()
        got = f"got {protocol!r}" if protocol else "server selected no protocol"
        message = f"server did not negotiate h2 via ALPN ({got})"
        raise TraceError(message, kind="alpn")
    return tls


def _remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (a ``time.perf_counter`` value), at least 1 ms."""
    return max(deadline - time.perf_counter(), 0.001)


# --------------------------------------------------------------------------- the session


@dataclass
class _Stream:
    """Mutable state of one response while the trace runs."""

    stream_id: int
    status: int | None = None
    headers: Headers = ()
    body_bytes: int = 0
    headers_ms: float | None = None
    completed_ms: float | None = None
    reset: str | None = None
    parent_stream_id: int = 0
    path: str = ""
    request_headers: Headers = ()
    promised_ms: float = 0.0

    @property
    def closed(self) -> bool:
        return self.completed_ms is not None or self.reset is not None

    def response(self) -> Response:
        return Response(
            stream_id=self.stream_id,
            status=self.status,
            headers=self.headers,
            body_bytes=self.body_bytes,
            headers_ms=self.headers_ms,
            completed_ms=self.completed_ms,
            reset=self.reset,
        )

    def pushed(self) -> Pushed:
        return Pushed(
            stream_id=self.stream_id,
            status=self.status,
            headers=self.headers,
            body_bytes=self.body_bytes,
            headers_ms=self.headers_ms,
            completed_ms=self.completed_ms,
            reset=self.reset,
            parent_stream_id=self.parent_stream_id,
            path=self.path,
            request_headers=self.request_headers,
            promised_ms=self.promised_ms,
        )


@dataclass
class _Session:
    """One connection's state: the h2 machine, the socket and what has been recorded."""

    sock: ssl.SSLSocket
    t0: float
    deadline: float
    request_headers: Headers
    enable_push: bool
    conn: h2.connection.H2Connection = field(init=False)
    frames: list[Frame] = field(default_factory=list)
    main: _Stream = field(default_factory=lambda: _Stream(stream_id=1))
    pushes: dict[int, _Stream] = field(default_factory=dict)
    early_hints: list[EarlyHint] = field(default_factory=list)
    goaway: Frame | None = None
    eof: bool = False
    _inbound: bytearray = field(default_factory=bytearray)
    _outbound_preface: bool = True
    _open_block: int | None = None

    def __post_init__(self) -> None:
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.conn = h2.connection.H2Connection(config=config)
        # Replace the initial settings (not update them) so the one SETTINGS frame of the
        # preface carries ENABLE_PUSH (RFC 9113 §3.4, §6.5.2).
        codes = h2.settings.SettingCodes
        self.conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                codes.MAX_CONCURRENT_STREAMS: 100,
                codes.MAX_HEADER_LIST_SIZE: self.conn.DEFAULT_MAX_HEADER_LIST_SIZE,
                codes.ENABLE_PUSH: int(self.enable_push),
            },
        )

    def now_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    def error(self, message: str, kind: ErrorKind) -> TraceError:
        return TraceError(message, kind=kind, frames=self.frames)

    # ---- the exchange

    def run(self) -> None:
        """Send the request and read until every stream is closed, GOAWAY, EOF or the deadline.

        Raises:
            TraceError: ``protocol``, ``timeout`` or ``closed`` when the main response did not end.
        """
        self.conn.initiate_connection()
        stream_id = self.conn.get_next_available_stream_id()
        assert stream_id == self.main.stream_id
        try:
            self.conn.send_headers(stream_id, list(self.request_headers), end_stream=True)
        except h2.exceptions.ProtocolError as exc:
            message = f"invalid request: {exc}"
            raise self.error(message, "protocol") from exc
        self.flush()
        timed_out = False
        while not self.finished():
            if time.perf_counter() >= self.deadline:
                timed_out = True
                break
            self.sock.settimeout(_remaining(self.deadline))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                timed_out = True
                break
            except OSError as exc:
                message = f"connection lost: {exc.strerror or exc}"
                raise self.error(message, "closed") from exc
            if not chunk:
                self.eof = True
                break
            self.receive(chunk, self.now_ms())
            self.flush()
        if not self.main.closed:
            raise self.incomplete(timed_out=timed_out)
        if self.goaway is None and not self.eof:
            self.conn.close_connection()
            self.flush(best_effort=True)

    def finished(self) -> bool:
        if self.goaway is not None or self.eof:
            return True
        return self.main.closed and all(pushed.closed for pushed in self.pushes.values())

    def incomplete(self, *, timed_out: bool) -> TraceError:
        """Explain why the main response did not end."""
        path = dict(self.request_headers)[":path"]
        if self.goaway is not None:
            message = (
                f"server sent GOAWAY {self.goaway.error_name} "
                f"(last_stream_id={self.goaway.last_stream_id}"
                + (f", debug_data={self.goaway.debug_data!r}" if self.goaway.debug_data else "")
                + f") before the response to {path} ended"
            )
            return self.error(message, "protocol")
        if timed_out:
            timeout_s = self.deadline - self.t0
            message = f"timed out after {timeout_s:g} s waiting for the response to {path}"
            return self.error(message, "timeout")
        message = f"server closed the connection before the response to {path} ended"
        return self.error(message, "closed")

    def flush(self, *, best_effort: bool = False) -> None:
        """Send what h2 has queued, recording each frame.

        Raises:
            TraceError: ``closed``, unless ``best_effort``.
        """
        data = self.conn.data_to_send()
        if not data:
            return
        frames = data
        if self._outbound_preface:
            frames = data.removeprefix(CLIENT_PREFACE)
            self._outbound_preface = False
        t_ms = self.now_ms()
        for raw in _split_frames(frames):
            self.frames.append(self.describe(raw, "send", t_ms))
        try:
            self.sock.settimeout(_remaining(self.deadline))
            self.sock.sendall(data)
        except OSError as exc:
            if best_effort:
                return
            message = f"connection lost while sending: {exc.strerror or exc}"
            raise self.error(message, "closed") from exc

    def receive(self, chunk: bytes, t_ms: float) -> None:
        """Feed received bytes to h2 one whole frame at a time, recording each frame.

        Raises:
            TraceError: ``protocol`` when h2 rejects a frame (h2 queues GOAWAY; it is sent).
        """
        self._inbound += chunk
        while len(self._inbound) >= FRAME_HEADER_LEN:
            length = int.from_bytes(self._inbound[:3], "big")
            if length > self.conn.max_inbound_frame_size:
                self.conn.close_connection(ErrorCodes.FRAME_SIZE_ERROR)
                self.flush(best_effort=True)
                message = (
                    f"HTTP/2 protocol error from the server: a {length}-octet frame exceeds "
                    f"SETTINGS_MAX_FRAME_SIZE {self.conn.max_inbound_frame_size}"
                )
                raise self.error(message, "protocol")
            end = FRAME_HEADER_LEN + length
            if len(self._inbound) < end:
                return
            raw = bytes(self._inbound[:end])
            del self._inbound[:end]
            events = self.feed(raw, t_ms)
            self.frames.append(self.describe(raw, "recv", t_ms))
            self.apply(events, len(self.frames) - 1, t_ms)
            if self.goaway is not None:
                return

    def feed(self, raw: bytes, t_ms: float) -> list[h2.events.Event]:
        """Hand one whole frame to h2 and return its events.

        Raises:
            TraceError: ``protocol``: h2 rejected the frame. The frame and the GOAWAY that h2
                queued in answer are recorded, and the GOAWAY is sent.
        """
        try:
            return self.conn.receive_data(raw)
        except h2.exceptions.ProtocolError as exc:
            with contextlib.suppress(TraceError):
                self.frames.append(self.describe(raw, "recv", t_ms))
            self.flush(best_effort=True)
            message = f"HTTP/2 protocol error from the server: {exc}"
            raise self.error(message, "protocol") from exc

    # ---- frames and events

    def describe(self, raw: bytes, direction: Direction, t_ms: float) -> Frame:
        """Make the :class:`Frame` record of one whole frame from its wire fields."""
        try:
            wire, length = WireFrame.parse_frame_header(memoryview(raw[:FRAME_HEADER_LEN]))
            wire.parse_body(memoryview(raw[FRAME_HEADER_LEN:]))
        except HyperframeError as exc:
            message = f"malformed {direction} frame: {exc}"
            raise self.error(message, "protocol") from exc
        type_code = raw[3]
        names = tuple(flag.name for flag in wire.defined_flags if flag.name in wire.flags)
        record = Frame(
            t_ms=t_ms,
            direction=direction,
            type=FRAME_TYPES.get(type_code, f"UNKNOWN_0x{type_code:02X}"),
            stream_id=wire.stream_id,
            length=length,
            flags=raw[4],
            flag_names=names,
            end_stream="END_STREAM" in names,
        )
        if isinstance(wire, SettingsFrame):
            settings = tuple(
                (SETTING_NAMES.get(code, f"SETTINGS_0x{code:02X}"), value)
                for code, value in wire.settings.items()
            )
            return replace(record, settings=settings, ack="ACK" in names)
        if isinstance(wire, PingFrame):
            return replace(record, ack="ACK" in names, opaque_data=wire.opaque_data.hex())
        if isinstance(wire, WindowUpdateFrame):
            return replace(record, increment=wire.window_increment)
        if isinstance(wire, RstStreamFrame):
            return replace(
                record, error_code=wire.error_code, error_name=_error_name(wire.error_code)
            )
        if isinstance(wire, GoAwayFrame):
            return replace(
                record,
                error_code=wire.error_code,
                error_name=_error_name(wire.error_code),
                last_stream_id=wire.last_stream_id,
                debug_data=wire.additional_data.decode("utf-8", "backslashreplace"),
            )
        if isinstance(wire, PushPromiseFrame):
            record = replace(record, promised_stream_id=wire.promised_stream_id)
        if direction == "send" and record.type == "HEADERS":
            headers = self.request_headers
            return replace(record, headers=headers, path=dict(headers).get(":path"))
        return record

    def apply(self, events: list[h2.events.Event], index: int, t_ms: float) -> None:
        """Update the summary from the events of frame ``frames[index]``; attach its headers."""
        frame = self.frames[index]
        if frame.type in ("HEADERS", "PUSH_PROMISE") and "END_HEADERS" not in frame.flag_names:
            self._open_block = index
        block = index
        if frame.type == "CONTINUATION" and self._open_block is not None:
            block = self._open_block
            if "END_HEADERS" in frame.flag_names:
                self._open_block = None
        for event in events:
            self.apply_one(event, block, t_ms)

    def apply_one(self, event: h2.events.Event, block: int, t_ms: float) -> None:
        if isinstance(
            event,
            h2.events.InformationalResponseReceived
            | h2.events.ResponseReceived
            | h2.events.TrailersReceived,
        ):
            headers = _decode(event.headers)
            status = _status(headers)
            self.frames[block] = replace(self.frames[block], status=status, headers=headers)
            stream = self.stream(event.stream_id)
            if isinstance(event, h2.events.ResponseReceived) and stream is not None:
                stream.status, stream.headers, stream.headers_ms = status, headers, t_ms
            if status == 103 and event.stream_id == self.main.stream_id:
                links = tuple(
                    link
                    for name, value in headers
                    if name == "link"
                    for link in _split_links(value)
                )
                self.early_hints.append(EarlyHint(t_ms=t_ms, links=links, headers=headers))
        elif isinstance(event, h2.events.PushedStreamReceived):
            headers = _decode(event.headers or [])
            path = dict(headers).get(":path", "")
            self.frames[block] = replace(self.frames[block], headers=headers, path=path)
            pushed_id = event.pushed_stream_id or 0
            self.pushes[pushed_id] = _Stream(
                stream_id=pushed_id,
                parent_stream_id=event.parent_stream_id or 0,
                path=path,
                request_headers=headers,
                promised_ms=t_ms,
            )
        elif isinstance(event, h2.events.DataReceived):
            stream = self.stream(event.stream_id)
            if stream is not None:
                stream.body_bytes += len(event.data)
            # Hand the window back so that flow control never stalls (RFC 9113 §5.2).
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.stream(event.stream_id)
            if stream is not None:
                stream.completed_ms = t_ms
        elif isinstance(event, h2.events.StreamReset):
            stream = self.stream(event.stream_id)
            if stream is not None and not stream.closed:
                stream.reset = _error_name(int(event.error_code))
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = self.frames[block]

    def stream(self, stream_id: int) -> _Stream | None:
        if stream_id == self.main.stream_id:
            return self.main
        return self.pushes.get(stream_id)


def _split_frames(data: bytes) -> list[bytes]:
    """Cut bytes holding whole frames (as h2 queues them) into one ``bytes`` per frame."""
    frames = []
    offset = 0
    while offset + FRAME_HEADER_LEN <= len(data):
        end = offset + FRAME_HEADER_LEN + int.from_bytes(data[offset : offset + 3], "big")
        frames.append(data[offset:end])
        offset = end
    return frames


def _error_name(code: int) -> str:
    return ERROR_CODES.get(code, f"UNKNOWN_0x{code:02X}")


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "backslashreplace")


def _decode(headers: Iterable[tuple[bytes | str, bytes | str]]) -> Headers:
    return tuple((_text(name), _text(value)) for name, value in headers)


def _status(headers: Headers) -> int | None:
    value = dict(headers).get(":status")
    return int(value) if value is not None and value.isdigit() else None


def _split_links(value: str) -> list[str]:
    """Split a Link field value at the commas between links (RFC 8288 §3).

    Commas inside ``<...>`` and inside quoted strings do not split.
    """
    links: list[str] = []
    current: list[str] = []
    in_uri = in_quotes = escaped = False
    for char in value:
        if in_quotes:
            in_quotes = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif in_uri:
            in_uri = char != ">"
        elif char == "<":
            in_uri = True
        elif char == '"':
            in_quotes = True
        elif char == ",":
            links.append("".join(current))
            current = []
            continue
        current.append(char)
    links.append("".join(current))
    return [link.strip() for link in links if link.strip()]


def _pairs(headers: Headers) -> list[list[str]]:
    return [[name, value] for name, value in headers]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --------------------------------------------------------------------------- public API


def trace(
    url: str,
    *,
    insecure: bool = False,
    cacert: str | Path | None = None,
    enable_push: bool = True,
    headers: Sequence[tuple[str, str]] = (),
    timeout_s: float = 10.0,
) -> Trace:
    """Load ``url`` over HTTP/2 and record every frame of the exchange.

    One TLS connection offering ALPN ``h2`` (RFC 9113 §3.2) carries one GET request (see
    ``headers``). The trace ends when the main response and every pushed response (RFC 9113 §8.4)
    have ended or been reset, when the server sends GOAWAY or closes, or at the deadline; then this
    client sends GOAWAY (NO_ERROR) and closes. A GOAWAY from the server always ends the trace, even
    a graceful one: h2 accepts no frame after it. A non-2xx or reset main response is not an error:
    check :attr:`Trace.ok`.

    Args:
        url: ``https://host[:port]/path[?query]``.
        insecure: Do not verify the server certificate or host name.
        cacert: PEM file of the CA(s) to trust instead of the system store.
        enable_push: The SETTINGS_ENABLE_PUSH value sent in the preface (RFC 9113 §6.5.2).
        headers: Extra request fields, ``(name, value)``; names are lowercased. A name equal to a
            default (``:method``, ``:path``, ``:authority``, ``:scheme``, ``accept``,
            ``user-agent``) replaces it, ``host`` sets ``:authority``, others are added.
        timeout_s: Seconds allowed for everything: connect, TLS handshake and all responses.
            If the main response has ended by then, pushes still open are returned unfinished.

    Returns:
        The :class:`Trace`: ordered frames with times in ms since the TCP connect started, the
        main response, each 103 Early Hints response (RFC 8297) and each pushed resource.

    Raises:
        ValueError: ``url`` is not an ``https://`` URL, or ``headers`` holds an invalid field.
        TraceError: The connection was refused or failed, TLS or certificate verification failed,
            the server did not select ``h2`` via ALPN, the server broke the protocol or sent
            GOAWAY or closed before the main response ended, or the deadline passed first.
    """
    target = _parse_url(url)
    request_headers = _request_headers(target, headers)
    context = _tls_context(insecure=insecure, cacert=cacert)
    t0 = time.perf_counter()
    deadline = t0 + timeout_s
    raw = _connect(target, deadline)
    connected_ms = (time.perf_counter() - t0) * 1000.0
    sock = _handshake(raw, target, context, deadline)
    with sock:
        tls_ms = (time.perf_counter() - t0) * 1000.0
        cipher = sock.cipher()
        session = _Session(
            sock=sock,
            t0=t0,
            deadline=deadline,
            request_headers=request_headers,
            enable_push=enable_push,
        )
        session.run()
        return Trace(
            url=url,
            enable_push=enable_push,
            connection=TLSInfo(
                peer=f"{target.host}:{target.port}",
                connected_ms=connected_ms,
                tls_ms=tls_ms,
                tls_version=sock.version() or "",
                cipher=cipher[0] if cipher else "",
                alpn="h2",
            ),
            request_headers=request_headers,
            frames=tuple(session.frames),
            main=session.main.response(),
            early_hints=tuple(session.early_hints),
            pushes=tuple(pushed.pushed() for pushed in session.pushes.values()),
        )


# --------------------------------------------------------------------------- caching


@dataclass(frozen=True, kw_only=True)
class CacheCheck:
    """Whether a browser can reuse one hinted or pushed response (RFC 9111).

    Browsers keep what a 103 Early Hints response made them fetch in their HTTP cache, and the
    page reads it from there: a response that cannot be stored (``no-store``), must be
    revalidated (``no-cache``, ``max-age=0``) or ``Vary``s on a request header that changes
    (a ``Set-Cookie`` on the page changes ``Cookie``) is fetched a second time.

    Attributes:
        path: The resource's ``:path``.
        delivery: ``"pushed"`` (its pushed response was read) or ``"hinted"`` (a GET of the
            hinted URL was made after the trace, because it was not pushed).
        status: The response status, or ``None`` when no response arrived.
        problems: In words, one per problem; empty when a browser can reuse it.
    """

    path: str
    delivery: Literal["pushed", "hinted"]
    status: int | None
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "path": self.path,
            "delivery": self.delivery,
            "status": self.status,
            "problems": list(self.problems),
        }


def _hinted_paths(result: Trace) -> list[tuple[str, str | None]]:
    """Same-origin ``(path, as)`` of the preloads of the first 103 (browsers act on it only)."""
    if not result.early_hints:
        return []
    origin = urlsplit(result.url)
    found: dict[str, str | None] = {}
    for text in result.early_hints[0].links:
        for link in parse_link_header(text):
            if not link.rels & {"preload", "modulepreload"}:
                continue
            target = urlsplit(urljoin(result.url, link.target))
            if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
                continue
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
            found.setdefault(path, link.get("as"))
    return list(found.items())


def fetch_hinted(
    result: Trace,
    *,
    insecure: bool = False,
    cacert: str | Path | None = None,
    timeout_s: float = 10.0,
    limit: int = 20,
) -> dict[str, Response]:
    """GET each same-origin resource the first 103 hinted and the server did not push.

    Each GET is a subresource request on a connection of its own (``Sec-Fetch-Mode: no-cors``,
    ``cors`` for a font; push refused), so the server sends it no 103 and no push.

    Args:
        result: A trace of the page.
        insecure: Do not verify the server certificate or host name.
        cacert: PEM file of the CA(s) to trust instead of the system store.
        timeout_s: Seconds allowed for each GET.
        limit: Most resources fetched.

    Returns:
        The final response of each, keyed by path; a failed GET is left out.
    """
    pushed = {pushed.path for pushed in result.pushes}
    origin = urlsplit(result.url)
    responses: dict[str, Response] = {}
    for path, as_ in _hinted_paths(result)[:limit]:
        if path in pushed:
            continue
        headers = [
            ("accept", "*/*"),
            ("sec-fetch-mode", "cors" if as_ == "font" else "no-cors"),
            ("sec-fetch-dest", as_ or "empty"),
        ]
        with contextlib.suppress(TraceError, ValueError):
            responses[path] = trace(
                f"{origin.scheme}://{origin.netloc}{path}",
                insecure=insecure,
                cacert=cacert,
                enable_push=False,
                headers=headers,
                timeout_s=timeout_s,
            ).main
    return responses


def cache_checks(
    result: Trace, hinted: dict[str, Response] | None = None
) -> tuple[CacheCheck, ...]:
    """Say which pushed and hinted responses a browser cannot reuse, and why.

    Args:
        result: A trace of the page: its pushed responses are read.
        hinted: Responses to the hinted resources that were not pushed, keyed by path
            (:func:`fetch_hinted`).

    Returns:
        One :class:`CacheCheck` per pushed response, then per hinted one, in order.
    """
    page_sets_cookie = any(name == "set-cookie" for name, _ in result.main.headers)

    def problems_of(headers: Headers) -> tuple[str, ...]:
        fields = {name: value for name, value in headers if not name.startswith(":")}
        return tuple(
            problem + " (and the page sets a cookie, which changes Cookie)"
            if problem.startswith("Vary: ")
            and "cookie" in problem.removeprefix("Vary: ").lower().replace(" ", "").split(",")
            and page_sets_cookie
            else problem
            for problem in cache_problems(fields)
        )

    checks = [
        CacheCheck(
            path=pushed.path,
            delivery="pushed",
            status=pushed.status,
            problems=problems_of(pushed.headers),
        )
        for pushed in result.pushes
    ]
    checks += [
        CacheCheck(
            path=path,
            delivery="hinted",
            status=response.status,
            problems=problems_of(response.headers),
        )
        for path, response in (hinted or {}).items()
    ]
    return tuple(checks)


# --------------------------------------------------------------------------- text output


def _stamp(t_ms: float) -> str:
    return f"[{t_ms:10.3f}ms]"


INDENT = " " * 15


def _frame_lines(frame: Frame) -> list[str]:
    """Lines for one frame in the manner of ``nghttp -nv``."""
    details = [
        f"length={frame.length}",
        f"flags=0x{frame.flags:02x}",
        f"stream_id={frame.stream_id}",
    ]
    if frame.promised_stream_id is not None:
        details.append(f"promised_stream_id={frame.promised_stream_id}")
    lines = [f"{_stamp(frame.t_ms)} {frame.direction} {frame.type} frame <{', '.join(details)}>"]
    if frame.flag_names:
        lines.append(f"{INDENT}; {' | '.join(frame.flag_names)}")
    if frame.settings is not None:
        lines.append(f"{INDENT}(niv={len(frame.settings)})")
        lines.extend(
            f"{INDENT}[{name}{_setting_code(name)}:{value}]" for name, value in frame.settings
        )
    if frame.error_code is not None:
        fields = []
        if frame.last_stream_id is not None:
            fields.append(f"last_stream_id={frame.last_stream_id}")
        fields.append(f"error_code={frame.error_name}(0x{frame.error_code:02x})")
        if frame.debug_data:
            fields.append(f"debug_data={frame.debug_data!r}")
        lines.append(f"{INDENT}({', '.join(fields)})")
    if frame.increment is not None:
        lines.append(f"{INDENT}(window_size_increment={frame.increment})")
    if frame.opaque_data is not None:
        lines.append(f"{INDENT}(opaque_data={frame.opaque_data})")
    if frame.headers is not None:
        lines.extend(f"{INDENT}{name}: {value}" for name, value in frame.headers)
    return lines


def _setting_code(name: str) -> str:
    codes = {setting: code for code, setting in SETTING_NAMES.items()}
    return f"(0x{codes[name]:02x})" if name in codes else ""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}ms"


def format_text(result: Trace, cache: Sequence[CacheCheck] = ()) -> str:
    """Render a trace as text: connection, every frame, then a summary.

    Times are milliseconds since the TCP connect started. Plain text, readable in a pipe.
    ``cache`` (:func:`cache_checks`) adds, per hinted or pushed response, whether a browser can
    reuse it: ``no-store``, must revalidate (``no-cache``, ``max-age=0``), ``Vary``.
    """
    info = result.connection
    lines = [
        f"{_stamp(info.connected_ms)} connected to {info.peer}",
        f"{_stamp(info.tls_ms)} {info.tls_version} {info.cipher}, ALPN {info.alpn}",
    ]
    for frame in result.frames:
        lines.extend(_frame_lines(frame))
    main = result.main
    request = dict(result.request_headers)
    lines += [
        "",
        f"main response: {request[':method']} {request[':path']} -> "
        f"{main.status if main.status is not None else 'no status'}, "
        f"{main.body_bytes} bytes, headers at {_ms(main.headers_ms)}, "
        f"complete at {_ms(main.completed_ms)}" + (f", reset {main.reset}" if main.reset else ""),
    ]
    if not result.early_hints:
        lines.append("103 early hints: none")
    for hint in result.early_hints:
        lines.append(f"103 early hints at {_ms(hint.t_ms)}: {len(hint.links)} link(s)")
        lines.extend(f"  {link}" for link in hint.links)
    if not result.pushes:
        refused = "" if result.enable_push else " (SETTINGS_ENABLE_PUSH=0 was sent)"
        lines.append(f"pushed: none{refused}")
    else:
        table = [("stream", "path", "status", "bytes", "promised", "complete")]
        table += [
            (
                str(pushed.stream_id),
                pushed.path,
                str(pushed.status) if pushed.status is not None else "-",
                str(pushed.body_bytes),
                _ms(pushed.promised_ms),
                f"reset {pushed.reset}" if pushed.reset else _ms(pushed.completed_ms),
            )
            for pushed in result.pushes
        ]
        widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
        lines.append(f"pushed: {len(result.pushes)}")
        lines.extend(
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in table
        )
    if cache:
        flagged = [check for check in cache if check.problems]
        if not flagged:
            lines.append(f"caching: all {len(cache)} hinted/pushed response(s) reusable")
        else:
            lines.append(
                f"caching: {len(flagged)} hinted/pushed response(s) a browser fetches again:"
            )
            lines.extend(
                f"  {check.path} ({check.delivery}): {'; '.join(check.problems)}"
                for check in flagged
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- cookie jar

_NETSCAPE_HEADER = (
    "# Netscape HTTP Cookie File\n"
    "# Written by h2push trace --cookie-jar, in the format of curl's -b and -c files.\n\n"
)
_HTTP_ONLY_PREFIX = "#HttpOnly_"


class CookieJarError(H2PushError, ValueError):
    """A cookie jar file that cannot be read: the message names the file, the line and why."""


class _Response:
    """What :meth:`http.cookiejar.CookieJar.extract_cookies` reads from a response."""

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        self._message = email.message.Message()
        for name, value in headers:
            if name.lower() == "set-cookie":
                self._message["Set-Cookie"] = value

    def info(self) -> email.message.Message:
        return self._message


def _http_only(cookie: http.cookiejar.Cookie) -> bool:
    return any(cookie.has_nonstandard_attr(name) for name in ("HttpOnly", "httponly"))


def _make_cookie(
    *,
    name: str,
    value: str,
    domain: str,
    path: str,
    secure: bool,
    expires: int | None,
    http_only: bool,
) -> http.cookiejar.Cookie:
    """A cookie as :mod:`http.cookiejar` keeps it; a leading dot makes it a domain cookie."""
    return http.cookiejar.Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=domain,
        domain_specified=domain.startswith("."),
        domain_initial_dot=domain.startswith("."),
        path=path,
        path_specified=True,
        secure=secure,
        expires=expires,
        discard=expires is None,
        comment=None,
        comment_url=None,
        rest={"HttpOnly": ""} if http_only else {},
    )


class CookieJarFile:
    """Cookies kept in a file between traces, as a browser keeps them between visits.

    Two file formats, told apart by the content (or, for a new file, by a ``.json`` suffix):

    * Netscape/curl (``curl -b FILE -c FILE``): one cookie per line, seven tab-separated fields
      ``domain  include_subdomains  path  secure  expires  name  value``; ``TRUE``/``FALSE``;
      ``expires`` in seconds since the epoch, 0 for a session cookie; a ``#HttpOnly_`` prefix on
      the domain of an HttpOnly cookie; other lines starting with ``#`` are comments.
    * JSON: a list of objects ``{"name", "value", "domain", "path", "expires", "secure",
      "http_only"}``; ``domain`` with a leading dot also matches subdomains, ``expires`` is
      seconds since the epoch or null for a session cookie.

    Matching, expiry and ``Set-Cookie`` parsing are :mod:`http.cookiejar`'s (RFC 6265 rules:
    domain, path, ``Secure``, ``Max-Age``/``Expires``). Session cookies are kept, as curl keeps
    them: a second trace is the same browsing session.

    Args:
        path: The file; it need not exist yet.

    Raises:
        CookieJarError: The file exists but is neither format, or a line or entry is malformed.
        OSError: The file exists but cannot be read.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.jar = http.cookiejar.CookieJar()
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else None
        stripped = "" if text is None else text.lstrip()
        if text is None:
            self.format: Literal["netscape", "json"] = (
                "json" if self.path.suffix.lower() == ".json" else "netscape"
            )
        elif stripped.startswith(("[", "{")):
            self.format = "json"
            self._load_json(text)
        else:
            self.format = "netscape"
            self._load_netscape(text)

    def __len__(self) -> int:
        return len(self.jar)

    def _error(self, where: str, reason: str) -> CookieJarError:
        return CookieJarError(f"cookie jar {self.path}: {where}: {reason}")

    def _load_netscape(self, text: str) -> None:
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            http_only = line.startswith(_HTTP_ONLY_PREFIX)
            if http_only:
                line = line[len(_HTTP_ONLY_PREFIX) :]
            elif not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) == 6:  # curl writes an empty value as a missing last field
                fields.append("")
            if len(fields) != 7:
                raise self._error(f"line {number}", "expected 7 tab-separated fields")
            domain, subdomains, path, secure, expires, name, value = fields
            flags = (subdomains.upper(), secure.upper())
            if not all(flag in ("TRUE", "FALSE") for flag in flags) or not expires.isdigit():
                raise self._error(f"line {number}", "flags must be TRUE/FALSE, expires a number")
            if flags[0] == "TRUE" and not domain.startswith("."):
                domain = "." + domain
            self.jar.set_cookie(
                _make_cookie(
                    name=name,
                    value=value,
                    domain=domain,
                    path=path,
                    secure=flags[1] == "TRUE",
                    expires=int(expires) or None,
                    http_only=http_only,
                )
            )

    def _load_json(self, text: str) -> None:
        try:
            entries = json.loads(text)
        except ValueError as exc:
            raise self._error("JSON", str(exc)) from None
        if not isinstance(entries, list):
            raise self._error("JSON", "expected a list of cookie objects")
        for index, entry in enumerate(entries):
            where = f"entry {index}"
            if not isinstance(entry, dict):
                raise self._error(where, "expected an object")
            name, value, domain = entry.get("name"), entry.get("value"), entry.get("domain")
            if not all(isinstance(item, str) for item in (name, value, domain)):
                raise self._error(where, "name, value and domain must be strings")
            expires = entry.get("expires")
            if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int)):
                raise self._error(where, "expires must be an integer or null")
            self.jar.set_cookie(
                _make_cookie(
                    name=str(name),
                    value=str(value),
                    domain=str(domain),
                    path=str(entry.get("path") or "/"),
                    secure=bool(entry.get("secure", False)),
                    expires=expires,
                    http_only=bool(entry.get("http_only", False)),
                )
            )

    def header_for(self, url: str) -> str | None:
        """The ``cookie`` field value to send to ``url`` (RFC 6265 §5.4), or None for none."""
        request = urllib.request.Request(url)  # noqa: S310 - only read by the cookie policy
        self.jar.add_cookie_header(request)
        value = request.get_header("Cookie")
        return None if value is None else str(value)

    def store(self, url: str, headers: Iterable[tuple[str, str]]) -> int:
        """Keep the ``set-cookie`` fields of a response to ``url``; return how many were kept."""
        before = {(c.domain, c.path, c.name, c.value) for c in self.jar}
        request = urllib.request.Request(url)  # noqa: S310 - only read by the cookie policy
        self.jar.extract_cookies(_Response(headers), request)  # type: ignore[arg-type]
        return len({(c.domain, c.path, c.name, c.value) for c in self.jar} - before)

    def save(self) -> None:
        """Write the unexpired cookies back to :attr:`path`, in the format it was read in.

        Raises:
            OSError: The file cannot be written.
        """
        self.jar.clear_expired_cookies()
        cookies = sorted(self.jar, key=lambda c: (c.domain, c.path, c.name))
        if self.format == "json":
            text = json.dumps(
                [
                    {
                        "name": c.name,
                        "value": c.value,
                        "domain": c.domain,
                        "path": c.path,
                        "expires": c.expires,
                        "secure": c.secure,
                        "http_only": _http_only(c),
                    }
                    for c in cookies
                ],
                indent=2,
            )
            text += "\n"
        else:
            lines = [
                "\t".join(
                    [
                        (_HTTP_ONLY_PREFIX if _http_only(c) else "") + c.domain,
                        "TRUE" if c.domain.startswith(".") else "FALSE",
                        c.path,
                        "TRUE" if c.secure else "FALSE",
                        str(c.expires or 0),
                        c.name,
                        c.value or "",
                    ]
                )
                for c in cookies
            ]
            text = _NETSCAPE_HEADER + "".join(line + "\n" for line in lines)
        self.path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- command


def _header_option(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(parse_header_line(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


@click.command("trace")
@click.argument("url")
@click.option("-k", "--insecure", is_flag=True, help="Do not verify the server certificate.")
@click.option(
    "--cacert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file of the CA(s) to trust instead of the system store.",
)
@click.option("--no-push", is_flag=True, help="Send SETTINGS_ENABLE_PUSH=0: refuse server push.")
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    callback=_header_option,
    help="Add a request header (repeatable); replaces a default of the same name.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole trace as one JSON document.")
@click.option(
    "--waterfall",
    "waterfall_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE.svg",
    help="Also draw the trace as a waterfall: one row per stream, coloured by delivery (SVG).",
)
@click.option(
    "--cookie-jar",
    "cookie_jar",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Send the cookies kept in FILE for this URL and keep the main response's Set-Cookie"
    " values there (a curl/Netscape cookie file, or JSON when it ends in .json).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds allowed for the whole exchange.",
)
@click.option(
    "--no-fetch-hints",
    is_flag=True,
    help="Do not GET the hinted resources that were not pushed to check their caching.",
)
def trace_command(
    *,
    url: str,
    insecure: bool,
    cacert: Path | None,
    no_push: bool,
    headers: tuple[tuple[str, str], ...],
    as_json: bool,
    waterfall_file: Path | None,
    cookie_jar: Path | None,
    timeout_s: float,
    no_fetch_hints: bool,
) -> None:
    """Load URL over HTTP/2 and print every frame, then the response, 103s and pushes.

    Times are milliseconds since the TCP connect started. Exits 0 when the main response is 2xx,
    1 otherwise (non-2xx, reset, or a connection, TLS, ALPN, protocol or timeout failure, which
    is reported in one line on stderr). With --cookie-jar, a second trace of the same site is a
    repeat visit: it sends what the first one was told to keep (h2push's cache-digest cookie).

    The summary ends with the hinted and pushed responses a browser cannot reuse from its cache
    (no-store; no-cache or max-age=0: must revalidate; Vary): a browser fetches those a second
    time. Hinted resources that were not pushed are fetched once each after the trace, unless
    --no-fetch-hints.
    """
    jar: CookieJarFile | None = None
    if cookie_jar is not None:
        try:
            jar = CookieJarFile(cookie_jar)
        except (OSError, CookieJarError) as exc:
            raise click.UsageError(str(exc)) from exc
        cookie = jar.header_for(url) if url.lower().startswith("https://") else None
        if cookie is not None:
            headers = (*headers, ("cookie", cookie))
    try:
        result = trace(
            url,
            insecure=insecure,
            cacert=cacert,
            enable_push=not no_push,
            headers=headers,
            timeout_s=timeout_s,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except TraceError as exc:
        hint = " (trust its CA with --cacert FILE, or use --insecure)"
        click.echo(f"h2push trace: {exc}{hint if exc.kind == 'certificate' else ''}", err=True)
        raise SystemExit(1) from None
    hinted = (
        {}
        if no_fetch_hints
        else fetch_hinted(result, insecure=insecure, cacert=cacert, timeout_s=timeout_s)
    )
    cache = cache_checks(result, hinted)
    if as_json:
        document = result.to_dict()
        document["cache"] = [check.to_dict() for check in cache]
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(format_text(result, cache))
    try:
        if jar is not None:
            jar.store(url, result.main.headers)
            jar.save()
        if waterfall_file is not None:
            waterfall_file.write_text(render_svg(from_trace(result)), encoding="utf-8")
    except OSError as exc:
        click.echo(f"h2push trace: cannot write {exc.filename}: {exc.strerror}", err=True)
        raise SystemExit(1) from None
    if not result.ok:
        main = result.main
        why = f"reset {main.reset}" if main.reset else f"status {main.status}"
        click.echo(f"h2push trace: main response {why}", err=True)
        raise SystemExit(1)
