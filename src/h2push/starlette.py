"""Starlette and FastAPI: per-route manifests and ``push()`` from a handler.

The ASGI middleware does the delivering (:class:`h2push.asgi.H2PushMiddleware`, re-exported
here); this module adds what a Starlette or FastAPI app declares per route::

    from h2push.starlette import H2PushMiddleware, http2push, preloads_resolver, push

    app = FastAPI()                     # or Starlette(routes=[...])
    app.add_middleware(
        H2PushMiddleware,
        manifest="push_manifest.json",  # every navigation
        preloads=preloads_resolver(app),  # the @http2push manifest of the route a path matches
    )

    @app.get("/about")
    @http2push("about_manifest.json")   # next to this module
    async def about(request: Request):
        push(request, "/static/chart.js", as_="script")
        ...

For a navigation the middleware sends the 103 and the pushes of both manifests *before* the
handler runs; the handler's ``push()`` calls join the response's Link header and are pushed as
the response starts. Starlette's own ``request.send_push_promise`` and
``request.send_early_hints`` keep working beside it: their messages pass through untouched
(browsers act on the first 103 only, which is h2push's when the manifest has hints).

In a Jinja template (``Jinja2Templates``), register :func:`push` as a global and pass it the
request, which Starlette puts in every template context::

    templates.env.globals["push"] = push

    {% set css = url_for('static', path='app.css') %}
    <link rel="stylesheet" href="{{ push(request, css, as='style') }}">

``url_for`` gives an absolute URL; :func:`push` turns one on the request's own origin into a
path, so that it can be pushed.

Importing this module requires Starlette (``pip install h2push[starlette]``; FastAPI brings it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

from starlette.datastructures import URL
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match, Mount

from h2push import asgi
from h2push._core.links import Preload
from h2push._core.manifest import Manifest
from h2push._delivery.declare import manifest_marker
from h2push.asgi import H2PushMiddleware

__all__ = ["H2PushMiddleware", "http2push", "preloads_resolver", "push", "route_manifest"]

_ATTR: Final = "_h2push_manifest"

_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def http2push(
    manifest: str | os.PathLike[str] | Manifest = "push_manifest.json",
) -> Callable[[_Endpoint], _Endpoint]:
    """Mark a route's endpoint with a manifest whose preloads go with every response of it.

    The endpoint is returned unchanged (FastAPI still sees its signature); only an attribute
    is set, read by :func:`preloads_resolver`. Put it under or over ``@app.get(...)``, or on a
    function or ``HTTPEndpoint`` class given to ``Route``. A multi-page manifest gives the route
    the entries of the path it serves.

    The manifest is loaded here, once: a relative path is taken from the directory of the
    module that defines the endpoint (as Flask's is from the app's root), an absolute one as
    it is.

    Args:
        manifest: A ``push_manifest.json`` path or a :class:`~h2push.Manifest`.

    Returns:
        The decorator.

    Raises:
        h2push.ManifestError: The file is missing or invalid (naming file, key, reason).
        TypeError: Used as ``@http2push`` without parentheses.
    """
    return manifest_marker(manifest, _ATTR)


def route_manifest(endpoint: object) -> Manifest | None:
    """The manifest :func:`http2push` gave ``endpoint``, or None."""
    found = getattr(endpoint, _ATTR, None)
    return found if isinstance(found, Manifest) else None


def _scope(path: str) -> dict[str, Any]:
    """A GET request scope for matching ``path`` against routes (no headers: no Host routes)."""
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }


_NO_ROUTE: Final = object()
"""What :func:`_endpoint_for` returns for a path no route serves (a 404 or 405 page)."""


def _endpoint_for(routes: Iterable[BaseRoute], scope: dict[str, Any]) -> object | None:
    """The endpoint a GET of ``scope["path"]`` reaches, as Starlette's router would find it.

    None for a mounted application (StaticFiles, another ASGI app), :data:`_NO_ROUTE` when no
    route takes a GET of the path.
    """
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue  # NONE, or PARTIAL: the path matches but GET is not allowed
        if isinstance(route, Mount):
            inner = route.routes
            if not inner:  # a mounted app (StaticFiles, another ASGI app): not ours to plan
                return None
            return _endpoint_for(inner, {**scope, **child})
        return getattr(route, "endpoint", None)
    return _NO_ROUTE


def preloads_resolver(app: object) -> Callable[[str, bool], Sequence[Preload] | None] | None:
    """The ``preloads=`` function of :class:`H2PushMiddleware` for a Starlette or FastAPI app.

    Called per request with the path (str, no query string) and whether the request is a
    navigation, it matches the path against the app's routes as a GET, as Starlette's router
    does (through mounts), and returns the preloads of the endpoint's :func:`http2push`
    manifest; nothing for an undecorated endpoint or a mounted app. For a path no route takes
    (Starlette answers 404, 405, or a redirect to the path with or without its trailing
    slash) it returns None: the middleware then sends no 103 and no push, not even the
    manifest's. Routes are read at each call, so routes added after the middleware count too.

    Args:
        app: A Starlette application (FastAPI's included), or a Starlette ``Router``.

    Returns:
        The resolver, or None when ``app`` has no Starlette routes.
    """
    if not isinstance(getattr(app, "routes", None), list):
        return None

    def resolve(path: str, navigation: bool) -> tuple[Preload, ...] | None:
        routes: list[BaseRoute] = getattr(app, "routes", [])
        endpoint = _endpoint_for(routes, _scope(path))
        if endpoint is _NO_ROUTE:
            return None
        manifest = route_manifest(endpoint)
        # A route's manifest applies to every request of it, as flask-http2-push's decorator.
        return () if manifest is None else manifest.preloads_for(path)

    return resolve


def push(
    request: HTTPConnection, url: str | URL, *flags: str, strict: bool = False, **attrs: Any
) -> str:
    """Preload ``url`` from the response to ``request``; return ``url`` as a str.

    :func:`h2push.asgi.push` through the request's scope: the resource joins the response's
    Link header (RFC 8288) and is pushed when the server and client allow it (RFC 9113 §8.4).
    Call it before the response starts (in the handler or its template).

    Args:
        request: The Starlette ``Request`` (or any ``HTTPConnection``).
        url: An absolute path such as ``/static/app.js``, or an absolute URL (a str or
            Starlette ``URL``); one on the request's own origin is reduced to its path.
        flags: Attributes without a value, as in Flask-Firehose's ``push``: ``crossorigin``
            (anonymous) and ``nopush``.
        **attrs: ``as`` or ``as_`` (style, script, font, image, fetch, ...), ``rel``,
            ``crossorigin`` (True or "" mean anonymous), ``type``, ``fetchpriority``,
            ``nopush``, ``weight``.
        strict: Raise for a value that cannot be sent; by default the preload is dropped
            with one log line and the page goes out without it (:func:`h2push.asgi.push`).

    Returns:
        ``str(url)``, unchanged, for use in ``href``/``src``.

    Raises:
        ValueError: Only with ``strict=True``: the URL or an attribute cannot be sent
            (:class:`h2push.PreloadError` names the field), or an unknown flag.
        TypeError: An unknown attribute, or one given twice.
        RuntimeError: The app is not wrapped in :class:`H2PushMiddleware`.
    """
    text = str(url)
    asgi.push(request.scope, _same_origin_path(request, text), *flags, strict=strict, **attrs)
    return text


def _same_origin_path(request: HTTPConnection, url: str) -> str:
    """``url`` as a path when it is an absolute URL on the request's origin, else unchanged."""
    if url.startswith("/"):
        return url
    try:
        absolute = URL(url)
    except ValueError:  # not a URL at all: push() refuses it
        return url
    base = request.base_url
    if (absolute.scheme, absolute.netloc) != (base.scheme, base.netloc):
        return url
    return absolute.path + (f"?{absolute.query}" if absolute.query else "")
