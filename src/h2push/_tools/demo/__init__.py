"""The demo site that ``h2push demo`` serves: a slow page and its critical subresources.

A plain ASGI 3 application, with no web framework, that knows nothing about push or hints: it
serves files. ``h2push demo`` wraps it in :class:`h2push.asgi.H2PushMiddleware` with
:data:`MANIFEST_PATH`, exactly as ``h2push serve h2push._tools.demo:app --manifest ...`` would, and
the middleware sends the 103 Early Hints and the pushes.

``GET /`` waits :data:`THINK_TIME_S` (an :func:`asyncio.sleep` standing in for a database query),
then returns ``index.html``. The page uses a render-blocking stylesheet that loads a web font
through ``@font-face``, a deferred script, and an image; its script reads the Resource Timing
API and shows how each of them arrived (``initiatorType == "early-hints"`` for a 103 preload).
Files under ``/static/`` are served with their media type, ``Cache-Control``, a strong ``ETag``
and ``304 Not Modified`` for a matching ``If-None-Match`` (RFC 9110 §13.1.2). Every other path
is a 404; methods other than GET and HEAD are a 405.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from h2push._delivery.asgi_types import Receive, Scope, Send
from h2push._tools._common import http_or_lifespan

_HERE: Final = Path(__file__).resolve().parent

MANIFEST_PATH: Final = _HERE / "push_manifest.json"
STATIC_DIR: Final = _HERE / "static"
"""The directory served at ``/static/``."""
"""The demo's push manifest (http2-push-manifest format): stylesheet, font, script, image."""

THINK_TIME_S: Final = 0.2
"""How long ``GET /`` thinks before it answers, in seconds."""

STATIC_MAX_AGE_S: Final = 3600
"""``max-age`` of the files under ``/static/``, in seconds."""

_MEDIA_TYPES: Final = {
    ".css": b"text/css; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".woff2": b"font/woff2",
    ".txt": b"text/plain; charset=utf-8",
    ".html": b"text/html; charset=utf-8",
}

# The page loads nothing from elsewhere; a policy that says so keeps the demo honest.
_PAGE_POLICY: Final = (
    b"default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none';"
    b" frame-ancestors 'none'"
)


@dataclass(frozen=True)
class _File:
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    etag: bytes


def _static_file(path: Path, cache_control: bytes) -> _File:
    body = path.read_bytes()
    etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode("ascii") + b'"'
    media_type = _MEDIA_TYPES.get(path.suffix, b"application/octet-stream")
    headers = (
        (b"content-type", media_type),
        (b"cache-control", cache_control),
        (b"etag", etag),
        (b"x-content-type-options", b"nosniff"),
    )
    return _File(body=body, headers=headers, etag=etag)


def _load_static(directory: Path) -> dict[str, _File]:
    cache_control = f"public, max-age={STATIC_MAX_AGE_S}".encode("ascii")
    return {
        f"/static/{path.name}": _static_file(path, cache_control)
        for path in sorted(directory.iterdir())
        if path.is_file() and not path.name.startswith(".")
    }


_STATIC: Final = _load_static(STATIC_DIR)
_PAGE: Final = (_HERE / "index.html").read_bytes()


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Whether an ``If-None-Match`` value matches ``etag`` (weak comparison, RFC 9110 §13.1.2)."""
    candidates = (tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b","))
    return any(tag in {b"*", etag} for tag in candidates)


async def _respond(
    send: Send,
    status: int,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    *,
    head: bool,
) -> None:
    """Send a whole response; a HEAD gets the headers (and length) of the GET, without the body."""
    length = (b"content-length", str(len(body)).encode("ascii"))
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _not_modified(send: Send, file: _File) -> None:
    """Send a 304 with the validator and caching headers of the 200 it stands for."""
    headers = [(key, value) for key, value in file.headers if key != b"content-type"]
    await send({"type": "http.response.start", "status": 304, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _header(scope: Scope, name: bytes) -> bytes:
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    return b",".join(value for key, value in headers if key.lower() == name)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the demo page and its static files (ASGI 3).

    Args:
        scope (MutableMapping[str, Any]): The connection scope; ``http`` and ``lifespan`` are
            handled, anything else is ignored.
        receive (Callable[[], Awaitable[MutableMapping[str, Any]]]): The ASGI receive callable.
        send (Callable[[MutableMapping[str, Any]], Awaitable[None]]): The ASGI send callable.
    """
    if not await http_or_lifespan(scope, receive, send):
        return
    method = scope["method"]
    path = scope["path"]
    head = method == "HEAD"
    text = b"text/plain; charset=utf-8"
    if method not in {"GET", "HEAD"}:
        allow = ((b"content-type", text), (b"allow", b"GET, HEAD"))
        await _respond(send, 405, allow, b"method not allowed\n", head=False)
    elif path == "/":
        await asyncio.sleep(THINK_TIME_S)  # stands in for a database query
        page_headers = (
            (b"content-type", _MEDIA_TYPES[".html"]),
            (b"cache-control", b"no-store"),
            (b"content-security-policy", _PAGE_POLICY),
            (b"x-content-type-options", b"nosniff"),
        )
        await _respond(send, 200, page_headers, _PAGE, head=head)
    elif path in _STATIC:
        file = _STATIC[path]
        if _etag_matches(_header(scope, b"if-none-match"), file.etag):
            await _not_modified(send, file)
        else:
            await _respond(send, 200, file.headers, file.body, head=head)
    else:
        await _respond(send, 404, ((b"content-type", text),), b"not found\n", head=head)


def static_paths() -> Mapping[str, bytes]:
    """Return the demo's static URL paths and their media types.

    Returns:
        Mapping[str, bytes]: e.g. ``{"/static/demo.css": b"text/css; charset=utf-8", ...}``.
    """
    return {path: dict(file.headers)[b"content-type"] for path, file in _STATIC.items()}
