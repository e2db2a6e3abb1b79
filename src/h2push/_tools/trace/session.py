"""One HTTP/2 page load over TLS, frame by frame (:func:`trace`), and the cache re-checks.

Framing and HPACK are done by ``h2``. Received bytes are cut into whole frames before they are
handed to ``h2``, so the events of each call belong to exactly one frame: a frame's wire fields
(length, flags, settings, error codes) are read from the frame itself, and its meaning (decoded
headers, the promised request) from ``h2``'s events.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

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

from h2push._core.links import parse_link_header, split_link_header
from h2push._tools.check.diagnose import cache_problems
from h2push._tools.trace.models import (
    CLIENT_PREFACE,
    CONNECTION_SPECIFIC,
    DEFAULT_ACCEPT,
    ERROR_CODES,
    FRAME_HEADER_LEN,
    FRAME_TYPES,
    SETTING_NAMES,
    USER_AGENT,
    CacheCheck,
    Direction,
    EarlyHint,
    ErrorKind,
    Frame,
    Headers,
    Pushed,
    Response,
    TLSInfo,
    Trace,
    TraceError,
)

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
    except OSError as exc:
        raise TraceError(_connect_failure(exc, target), kind="connect") from exc


def _connect_failure(error: OSError, target: _Target) -> str:
    """Why the TCP connection to ``target`` could not be made, in one line."""
    peer = f"{target.host}:{target.port}"
    if isinstance(error, ConnectionRefusedError):
        return f"connection to {peer} refused"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve {target.host!r}: {error.strerror}"
    return f"cannot connect to {peer}: {error.strerror or error}"


def tls_context(*, insecure: bool, cacert: str | Path | None) -> ssl.SSLContext:
    """Return a client context offering ALPN ``h2`` then ``http/1.1`` (RFC 9113 §3.2, §9.2).

    Args:
        insecure: Accept any certificate (no verification, no host name check).
        cacert: PEM file of the CA(s) to verify against; the system store when None.

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

_Recorded = TypeVar("_Recorded", Response, Pushed)


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
        return self._record(Response)

    def pushed(self) -> Pushed:
        return self._record(Pushed)

    def _record(self, kind: type[_Recorded]) -> _Recorded:
        """``kind`` built from this stream's fields of the same names (every one of its fields)."""
        return kind(**{each.name: getattr(self, each.name) for each in fields(kind)})


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
                    for link in split_link_header(value)
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
    context = tls_context(insecure=insecure, cacert=cacert)
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
