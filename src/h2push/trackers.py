"""Trackers: what each client is believed to have, behind one small protocol.

h2push never pushes what a client already has. A :class:`Tracker` turns one request's headers
into a :class:`ClientState`, which answers "does this client have ``(url, version)``?" and
records what the response delivered. Every adapter calls it the same way::

    state = tracker.load(headers, authority=host, scheme=scheme)   # once per request
    known = state.known_urls((p.url, version_of(p.url)) for p in candidates)
    todo = plan(facts, candidates, known=known)
    ...                                                            # send the 103 and pushes
    state.add((url, version_of(url)) for url in delivered)         # only what went out
    response_headers.extend(state.response_headers())              # before the response starts

(With a :attr:`Tracker.blocking` tracker, an ASGI adapter writes
``state = await asyncio.to_thread(tracker.load, headers, authority=host, scheme=scheme)`` and
``await asyncio.to_thread(state.add, keys)`` with ``keys`` a list.)

``headers`` are ``(name, value)`` pairs in ASGI shape (``scope["headers"]``); names are
compared case-insensitively and str pairs (WSGI, Werkzeug) are accepted too. A *resource key*
is ``(url, version)``: ``url`` as pushed (``/static/app.css``), ``version`` the resource's
ETag as sent (quotes included), a manifest version or a content hash, or None when unknown.
Keys carry the version so a changed asset is pushed again. What counts as delivered is the
adapter's call: a push whose push message was sent, a hint whose 103 was sent, a Link preload
on a browser navigation; nothing for an HTTP/1.1 response without hints.

Per-request state lives in the :class:`ClientState`, never on the tracker: one tracker serves
every request and thread. :attr:`Tracker.blocking` says whether ``load`` and
:meth:`ClientState.add` do I/O (Redis, a user connector); an ASGI adapter then calls those two
through ``asyncio.to_thread``. ``has``, ``known_urls`` and ``response_headers`` never do I/O.
Nothing here raises on what a client sends: malformed input counts as "knows nothing".

The trackers:

- :class:`CookieDigestTracker`, the default and sans-IO: a cookie holding a
  draft-ietf-httpbis-cache-digest-02 digest (:mod:`h2push._core.digest`) of the keys delivered to
  this client, merged on each response. ``N = 64`` and ``P = 128`` are fixed so the digest
  grows in place; it holds at most ``N`` keys, which keeps the false-positive rate at or below
  ``1/P``, and when a response would take it past ``N`` it starts again from that response's
  keys. The value is at most 99 base64url characters (74 bytes) and about 94 for 64 keys.
- :class:`RedisTracker`: a Redis set per client, found by a random client-id cookie.
- :class:`FirehoseTracker`: any object with Flask-Firehose's connector shape
  (``get_pushed() -> set[str]``, ``set_pushed(set[str])``); :func:`as_tracker` wraps one.

Every tracker also honours the draft's ``Cache-Digest`` request header (its Appendix A, as a
service worker such as cache-digest.js sends it). When it holds at least one valid digest, it
alone answers ``has`` for what the client had before this request; the tracker still records
what is delivered, so it stays right for requests without the header.

Sources: draft-ietf-httpbis-cache-digest-02 (§2.1 digests, §2.2.1 querying, Appendix A
``Cache-Digest``), RFC 6265 (cookies: §4.1 ``Set-Cookie``, §5.4 ``Cookie``), RFC 9113 §8.2.3
(HTTP/2 may split ``Cookie`` into several fields), RFC 9110 §5.6.2 (tokens).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, TypeAlias, cast

from h2push._core.digest import DEFAULT_LOG2_P, CacheDigest, DigestError, hash_value
from h2push._core.plan import is_page

if TYPE_CHECKING:
    import redis

__all__ = [
    "DEFAULT_TRACKER",
    "MAX_CACHE_DIGEST_CHARS",
    "MAX_CACHE_DIGEST_ENTRIES",
    "MAX_CACHE_DIGEST_LOG2_N",
    "MAX_CACHE_DIGEST_LOG2_P",
    "MAX_COOKIE_VALUE_CHARS",
    "ClientState",
    "CookieDigestTracker",
    "DefaultTracker",
    "DigestEntry",
    "FirehoseConnector",
    "FirehoseTracker",
    "Headers",
    "RedisTracker",
    "ResourceKey",
    "Tracker",
    "TrackerSetting",
    "as_tracker",
    "carries_client_state",
    "may_be_stored_by_shared_cache",
    "parse_cache_digest",
    "tracks",
]

logger = logging.getLogger("h2push")

ResourceKey: TypeAlias = tuple[str, str | None]
"""A resource key: ``(url, version)``; ``version`` is an ETag, a manifest version, a content
hash (str), or None when unknown."""

Headers: TypeAlias = Iterable[tuple[bytes | str, bytes | str]]
"""Request headers as ``(name, value)`` pairs: ASGI ``scope["headers"]`` (bytes) or str pairs."""

MAX_COOKIE_VALUE_CHARS = 512
"""Longest tracker cookie value read (characters); a longer one counts as empty."""

MAX_CACHE_DIGEST_CHARS = 8192
"""Longest ``Cache-Digest`` request header read, all fields together (characters); a longer
one is ignored whole. Module attributes like this one are read per request: assign
``h2push.trackers.MAX_CACHE_DIGEST_CHARS`` to change it."""

MAX_CACHE_DIGEST_ENTRIES = 4
"""Most digest entities looked at in the ``Cache-Digest`` header, valid or not (the draft's
flags make four useful kinds: fresh or stale, with or without validators); later ones are
ignored."""

MAX_CACHE_DIGEST_LOG2_N = 8
"""Largest ``log2(N)`` of a ``Cache-Digest`` digest read (N = 256 resources, so at most 362
values, 1,448 in the four digests read); checked on the first two characters, before anything
is decoded. A larger digest is ignored, as draft-ietf-httpbis-cache-digest-02 lets a server
do: h2push asks a digest only about the resources one page declares."""

MAX_CACHE_DIGEST_LOG2_P = 20
"""Largest ``log2(P)`` of a ``Cache-Digest`` digest read (a false-positive rate of 2**-20)."""

_DEFAULT_MAX_AGE_S = 7 * 86400
_COOKIES_READ = 8  # values of our cookie name looked at, first valid one wins
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2 token
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
_CRUMB_SEPARATORS = re.compile(r"[;,]")
_OWS = " \t"
_HASH_CACHE_SIZE = 4096  # (url, version) keys whose digest hash a cookie tracker remembers
_DECODED_CACHE_SIZE = 4096  # cookie values whose decoded digest a cookie tracker remembers
_MISSING = object()
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


# --- the protocol ---------------------------------------------------------------------------


class ClientState(Protocol):
    """What one client is believed to have, for one request. Never shared across requests."""

    def has(self, url: str, version: str | None = None) -> bool:
        """Whether the client is believed to have ``(url, version)``.

        True for keys known when the request arrived and for keys added during it. A digest
        may answer True for a key it does not hold (about ``1/P`` of the time); it never
        answers False for one it holds. Never does I/O, never raises for client input.
        """
        ...

    def known_urls(self, candidates: Iterable[ResourceKey | str]) -> frozenset[str]:
        """The URLs of ``candidates`` the client has: ``known=`` for :func:`h2push.plan`.

        Args:
            candidates: Keys ``(url, version)``, or bare URL strs (version None).
        """
        ...

    def add(self, keys: Iterable[ResourceKey | str]) -> None:
        """Record keys delivered to the client by this response (pushed, hinted, preloaded).

        Does I/O when the tracker is :attr:`Tracker.blocking`; never raises for a backend
        failure (it is logged).

        Raises:
            TypeError: ``keys`` is a single str, or holds something that is not a key.
        """
        ...

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers to add to the final response: ``(b"set-cookie", value)`` when needed.

        Returns:
            Zero or one ``(name, value)`` bytes pairs, lower-case names (ASGI shape). Empty
            when nothing changed. Call it after the last :meth:`add`, before the response
            starts.
        """
        ...


