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
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import unquote

__all__ = ["DEFAULT_MAX_BYTES", "StaticVersions", "resource_keys"]

#: The memory a :class:`StaticVersions` cache may take unless given ``max_bytes``.
DEFAULT_MAX_BYTES = 1 << 20
# What one cached version costs besides its URL's characters (CPython, 64-bit: the dict slot,
# the tuple, its float and ints, the 16-digit str and the URL str's header).
_ENTRY_BYTES = 300


class StaticVersions:
    """Map URL paths under a prefix to a content hash of the file they serve.

    ``versions("/static/app.css")`` reads ``DIRECTORY/app.css``. The version is the first 16
    hex digits of the file's SHA-256 (64 bits: a collision between two versions of one file
    is not a concern); it is cached per path and recomputed when the file's size or
    modification time (ns) changes. Like nginx's ``open_file_cache_valid``, a file is looked
    at again (one ``stat``) at most every ``recheck_s`` seconds, so a change is noticed within
    that time and a busy page costs no system call per resource. A URL outside the prefix, a
    path that leaves the directory, or a file that cannot be read has no version (None).
    Safe to share between threads and requests. The cache is bounded in bytes: beyond
    ``max_bytes`` (URL text and a fixed cost per entry) the oldest entries are dropped, so
    URLs a client makes up cost no memory that lasts.

    Args:
        directory: The directory the prefix maps to.
        url_prefix: The URL path prefix, e.g. ``/static/`` (a trailing ``/`` is added).
        recheck_s: How long a file's version is trusted before it is looked at again, in
            seconds (0: every call).
        max_bytes: The memory the cache may take (bytes, default 1 MiB: several thousand
            static files).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        url_prefix: str = "/static/",
        *,
        recheck_s: float = 1.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.url_prefix = url_prefix if url_prefix.endswith("/") else url_prefix + "/"
        self.recheck_s = recheck_s
        # url -> (checked at, mtime ns, size, version or None)
        self._cache: dict[str, tuple[float, int, int, str | None]] = {}
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self._bytes = 0

    def __call__(self, url: str) -> str | None:
        """The version (16 hex digits, str) of the file ``url`` serves, or None."""
        now = time.monotonic()
        cached = self._cache.get(url)
        if cached is not None and now - cached[0] < self.recheck_s:
            return cached[3]
        path = self._path(url)
        if path is None:
            return None
        try:
            stat = os.stat(path)
        except (OSError, ValueError):
            version = None
            mtime = size = -1
        else:
            mtime, size = stat.st_mtime_ns, stat.st_size
            if cached is not None and cached[1:3] == (mtime, size):
                version = cached[3]
            else:
                version = _content_hash(path)
        with self._lock:
            if self._cache.pop(url, None) is None:
                self._bytes += _ENTRY_BYTES + len(url)
            self._cache[url] = (now, mtime, size, version)  # now the newest
            while self._bytes > self.max_bytes and self._cache:
                oldest = next(iter(self._cache))
                del self._cache[oldest]
                self._bytes -= _ENTRY_BYTES + len(oldest)
        return version

    def _path(self, url: str) -> str | None:
        if not url.startswith(self.url_prefix):
            return None
        relative = unquote(url[len(self.url_prefix) :].split("?", 1)[0])
        parts = relative.split("/")
        if not relative or "\0" in relative or ".." in parts or relative.startswith("/"):
            return None  # never a file outside the directory
        return str(self.directory / relative)


def _content_hash(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def resource_keys(
    urls: Iterable[str], versions: Callable[[str], str | None] | None
) -> list[tuple[str, str | None]]:
    """The ``(url, version)`` keys of ``urls`` that trackers remember (version None if unknown)."""
    if versions is None:
        return [(url, None) for url in urls]
    return [(url, versions(url)) for url in urls]
