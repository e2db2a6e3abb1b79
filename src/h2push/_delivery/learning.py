"""Learn each page's critical resources from the application's own responses.

With no manifest and no ``@http2push`` for a route, h2push reads what the route's pages name
as they stream out, and sends that in the 103 Early Hints (and pushes it, to a client that
takes pushes) before the view runs, from the second navigation to the route on. The anchor is
Cloudflare's Early Hints, which replays the ``Link: rel=preload|preconnect`` headers of an
origin's HTML responses; h2push also reads the page's head and its stylesheets, keys by the
framework's route rather than the raw URL, and forgets what the page stopped naming.

What teaches (docs/learning.md has the whole policy):

* Only a ``2xx`` ``text/html`` response to a ``GET`` navigation (not a pushed request, not a
  compressed body), for a route with no manifest entry and no decorator: an explicit
  declaration always wins, and is not learned over.
* From its head (:class:`HeadScanner`, ``html.parser`` over a copy of the first bytes, up to
  ``</head>``, the first body content, or :data:`MAX_HEAD_BYTES`; the body chunks themselves go
  out unchanged and undelayed): stylesheets, scripts (classic and module), ``<link
  rel=preload|modulepreload|preconnect>``, and images only when marked (``fetchpriority=high``
  in the head, or preloaded).
* From the response's own ``Link`` preloads and the ``push()`` calls made for it, so that a
  ``push()`` in a template, too late for a 103, becomes an early hint the next time.
* From the same-origin stylesheets a learned page names, as their responses pass through
  (:func:`stylesheet_preloads`, tinycss2): the ``@font-face`` fonts and ``@import`` s they name,
  read once per stylesheet version (``ETag``, else ``Last-Modified``, else length).

A route's set is replaced by the latest teaching response's: a resource leaves it when the page
stops naming it, so a new hashed asset name replaces the old one after one response. Only
same-origin URLs are learned, except ``preconnect`` origins. A page that differs per user (it
sets a cookie, or says ``Cache-Control: private`` or ``no-store``) teaches only its shared code:
stylesheets, scripts, fonts and preconnects, never images or fetch preloads, whose URLs can
name one user's data.

Memory is bounded (:class:`MemoryStore`: routes, entries per route, bytes); :class:`RedisStore`
shares what was learned across workers and machines. This module imports no web framework;
:func:`route_resolver` imports one only for an application of that framework.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from typing import Any, Final, NamedTuple, Protocol
from urllib.parse import urljoin, urlsplit

from h2push._core.links import Preload, parse_link_header

logger = logging.getLogger("h2push")

#: The most bytes of a page read for its head; a head longer than this is read this far.
MAX_HEAD_BYTES: Final = 64 * 1024
#: The most bytes of a stylesheet read for its fonts and imports; a longer one is not read.
MAX_STYLESHEET_BYTES: Final = 512 * 1024
#: The most routes a :class:`MemoryStore` keeps (least recently used forgotten first).
DEFAULT_MAX_ROUTES: Final = 1000
#: The most resources learned for one route (page) or one stylesheet.
DEFAULT_MAX_ENTRIES: Final = 32
#: The most bytes of Link field lines a learned 103 carries (``link: `` + value + CRLF each),
#: so that the 103 fits nginx's default ``proxy_buffer_size`` (4 KiB on many systems).
DEFAULT_MAX_HINT_BYTES: Final = 3584
#: The most bytes a :class:`MemoryStore` keeps in all (link-value text).
DEFAULT_MAX_STORE_BYTES: Final = 4 * 1024 * 1024

_HTML_TYPES: Final = (b"text/html", b"application/xhtml+xml")
_SHARED_DESTINATIONS: Final = frozenset({"style", "script", "font"})
# Elements that end the head: anything that puts content in the body (HTML Standard, "in head").
_BODY_TAGS: Final = frozenset(
    {"body", "div", "p", "main", "header", "nav", "section", "article", "h1", "h2", "table", "ul"}
)
_CLASSIC_SCRIPT_TYPES: Final = frozenset(
    {"", "text/javascript", "application/javascript", "application/ecmascript", "module"}
)
_PAGE: Final = "page:"
_CHARSETS: dict[bytes, str] = {}  # Content-Type value to charset, for the few an app sends
_CSS: Final = "css:"


# --------------------------------------------------------------------------- reading


def _same_origin_path(url: str, base: str, origin: str) -> str | None:
    """``url`` resolved against ``base`` (an absolute URL), as a path if on ``origin``."""
    if url[:1] == "/" and url[1:2] != "/" and "/." not in url and "\\" not in url:
        return url.partition("#")[0] or None  # the common case, without urljoin's cost
    try:
        joined = urljoin(base, url.strip())
        parts = urlsplit(joined)
    except ValueError:
        return None
    if f"{parts.scheme}://{parts.netloc}" != origin or not parts.path.startswith("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _origin_of(url: str, base: str) -> str | None:
    try:
        parts = urlsplit(urljoin(base, url.strip()))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _preload(**fields: Any) -> Preload | None:
    try:
        return Preload(**fields)
    except (ValueError, TypeError):
        return None


class HeadScanner(HTMLParser):
    """Collect the critical resources an HTML head names (HTML Standard, "in head").

    Feed it text (:meth:`feed`); :attr:`done` turns True at ``</head>`` or at the first
    element that belongs to the body. :attr:`found` lists, in document order and once each:

    * ``<link rel=stylesheet href>`` (not ``alternate``, not ``disabled``): ``preload as=style``;
    * ``<script src>``: ``modulepreload`` for ``type=module``, else ``preload as=script``;
    * ``<link rel=preload as href>`` with its ``type``, ``crossorigin`` and ``fetchpriority``;
      ``rel=modulepreload``; ``rel=preconnect`` (as an origin, any origin);
    * ``<img src fetchpriority=high>`` met before the scan stops: ``preload as=image``.

    URLs are resolved against the page (and a ``<base href>``); only same-origin ones are
    kept, as absolute paths, except preconnect origins.

    Args:
        page_url: The page's absolute URL, e.g. ``https://example.com/blog/``.
    """

    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = page_url
        parts = urlsplit(page_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.found: list[Preload] = []
        self.done = False
        self._seen: set[tuple[str, str]] = set()

    def _add(self, preload: Preload | None) -> None:
        if preload is None or len(self.found) >= DEFAULT_MAX_ENTRIES:
            return
        key = (preload.rel, preload.url)
        if key not in self._seen:
            self._seen.add(key)
            self.found.append(preload)

    def _path(self, url: str | None) -> str | None:
        return None if not url else _same_origin_path(url, self.base, self.origin)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Read one start tag (``html.parser`` calls this)."""
        if self.done:
            return
        values = {name: (value or "") for name, value in attrs}
        if tag == "link":
            self._link(values)
        elif tag == "script":
            kind = values.get("type", "").strip().lower()
            path = self._path(values.get("src"))
            if path is not None and kind in _CLASSIC_SCRIPT_TYPES:
                if kind == "module":
                    self._add(_preload(url=path, rel="modulepreload"))
                else:
                    self._add(_preload(url=path, as_="script", crossorigin=_cors(values)))
        elif tag == "base" and values.get("href"):
            self.base = urljoin(self.base, values["href"])
        elif tag == "img" and values.get("fetchpriority", "").lower() == "high":
            path = self._path(values.get("src"))
            if path is not None:
                self._add(_preload(url=path, as_="image", fetchpriority="high"))
        if tag in _BODY_TAGS:
            self.done = True

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        """Stop at ``</head>`` (``html.parser`` calls this)."""
        if tag == "head":
            self.done = True

    def _link(self, values: dict[str, str]) -> None:
        rels = set(values.get("rel", "").lower().split())
        href = values.get("href")
        if not href:
            return
        if "stylesheet" in rels and "alternate" not in rels and "disabled" not in values:
            path = self._path(href)
            if path is not None:
                self._add(_preload(url=path, as_="style", crossorigin=_cors(values)))
        elif "preconnect" in rels:
            origin = _origin_of(href, self.base)
            if origin is not None:
                self._add(_preload(url=origin, rel="preconnect", crossorigin=_cors(values)))
        elif "modulepreload" in rels:
            path = self._path(href)
            if path is not None:
                self._add(_preload(url=path, rel="modulepreload", crossorigin=_cors(values)))
        elif "preload" in rels:
            path = self._path(href)
            destination = values.get("as", "").strip().lower()
            if path is not None and destination:
                self._add(
                    _preload(
                        url=path,
                        as_=destination,
                        type=values.get("type") or None,
                        crossorigin=_cors(values),
                        fetchpriority=(values.get("fetchpriority") or "").lower() or None,
                    )
                )