class Tracker(Protocol):
    """Makes a :class:`ClientState` from one request's headers; holds no per-request state."""

    @property
    def blocking(self) -> bool:
        """Whether ``load`` and :meth:`ClientState.add` may block on I/O."""
        ...

    def load(
        self, headers: Headers, *, authority: str | None = None, scheme: str = "https"
    ) -> ClientState:
        """Read what the client has from its request headers (and the backend, if any).

        Args:
            headers: The request headers (:data:`Headers`), with every ``cookie`` field
                (HTTP/2 may send several, RFC 9113 §8.2.3) and any ``cache-digest`` field.
            authority: The request's host and optional port (``:authority`` or ``Host``);
                by default the ``host`` header. Only the ``Cache-Digest`` header needs it.
            scheme: ``"https"`` or ``"http"``; with the authority it makes the absolute URLs
                that ``Cache-Digest`` digests hold.

        Returns:
            The client's state for this request. Never raises for what the client sent nor
            for a backend failure.
        """
        ...


class FirehoseConnector(Protocol):
    """Flask-Firehose's connector shape: the set of URLs pushed to the current client."""

    def get_pushed(self) -> set[str]:
        """Return the URLs the current client already received."""
        ...

    def set_pushed(self, pushed: set[str], /) -> None:
        """Replace the current client's set with ``pushed``."""
        ...


def as_tracker(obj: Tracker | FirehoseConnector | DefaultTracker) -> Tracker:
    """Return ``obj`` as a :class:`Tracker`, wrapping a Firehose connector.

    Args:
        obj: A tracker (``load()`` and a bool ``blocking``), an object with
            ``get_pushed()`` and ``set_pushed()`` (:class:`FirehoseConnector`), or
            :data:`DEFAULT_TRACKER`.

    Returns:
        ``obj`` itself, a :class:`FirehoseTracker` around it, or for
        :data:`DEFAULT_TRACKER` a new :class:`CookieDigestTracker`.

    Raises:
        TypeError: ``obj`` has neither shape.
    """
    if isinstance(obj, DefaultTracker):
        return CookieDigestTracker()
    if callable(getattr(obj, "load", None)):
        if not isinstance(getattr(obj, "blocking", None), bool):
            raise TypeError(f"tracker {obj!r} has load() but no bool `blocking` attribute")
        return cast("Tracker", obj)
    if callable(getattr(obj, "get_pushed", None)) and callable(getattr(obj, "set_pushed", None)):
        return FirehoseTracker(cast("FirehoseConnector", obj))
    raise TypeError(
        f"{obj!r} is not a tracker: it needs load() and `blocking`, or get_pushed() and "
        "set_pushed() (a Flask-Firehose connector)"
    )


