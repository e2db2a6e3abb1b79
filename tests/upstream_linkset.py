"""Compare Link field values as RFC 8288 link sets, for the old extensions' own test suites.

Copied beside those suites by ``test_compat_upstream.py``. A value is a set of links, each
``(target resolved against the request URL, its parameters as a set)``; parameter names are
case-insensitive (RFC 8288 §3), their order does not matter, and ``crossorigin`` on a font
preload is left out (browsers need it; the old extensions did not send it). Written apart from
h2push's own parser, so the comparison does not rest on the code under test.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

_LINK = re.compile(r'\s*<([^>]*)>((?:\s*;\s*[^;,"]+(?:="[^"]*")?)*)\s*(?:,|$)')

Link = tuple[str, frozenset[tuple[str, str | None]]]


def link_set(value: str | None, base: str) -> set[Link] | None:
    """The links of a Link field value, or None when there is no field."""
    if value is None:
        return None
    links: set[Link] = set()
    text = value.strip()
    position = 0
    while position < len(text):
        match = _LINK.match(text, position)
        if match is None:
            raise ValueError(f"not a link-value at offset {position}: {text!r}")
        position = match.end()
        params: set[tuple[str, str | None]] = set()
        for part in filter(None, (p.strip() for p in match.group(2).split(";"))):
            name, _, raw = part.partition("=")
            params.add((name.strip().lower(), raw.strip().strip('"') or None))
        if ("as", "font") in params:
            params = {p for p in params if p[0] != "crossorigin"}
        links.add((urljoin(base, match.group(1)), frozenset(params)))
        while position < len(text) and text[position] in " ,":
            position += 1
    return links
