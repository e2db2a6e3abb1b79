"""A Netscape cookie-jar file (the format of curl's ``-b``/``-c``) for repeat-visit traces."""

from __future__ import annotations

import email.message
import http.cookiejar
import json
import os
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from h2push._core.errors import H2PushError

# --------------------------------------------------------------------------- cookie jar

_NETSCAPE_HEADER = (
    "# Netscape HTTP Cookie File\n"
    "# Written by h2push trace --cookie-jar, in the format of curl's -b and -c files.\n\n"
)
_HTTP_ONLY_PREFIX = "#HttpOnly_"


class CookieJarError(H2PushError, ValueError):
    """A cookie jar file that cannot be read: the message names the file, the line and why."""


class _Response:
    """What :meth:`http.cookiejar.CookieJar.extract_cookies` reads from a response."""

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        self._message = email.message.Message()
        for name, value in headers:
            if name.lower() == "set-cookie":
                self._message["Set-Cookie"] = value

    def info(self) -> email.message.Message:
        return self._message


def _http_only(cookie: http.cookiejar.Cookie) -> bool:
    return any(cookie.has_nonstandard_attr(name) for name in ("HttpOnly", "httponly"))


def _make_cookie(
    *,
    name: str,
    value: str,
    domain: str,
    path: str,
    secure: bool,
    expires: int | None,
    http_only: bool,
) -> http.cookiejar.Cookie:
    """A cookie as :mod:`http.cookiejar` keeps it; a leading dot makes it a domain cookie."""
    return http.cookiejar.Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=domain,
        domain_specified=domain.startswith("."),
        domain_initial_dot=domain.startswith("."),
        path=path,
        path_specified=True,
        secure=secure,
        expires=expires,
        discard=expires is None,
        comment=None,
        comment_url=None,
        rest={"HttpOnly": ""} if http_only else {},
    )