# --- request parsing ------------------------------------------------------------------------


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


@dataclass(frozen=True)
class _Request:
    """The request headers trackers read, gathered in one pass."""

    cookies: tuple[str, ...]
    cache_digest: tuple[str, ...]
    host: str | None

    @classmethod
    def read(cls, headers: Headers) -> _Request:
        cookies: list[str] = []
        cache_digest: list[str] = []
        host: str | None = None
        for raw_name, raw_value in headers:
            name = _text(raw_name).lower()
            if name == "cookie":
                cookies.append(_text(raw_value))
            elif name == "cache-digest":
                cache_digest.append(_text(raw_value))
            elif name == "host" and host is None:
                host = _text(raw_value)
        return cls(tuple(cookies), tuple(cache_digest), host)

    def cookie_values(self, name: str) -> list[str]:
        """Values of cookie ``name`` in order, from every ``cookie`` field (RFC 6265 §5.4).

        Crumbs are split on ``;`` and also on ``,``, which no cookie value may hold (RFC 6265
        §4.1.1) but which some servers use to join repeated header fields. One pair of double
        quotes around a value is removed.
        """
        values: list[str] = []
        for field in self.cookies:
            for crumb in _CRUMB_SEPARATORS.split(field):
                crumb_name, equals, value = crumb.partition("=")
                if equals and crumb_name.strip(_OWS) == name:
                    value = value.strip(_OWS)
                    if len(value) >= 2 and value[0] == value[-1] == '"':
                        value = value[1:-1]
                    values.append(value)
                    if len(values) == _COOKIES_READ:
                        return values
        return values


def _check_cookie_name(name: object) -> str:
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"cookie_name must be an RFC 6265 token (str), got {name!r}")
    return name


def _check_positive_int(field: str, value: object) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"{field} must be a positive int, got {value!r}")
    return value


def _set_cookie(name: str, value: str, *, max_age_s: int, secure: bool) -> tuple[bytes, bytes]:
    """A ``set-cookie`` header (RFC 6265 §4.1): host-only, whole site, not for scripts."""
    attributes = [f"{name}={value}", "Path=/", f"Max-Age={max_age_s}"]
    if secure:
        attributes.append("Secure")
    attributes += ["HttpOnly", "SameSite=Lax"]
    return b"set-cookie", "; ".join(attributes).encode("ascii")


def _split_key(key: object) -> ResourceKey:
    if isinstance(key, str):
        return key, None
    if isinstance(key, tuple) and len(key) == 2:
        url, version = key
        if isinstance(url, str) and (version is None or isinstance(version, str)):
            return url, version
    raise TypeError(f"a resource key is a (url, version) tuple or a URL str, got {key!r}")


def _keys(keys: Iterable[ResourceKey | str]) -> list[ResourceKey]:
    if isinstance(keys, str):
        raise TypeError("expected an iterable of keys, got a single str (wrap it in a list)")
    # A (url, version) tuple of str is taken as it is: the adapters' keys are all such.
    return [
        key
        if type(key) is tuple
        and len(key) == 2
        and type(key[0]) is str
        and (key[1] is None or type(key[1]) is str)
        else _split_key(key)
        for key in keys
    ]


# --- the Cache-Digest request header --------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DigestEntry:
    """One digest-entity of a ``Cache-Digest`` header (draft-ietf-httpbis-cache-digest-02, App. A).

    Attributes:
        digest: The decoded digest; its keys are absolute URLs of the request's origin.
        complete: The ``complete`` flag: the digests list every such cached response.
        validators: The ``validators`` flag: keys include the ETag.
        stale: The ``stale`` flag: the digest lists stale cached responses.
        reset: The ``reset`` flag (meaningless in a header, which is resent every request).
    """

    digest: CacheDigest
    complete: bool = False
    validators: bool = False
    stale: bool = False
    reset: bool = False


def parse_cache_digest(values: Iterable[str]) -> tuple[DigestEntry, ...]:
    """Parse ``Cache-Digest`` request header field values (draft-02, Appendix A).

    ``Cache-Digest = 1#digest-entity``, ``digest-entity = digest-value *(OWS ";" OWS
    digest-flag)``: base64url digests (RFC 4648 §5) with case-insensitive token flags.
    Several fields are one comma-separated list. An entity that does not parse (bad base64url,
    a digest :meth:`CacheDigest.decode` rejects, a flag that is not a token) is skipped, and so
    is one whose ``N`` or ``P`` is above :data:`MAX_CACHE_DIGEST_LOG2_N` or
    :data:`MAX_CACHE_DIGEST_LOG2_P` (refused before decoding); unknown flags are ignored. Only
    the first :data:`MAX_CACHE_DIGEST_ENTRIES` entities are looked at, valid or not.

    Args:
        values: The field values (str), in order.

    Returns:
        The valid entities, at most :data:`MAX_CACHE_DIGEST_ENTRIES`; empty when the fields
        together are longer than :data:`MAX_CACHE_DIGEST_CHARS`. Never raises for content.
    """
    text = ",".join(values)
    if len(text) > MAX_CACHE_DIGEST_CHARS:
        return ()
    entries: list[DigestEntry] = []
    looked_at = 0
    for element in text.split(","):
        value, *raw_flags = element.split(";")
        value = value.strip(_OWS)
        if not value and not raw_flags:
            continue  # an empty list element (RFC 9110 §5.6.1)
        looked_at += 1
        if looked_at > MAX_CACHE_DIGEST_ENTRIES:
            break
        flags = {flag.strip(_OWS).lower() for flag in raw_flags}
        if not all(_TOKEN.fullmatch(flag) for flag in flags):
            continue
        try:
            digest = CacheDigest.from_base64url(
                value, max_log2_n=MAX_CACHE_DIGEST_LOG2_N, max_log2_p=MAX_CACHE_DIGEST_LOG2_P
            )
        except DigestError:
            continue
        entries.append(
            DigestEntry(
                digest=digest,
                complete="complete" in flags,
                validators="validators" in flags,
                stale="stale" in flags,
                reset="reset" in flags,
            )
        )
        if len(entries) == MAX_CACHE_DIGEST_ENTRIES:
            break
    return tuple(entries)


