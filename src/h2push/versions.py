"""Versions of static resources, so that a changed file is pushed again.

A tracker remembers ``(url, version)`` keys (:mod:`h2push.trackers`). :class:`StaticVersions`
gives a static file's version as a hash of its content, read once per change of the file's
size or modification time: a stylesheet edited on disk gets a new version, and the next visit
pushes it again while everything else stays known.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import unquote

__all__ = ["StaticVersions", "resource_keys"]


class StaticVersions:
    """Map URL paths under a prefix to a content hash of the file they serve.

    ``versions("/static/app.css")`` reads ``DIRECTORY/app.css``. The version is the first 16
    hex digits of the file's SHA-256 (64 bits: a collision between two versions of one file
    is not a concern); it is cached per path and recomputed when the file's size or
    modification time (ns) changes. A URL outside the prefix, a path that leaves the
    directory, or a file that cannot be read has no version (None). Safe to share between
    threads and requests; it costs one ``stat`` per call.

    Args:
        directory: The directory the prefix maps to.
        url_prefix: The URL path prefix, e.g. ``/static/`` (a trailing ``/`` is added).
    """

    def __init__(self, directory: str | os.PathLike[str], url_prefix: str = "/static/") -> None:
        self.directory = Path(directory).resolve()
        self.url_prefix = url_prefix if url_prefix.endswith("/") else url_prefix + "/"
        self._cache: dict[str, tuple[int, int, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str) -> str | None:
        """The version (16 hex digits, str) of the file ``url`` serves, or None."""
        if not url.startswith(self.url_prefix):
            return None
        relative = unquote(url[len(self.url_prefix) :].split("?", 1)[0])
        parts = relative.split("/")
        if not relative or "\0" in relative or ".." in parts or relative.startswith("/"):
            return None  # never a file outside the directory
        path = self.directory / relative
        try:
            stat = path.stat()
        except (OSError, ValueError):
            return None
        cached = self._cache.get(relative)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        except OSError:
            return None
        with self._lock:
            self._cache[relative] = (stat.st_mtime_ns, stat.st_size, digest)
        return digest


def resource_keys(
    urls: Iterable[str], versions: Callable[[str], str | None] | None
) -> list[tuple[str, str | None]]:
    """The ``(url, version)`` keys of ``urls`` that trackers remember (version None if unknown)."""
    if versions is None:
        return [(url, None) for url in urls]
    return [(url, versions(url)) for url in urls]