def _cors(values: dict[str, str]) -> str | None:
    if "crossorigin" not in values:
        return None
    return "use-credentials" if values["crossorigin"].lower() == "use-credentials" else "anonymous"


# A nonce attribute (HTML's CSP ``nonce``): its value changes on every response and teaches
# nothing, so heads are compared with it blanked.
_NONCE_ATTRIBUTE = re.compile(rb"""(\snonce\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE)
# The header fields that decide what a page teaches (Learner.page): the rest may change freely.
_TEACHING_FIELDS = frozenset({b"content-type", b"link", b"cache-control", b"content-encoding"})


def _without_nonces(head: bytes) -> bytes | None:
    """``head`` with every ``nonce`` attribute's value blanked, or None when it has none."""
    if b"nonce" not in head.lower():
        return None
    return _NONCE_ATTRIBUTE.sub(rb'\1""', head)


def _teaching_fields(headers: Sequence[tuple[bytes, bytes]]) -> tuple[object, ...]:
    """The header fields :meth:`Learner.page` reads, in order; of ``Set-Cookie`` its presence."""
    fields: list[object] = []
    cookie = False
    for name, value in headers:
        lowered = name.lower()
        if lowered in _TEACHING_FIELDS:
            fields.append((lowered, value))
        elif lowered == b"set-cookie":
            cookie = True
    fields.append(cookie)
    return tuple(fields)


class _Start(NamedTuple):
    """The last response a route was read from: what :meth:`Learner.unchanged` compares."""

    status: int
    headers: list[tuple[bytes, bytes]]
    head: bytes
    fields: tuple[object, ...]  # _teaching_fields(headers)
    blanked: bytes | None  # _without_nonces(head)


def _head_end(data: bytes, limit: int) -> int:
    """Where the head ends in ``data[:limit]`` (after ``</head>``, before ``<body``), or -1.

    Searched without copying ``data``; a marker in mixed case or split across two chunks is
    not seen (the head is then read up to the next marker, or the cap).
    """
    end = -1
    for marker in (b"</head", b"</HEAD", b"<body", b"<BODY"):
        found = data.find(marker, 0, limit if end < 0 else end)
        if found >= 0:
            end = found
    if end < 0:
        return -1
    close = data.find(b">", end, limit)
    return limit if close < 0 else close + 1


def stylesheet_preloads(css: bytes | str, stylesheet_url: str) -> list[Preload]:
    """The fonts and imported stylesheets a stylesheet names, as preloads (CSS Fonts 4 §4.3).

    For each ``@font-face`` the first ``url()`` of its ``src`` with ``format("woff2")`` (else its
    first ``url()``) becomes ``preload as=font crossorigin`` (fonts are fetched in CORS mode),
    with ``type=font/woff2`` or ``font/woff`` when the format says so; each ``@import`` becomes
    ``preload as=style``. Only URLs on the stylesheet's origin are kept, as absolute paths.

    Args:
        css: The stylesheet (bytes are decoded as UTF-8, invalid bytes replaced).
        stylesheet_url: Its absolute URL, e.g. ``https://example.com/static/app.css``.

    Returns:
        The preloads, in stylesheet order, at most :data:`DEFAULT_MAX_ENTRIES`.
    """
    import tinycss2  # type: ignore[import-untyped]  # noqa: PLC0415

    text = css.decode("utf-8", "replace") if isinstance(css, bytes) else css
    parts = urlsplit(stylesheet_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    found: list[Preload] = []
    seen: set[str] = set()

    def add(url: str, **fields: Any) -> None:
        path = _same_origin_path(url, stylesheet_url, origin)
        if path is None or path in seen or len(found) >= DEFAULT_MAX_ENTRIES:
            return
        preload = _preload(url=path, **fields)
        if preload is not None:
            seen.add(path)
            found.append(preload)

    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    for rule in rules:
        if rule.type != "at-rule":
            continue
        keyword = rule.lower_at_keyword
        if keyword == "import":
            url = _first_url(rule.prelude)
            if url is not None:
                add(url, as_="style")
        elif keyword == "font-face" and rule.content is not None:
            for declaration in tinycss2.parse_blocks_contents(
                rule.content, skip_comments=True, skip_whitespace=True
            ):
                if declaration.type == "declaration" and declaration.lower_name == "src":
                    url, kind = _font_source(declaration.value)
                    if url is not None:
                        add(url, as_="font", type=kind)
    return found


def _first_url(tokens: Sequence[Any]) -> str | None:
    for token in tokens:
        if token.type == "url":
            return str(token.value)
        if token.type == "string":
            return str(token.value)
        if token.type == "function" and token.lower_name == "url":
            for argument in token.arguments:
                if argument.type == "string":
                    return str(argument.value)
    return None


def _font_source(tokens: Sequence[Any]) -> tuple[str | None, str | None]:
    """The best ``url()`` of a ``src`` descriptor: woff2 first, then the first one."""
    sources: list[tuple[str, str | None]] = []
    url: str | None = None
    for token in [*tokens, None]:
        if token is None or (token.type == "literal" and token.value == ","):
            if url is not None:
                sources.append((url, None))
            url = None
            continue
        if token.type == "url" or (token.type == "function" and token.lower_name == "url"):
            url = _first_url([token])
        elif token.type == "function" and token.lower_name == "format" and url is not None:
            name = next((str(a.value).lower() for a in token.arguments if a.type == "string"), "")
            sources.append((url, {"woff2": "font/woff2", "woff": "font/woff"}.get(name, "")))
            url = None
    for source, kind in sources:
        if kind == "font/woff2":
            return source, kind
    if not sources:
        return None, None
    source, kind = sources[0]
    return source, kind or None


# --------------------------------------------------------------------------- stores


class LearnedStore(Protocol):
    """Where learned sets live: a key (str) to a tuple of RFC 8288 link-values (str).

    ``blocking`` says whether :meth:`get_many` and :meth:`put` do I/O (an ASGI server then
    calls them in a thread).
    """

    blocking: bool

    def get_many(self, keys: Sequence[str]) -> list[tuple[str, ...] | None]:
        """The values of ``keys``, None for a key not stored."""
        ...

    def put(self, key: str, values: tuple[str, ...]) -> None:
        """Store ``values`` under ``key``, replacing what was there."""
        ...


class MemoryStore:
    """Learned sets in this process: bounded in keys and bytes, least recently used out first.

    Args:
        max_routes: The most keys kept (pages and stylesheets; int >= 1).
        max_bytes: The most bytes of link-value text kept in all (int >= 1).
    """

    blocking = False

    def __init__(
        self, *, max_routes: int = DEFAULT_MAX_ROUTES, max_bytes: int = DEFAULT_MAX_STORE_BYTES
    ) -> None:
        if max_routes < 1 or max_bytes < 1:
            raise ValueError("max_routes and max_bytes must be at least 1")
        self.max_routes = max_routes
        self.max_bytes = max_bytes
        #: Counts the writes (int): a reader that saw the same generation saw the same sets.
        self.generation = 0
        self._entries: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, keys: Sequence[str]) -> list[tuple[str, ...] | None]:
        """The values of ``keys`` (None where not stored)."""
        entries = self._entries
        return [entries.get(key) for key in keys]

    def put(self, key: str, values: tuple[str, ...]) -> None:
        """Store ``values`` under ``key``; forget the least recently stored beyond the caps."""
        size = len(key) + sum(len(v) for v in values)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(key) + sum(len(v) for v in old)
            self._entries[key] = values
            self._bytes += size
            self.generation += 1
            while self._entries and (
                len(self._entries) > self.max_routes or self._bytes > self.max_bytes
            ):
                gone, values_gone = self._entries.popitem(last=False)
                self._bytes -= len(gone) + sum(len(v) for v in values_gone)


class RedisStore:
    """Learned sets in Redis, shared by every worker and machine that uses the same server.

    Each key is one Redis string (a JSON list of link-values) under ``prefix``, expiring
    ``ttl_s`` seconds after it was last learned. One ``MGET`` per navigation reads a page's set
    and its stylesheets' fonts. When Redis fails, nothing is hinted from learning and the
    request goes on; the error is logged once per minute at most.

    Args:
        client: A ``redis.Redis`` client, or a URL such as ``redis://127.0.0.1:6379/0``.
        prefix: The key prefix (str).
        ttl_s: How long a learned set lives without being learned again (seconds, int >= 1).

    Raises:
        ImportError: The ``redis`` package is missing (``pip install 'h2push[redis]'``).
    """

    blocking = True

    def __init__(
        self, client: Any, *, prefix: str = "h2push:learned:", ttl_s: int = 7 * 24 * 3600
    ) -> None:
        if isinstance(client, str):
            try:
                import redis  # noqa: PLC0415
            except ImportError as error:  # pragma: no cover - the extra names it
                raise ImportError("RedisStore needs redis: pip install 'h2push[redis]'") from error
            client = redis.Redis.from_url(client)
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._failed_at = 0.0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="h2push-learn")

    def _failed(self, error: Exception) -> None:
        import time  # noqa: PLC0415

        now = time.monotonic()
        if now - self._failed_at > 60:
            self._failed_at = now
            logger.warning("h2push: the Redis store of learned hints failed: %s", error)

    def get_many(self, keys: Sequence[str]) -> list[tuple[str, ...] | None]:
        """The values of ``keys`` (None where not stored or when Redis fails)."""
        if not keys:
            return []
        try:
            raw = self.client.mget([self.prefix + key for key in keys])
        except Exception as error:  # redis.RedisError, OSError: hint nothing learned
            self._failed(error)
            return [None] * len(keys)
        found: list[tuple[str, ...] | None] = []
        for value in raw:
            try:
                loaded = json.loads(value) if value is not None else None
            except ValueError:
                loaded = None
            ok = isinstance(loaded, list) and all(isinstance(v, str) for v in loaded)
            found.append(tuple(loaded) if ok and loaded is not None else None)
        return found

    def put(self, key: str, values: tuple[str, ...]) -> None:
        """Store ``values`` under ``key`` with the store's lifetime, in a background thread.

        A response is never held up by Redis: the write goes out from one worker thread, in
        order, after the call returns.
        """
        self._writer.submit(self._put, key, values)

    def _put(self, key: str, values: tuple[str, ...]) -> None:
        try:
            self.client.set(self.prefix + key, json.dumps(list(values)), ex=self.ttl_s)
        except Exception as error:  # redis.RedisError, OSError
            self._failed(error)