def _origin(scheme: str, authority: str | None) -> str | None:
    """The ASCII origin ``scheme://host[:port]``, the default port left out, or None."""
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS or not authority:
        return None
    authority = authority.strip(_OWS).lower()
    default_port = _DEFAULT_PORTS[scheme]
    if authority.endswith(default_port):
        authority = authority[: -len(default_port)]
    return f"{scheme}://{authority}" if authority else None


@dataclass(frozen=True)
class _HeaderDigests:
    """The fresh digests of a ``Cache-Digest`` header, queried with absolute URLs."""

    origin: str
    entries: tuple[DigestEntry, ...]

    def has(self, url: str, version: str | None) -> bool:
        if url.startswith("/") and not url.startswith("//"):
            absolute = self.origin + url
        elif url.startswith(("https://", "http://")):
            absolute = url
        else:
            return False  # a relative reference: not a URL a cache is keyed by
        for entry in self.entries:
            if entry.stale or (entry.validators and version is None):
                continue
            try:
                if entry.digest.contains(absolute, version if entry.validators else None):
                    return True
            except DigestError:
                return False
        return False


def _header_digests(request: _Request, authority: str | None, scheme: str) -> _HeaderDigests | None:
    if not request.cache_digest:
        return None
    origin = _origin(scheme, authority if authority is not None else request.host)
    if origin is None:
        return None
    entries = parse_cache_digest(request.cache_digest)
    return _HeaderDigests(origin, entries) if entries else None


# --- the shared per-request state -----------------------------------------------------------