class CookieJarFile:
    """Cookies kept in a file between traces, as a browser keeps them between visits.

    Two file formats, told apart by the content (or, for a new file, by a ``.json`` suffix):

    * Netscape/curl (``curl -b FILE -c FILE``): one cookie per line, seven tab-separated fields
      ``domain  include_subdomains  path  secure  expires  name  value``; ``TRUE``/``FALSE``;
      ``expires`` in seconds since the epoch, 0 for a session cookie; a ``#HttpOnly_`` prefix on
      the domain of an HttpOnly cookie; other lines starting with ``#`` are comments.
    * JSON: a list of objects ``{"name", "value", "domain", "path", "expires", "secure",
      "http_only"}``; ``domain`` with a leading dot also matches subdomains, ``expires`` is
      seconds since the epoch or null for a session cookie.

    Matching, expiry and ``Set-Cookie`` parsing are :mod:`http.cookiejar`'s (RFC 6265 rules:
    domain, path, ``Secure``, ``Max-Age``/``Expires``). Session cookies are kept, as curl keeps
    them: a second trace is the same browsing session.

    Args:
        path: The file; it need not exist yet.

    Raises:
        CookieJarError: The file exists but is neither format, or a line or entry is malformed.
        OSError: The file exists but cannot be read.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.jar = http.cookiejar.CookieJar()
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else None
        stripped = "" if text is None else text.lstrip()
        if text is None:
            self.format: Literal["netscape", "json"] = (
                "json" if self.path.suffix.lower() == ".json" else "netscape"
            )
        elif stripped.startswith(("[", "{")):
            self.format = "json"
            self._load_json(text)
        else:
            self.format = "netscape"
            self._load_netscape(text)

    def __len__(self) -> int:
        return len(self.jar)

    def _error(self, where: str, reason: str) -> CookieJarError:
        return CookieJarError(f"cookie jar {self.path}: {where}: {reason}")

    def _load_netscape(self, text: str) -> None:
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            http_only = line.startswith(_HTTP_ONLY_PREFIX)
            if http_only:
                line = line[len(_HTTP_ONLY_PREFIX) :]
            elif not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) == 6:  # curl writes an empty value as a missing last field
                fields.append("")
            if len(fields) != 7:
                raise self._error(f"line {number}", "expected 7 tab-separated fields")
            domain, subdomains, path, secure, expires, name, value = fields
            flags = (subdomains.upper(), secure.upper())
            if not all(flag in ("TRUE", "FALSE") for flag in flags) or not expires.isdigit():
                raise self._error(f"line {number}", "flags must be TRUE/FALSE, expires a number")
            if flags[0] == "TRUE" and not domain.startswith("."):
                domain = "." + domain
            self.jar.set_cookie(
                _make_cookie(
                    name=name,
                    value=value,
                    domain=domain,
                    path=path,
                    secure=flags[1] == "TRUE",
                    expires=int(expires) or None,
                    http_only=http_only,
                )
            )

    def _load_json(self, text: str) -> None:
        try:
            entries = json.loads(text)
        except ValueError as exc:
            raise self._error("JSON", str(exc)) from None
        if not isinstance(entries, list):
            raise self._error("JSON", "expected a list of cookie objects")
        for index, entry in enumerate(entries):
            where = f"entry {index}"
            if not isinstance(entry, dict):
                raise self._error(where, "expected an object")
            name, value, domain = entry.get("name"), entry.get("value"), entry.get("domain")
            if not all(isinstance(item, str) for item in (name, value, domain)):
                raise self._error(where, "name, value and domain must be strings")
            expires = entry.get("expires")
            if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int)):
                raise self._error(where, "expires must be an integer or null")
            self.jar.set_cookie(
                _make_cookie(
                    name=str(name),
                    value=str(value),
                    domain=str(domain),
                    path=str(entry.get("path") or "/"),
                    secure=bool(entry.get("secure", False)),
                    expires=expires,
                    http_only=bool(entry.get("http_only", False)),
                )
            )

    def header_for(self, url: str) -> str | None:
        """The ``cookie`` field value to send to ``url`` (RFC 6265 §5.4), or None for none."""
        request = urllib.request.Request(url)  # noqa: S310 - only read by the cookie policy
        self.jar.add_cookie_header(request)
        value = request.get_header("Cookie")
        return None if value is None else str(value)

    def store(self, url: str, headers: Iterable[tuple[str, str]]) -> int:
        """Keep the ``set-cookie`` fields of a response to ``url``; return how many were kept."""
        before = {(c.domain, c.path, c.name, c.value) for c in self.jar}
        request = urllib.request.Request(url)  # noqa: S310 - only read by the cookie policy
        self.jar.extract_cookies(_Response(headers), request)  # type: ignore[arg-type]
        return len({(c.domain, c.path, c.name, c.value) for c in self.jar} - before)

    def save(self) -> None:
        """Write the unexpired cookies back to :attr:`path`, in the format it was read in.

        Raises:
            OSError: The file cannot be written.
        """
        self.jar.clear_expired_cookies()
        cookies = sorted(self.jar, key=lambda c: (c.domain, c.path, c.name))
        if self.format == "json":
            text = json.dumps(
                [
                    {
                        "name": c.name,
                        "value": c.value,
                        "domain": c.domain,
                        "path": c.path,
                        "expires": c.expires,
                        "secure": c.secure,
                        "http_only": _http_only(c),
                    }
                    for c in cookies
                ],
                indent=2,
            )
            text += "\n"
        else:
            lines = [
                "\t".join(
                    [
                        (_HTTP_ONLY_PREFIX if _http_only(c) else "") + c.domain,
                        "TRUE" if c.domain.startswith(".") else "FALSE",
                        c.path,
                        "TRUE" if c.secure else "FALSE",
                        str(c.expires or 0),
                        c.name,
                        c.value or "",
                    ]
                )
                for c in cookies
            ]
            text = _NETSCAPE_HEADER + "".join(line + "\n" for line in lines)
        self.path.write_text(text, encoding="utf-8")
