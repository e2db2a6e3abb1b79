"""Golomb-coded-set cache digests, as in draft-ietf-httpbis-cache-digest-02.

A cache digest tells a server which responses a client already holds, so that it pushes only
the rest. It is a set of hash values, coded compactly:

- Each key (a URL, plus its ETag when validators are used) is hashed with SHA-256; the top
  ``log2(N*P)`` bits are its *hash value* (§2.1.2 "Computing a Hash Value").
- ``N`` is the number of keys rounded to the nearest power of two, ``P`` (a power of two) the
  inverse of the false-positive rate that is acceptable.
- The digest is a 5-bit ``log2(N)``, a 5-bit ``log2(P)``, then the sorted hash values, each as
  the Golomb-Rice code of its distance ``D = V - C - 1`` from the previous value ``C``
  (``C`` starts at -1): ``D // P`` zero bits, a one bit, ``D % P`` in ``log2(P)`` bits; zero
  bits pad it to a whole byte (§2.1.1 "Computing the Digest-Value"). A server looks a key up by
  decoding the values and comparing (§2.2.1 "Querying the Digest for a Value").

The numbers:

- **Size.** With ``n`` keys in ``N*P`` possible values the gaps are near-geometric with mean
  ``P``: each entry costs ``log2(P)`` remainder bits, one stop bit and on average about 0.6
  unary bits, so ≈ ``log2(P) + 1.6`` bits (8.6 bits at ``P = 128``). The worst case for ``c``
  values is ``10 + c * (1 + log2(P)) + N - 1`` bits, because the unary parts add up to less
  than ``N``. At ``N = 64``, ``P = 128``: 64 resources take about 70 bytes (94 base64url
  characters) and never more than 74 bytes (99 characters), well inside a 200-byte cookie.
- **False positives.** A key that is not in the digest matches with probability
  ``len(values) / (N * P)``: ``1/P`` when the count is exactly ``N``, between ``0.71/P`` and
  ``1.41/P`` as the count ranges over what rounds to ``N``. A false positive means a push
  that should have happened does not; the client then fetches the resource itself. There are
  no false negatives.
- **Capacity.** Because ``N`` is the *nearest* power of two, a digest with ``log2_n = k``
  holds at most ``floor(2**(k + 0.5))`` values (1, 2, 5, 11, 22, 45, 90, 181, ... for
  ``k = 0, 1, 2, ...``); :attr:`CacheDigest.capacity` gives it, and :meth:`CacheDigest.decode`
  rejects digests that hold more.

Choices this module makes where the draft leaves room:

- **Duplicates.** Identical keys count once. Distinct keys whose truncated hash values collide
  all count towards ``N`` (the draft's step 1 counts keys) but the value is written once (the
  draft's encoder skips a value equal to the previous one). A decoded digest therefore never
  holds a duplicate, and encoding is canonical: :meth:`CacheDigest.decode` accepts only what
  :meth:`CacheDigest.encode` would produce (strictly increasing values below ``N * P``, at most
  7 bits of zero padding), so ``decode(data).encode() == data`` for every accepted ``data``.
- **Merging** works on digests with the same ``N`` and ``P`` only. A hash value keeps just the
  top ``log2(N*P)`` bits of SHA-256: a digest with a larger ``N`` would need bits that were
  thrown away, and one with a smaller ``N`` would hold more values than it is sized for. To
  combine digests of different sizes, rebuild from the keys with :meth:`CacheDigest.from_urls`.
  To grow a decoded digest at its own ``N`` and ``P``, use :meth:`CacheDigest.with_urls`.
- **Keys.** A non-ASCII character in a URL or ETag is percent-encoded as UTF-8 (RFC 3986
  §2.1), as the draft asks ("converted to an ASCII string by percent-encoding"); the ETag is
  appended as written, quotes and ``W/`` included (RFC 7232 §2.3). Whether ETags are used is not
  recorded in the digest: query a digest with the same kind of key it was built from.
- **Limits.** Untrusted input is bounded: at most :data:`MAX_DIGEST_BYTES` bytes, decoded in
  time and memory linear in its length whatever its header says.

A tracker that keeps what it pushed to a client in a cookie, at a fixed ``N = 64`` and
``P = 128``, starting again when full::

    try:
        known = CacheDigest.from_base64url(cookie)
    except DigestError:
        known = CacheDigest(log2_n=6)
    if (known.log2_n, known.log2_p) != (6, 7) or len(known.values) + len(pushed) > 64:
        known = CacheDigest(log2_n=6)
    cookie = known.with_urls(pushed).to_base64url()

The header form (``Cache-Digest: <base64url>; complete``, the draft's Appendix A) carries the
digest as base64url (RFC 4648 §5) without padding: :meth:`CacheDigest.to_base64url` and
:meth:`CacheDigest.from_base64url`. Parsing the header's flags is left to the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from itertools import pairwise
from math import isqrt
from typing import TypeAlias
from urllib.parse import quote

from h2push._core.errors import H2PushError

MAX_DIGEST_BYTES = 4096
"""Largest digest, in bytes, that :meth:`CacheDigest.decode` accepts and ``encode`` produces."""

MAX_LOG2 = 31
"""Largest ``log2(N)`` and ``log2(P)``: both fields are 5 bits, both values below ``2**32``."""

DEFAULT_LOG2_P = 7
"""Default ``log2(P)``: ``P = 128``, a false-positive rate of about 1 in 128."""

Key: TypeAlias = str | tuple[str, str | None]
"""A digest key: a URL, or a ``(url, etag)`` pair where ``etag`` may be ``None``."""

_HEADER_BITS = 10
_TOP_BITS = 64
_MAX_BASE64URL_CHARS = 4 * -(-MAX_DIGEST_BYTES // 3)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_ASCII = "".join(map(chr, range(128)))
_BASE64URL_VALUES = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}


class DigestError(H2PushError, ValueError):
    """A cache digest that is malformed, too large, or cannot hold what it is asked to."""


def _check_log2(name: str, value: object) -> int:
    if type(value) is not int or not 0 <= value <= MAX_LOG2:
        msg = f"{name} must be an int from 0 to {MAX_LOG2}, got {value!r}"
        raise DigestError(msg)
    return value


def _check_size(log2_n: int, log2_p: int, max_log2_n: int, max_log2_p: int) -> None:
    """Refuse a digest's ``N`` or ``P`` above what the reader accepts, before it is read.

    Raises:
        DigestError: ``log2_n`` is above ``max_log2_n`` or ``log2_p`` above ``max_log2_p``.
    """
    if log2_n > max_log2_n or log2_p > max_log2_p:
        msg = (
            f"digest has log2_n={log2_n}, log2_p={log2_p}; at most {max_log2_n} and"
            f" {max_log2_p} are accepted"
        )
        raise DigestError(msg)


def _capacity(log2_n: int) -> int:
    # Counts that round to N = 2**k are those below 2**(k + 0.5); isqrt keeps it exact.
    return isqrt(1 << (2 * log2_n + 1))


def _nearest_log2(count: int) -> int:
    """Return ``round(log2(max(count, 1)))`` computed exactly, capped at :data:`MAX_LOG2`."""
    count = max(count, 1)
    k = count.bit_length() - 1
    if count * count > 1 << (2 * k + 1):  # count > 2**(k + 0.5); equality is impossible
        k += 1
    return min(k, MAX_LOG2)


def _ascii_bytes(text: str, field: str) -> bytes:
    if not isinstance(text, str):
        msg = f"{field} must be a str, got {type(text).__name__}"
        raise TypeError(msg)
    if text.isascii():
        return text.encode("ascii")
    try:
        return quote(text, safe=_ASCII).encode("ascii")
    except UnicodeEncodeError as exc:
        msg = f"{field} {text!r} cannot be percent-encoded as UTF-8: {exc.reason}"
        raise DigestError(msg) from None


def _top64(url: str, etag: str | None) -> int:
    key = _ascii_bytes(url, "url")
    if etag is not None:
        key += _ascii_bytes(etag, "etag")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def _preview(text: str) -> str:
    """Quote untrusted text for an error message, cut to a readable length."""
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}... ({len(text)} characters)"


def _split_key(key: object) -> tuple[str, str | None]:
    if isinstance(key, str):
        return key, None
    if isinstance(key, tuple) and len(key) == 2:
        url, etag = key
        if isinstance(url, str) and (etag is None or isinstance(etag, str)):
            return url, etag
    msg = f"a digest key is a URL str or a (url, etag) tuple, got {key!r}"
    raise TypeError(msg)


def _tops(keys: Iterable[Key]) -> set[int]:
    if isinstance(keys, str):
        msg = "expected an iterable of keys, got a single str (wrap it in a list)"
        raise TypeError(msg)
    return {_top64(*_split_key(key)) for key in keys}


def hash_value(url: str, etag: str | None = None, *, log2_n: int, log2_p: int) -> int:
    """Return the hash value of one key in a digest with the given ``N`` and ``P``.

    This is the value a digest stores for the key: the top ``log2_n + log2_p`` bits of
    SHA-256 of the URL followed by the ETag (draft-ietf-httpbis-cache-digest-02, §2.1.2
    "Computing a Hash Value"). Because the top bits are kept, the value for a smaller
    ``log2_n + log2_p`` is this one shifted right.

    Args:
        url: The effective request URL (str); non-ASCII characters are percent-encoded.
        etag: The entity-tag as sent, quotes and ``W/`` included (str), or ``None`` when the
            digest does not use validators.
        log2_n: ``log2(N)``, 0 to 31.
        log2_p: ``log2(P)``, 0 to 31.

    Returns:
        An int in ``range(2 ** (log2_n + log2_p))``.

    Raises:
        DigestError: ``log2_n`` or ``log2_p`` is out of range, or the URL or ETag holds a lone
            surrogate that cannot be percent-encoded.
        TypeError: ``url`` or ``etag`` is not a str.
    """
    width = _check_log2("log2_n", log2_n) + _check_log2("log2_p", log2_p)
    return _top64(url, etag) >> (_TOP_BITS - width)


@dataclass(frozen=True, kw_only=True)
class CacheDigest:
    """A decoded Golomb-coded-set cache digest (draft-ietf-httpbis-cache-digest-02, §2.1).

    Immutable; every method returns a new digest. ``CacheDigest()`` is the empty digest with
    ``N = 1`` and ``P = 128``; ``CacheDigest(log2_n=6)`` an empty one sized for 64 keys.

    Attributes:
        log2_n: ``log2(N)``, 0 to 31; ``N`` is the number of keys rounded to a power of two.
        log2_p: ``log2(P)``, 0 to 31; ``1/P`` is the false-positive rate the digest aims for.
        values: The distinct hash values, each in ``range(2 ** (log2_n + log2_p))``; at most
            :attr:`capacity` of them.

    Raises:
        DigestError: On construction, when a field is out of range or there are more values
            than ``N`` allows.
        TypeError: On construction, when ``values`` is not a frozenset of ints.
    """

    log2_n: int = 0
    log2_p: int = DEFAULT_LOG2_P
    values: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        _check_log2("log2_n", self.log2_n)
        _check_log2("log2_p", self.log2_p)
        if not isinstance(self.values, frozenset):
            msg = f"values must be a frozenset of ints, got {type(self.values).__name__}"
            raise TypeError(msg)
        if len(self.values) > self.capacity:
            msg = (
                f"{len(self.values)} values exceed the capacity of a digest with "
                f"N = 2**{self.log2_n} ({self.capacity})"
            )
            raise DigestError(msg)
        limit = 1 << (self.log2_n + self.log2_p)
        for value in self.values:
            if type(value) is not int:
                msg = f"values must be ints, got {value!r}"
                raise TypeError(msg)
            if not 0 <= value < limit:
                msg = f"value {value} is outside range(2**{self.log2_n + self.log2_p})"
                raise DigestError(msg)

    @property
    def capacity(self) -> int:
        """The most values a digest with this ``N`` holds: ``floor(N * sqrt(2))``."""
        return _capacity(self.log2_n)

    @classmethod
    def from_urls(
        cls,
        urls: Iterable[Key],
        *,
        log2_p: int = DEFAULT_LOG2_P,
        log2_n: int | None = None,
    ) -> CacheDigest:
        """Build the digest of a set of keys (draft-ietf-httpbis-cache-digest-02, §2.1.1).

        Args:
            urls: Keys: URL strs, or ``(url, etag)`` tuples (``etag`` a str or ``None``).
                Identical keys count once.
            log2_p: ``log2(P)``, 0 to 31; the default 7 gives a false-positive rate of 1/128.
            log2_n: ``log2(N)``, 0 to 31; by default the number of distinct keys rounded to
                the nearest power of two. Fix it to keep a digest at one size while it grows
                (see :meth:`with_urls`).

        Returns:
            The digest.

        Raises:
            DigestError: ``log2_n`` or ``log2_p`` is out of range, or a fixed ``log2_n`` is too
                small for the keys (more distinct values than :attr:`capacity`).
            TypeError: ``urls`` is a single str, or holds something that is not a key.
        """
        _check_log2("log2_p", log2_p)
        tops = _tops(urls)
        if log2_n is None:
            log2_n = _nearest_log2(len(tops))
        shift = _TOP_BITS - _check_log2("log2_n", log2_n) - log2_p
        return cls(log2_n=log2_n, log2_p=log2_p, values=frozenset(top >> shift for top in tops))

    def with_urls(self, urls: Iterable[Key]) -> CacheDigest:
        """Return this digest with more keys added, at the same ``N`` and ``P``.

        Args:
            urls: Keys: URL strs, or ``(url, etag)`` tuples.

        Returns:
            A new digest holding this digest's values and those of ``urls``.

        Raises:
            DigestError: The result would hold more values than :attr:`capacity`.
            TypeError: ``urls`` is a single str, or holds something that is not a key.
        """
        shift = _TOP_BITS - self.log2_n - self.log2_p
        added = {top >> shift for top in _tops(urls)}
        return replace(self, values=self.values | added)

    def merge(self, other: CacheDigest) -> CacheDigest:
        """Return the union of two digests with the same ``N`` and ``P``.

        Args:
            other: A digest with the same ``log2_n`` and ``log2_p``.

        Returns:
            A new digest holding the values of both.

        Raises:
            DigestError: ``N`` or ``P`` differ (rebuild from the keys with :meth:`from_urls`
                instead), or the union holds more values than :attr:`capacity`.
        """
        if (self.log2_n, self.log2_p) != (other.log2_n, other.log2_p):
            msg = (
                f"cannot merge a digest with log2_n={self.log2_n}, log2_p={self.log2_p} and one "
                f"with log2_n={other.log2_n}, log2_p={other.log2_p}: rebuild from the keys"
            )
            raise DigestError(msg)
        return replace(self, values=self.values | other.values)

    def contains(self, url: str, etag: str | None = None) -> bool:
        """Tell whether a key may be in the digest (draft-ietf-httpbis-cache-digest-02, §2.2.1).

        Args:
            url: The effective request URL (str).
            etag: The entity-tag as sent (str), when the digest was built with validators.

        Returns:
            ``True`` for every key that was added, and for a key that was not with probability
            ``len(values) / (N * P)`` (about ``1/P``); ``False`` means certainly absent.

        Raises:
            DigestError: The URL or ETag holds a lone surrogate.
            TypeError: ``url`` or ``etag`` is not a str.
        """
        width = self.log2_n + self.log2_p
        return _top64(url, etag) >> (_TOP_BITS - width) in self.values

    def __contains__(self, key: object) -> bool:
        """Tell whether a key (a URL str or a ``(url, etag)`` tuple) may be in the digest."""
        url, etag = _split_key(key)
        return self.contains(url, etag)

    def encode(self) -> bytes:
        """Encode the digest (draft-ietf-httpbis-cache-digest-02, §2.1.1, steps 5 to 10).

        Returns:
            The digest-value: ``log2(N)`` and ``log2(P)`` in 5 bits each, the Golomb-Rice codes
            of the sorted values, zero bits to a whole byte. At least 2 bytes.

        Raises:
            DigestError: The result would be longer than :data:`MAX_DIGEST_BYTES` bytes, so
                that no decoder here would accept it.
        """
        log2_p = self.log2_p
        stop_bit = 1 << log2_p
        mask = stop_bit - 1
        limit = 8 * MAX_DIGEST_BYTES
        code = self.log2_n << 5 | log2_p
        length = _HEADER_BITS
        for previous, value in pairwise([-1, *sorted(self.values)]):
            delta = value - previous - 1
            # D // P zero bits, a one bit, D % P in log2(P) bits: the zeros come from the shift.
            width = (delta >> log2_p) + 1 + log2_p
            length += width
            if length > limit:  # checked before shifting: one value can need 2**30 zero bits
                msg = (
                    f"{len(self.values)} values at log2_n={self.log2_n}, log2_p={log2_p} "
                    f"take more than {MAX_DIGEST_BYTES} bytes"
                )
                raise DigestError(msg)
            code = (code << width) | stop_bit | (delta & mask)
        size = -(-length // 8)
        return (code << (8 * size - length)).to_bytes(size, "big")

    @classmethod
    def decode(
        cls, data: bytes, *, max_log2_n: int = MAX_LOG2, max_log2_p: int = MAX_LOG2
    ) -> CacheDigest:
        """Decode a digest-value received from a client (draft-ietf-httpbis-cache-digest-02).

        Reads the header and the Golomb-Rice codes as in §2.2.1 "Querying the Digest for a
        Value", all at once. Only the canonical encoding is accepted (what :meth:`encode`
        produces), and the work is linear in ``len(data)`` whatever the header says.

        Args:
            data: The digest-value (bytes), at most :data:`MAX_DIGEST_BYTES` long.
            max_log2_n: The largest ``log2(N)`` accepted, checked before any value is read:
                the values a digest may hold, and so the work and memory of decoding it, grow
                with ``N`` (the draft lets a server ignore a digest it will not process).
            max_log2_p: The largest ``log2(P)`` accepted, checked the same way.

        Returns:
            The digest.

        Raises:
            DigestError: ``data`` is longer than :data:`MAX_DIGEST_BYTES` or shorter than the
                10-bit header, ``N`` or ``P`` is above the maximum, a code is cut short, a value
                is not below ``N * P``, there are more values than ``N`` allows, or there are 8
                or more bits of padding.
        """
        size = len(data)
        if size > MAX_DIGEST_BYTES:
            msg = f"digest is {size} bytes, more than the {MAX_DIGEST_BYTES} accepted"
            raise DigestError(msg)
        if size < 2:
            msg = f"digest is {size} bytes, shorter than its 10-bit header"
            raise DigestError(msg)
        log2_n, log2_p = data[0] >> 3, (data[0] & 0b111) << 2 | data[1] >> 6
        _check_size(log2_n, log2_p, max_log2_n, max_log2_p)
        total = 8 * size
        bits = format(int.from_bytes(data, "big"), f"0{total}b")
        limit = 1 << (log2_n + log2_p)
        capacity = _capacity(log2_n)
        values: list[int] = []
        current = -1
        position = _HEADER_BITS
        while True:
            # Each pass consumes at least one bit, so the loop ends within `total` passes.
            stop = bits.find("1", position)
            if stop < 0:
                if total - position >= 8:
                    msg = f"digest ends in {total - position} zero bits; padding is at most 7"
                    raise DigestError(msg)
                break
            end = stop + 1 + log2_p
            if end > total:
                msg = f"digest is cut short in the remainder of value {len(values) + 1}"
                raise DigestError(msg)
            quotient = stop - position
            remainder = int(bits[stop + 1 : end], 2) if log2_p else 0
            current += (quotient << log2_p) + remainder + 1
            if current >= limit:
                msg = f"value {current} is outside range(2**{log2_n + log2_p})"
                raise DigestError(msg)
            if len(values) == capacity:
                msg = f"digest holds more than the {capacity} values N = 2**{log2_n} allows"
                raise DigestError(msg)
            values.append(current)
            position = end
        # Every value was checked above (an int, in range, no more than capacity): build the
        # digest without checking each value a second time.
        digest = cls.__new__(cls)
        object.__setattr__(digest, "log2_n", log2_n)
        object.__setattr__(digest, "log2_p", log2_p)
        object.__setattr__(digest, "values", frozenset(values))
        return digest

    def to_base64url(self) -> str:
        """Encode the digest as base64url without padding (RFC 4648 §5), as in a header or cookie.

        Returns:
            ASCII text (str) of ``ceil(4 * len(encode()) / 3)`` characters.

        Raises:
            DigestError: As :meth:`encode`.
        """
        return base64.urlsafe_b64encode(self.encode()).rstrip(b"=").decode("ascii")

    @classmethod
    def from_base64url(
        cls, text: str, *, max_log2_n: int = MAX_LOG2, max_log2_p: int = MAX_LOG2
    ) -> CacheDigest:
        """Decode a digest sent as base64url (RFC 4648 §5), with or without ``=`` padding.

        Args:
            text: base64url text (str). Padding, when present, must be complete; characters
                outside the base64url alphabet, whitespace included, are rejected, as are
                nonzero unused bits in the last character.
            max_log2_n: As :meth:`decode`; checked before the text is decoded.
            max_log2_p: As :meth:`decode`.

        Returns:
            The digest.

        Raises:
            DigestError: ``text`` is not canonical base64url, or as :meth:`decode`.
            TypeError: ``text`` is not a str.
        """
        if not isinstance(text, str):
            msg = f"expected base64url text (str), got {type(text).__name__}"
            raise TypeError(msg)
        if len(text) > _MAX_BASE64URL_CHARS:
            msg = f"digest is {len(text)} base64url characters, more than {MAX_DIGEST_BYTES} bytes"
            raise DigestError(msg)
        if len(text) >= 2 and (ord(text[0]) < 128 and ord(text[1]) < 128):
            # The 10-bit header is the first two characters: refuse a large N or P unread.
            head = _BASE64URL_VALUES.get(text[0], -1), _BASE64URL_VALUES.get(text[1], -1)
            if min(head) >= 0:
                log2_n, log2_p = head[0] >> 1, (head[0] & 1) << 4 | head[1] >> 2
                _check_size(log2_n, log2_p, max_log2_n, max_log2_p)
        body = text.rstrip("=")
        padding = len(text) - len(body)
        if not _BASE64URL.fullmatch(body) or len(body) % 4 == 1:
            msg = f"digest {_preview(text)} is not base64url"
            raise DigestError(msg)
        if padding and (padding > 2 or len(text) % 4):
            msg = f"digest {_preview(text)} has bad base64 padding"
            raise DigestError(msg)
        try:
            data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except binascii.Error as exc:  # pragma: no cover - the checks above rule it out
            msg = f"digest {_preview(text)} is not base64url: {exc}"
            raise DigestError(msg) from None
        if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != body:
            msg = f"digest {_preview(text)} has nonzero unused bits in its last character"
            raise DigestError(msg)
        return cls.decode(data, max_log2_n=max_log2_n, max_log2_p=max_log2_p)