class _State:
    """A :class:`ClientState`: the header digests, the backend's answer, this request's keys."""

    def __init__(self, header: _HeaderDigests | None) -> None:
        self._header = header
        self._added: set[ResourceKey] = set()

    def _loaded_has(self, url: str, version: str | None) -> bool:
        raise NotImplementedError

    def _store(self, keys: list[ResourceKey]) -> None:
        raise NotImplementedError

    def has(self, url: str, version: str | None = None) -> bool:
        """Whether the client is believed to have ``(url, version)`` (see :class:`ClientState`)."""
        if (url, version) in self._added:
            return True
        if self._header is not None:
            return self._header.has(url, version)
        return self._loaded_has(url, version)

    def known_urls(self, candidates: Iterable[ResourceKey | str]) -> frozenset[str]:
        """The URLs of ``candidates`` the client has (see :class:`ClientState`)."""
        return frozenset(url for url, version in _keys(candidates) if self.has(url, version))

    def add(self, keys: Iterable[ResourceKey | str]) -> None:
        """Record keys delivered by this response (see :class:`ClientState`)."""
        new = [key for key in dict.fromkeys(_keys(keys)) if key not in self._added]
        if new:
            self._store(new)
            self._added.update(new)

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers for the final response (see :class:`ClientState`)."""
        return []


class _Outage:
    """Logs one warning per backend outage and spaces out attempts while it lasts.

    An outage starts when an operation fails while none is failing, and ends when every
    operation that failed has worked again: a backend that answers reads but refuses writes
    (a read-only replica, a full memory) warns once, not on every request. After any failure
    the backend is left alone for ``retry_after_s``, so a dead backend costs requests no time.
    """

    def __init__(self, backend: str, *, retry_after_s: float, traceback: bool) -> None:
        self._backend = backend
        self._retry_after_s = retry_after_s
        self._traceback = traceback
        self._lock = threading.Lock()
        self._failing: set[str] = set()
        self._failed_at = 0.0  # time.monotonic() of the last failure

    def available(self) -> bool:
        """Whether to try the backend: nothing is failing, or the last failure is old enough."""
        with self._lock:
            failing, failed_at = bool(self._failing), self._failed_at
        return not failing or time.monotonic() - failed_at >= self._retry_after_s

    def failed(self, operation: str, exc: BaseException) -> None:
        with self._lock:
            first = not self._failing
            self._failing.add(operation)
            self._failed_at = time.monotonic()
        if first:
            logger.warning(
                "h2push: %s failed (%s: %s: %s); every client counts as knowing nothing until "
                "it works again",
                self._backend,
                operation,
                type(exc).__name__,
                exc,
                exc_info=exc if self._traceback else None,
            )

    def succeeded(self, operation: str) -> None:
        with self._lock:
            recovered = operation in self._failing and len(self._failing) == 1
            self._failing.discard(operation)
        if recovered:
            logger.info("h2push: %s works again", self._backend)


# --- CookieDigestTracker --------------------------------------------------------------------


class CookieDigestTracker:
    """Keeps a cache digest of what each client was delivered in a cookie. Sans-IO.

    The cookie value is a draft-ietf-httpbis-cache-digest-02 digest (§2.1) as base64url
    without padding, of keys ``(url, version)`` hashed as the digest's ``(url, etag)``. ``N``
    and ``P`` are fixed (``log2_n``, ``log2_p``) rather than derived from the count, so the
    digest grows in place; a draft-02 decoder reads both from the digest itself. It holds at
    most ``N`` keys, so a key it does not hold matches with probability at most ``1/P``.
    When a response would take it past ``N`` keys, it starts again with that response's keys
    only (at most ``N`` of them). At the defaults (``N = 64``, ``P = 128``) a full cookie
    value is about 94 characters and never more than 99.

    A cookie that is not valid base64url, not a canonical digest, longer than
    :data:`MAX_COOKIE_VALUE_CHARS`, at another ``N`` or ``P``, or holding more than ``N``
    keys counts as empty (and is replaced when something is added). Several cookies of the
    name (crumbs over several ``cookie`` fields, RFC 9113 §8.2.3): the first valid one counts.

    A ``Cache-Digest`` request header with a valid digest wins for ``has`` (see the module
    docstring); the cookie is still updated with what the response delivers.

    Args:
        cookie_name: The cookie's name, an RFC 6265 token.
        max_age_s: The cookie's ``Max-Age`` in seconds, > 0; default 7 days.
        secure: Whether the cookie carries ``Secure``; turn it off only for plain-HTTP
            development (browsers drop ``Secure`` cookies set over http).
        log2_n: ``log2(N)``: ``N`` is the most keys the cookie holds.
        log2_p: ``log2(P)``: ``1/P`` bounds the false-positive rate.

    Raises:
        ValueError: A setting is out of range, or ``N`` and ``P`` allow a value longer than
            :data:`MAX_COOKIE_VALUE_CHARS`.
    """

    blocking = False

    def __init__(
        self,
        *,
        cookie_name: str = "h2push",
        max_age_s: int = _DEFAULT_MAX_AGE_S,
        secure: bool = True,
        log2_n: int = 6,
        log2_p: int = DEFAULT_LOG2_P,
    ) -> None:
        self.cookie_name = _check_cookie_name(cookie_name)
        self.max_age_s = _check_positive_int("max_age_s", max_age_s)
        self.secure = bool(secure)
        for field, value in (("log2_n", log2_n), ("log2_p", log2_p)):
            if type(value) is not int or not 0 <= value <= 16:
                raise ValueError(f"{field} must be an int from 0 to 16, got {value!r}")
        self.log2_n = log2_n
        self.log2_p = log2_p
        self.max_keys = 1 << log2_n
        self._hashes: dict[tuple[str, str | None], int | None] = {}
        self._decoded: dict[str, CacheDigest | None] = {}
        self._cookies: dict[frozenset[int], tuple[bytes, bytes]] = {}
        self._key_hashes: dict[tuple[ResourceKey, ...], dict[int, None]] = {}
        if self.max_value_chars > MAX_COOKIE_VALUE_CHARS:
            raise ValueError(
                f"a digest of {self.max_keys} keys at log2_p={log2_p} can take "
                f"{self.max_value_chars} characters, more than {MAX_COOKIE_VALUE_CHARS}"
            )

    @property
    def max_value_chars(self) -> int:
        """The longest cookie value this tracker writes (base64url characters).

        A digest of ``c`` values below ``N * P`` takes at most ``10 + c * (1 + log2(P)) + N - 1``
        bits (draft-02 §2.1.1: the unary quotients add up to less than ``N``); here ``c = N``.
        """
        bits = 10 + self.max_keys * (1 + self.log2_p) + self.max_keys - 1
        return -(-4 * -(-bits // 8) // 3)

    def load(
        self, headers: Headers, *, authority: str | None = None, scheme: str = "https"
    ) -> ClientState:
        """Read the client's digest cookie and ``Cache-Digest`` header (see :class:`Tracker`)."""
        request = _Request.read(headers)
        values: frozenset[int] = frozenset()
        for value in request.cookie_values(self.cookie_name):
            digest = self._accept(value)
            if digest is not None:
                values = digest.values
                break
        return _CookieState(self, values, _header_digests(request, authority, scheme))

    def _accept(self, value: str) -> CacheDigest | None:
        if len(value) > MAX_COOKIE_VALUE_CHARS:
            return None
        # A returning client sends the same value until it is sent something new: decode a
        # value once. Bounded: the cache starts again when full.
        cached = self._decoded.get(value, _MISSING)
        if cached is not _MISSING:
            return cast("CacheDigest | None", cached)
        accepted: CacheDigest | None
        try:
            # Any other N or P is refused from the first two characters, before decoding.
            digest = CacheDigest.from_base64url(
                value, max_log2_n=self.log2_n, max_log2_p=self.log2_p
            )
        except DigestError:
            accepted = None
        else:
            fits = (digest.log2_n, digest.log2_p) == (self.log2_n, self.log2_p)
            accepted = digest if fits and len(digest.values) <= self.max_keys else None
        if len(self._decoded) >= _DECODED_CACHE_SIZE:
            self._decoded.clear()
        self._decoded[value] = accepted
        return accepted

    def _hash(self, url: str, version: str | None) -> int | None:
        # The keys of a site are few and asked for on every request: hash each once.
        key = (url, version)
        cached = self._hashes.get(key, _MISSING)
        if cached is not _MISSING:
            return cast("int | None", cached)
        try:
            value: int | None = hash_value(url, version, log2_n=self.log2_n, log2_p=self.log2_p)
        except DigestError:  # a lone surrogate: cannot be a key
            value = None
        if len(self._hashes) >= _HASH_CACHE_SIZE:
            self._hashes.clear()
        self._hashes[key] = value
        return value

    def _hash_keys(self, keys: list[ResourceKey]) -> dict[int, None]:
        # A page delivers the same keys to every first visit: hash each list once (bounded).
        frozen = tuple(keys)
        cached = self._key_hashes.get(frozen)
        if cached is None:
            hashes = (self._hash(url, version) for url, version in keys)
            cached = dict.fromkeys(h for h in hashes if h is not None)
            if len(self._key_hashes) >= _DECODED_CACHE_SIZE:
                self._key_hashes.clear()
            self._key_hashes[frozen] = cached
        return cached

    def _set_cookie(self, values: frozenset[int]) -> tuple[bytes, bytes]:
        # Every first visit to a page delivers the same set: encode each set once (bounded).
        cached = self._cookies.get(values)
        if cached is not None:
            return cached
        digest = CacheDigest(log2_n=self.log2_n, log2_p=self.log2_p, values=values)
        header = _set_cookie(
            self.cookie_name, digest.to_base64url(), max_age_s=self.max_age_s, secure=self.secure
        )
        if len(self._cookies) >= _DECODED_CACHE_SIZE:
            self._cookies.clear()
        self._cookies[values] = header
        return header