# --------------------------------------------------------------------------- the learner


def _parse(values: tuple[str, ...]) -> tuple[Preload, ...]:
    found: list[Preload] = []
    for text in values:
        try:
            found.extend(Preload.from_link_value(v) for v in parse_link_header(text))
        except ValueError:
            continue
    return tuple(found)


def _header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value
    return None


class Learner:
    """Learns per route what a page needs early, and gives it back as :class:`Preload` values.

    One learner serves one application (it is shared by all its requests and threads). An
    adapter asks :meth:`preloads` before the view runs, for a route with no declaration, and
    reports each response through :meth:`page` and :meth:`stylesheet`.

    Args:
        store: Where learned sets live: a :class:`MemoryStore` (default, this process only) or
            a :class:`RedisStore` (shared).
        route: A function from a request path (str) to the framework's route (str, e.g. a
            Flask endpoint, a Starlette route path, a Django URL pattern) or None when no
            route takes the path (nothing is learned or hinted then). Without one the raw
            path is the key, in a store bounded like any other.
        max_entries: The most resources kept per page (int >= 1).
        max_hint_bytes: The most bytes of Link field lines hinted from learning per response
            (``link: `` + value + CRLF each; default 3584, under nginx's 4 KiB buffer).
    """

    def __init__(
        self,
        *,
        store: LearnedStore | None = None,
        route: Callable[[str], str | None] | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_hint_bytes: int = DEFAULT_MAX_HINT_BYTES,
    ) -> None:
        self.store: LearnedStore = store if store is not None else MemoryStore()
        self.route = route
        self.max_entries = max_entries
        self.max_hint_bytes = max_hint_bytes
        self._lock = threading.Lock()
        # Per process: parsed sets by their text, what each page's head hashed to last,
        # which stylesheet versions were read, which paths were ever hinted. All bounded.
        self._parsed: OrderedDict[tuple[str, ...], tuple[Preload, ...]] = OrderedDict()
        self._digests: OrderedDict[str, int] = OrderedDict()
        self._read: OrderedDict[str, bytes] = OrderedDict()
        self._wanted: OrderedDict[str, None] = OrderedDict()
        self._hinted: OrderedDict[str, None] = OrderedDict()
        self._keys: OrderedDict[str, str | None] = OrderedDict()
        self._results: OrderedDict[str, tuple[Any, Any, tuple[Preload, ...], list[str]]] = (
            OrderedDict()
        )
        # A store in this process tells when it last changed: a path's key and result are
        # then read again only after a write (by path: the generation, the key, the result).
        self._memory = self.store if isinstance(self.store, MemoryStore) else None
        self._current: dict[str, tuple[int, str | None, tuple[Preload, ...]]] = {}
        # Per page key, the last response it was read from, when its head was whole in the
        # first chunk and no push() call taught: (status, header fields, head bytes).
        self._last: dict[str, _Start] = {}

    # ---------------------------------------------------------------- before the view

    def key(self, path: str) -> str | None:
        """The store key of the page at ``path`` (its route), or None when no route takes it.

        A path's route is asked once and remembered (bounded; least recently used out).
        """
        if self.route is None:
            return _PAGE + path
        try:
            return self._keys[path]
        except KeyError:
            pass
        route = self.route(path)
        key = None if route is None else _PAGE + route
        self._remember(self._keys, path, key)
        return key

    def preloads(self, path: str, *, key: str | None = None) -> tuple[Preload, ...]:
        """What the route of ``path`` learned: the page's set, then its stylesheets' fonts.

        Call it only for a ``GET`` navigation to a route with no manifest entry or decorator.
        The result stays under ``max_hint_bytes`` of Link field lines (the first resources
        in page order that fit). While nothing changes, the same tuple is returned.

        Args:
            path: The request path (str, no query string).
            key: Its :meth:`key`, when the caller has it already.

        Returns:
            The preloads (empty when nothing is learned or no route takes ``path``).
        """
        if self._memory is not None:
            return self.lookup(path)[1]
        key = key or self.key(path)
        return () if key is None else self._preloads(key)

    def lookup(self, path: str) -> tuple[str | None, tuple[Preload, ...]]:
        """:meth:`key` and :meth:`preloads` of ``path`` in one call, for a request.

        With a :class:`MemoryStore` the answer is remembered per path until the store next
        changes, so a navigation costs one dictionary lookup; with a store that blocks
        (``store.blocking``: Redis) call :meth:`preloads` in a thread instead.

        Returns:
            The page's key (None when no route takes ``path``) and its preloads.
        """
        memory = self._memory
        generation = memory.generation if memory is not None else -1
        current = self._current.get(path)
        if current is not None and current[0] == generation >= 0:
            return current[1], current[2]  # nothing was written since: the same tuple
        key = self.key(path)
        result = () if key is None else self._preloads(key)
        if memory is not None:
            if len(self._current) >= DEFAULT_MAX_ROUTES:
                self._current.clear()
            self._current[path] = (generation, key, result)
        return key, result

    def _preloads(self, key: str) -> tuple[Preload, ...]:
        (page_values,) = self.store.get_many([key])
        if page_values is None and key in self._digests:
            # The store lost the page (evicted, expired, another worker's Redis flushed):
            # the next response is read again even if its head did not change.
            with self._lock:
                self._digests.pop(key, None)
                self._last.pop(key, None)
        if not page_values:
            return ()
        memo = self._results.get(key)
        if memo is not None and memo[0] == page_values:
            css_keys = memo[3]
        else:
            memo = None
            page = self._parsed_set(page_values)
            css_keys = [_CSS + p.url for p in page if p.as_ == "style" and p.same_origin]
        css_values = tuple(self.store.get_many(css_keys)) if css_keys else ()
        if memo is not None and memo[1] == css_values:
            return memo[2]
        page = self._parsed_set(page_values)
        extra: list[Preload] = []
        for values in css_values:
            if values:
                extra.extend(self._parsed_set(values))
        found: list[Preload] = []
        seen: set[str] = set()
        used = 0
        for preload in (*page, *extra):
            if preload.url in seen:
                continue
            size = len(preload.hint_text) + 8  # "link: " and CRLF
            if used + size > self.max_hint_bytes:
                continue
            used += size
            seen.add(preload.url)
            found.append(preload)
        for preload in found:
            if preload.same_origin and preload.rel != "preconnect":
                self._remember(self._hinted, preload.url.partition("?")[0], None)
        result = tuple(found)
        self._remember(self._results, key, (page_values, css_values, result, css_keys))
        return result

    def unchanged(
        self,
        key: str,
        status: int,
        headers: Sequence[tuple[bytes, bytes]],
        chunk: bytes,
        pushed: Sequence[Preload] = (),
    ) -> bool:
        """Whether a page response repeats the last one its route was read from.

        True when the status and the header fields that teach (``Content-Type``, ``Link``,
        ``Cache-Control``, ``Content-Encoding``, whether a ``Set-Cookie`` is set) are equal and
        the first body chunk starts with that response's whole head, ``nonce`` attribute
        values aside (a CSP nonce changes on every response and teaches nothing): the
        response would teach the same set again, so no :class:`PageLesson` is needed. A
        response made with ``push()`` calls is never unchanged (they teach). Any other
        response is read as usual (:meth:`page`).

        Args:
            key: The page's :meth:`key`.
            status: The response status.
            headers: The response's header fields as the application set them (bytes pairs).
            chunk: The first body chunk (bytes).
            pushed: The ``push()`` calls made for this response.
        """
        last = self._last.get(key)
        if last is None or last.status != status or pushed:
            return False
        # The same list as last time is the usual case; a Set-Cookie or a CSP value that
        # changes on every response leaves the fields that teach equal.
        if last.headers != headers and last.fields != _teaching_fields(headers):
            return False
        if chunk.startswith(last.head):
            return True
        if last.blanked is None:
            return False
        end = _head_end(chunk, min(len(chunk), MAX_HEAD_BYTES))
        return end >= 0 and _without_nonces(chunk[:end]) == last.blanked

    def hints(self, path: str) -> bool:
        """Whether ``path`` (no query) was hinted from learning in this process (bounded)."""
        return path in self._hinted

    def _parsed_set(self, values: tuple[str, ...]) -> tuple[Preload, ...]:
        parsed = self._parsed.get(values)
        if parsed is None:
            parsed = _parse(values)
            self._remember(self._parsed, values, parsed)
        return parsed

    def _remember(self, table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            table[key] = value
            if len(table) > DEFAULT_MAX_ROUTES:
                table.popitem(last=False)

    # ---------------------------------------------------------------- as responses pass

    def page(
        self,
        path: str,
        *,
        origin: str,
        status: int,
        headers: Sequence[tuple[bytes, bytes]],
        pushed: Iterable[Preload] = (),
        key: str | None = None,
    ) -> PageLesson | None:
        """Start learning from a response to a ``GET`` navigation to ``path``, or not.

        Call it as the response starts, for a route with no declaration; feed the lesson
        the body chunks (:meth:`PageLesson.feed`) as they go out.

        Args:
            path: The request path (str, no query string).
            origin: The page's origin, e.g. ``https://example.com``.
            status: The response status.
            headers: The response's header fields as the application set them (bytes pairs).
            pushed: The ``push()`` calls made for this response.
            key: The page's :meth:`key`, when the caller has it already.

        Returns:
            A lesson, or None when this response teaches nothing (not a ``2xx`` HTML
            response, a compressed body, or no route takes ``path``).
        """
        if not 200 <= status < 300:
            return None
        content_type = b""
        private = False
        links: list[bytes] = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-type":
                content_type = value.lower()
            elif lowered == b"link":
                links.append(value)
            elif lowered == b"set-cookie":
                private = True
            elif lowered == b"cache-control":
                private = private or b"private" in value.lower() or b"no-store" in value.lower()
            elif lowered == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
                return None  # a compressed body cannot be read as it streams
        if not content_type.startswith(_HTML_TYPES):
            return None
        key = key or self.key(path)
        if key is None:
            return None
        linked: list[Preload] = list(pushed)
        repeatable = not linked  # no push() call taught it
        for value in links:
            linked.extend(_preloads_in(value.decode("latin-1")))
        charset = _CHARSETS.get(content_type)
        if charset is None:
            charset = "utf-8"
            if b"charset=" in content_type:
                charset = (
                    content_type.split(b"charset=", 1)[1]
                    .split(b";")[0]
                    .strip(b"\"' ")
                    .decode("ascii", "replace")
                )
            if len(_CHARSETS) < 64:
                _CHARSETS[content_type] = charset
        lesson = PageLesson(
            self,
            key,
            page_url=origin + path,
            charset=charset,
            linked=linked,
            private=private,
        )
        if repeatable:
            lesson.start = (status, list(headers))  # what :meth:`unchanged` compares
        return lesson

    def _remember_start(
        self, key: str, status: int, headers: list[tuple[bytes, bytes]], head: bytes
    ) -> None:
        last = self._last
        if key not in last and len(last) >= DEFAULT_MAX_ROUTES:
            last.clear()
        last[key] = _Start(status, headers, head, _teaching_fields(headers), _without_nonces(head))

    def _learn_page(self, key: str, digest: int, preloads: Sequence[Preload]) -> None:
        if self._digests.get(key) == digest:
            return  # the same head and the same Link values as last time: nothing new
        kept: list[str] = []
        for preload in preloads[: self.max_entries]:
            kept.append(preload.hint_text)
            if preload.as_ == "style" and preload.same_origin:
                self._remember(self._wanted, preload.url, None)
        self.store.put(key, tuple(kept))
        self._remember(self._digests, key, digest)

    @property
    def wants_stylesheets(self) -> bool:
        """Whether any learned page names a stylesheet: only then may :meth:`wants` be true."""
        return bool(self._wanted)

    def wants(self, path: str) -> bool:
        """Whether ``path`` (with its query string, if any) is a stylesheet a learned page names.

        Only those are read (:meth:`stylesheet`); an adapter may ask this first, before it
        gathers a response's header fields.
        """
        return path in self._wanted

    def stylesheet(
        self, path: str, *, origin: str, status: int, headers: Sequence[tuple[bytes, bytes]]
    ) -> StylesheetLesson | None:
        """Start reading a stylesheet response for fonts and imports, or not.

        Only a ``2xx`` ``text/css`` response to a path a learned page names, whose version
        (``ETag``, else ``Last-Modified``, else ``Content-Length``) was not read yet.

        Args:
            path: The request path, with its query string if any.
            origin: The origin, e.g. ``https://example.com``.
            status: The response status.
            headers: The response's header fields (bytes pairs).

        Returns:
            A lesson to feed the body chunks to, or None.
        """
        if path not in self._wanted or not 200 <= status < 300:
            return None
        content_type = (_header(headers, b"content-type") or b"").lower()
        if not content_type.startswith(b"text/css"):
            return None
        encoding = _header(headers, b"content-encoding")
        if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
            return None
        version = (
            _header(headers, b"etag")
            or _header(headers, b"last-modified")
            or _header(headers, b"content-length")
            or b""
        )
        if version and self._read.get(path) == version:
            return None
        return StylesheetLesson(self, path, origin + path, version)

    def _learn_stylesheet(self, path: str, version: bytes, preloads: Sequence[Preload]) -> None:
        self.store.put(_CSS + path, tuple(p.hint_text for p in preloads[: self.max_entries]))
        if version:
            self._remember(self._read, path, version)


class PageLesson:
    """One HTML response being read for its head; made by :meth:`Learner.page`.

    Feed it every body chunk (:meth:`feed`): it copies the first bytes, up to the end of the
    head or :data:`MAX_HEAD_BYTES`, then reads them once and stores the route's new set. It
    never holds a chunk back: the caller sends each chunk as it is. :attr:`done` turns True
    when it has learned (later chunks are ignored).
    """

    __slots__ = (
        "_head",
        "_learner",
        "charset",
        "done",
        "key",
        "linked",
        "page_url",
        "private",
        "start",
    )

    def __init__(
        self,
        learner: Learner,
        key: str,
        *,
        page_url: str,
        charset: str,
        linked: list[Preload],
        private: bool,
    ) -> None:
        self._learner = learner
        self.key = key
        self.page_url = page_url
        self.charset = charset
        self.linked = linked
        self.private = private
        self._head = bytearray()
        self.done = False
        # The response's status and header fields, when a later response that repeats them
        # and this head may skip reading (:meth:`Learner.unchanged`), else None.
        self.start: tuple[int, list[tuple[bytes, bytes]]] | None = None

    def feed(self, chunk: bytes, *, more: bool = True) -> None:
        """Take one body chunk (bytes); ``more=False`` for the last one."""
        if self.done:
            return
        limit = min(len(chunk), MAX_HEAD_BYTES - len(self._head))
        end = _head_end(chunk, limit)
        if end >= 0:
            # The usual case, a head in the first chunk: one copy of it, not two.
            if self._head:
                self._finish(bytes(self._head + chunk[:end]))
            else:
                head = chunk[:end]
                self._finish(head)
                start = self.start
                if start is not None:
                    self._learner._remember_start(self.key, start[0], start[1], head)
            return
        self.start = None  # a head over several chunks is read each time
        self._head += chunk[:limit]
        if not more or len(self._head) >= MAX_HEAD_BYTES:
            self._finish(bytes(self._head))

    def _finish(self, head: bytes) -> None:
        self.done = True
        self._head = bytearray()
        # Per process only: Python's hash is enough to tell this head from the last one.
        digest = hash((head, self.private, tuple(p.hint_text for p in self.linked)))
        learner = self._learner
        if learner._digests.get(self.key) == digest:
            return
        try:
            text = head.decode(self.charset, "replace")
        except LookupError:
            text = head.decode("utf-8", "replace")
        scanner = HeadScanner(self.page_url)
        try:
            scanner.feed(text)
            scanner.close()
        except Exception:  # html.parser is lenient; anything else must not break a response
            logger.debug("h2push: could not read the head of %s", self.page_url, exc_info=True)
        found: list[Preload] = []
        seen: set[str] = set()
        origin = scanner.origin
        for preload in (*scanner.found, *self.linked):
            if preload.url in seen or not (preload.same_origin or preload.rel == "preconnect"):
                continue
            if preload.url.startswith(origin + "/"):
                continue  # an absolute same-origin URL from a Link header: kept as its path
            if self.private and not (
                preload.rel in ("preconnect", "modulepreload")
                or preload.as_ in _SHARED_DESTINATIONS
            ):
                continue  # a per-user page teaches only its shared code
            seen.add(preload.url)
            found.append(preload)
        learner._learn_page(self.key, digest, found)


class StylesheetLesson:
    """One stylesheet response being read for fonts and imports (:meth:`Learner.stylesheet`).

    Feed it every body chunk (it keeps a copy, up to :data:`MAX_STYLESHEET_BYTES`; a longer
    stylesheet is not read); it reads them when the last one comes.
    """

    __slots__ = ("_body", "_learner", "done", "path", "url", "version")

    def __init__(self, learner: Learner, path: str, url: str, version: bytes) -> None:
        self._learner = learner
        self.path = path
        self.url = url
        self.version = version
        self._body = bytearray()
        self.done = False

    def feed(self, chunk: bytes, *, more: bool = True) -> None:
        """Take one body chunk (bytes); ``more=False`` for the last one."""
        if self.done:
            return
        self._body += chunk
        if len(self._body) > MAX_STYLESHEET_BYTES:
            self.done = True
            self._body = bytearray()
            return
        if not more:
            self.done = True
            try:
                found = stylesheet_preloads(bytes(self._body), self.url)
            except Exception:  # a broken stylesheet teaches nothing
                logger.debug("h2push: could not read %s", self.url, exc_info=True)
                return
            finally:
                self._body = bytearray()
            self._learner._learn_stylesheet(self.path, self.version, found)


class TeachingBody:
    """A WSGI response body (PEP 3333) that teaches a lesson as it goes out.

    Each chunk is yielded first, unchanged, and then fed to ``lesson``; ``close()`` is passed
    on to the body. Used by WSGI adapters, which get the body as an iterable.

    Args:
        body: The response body (an iterable of bytes).
        lesson: The :class:`PageLesson` or :class:`StylesheetLesson` to feed.
    """

    def __init__(self, body: Iterable[bytes], lesson: PageLesson | StylesheetLesson) -> None:
        self.body = body
        self.lesson = lesson

    def __iter__(self) -> Iterator[bytes]:
        lesson = self.lesson
        for chunk in self.body:
            yield chunk
            if not lesson.done:
                lesson.feed(chunk)
        if not lesson.done:
            lesson.feed(b"", more=False)

    def close(self) -> None:
        """Close the body, when it can be (PEP 3333)."""
        close = getattr(self.body, "close", None)
        if callable(close):
            close()


def _preloads_in(text: str) -> list[Preload]:
    found: list[Preload] = []
    try:
        values = parse_link_header(text)
    except ValueError:
        return found
    for value in values:
        if value.rels & {"preload", "modulepreload", "preconnect"}:
            try:
                found.append(Preload.from_link_value(value))
            except ValueError:
                continue
    return found


def learner_from_setting(setting: object, name: str, app: object = None) -> Learner | None:
    """The learner an ``H2PUSH_LEARN`` setting asks for.

    Args:
        setting: True (a per-process learner), False or None (off), a ``redis://`` or
            ``rediss://`` URL (a learner sharing its sets through :class:`RedisStore`), or a
            :class:`Learner`.
        name: The setting's name, for the error message.
        app: The application, whose routes key the sets (:func:`route_resolver`).

    Raises:
        TypeError: The setting is none of these.
    """
    if isinstance(setting, Learner):
        return setting
    if setting is None or setting is False:
        return None
    route = route_resolver(app) if app is not None else None
    if setting is True:
        return Learner(route=route)
    if isinstance(setting, str) and setting.startswith(("redis://", "rediss://", "unix://")):
        return Learner(store=RedisStore(setting), route=route)
    raise TypeError(
        f"{name} must be True, False, a redis:// URL or an h2push.asgi.Learner, not {setting!r}"
    )


# --------------------------------------------------------------------------- routes


def route_resolver(app: object) -> Callable[[str], str | None] | None:
    """The route of a request path in a Flask, Starlette/FastAPI or Django application.

    * Flask: the endpoint the path matches as a GET (view arguments not included);
    * Starlette, FastAPI (an app or router with ``routes``): the matching route's path
      template, e.g. ``/items/{item_id}``, through mounts;
    * Django (its handler, or ``"django"``): the URL pattern
      (``resolver_match.route``), else the view's dotted name.

    A path no route takes gives None (a 404, a redirect: nothing to learn or hint). Middleware
    around the app (an ``app`` attribute, as Starlette's ``add_middleware`` wraps it) is looked
    through.

    Args:
        app: The application; a framework is imported only for an app of it.

    Returns:
        The function, or None for another kind of application (the raw path is the key then).
    """
    if app == "django":
        return _django_routes()
    for _ in range(8):  # through middleware: an app wrapped as Starlette's add_middleware does
        module = type(app).__module__
        if module.startswith("flask") or hasattr(app, "url_map"):
            return _flask_routes(app)
        if module.startswith("django.core.handlers"):
            return _django_routes()
        if isinstance(getattr(app, "routes", None), list):
            return _starlette_routes(app)
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


def _flask_routes(app: Any) -> Callable[[str], str | None]:
    from werkzeug.exceptions import HTTPException  # noqa: PLC0415

    adapter = app.url_map.bind(app.config.get("SERVER_NAME") or "localhost")

    def route(path: str) -> str | None:
        try:
            endpoint, _ = adapter.match(path, method="GET")
        except HTTPException:
            return None
        return f"flask:{endpoint}"

    return route


def _django_routes() -> Callable[[str], str | None]:
    from django.urls import Resolver404, resolve  # noqa: PLC0415

    def route(path: str) -> str | None:
        try:
            match = resolve(path)
        except Resolver404:
            return None
        return f"django:{match.route or match.view_name or match._func_path}"

    return route


def _starlette_routes(app: Any) -> Callable[[str], str | None]:
    from starlette.routing import Match, Mount  # noqa: PLC0415

    def walk(routes: Sequence[Any], scope: dict[str, Any], prefix: str) -> str | None:
        for candidate in routes:
            match, child = candidate.matches(scope)
            if match != Match.FULL:
                continue
            template = prefix + getattr(candidate, "path", "")
            if isinstance(candidate, Mount):
                inner = walk(candidate.routes, {**scope, **child}, template)
                return inner if inner is not None else f"mount:{template}"
            return template
        return None

    def route(path: str) -> str | None:
        scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        found = walk(getattr(app, "routes", []), scope, "")
        return None if found is None else f"starlette:{found}"

    return route


def learned_manifest(learner: Learner, paths: Sequence[str]) -> dict[str, Any]:
    """What ``learner`` learned for ``paths``, as a multi-page ``push_manifest.json`` dict.

    Args:
        learner: The learner the application's requests taught.
        paths: Page paths, e.g. ``["/", "/about"]``.

    Returns:
        ``{path: {url: {"type": as, ...}}}`` for each path with a learned set (http2-push-
        manifest format; ``weight`` in page order, highest first).
    """
    manifest: dict[str, Any] = {}
    for path in paths:
        found = learner.preloads(path)
        if not found:
            continue
        entries: dict[str, Any] = {}
        for index, preload in enumerate(found):
            entry: dict[str, Any] = {"type": preload.as_ or "", "weight": len(found) - index}
            if preload.rel != "preload":
                entry["rel"] = preload.rel
            if preload.crossorigin and preload.as_ not in ("font", "fetch"):
                entry["crossorigin"] = preload.crossorigin
            if preload.fetchpriority:
                entry["fetchpriority"] = preload.fetchpriority
            entries[preload.url] = entry
        manifest[path] = entries
    return manifest
