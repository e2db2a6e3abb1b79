"""Small helpers several tools share: a free loopback port, rounding, Chromium, ASGI lifespan."""

from __future__ import annotations

import shutil
import socket
from typing import Final

from h2push._delivery.asgi_types import Receive, Scope, Send, answer_lifespan

EXECUTABLE_NAMES: Final = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Program names tried, in order, by :func:`find_chromium`."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now (another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def round_ms(value: float | None) -> float | None:
    """Round a time in milliseconds to 3 decimals (a microsecond) for reports; None stays None."""
    return None if value is None else round(value, 3)


def find_chromium() -> str | None:
    """Return the path of the first installed program of :data:`EXECUTABLE_NAMES`, or None."""
    for name in EXECUTABLE_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


async def http_or_lifespan(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer a ``lifespan`` scope; return whether ``scope`` is an ``http`` one left to serve.

    For the tools' own ASGI apps (the demo, the bench site, the bench proxy), which hold nothing
    to start or stop (ASGI lifespan protocol 2.0) and ignore every other scope type.
    """
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
    return bool(scope["type"] == "http")