class _CookieState(_State):
    def __init__(
        self, tracker: CookieDigestTracker, loaded: frozenset[int], header: _HeaderDigests | None
    ) -> None:
        super().__init__(header)
        self._tracker = tracker
        self._loaded = loaded
        self._values = loaded
        self._delivered: dict[int, None] = {}  # this response's values, in order

    def _loaded_has(self, url: str, version: str | None) -> bool:
        return self._tracker._hash(url, version) in self._loaded

    def known_urls(self, candidates: Iterable[ResourceKey | str]) -> frozenset[str]:
        """The URLs of ``candidates`` the client has (see :class:`ClientState`)."""
        if self._header is not None or self._added:
            return super().known_urls(candidates)
        if not self._loaded:
            return frozenset()
        hash_of, loaded = self._tracker._hash, self._loaded
        return frozenset(
            url for url, version in _keys(candidates) if hash_of(url, version) in loaded
        )

    def _store(self, keys: list[ResourceKey]) -> None:
        self._delivered.update(self._tracker._hash_keys(keys))
        merged = self._values.union(self._delivered)
        if len(merged) > self._tracker.max_keys:  # full: start again from this response
            merged = frozenset(list(self._delivered)[: self._tracker.max_keys])
        self._values = merged

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """A ``set-cookie`` with the merged digest when it changed, else nothing."""
        if self._values == self._loaded:
            return []
        return [self._tracker._set_cookie(self._values)]


# --- FirehoseTracker ------------------------------------------------------------------------


class FirehoseTracker:
    """A :class:`Tracker` over a Flask-Firehose-style connector (:class:`FirehoseConnector`).

    The connector stores URLs without versions, so a changed asset at the same URL is not
    pushed again: give assets versioned URLs. ``load`` calls ``get_pushed()`` once; ``add``
    calls ``set_pushed(old | new)`` when something is new (not when ``get_pushed`` failed, so
    a failure never shrinks the stored set). Both are called where the adapter calls ``load``
    and ``add`` (in a Flask adapter: inside the request context, so ``flask.session`` works).
    A connector that raises is logged once (with its traceback) until it works again, and the
    client counts as knowing nothing.

    Args:
        connector: The object with ``get_pushed()`` and ``set_pushed()``.
    """

    blocking = True

    def __init__(self, connector: FirehoseConnector) -> None:
        self.connector = connector
        self._outage = _Outage("the tracker connector", retry_after_s=0.0, traceback=True)

    def load(
        self, headers: Headers, *, authority: str | None = None, scheme: str = "https"
    ) -> ClientState:
        """Ask the connector what the client has (see :class:`Tracker`)."""
        request = _Request.read(headers)
        loaded: frozenset[str] | None = None
        try:
            pushed = self.connector.get_pushed() or ()  # None for a new client counts as empty
            loaded = frozenset(url for url in pushed if isinstance(url, str))
        except Exception as exc:  # user code: its failure must not fail the request
            self._outage.failed("get_pushed()", exc)
        else:
            self._outage.succeeded("get_pushed()")
        return _FirehoseState(self, loaded, _header_digests(request, authority, scheme))


