"""Werkzeug routing for the adapters built on it (Flask, Quart)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map


def endpoint_of(url_map: Map, config: Mapping[str, Any]) -> Callable[[str], str | None]:
    """A function from a request path to the endpoint a GET of it routes to, or None.

    None when the path routes nowhere (404, 405) or Werkzeug redirects it (a missing
    trailing slash): a page that is not there needs no hints and no pushes.

    Args:
        url_map: The app's ``url_map``.
        config: The app's config (its ``SERVER_NAME``, if any, binds the map).
    """
    adapter = url_map.bind(config.get("SERVER_NAME") or "localhost")

    def endpoint(path: str) -> str | None:
        try:
            found, _ = adapter.match(path, method="GET")
        except HTTPException:  # NotFound, MethodNotAllowed, RequestRedirect: no page here
            return None
        return str(found)

    return endpoint
