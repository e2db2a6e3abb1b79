"""The values a trace is made of: frames, responses, pushes, TLS facts, cache checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from h2push._core.errors import H2PushError
from h2push._tools._common import round_ms

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
            "headers_ms": round_ms(self.headers_ms),
            "completed_ms": round_ms(self.completed_ms),
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


def _pairs(headers: Headers) -> list[list[str]]:
    return [[name, value] for name, value in headers]


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