class _FirehoseState(_State):
    def __init__(
        self, tracker: FirehoseTracker, loaded: frozenset[str] | None, header: _HeaderDigests | None
    ) -> None:
        super().__init__(header)
        self._tracker = tracker
        self._loaded = loaded
        self._urls = loaded or frozenset()

    def _loaded_has(self, url: str, version: str | None) -> bool:
        return url in (self._loaded or ())

    def _store(self, keys: list[ResourceKey]) -> None:
        urls = self._urls.union(url for url, _ in keys)
        if self._loaded is None or urls == self._urls:
            return
        self._urls = urls
        try:
            self._tracker.connector.set_pushed(set(urls))
        except Exception as exc:  # user code: its failure must not fail the request
            self._tracker._outage.failed("set_pushed()", exc)
        else:
            self._tracker._outage.succeeded("set_pushed()")


# --- RedisTracker ---------------------------------------------------------------------------


class RedisTracker:
    """Keeps what each client was delivered in Redis, found by a random client-id cookie.

    Each client gets an id (``secrets.token_urlsafe(16)``, 22 characters) in the cookie
    ``cookie_name``; its keys are the members (``url`` or ``url<TAB>version``, UTF-8) of the
    Redis set ``key_prefix + id``. ``load`` does one ``SMEMBERS`` (none without a valid id
    cookie); ``add`` does one transaction of ``SADD`` and ``EXPIRE ttl_s`` when something is new,
    and then sets the cookie (``Max-Age = ttl_s``), so key and cookie both live ``ttl_s`` from
    the last addition. A set that would pass ``max_keys`` starts again (``DEL`` first) with
    this response's keys. A malformed id cookie gets a new id.

    Synchronous: ``blocking`` is True, and an ASGI adapter should call ``load`` and
    :meth:`ClientState.add` through ``asyncio.to_thread``; each is at most one round trip,
    bounded by ``socket_timeout_s`` (no retries).

    When Redis fails (``redis.exceptions.RedisError`` or ``OSError``), the request goes on as
    if the client knew nothing: one warning on the ``h2push`` logger per outage (the next one
    only after every failed command has worked again, which is logged at INFO), and Redis is
    not tried again for ``retry_after_s``, so an outage costs requests no time. Nothing is
    ever raised to the request.

    Args:
        url: The Redis URL (``redis://host:port/db``, ``rediss://`` for TLS, ``unix://``).
        ttl_s: Seconds a client's set (and its cookie) lives after the last addition, > 0.
        cookie_name: The client-id cookie's name, an RFC 6265 token.
        key_prefix: Prefix of the Redis keys.
        socket_timeout_s: Connect and read timeout in seconds, > 0.
        retry_after_s: Seconds to skip Redis after a failure, >= 0.
        max_keys: The most keys kept per client, > 0.
        secure: Whether the cookie carries ``Secure`` (off only for plain-HTTP development).

    Raises:
        ImportError: The ``redis`` package is not installed (``pip install h2push[redis]``).
        ValueError: A setting is out of range, or ``url`` is not a Redis URL.
    """

    blocking = True

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        ttl_s: int = _DEFAULT_MAX_AGE_S,
        cookie_name: str = "h2push_id",
        key_prefix: str = "h2push:",
        socket_timeout_s: float = 0.25,
        retry_after_s: float = 1.0,
        max_keys: int = 256,
        secure: bool = True,
    ) -> None:
        try:
            import redis  # noqa: PLC0415 - an optional dependency
            from redis.backoff import NoBackoff  # noqa: PLC0415
            from redis.retry import Retry  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                "RedisTracker needs the redis package: pip install h2push[redis]"
            ) from exc
        self.ttl_s = _check_positive_int("ttl_s", ttl_s)
        self.cookie_name = _check_cookie_name(cookie_name)
        self.max_keys = _check_positive_int("max_keys", max_keys)
        if not isinstance(key_prefix, str):
            raise ValueError(f"key_prefix must be a str, got {key_prefix!r}")
        if not socket_timeout_s > 0:
            raise ValueError(f"socket_timeout_s must be > 0, got {socket_timeout_s!r}")
        if not retry_after_s >= 0:
            raise ValueError(f"retry_after_s must be >= 0, got {retry_after_s!r}")
        self.key_prefix = key_prefix
        self.secure = bool(secure)
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self._redis: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._outage = _Outage("Redis", retry_after_s=retry_after_s, traceback=False)

    def close(self) -> None:
        """Close the connections to Redis."""
        self._redis.close()

    def load(
        self, headers: Headers, *, authority: str | None = None, scheme: str = "https"
    ) -> ClientState:
        """Read the client's set from Redis (see :class:`Tracker`); one round trip at most."""
        request = _Request.read(headers)
        client_id = next(
            (v for v in request.cookie_values(self.cookie_name) if _CLIENT_ID.fullmatch(v)), None
        )
        loaded: frozenset[bytes] | None = frozenset() if client_id is None else None
        if client_id is not None and self._outage.available():
            try:
                members = self._redis.smembers(self.key_prefix + client_id)
            except self._errors as exc:
                self._outage.failed("SMEMBERS", exc)
            else:
                self._outage.succeeded("SMEMBERS")
                loaded = frozenset(cast("set[bytes]", members))
        return _RedisState(self, client_id, loaded, _header_digests(request, authority, scheme))

    def _write(self, client_id: str, members: list[bytes], *, restart: bool) -> bool:
        """Add ``members`` to the client's set and renew its TTL; whether it worked."""
        if not self._outage.available():
            return False
        key = self.key_prefix + client_id
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                if restart:
                    pipe.delete(key)
                pipe.sadd(key, *members)
                pipe.expire(key, self.ttl_s)
                pipe.execute()
        except self._errors as exc:
            self._outage.failed("SADD", exc)
            return False
        self._outage.succeeded("SADD")
        return True


