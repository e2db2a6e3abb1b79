"""URLs as discovery sees them: origins, resolution, Preload targets, guessed destinations."""

from __future__ import annotations

from typing import Final, Literal
from urllib.parse import quote, urljoin, urlsplit

# --------------------------------------------------------------------------- URLs


def normalize_origin(url: str) -> str:
    """Return the ASCII serialisation of an ``http(s)`` URL's origin (RFC 6454 §6.2).

    Scheme and host are lower-cased, a default port (80, 443) is dropped, path and
    user information are ignored: ``HTTPS://Fonts.Example:443/x`` gives ``https://fonts.example``.

    Raises:
        ValueError: ``url`` is not an absolute ``http`` or ``https`` URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) origin such as https://www.example.com")
    scheme = parts.scheme.lower()
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # raises ValueError for a port that is not a number in range
    if port is None or port == {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _resolve(base: str, reference: str | None) -> str | None:
    """An absolute ``http(s)`` URL without fragment, or None when nothing would be fetched."""
    if reference is None:
        return None
    reference = reference.strip(" \t\n\r\f")
    if not reference or reference.startswith("#"):
        return None
    try:
        url = urljoin(base, reference)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None  # data:, blob:, javascript:, about:, mailto: ...
    return url.partition("#")[0]


# Characters a Preload target may not hold are percent-encoded; everything else is kept.
_URL_SAFE: Final = "!#$%&'()*+/:=?@[\\]^`{|}~"


def _target(url: str, origin: str) -> tuple[Literal["same", "cross"], str] | None:
    """Classify an absolute URL: ``("same", "/path?query")`` or ``("cross", origin)``."""
    try:
        url_origin = normalize_origin(url)
    except ValueError:
        return None
    if url_origin != origin:
        return "cross", url_origin
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return "same", quote(target, safe=_URL_SAFE)


_EXTENSION_DESTINATIONS: Final = {
    extension: destination
    for destination, extensions in {
        "style": "css",
        "script": "js mjs cjs",
        "font": "woff2 woff ttf otf ttc eot",
        "image": "png apng jpg jpeg gif webp avif svg ico bmp cur",
        "fetch": "json",
        "track": "vtt",
        "video": "mp4 webm ogv",
        "audio": "mp3 m4a oga ogg opus wav flac",
        "manifest": "webmanifest",
    }.items()
    for extension in extensions.split()
}


def guess_destination(url: str) -> str | None:
    """Guess a fetch destination from a URL's file extension; the fallback when nothing says.

    ``.css`` is ``style``, ``.js``/``.mjs`` ``script``, ``.woff2``/``.woff``/``.ttf``/``.otf``
    ``font``, ``.png``/``.jpg``/``.svg``/``.webp``/``.avif``... ``image``, ``.json`` ``fetch``
    (never ``script``), ``.vtt`` ``track``, video and audio files ``video`` and ``audio``.

    Args:
        url: A URL or path; the query and fragment are ignored.

    Returns:
        The destination (str), or None for an unknown extension.
    """
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return _EXTENSION_DESTINATIONS.get(name.rsplit(".", 1)[1].lower())
