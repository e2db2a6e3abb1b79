"""Push manifests in the format of GoogleChrome's http2-push-manifest.

A single-page manifest maps resource URLs to their attributes and applies to every navigation
request of the app it is given to::

    {"/static/app.css": {"type": "style", "weight": 4},
     "/static/app.js": {"type": "script", "weight": 2}}

A multi-page manifest maps page file names to such objects and applies to the pages it names::

    {"index.html": {"/static/app.css": {"type": "style", "weight": 1}},
     "about.html": {"/static/about.css": {"type": "style", "weight": 1}}}

``index.html`` serves ``/`` and ``/index.html``; ``blog/index.html`` serves ``/blog/``,
``/blog`` and ``/blog/index.html``; ``about.html`` serves ``/about.html`` and ``/about``. A key
that already starts with ``/`` names exactly that path (and its ``.html``-less form).

Each entry's ``type`` becomes the preload's ``as`` (an empty string means no ``as``: linked and
pushed, never hinted), ``weight`` (an int >= 0, default 1) orders pushes, highest first.
h2push also reads the optional keys ``crossorigin`` (``anonymous``, ``use-credentials``, or
``true`` for anonymous), ``nopush`` (bool), ``fetchpriority`` and ``rel`` (``preload``,
``modulepreload``, ``preconnect``). A manifest is read and checked once, when it is loaded;
every problem is a :class:`ManifestError` naming the file, the key and what is wrong.

Loading is bounded: only a regular file is read (a FIFO, a device or a symlink to one is
refused without reading), at most :data:`MAX_MANIFEST_BYTES` of it, with at most
:data:`MAX_MANIFEST_ENTRIES` resources in all; a weight is at most :data:`MAX_WEIGHT`. A page
keeps its :data:`MAX_PAGE_PRELOADS` highest-weight resources (one log line names what was left
out): more cannot fit in one 103 or Link header, and a request costs what its page can use,
whatever the manifest's size.

This module is part of the sans-IO core except for :meth:`Manifest.load`, which reads one file.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from h2push._core.errors import H2PushError
from h2push._core.links import Preload, PreloadError

#: The largest manifest file :meth:`Manifest.load` reads, in bytes, unless given ``max_bytes``.
#: These limits are read when a manifest is loaded: assign them (``h2push._core.manifest.
#: MAX_MANIFEST_BYTES = ...``) before the app or middleware loads its manifest.
MAX_MANIFEST_BYTES = 1 << 20

#: The most resources a manifest may declare, all pages together, unless :meth:`Manifest.load`
#: or :meth:`Manifest.from_dict` is given ``max_entries``.
MAX_MANIFEST_ENTRIES = 10_000

#: The most resources one page keeps, highest weight first (module attribute, read at load):
#: what fits in one 103 and one Link header (:data:`h2push._core.plan.MAX_LINK_BYTES`).
MAX_PAGE_PRELOADS = 32

#: The largest ``weight`` (a signed 32-bit int, as JavaScript's bitwise operators read it).
MAX_WEIGHT = 2**31 - 1

logger = logging.getLogger("h2push")

_ENTRY_KEYS = frozenset({"type", "weight", "crossorigin", "nopush", "fetchpriority", "rel"})


class ManifestError(H2PushError, ValueError):
    """A push manifest that cannot be used, raised when it is loaded, never per request.

    Attributes:
        source: The file (or ``<mapping>`` for data given in code).
        key: The path of keys to the problem, e.g. ``("index.html", "/app.css", "type")``;
            empty when the problem is the whole document.
        reason: What is wrong, in words.
    """

    def __init__(self, source: str, key: tuple[str, ...], reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = " > ".join(json.dumps(part) for part in key)
        super().__init__(f"{source}: {where + ': ' if where else ''}{reason}")


def _page_paths(page: str) -> tuple[str, ...]:
    """The request paths a multi-page manifest key serves."""
    path = page if page.startswith("/") else "/" + page
    if path.endswith("/index.html"):
        directory = path[: -len("index.html")]
        return (path, directory) + ((directory.rstrip("/"),) if directory != "/" else ())
    if path.endswith(".html"):
        return (path, path[: -len(".html")])
    return (path,)


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """Read a whole regular file of at most ``max_bytes`` bytes, refusing anything else.

    The file is opened without blocking, so a FIFO does not hang the caller, and checked
    with ``fstat`` on the open descriptor: a FIFO, a socket or a device (``/dev/zero``, or a
    symlink to it) is refused without reading a byte.

    Raises:
        OSError: The file cannot be opened or read, is not a regular file (``EINVAL``), or
            is larger than ``max_bytes`` (``EFBIG``); the message says which.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(22, "not a regular file (a FIFO, device or socket is never read)")
        if info.st_size > max_bytes:
            raise OSError(27, f"{info.st_size} bytes, more than the {max_bytes} read")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 16, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # it grew while being read
                raise OSError(27, f"more than the {max_bytes} bytes read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _reject_duplicates(source: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ManifestError(source, (key,), "key appears twice in one object")
            result[key] = value
        return result

    return hook


@dataclass(frozen=True)
class Manifest:
    """A checked push manifest: which resources to preload for which request path.

    Build one with :meth:`load` (a file) or :meth:`from_dict` (parsed JSON).

    Attributes:
        source: Where it came from (a file path, or ``<mapping>``), for messages.
        entries: Single-page: the preloads for every navigation, keyed by ``None``.
            Multi-page: the preloads of each page, keyed by the manifest's page name.
    """

    source: str
    entries: Mapping[str | None, tuple[Preload, ...]]
    _by_path: Mapping[str, tuple[Preload, ...]] = field(
        repr=False, compare=False, default_factory=dict
    )

    @property
    def multi_page(self) -> bool:
        """Whether the manifest names pages (``{"index.html": {...}}``) rather than one page."""
        return None not in self.entries

    def preloads_for(self, path: str, *, navigation: bool = True) -> tuple[Preload, ...]:
        """The candidate preloads for a request, highest weight first.

        Args:
            path: The request path (str, no query string), e.g. ``/about``.
            navigation: Whether the request is a navigation. A single-page manifest applies to
                navigations only; a multi-page manifest to the paths of the pages it names.

        Returns:
            The declared preloads, possibly empty.
        """
        if not self.multi_page:
            return self.entries[None] if navigation else ()
        return self._by_path.get(path, ())

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        max_entries: int | None = None,
    ) -> Manifest:
        """Read and check a ``push_manifest.json`` file.

        Args:
            path: The file's path; it must be a regular file (or a symlink to one).
            max_bytes: The largest file read (bytes); None: :data:`MAX_MANIFEST_BYTES`.
            max_entries: The most resources declared, all pages together; None:
                :data:`MAX_MANIFEST_ENTRIES`.

        Raises:
            ManifestError: The file cannot be read, is not a regular file, is larger than
                ``max_bytes``, is not JSON (nested too deep, a number too long), declares more
                than ``max_entries`` resources, or has an invalid entry; the message names
                the file, the key and the reason.
        """
        source = os.fspath(path)
        if max_bytes is None:
            max_bytes = MAX_MANIFEST_BYTES
        try:
            text = read_regular_file(source, max_bytes).decode("utf-8")
        except OSError as error:
            reason = error.strerror or str(error)
            if error.errno == 27:
                reason += " (set h2push._core.manifest.MAX_MANIFEST_BYTES for a larger manifest)"
            raise ManifestError(source, (), f"cannot be read: {reason}") from None
        except UnicodeDecodeError as error:
            raise ManifestError(source, (), f"cannot be read: {error}") from None
        try:
            data = json.loads(text, object_pairs_hook=_reject_duplicates(source))
        except json.JSONDecodeError as error:
            raise ManifestError(
                source, (), f"is not valid JSON: {error.msg} at line {error.lineno}"
            ) from None
        except RecursionError:
            raise ManifestError(source, (), "is nested too deep to be a manifest") from None
        except ValueError as error:  # an integer of more than sys.get_int_max_str_digits()
            raise ManifestError(source, (), f"is not valid JSON: {error}") from None
        return cls.from_dict(data, source=source, max_entries=max_entries)

    @classmethod
    def load_beside(cls, path: str | os.PathLike[str], owner: object) -> Manifest:
        """Load a manifest whose relative path is taken from the module that defines ``owner``.

        How per-view decorators find ``@http2push("about_manifest.json")``: next to the view's
        module (the current directory for code without a file, such as ``python -c``).

        Args:
            path: The manifest's path, relative or absolute.
            owner: A function or class; its ``__module__`` names the module.

        Raises:
            ManifestError: As :meth:`load`.
        """
        file = Path(path)
        if not file.is_absolute():
            module = sys.modules.get(getattr(owner, "__module__", "") or "")
            source = getattr(module, "__file__", None)
            file = (Path(source).resolve().parent if source else Path.cwd()) / file
        return cls.load(file)

    @classmethod
    def from_dict(
        cls, data: object, *, source: str = "<mapping>", max_entries: int | None = None
    ) -> Manifest:
        """Check parsed manifest JSON and build a Manifest from it.

        Args:
            data: The parsed document (a dict in either format).
            source: A name for messages.
            max_entries: The most resources declared, all pages together; None:
                :data:`MAX_MANIFEST_ENTRIES`.

        Raises:
            ManifestError: Naming the key and what is wrong: a key that is not a str, a value
                of the wrong type, more than ``max_entries`` resources, an invalid entry.
        """
        if not isinstance(data, dict):
            raise ManifestError(source, (), f"must be a JSON object, not {_json_type(data)}")
        _check_shape(source, data, MAX_MANIFEST_ENTRIES if max_entries is None else max_entries)
        # Multi-page when a top-level value holds objects: {"index.html": {"/a.css": {...}}}.
        # A document of only empty objects under page names ({"index.html": {}}) is too.
        multi_page = any(
            isinstance(value, dict) and any(isinstance(e, dict) for e in value.values())
            for value in data.values()
        ) or (
            bool(data)
            and all(value == {} for value in data.values())
            and not any(str(key).startswith(("/", "http://", "https://")) for key in data)
        )
        if not multi_page:
            preloads = _page(source, (), data)
            return cls(source=source, entries={None: preloads})
        entries: dict[str | None, tuple[Preload, ...]] = {}
        by_path: dict[str, tuple[Preload, ...]] = {}
        for page, resources in data.items():
            if not page or any(c in page for c in "\r\n\0?#") or page.startswith("//"):
                raise ManifestError(source, (page,), "is not a page name such as index.html")
            entries[page] = preloads = _page(source, (page,), resources)
            for request_path in _page_paths(page):
                by_path[request_path] = preloads
        return cls(source=source, entries=entries, _by_path=by_path)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as http2-push-manifest JSON data; :meth:`from_dict` reads it back equal.

        Extra keys (``crossorigin``, ``nopush``, ``fetchpriority``, ``rel``) appear only where
        they differ from what ``type`` implies.
        """
        pages = {
            page: {p.url: _entry_dict(p) for p in preloads}
            for page, preloads in self.entries.items()
        }
        if not self.multi_page:
            return pages[None]
        return {str(page): resources for page, resources in pages.items()}


def _check_shape(source: str, data: dict[Any, Any], max_entries: int) -> None:
    """Check keys are str and count resources before any other work (at most two levels)."""
    count = 0
    for key, value in data.items():
        if not isinstance(key, str):
            raise ManifestError(source, (repr(key),), "a key must be a string")
        if isinstance(value, dict):
            inner = [k for k in value if not isinstance(k, str)]
            if inner:
                raise ManifestError(source, (key, repr(inner[0])), "a key must be a string")
            nested = any(isinstance(v, dict) for v in value.values())
            count += len(value) if nested else 1
        else:
            count += 1
        if count > max_entries:
            raise ManifestError(
                source,
                (),
                f"declares more than {max_entries} resources (a manifest lists a page's"
                " critical resources; set h2push._core.manifest.MAX_MANIFEST_ENTRIES for more)",
            )
    for key, value in data.items():
        if isinstance(value, dict):
            for url, entry in value.items():
                if isinstance(entry, dict) and any(not isinstance(k, str) for k in entry):
                    raise ManifestError(source, (key, url), "a key must be a string")


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _page(source: str, where: tuple[str, ...], resources: object) -> tuple[Preload, ...]:
    if not isinstance(resources, dict):
        raise ManifestError(
            source, where, f"must be an object of resources, not {_json_type(resources)}"
        )
    preloads = [_entry(source, (*where, url), url, entry) for url, entry in resources.items()]
    # Highest weight first; the order of the file breaks ties.
    ordered = tuple(sorted(preloads, key=lambda p: -p.weight))
    if len(ordered) > MAX_PAGE_PRELOADS:
        logger.warning(
            "h2push: %s: %s declares %d resources; the %d of highest weight are used"
            " (h2push._core.manifest.MAX_PAGE_PRELOADS)",
            source,
            " > ".join(where) or "the page",
            len(ordered),
            MAX_PAGE_PRELOADS,
        )
        ordered = ordered[:MAX_PAGE_PRELOADS]
    return ordered


def _entry(source: str, where: tuple[str, ...], url: str, entry: object) -> Preload:
    if not isinstance(entry, dict):
        raise ManifestError(
            source,
            where,
            f'must be an object like {{"type": "style", "weight": 1}}, not {_json_type(entry)}',
        )
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise ManifestError(
            source, (*where, unknown[0]), f"unknown key; expected one of {sorted(_ENTRY_KEYS)}"
        )

    def field_value(key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = entry.get(key, default)
        if value is not default and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        ):
            raise ManifestError(source, (*where, key), f"has {_json_type(value)}, the wrong type")
        return value

    as_ = field_value("type", str, "")
    weight = field_value("weight", int, 1)
    if weight < 0:
        raise ManifestError(source, (*where, "weight"), f"{weight} must not be negative")
    if weight > MAX_WEIGHT:
        raise ManifestError(source, (*where, "weight"), f"must be at most {MAX_WEIGHT}")
    crossorigin = field_value("crossorigin", (str, bool), None)
    if crossorigin is True:
        crossorigin = "anonymous"
    elif crossorigin is False:
        crossorigin = None
    rel = field_value("rel", str, "preload")
    if rel != "preconnect" and not (url.startswith("/") and not url.startswith("//")):
        raise ManifestError(
            source,
            where,
            "must be an absolute path on this origin such as /static/app.css"
            " (relative URLs and other origins cannot be pushed; use rel preconnect for an origin)",
        )
    try:
        return Preload(
            url=url,
            rel=rel,
            as_=as_ or None,
            crossorigin=crossorigin,
            fetchpriority=field_value("fetchpriority", str, None),
            nopush=field_value("nopush", bool, False),
            weight=weight,
        )
    except PreloadError as error:
        key = {"url": (), "as_": ("type",)}.get(error.field, (error.field,))
        raise ManifestError(source, (*where, *key), str(error)) from None


def _entry_dict(preload: Preload) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": preload.as_ or "", "weight": preload.weight}
    implied = Preload(url=preload.url, rel=preload.rel, as_=preload.as_)
    if preload.crossorigin != implied.crossorigin:
        entry["crossorigin"] = preload.crossorigin
    if preload.nopush:
        entry["nopush"] = True
    if preload.fetchpriority is not None:
        entry["fetchpriority"] = preload.fetchpriority
    if preload.rel != "preload":
        entry["rel"] = preload.rel
    return entry