def _member(url: str, version: str | None) -> bytes:
    text = url if version is None else f"{url}\t{version}"
    return text.encode("utf-8", "surrogatepass")


class _RedisState(_State):
    def __init__(
        self,
        tracker: RedisTracker,
        client_id: str | None,
        loaded: frozenset[bytes] | None,
        header: _HeaderDigests | None,
    ) -> None:
        super().__init__(header)
        self._tracker = tracker
        self._client_id = client_id
        self._loaded = loaded  # None: the client has an id but Redis did not answer
        self._stored: dict[bytes, None] = {}  # this response's members Redis accepted
        self._kept = len(loaded or ())  # members of the stored set that are not this response's
        self._set_cookie = False

    def _loaded_has(self, url: str, version: str | None) -> bool:
        return _member(url, version) in (self._loaded or ())

    def _store(self, keys: list[ResourceKey]) -> None:
        loaded = self._loaded or frozenset()
        new = [m for m in dict.fromkeys(_member(*key) for key in keys) if m not in loaded]
        new = [m for m in new if m not in self._stored]
        if not new:
            return
        tracker = self._tracker
        client_id = self._client_id or secrets.token_urlsafe(16)
        members = new
        restart = self._kept + len(self._stored) + len(new) > tracker.max_keys
        if restart:  # start again from this response's keys
            members = [*self._stored, *new][: tracker.max_keys]
        if tracker._write(client_id, members, restart=restart):
            self._client_id = client_id
            if restart:
                self._kept = 0
            self._stored.update(dict.fromkeys(members))
            self._set_cookie = True

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """A ``set-cookie`` with the client id after Redis stored something, else nothing."""
        if not self._set_cookie or self._client_id is None:
            return []
        tracker = self._tracker
        return [
            _set_cookie(
                tracker.cookie_name,
                self._client_id,
                max_age_s=tracker.ttl_s,
                secure=tracker.secure,
            )
        ]


class DefaultTracker:
    """The type of :data:`DEFAULT_TRACKER`, a setting rather than a tracker (it holds nothing)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT_TRACKER"


#: The tracker setting the adapters use unless given another: each middleware or app makes
#: its own :class:`CookieDigestTracker` (a cache-digest cookie, no server state), whose
#: caches live as long as that middleware or app.
DEFAULT_TRACKER: Final = DefaultTracker()

TrackerSetting = Tracker | FirehoseConnector | DefaultTracker | None
"""What an adapter's ``tracker`` argument takes: a tracker, a Flask-Firehose connector,
:data:`DEFAULT_TRACKER` or None (track nothing)."""


def carries_client_state(content_type: str | bytes | None) -> bool:
    """Whether a response may carry a tracker's cookie: pages only (HTML or XHTML).

    What a client has is learnt on its page loads. A proxy's requests for the resources it
    pushes (h2o's copy the page's ``Accept: text/html`` but not its cookies) must never answer
    with a cookie, which would replace the client's with an empty one.

    Args:
        content_type: The response's ``Content-Type`` field value, or None.
    """
    return is_page(content_type)


def may_be_stored_by_shared_cache(cache_control: str | bytes | None) -> bool:
    """Whether a response's ``Cache-Control`` lets a shared cache store it (RFC 9111 §5.2.2).

    Such a response is served to other clients too, so an adapter sets no tracker cookie on it:
    ``public`` or ``s-maxage`` say yes; anything else (or no header) no.

    Args:
        cache_control: The response's ``Cache-Control`` field value(s), joined, or None.
    """
    if not cache_control:
        return False
    text = cache_control.decode("latin-1") if isinstance(cache_control, bytes) else cache_control
    directives = {part.split("=", 1)[0].strip().lower() for part in text.split(",")}
    return bool(directives & {"public", "s-maxage"})


def tracks(*, can_push: bool, proxy: bool = False) -> bool:
    """Whether an adapter reads and writes a tracker for a request (the tracker's gate).

    A tracker remembers what was pushed so that it is not pushed again; only a push can be
    kept from repeating. Its cookie, set on the page of a client that receives no push,
    costs that client more than it saves: the page's ``Set-Cookie`` changes the ``Cookie``
    header between a 103's preload and the page's use of it, and a resource served with
    ``Vary: Cookie`` (Flask's, once the app reads the session) is then fetched again. So a
    request is tracked only when the server can push to its client: HTTP/2 or later, the
    server offering ``http.response.push``, the client not having refused push with
    ``SETTINGS_ENABLE_PUSH = 0`` (every browser refuses it), or when a proxy in front
    pushes from the Link header (``proxy=True``). Never for HTTP/1.1 clients, nor under a
    WSGI server (which cannot push).

    Args:
        can_push: Whether the server can push to this request's client (bool).
        proxy: Whether a pushing proxy is declared in front of the application (bool).

    Returns:
        Whether to load the client's state and set its cookie.
    """
    return can_push or proxy
