"""The Quart extension: Flask's h2push API on Quart, delivered by the ASGI middleware.

The same three declarations as :mod:`h2push.flask`::

    app = Quart(__name__)
    H2Push(app)                      # push_manifest.json next to the app, if there is one

    @app.route("/about")
    @http2push("static/about_manifest.json")   # per view
    async def about():
        push(url_for("static", filename="app.css"), as_="style")   # in a view...
        return await render_template("about.html")   # ...or {{ push(url, as='style') }}

:class:`H2Push` wraps ``app.asgi_app`` in :class:`h2push.asgi.H2PushMiddleware`, so on a server
that offers the ASGI extensions (Hypercorn over HTTP/2) a navigation gets its 103 Early Hints
(RFC 8297) and its pushes (RFC 9113 §8.4) *before* the view runs: the app's manifest and the
manifest of the :func:`http2push` view the path routes to. ``push()`` calls join the
response's Link header (RFC 8288) and are pushed as the response starts. Quart's own
``make_push_promise`` keeps working beside it.

Settings, as for Flask: constructor arguments are defaults, the app's config keys override them,
read once in :meth:`H2Push.init_app`:

================================ ============================= =====================================
config key                       argument                      meaning
================================ ============================= =====================================
H2PUSH_ENABLED                   (default True)                False: no middleware, ``push()`` only
                                                               returns the URL
H2PUSH_MANIFEST                  ``manifest``                  path relative to ``app.root_path``,
                                                               a Manifest, None
H2PUSH_MAX_PUSHES                ``max_pushes``                most pushes per response (int >= 0)
H2PUSH_MAX_PUSHES_PER_CONNECTION ``max_pushes_per_connection`` most pushes per HTTP/2 connection
                                                               (int >= 0)
H2PUSH_EARLY_HINTS               ``early_hints``               send a 103 when the server offers it
H2PUSH_PUSH                      ``push``                      push when the server offers it
H2PUSH_HINTED_MAX_AGE            (default 60)                  shortest ``max-age`` (seconds) of a
                                                               hinted response left without one;
                                                               None: leave responses alone
H2PUSH_PROXY                     ``proxy``                     the proxy in front:
                                                               ``"forwards-103"`` or
                                                               ``"pushes-from-link"`` (True); None
================================ ============================= =====================================

Quart serves static files ``max-age=43200`` (12 hours) by default, which browsers reuse as
they are: h2push changes no ``Cache-Control`` an app or Quart set.

Importing this module requires Quart (``pip install h2push[quart]``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast

from quart import Quart, current_app, has_request_context, request

from h2push import asgi
from h2push._core.links import Preload, user_preload
from h2push._core.manifest import Manifest
from h2push._core.plan import DEFAULT_MAX_PUSHES
from h2push._delivery.asgi_types import ASGIApp, Scope
from h2push._delivery.declare import (
    DefaultManifestPath,
    check_count,
    check_flag,
    check_manifest_setting,
)
from h2push._delivery.werkzeug_routes import endpoint_of
from h2push._proxy import ProxyMode, proxy_mode
from h2push.asgi import H2PushMiddleware

__all__ = ["DEFAULT_MANIFEST", "H2Push", "http2push", "preloads_resolver", "push"]

_EXTENSION_KEY: Final = "h2push"
_VIEW_ATTR: Final = "_h2push_manifest"


#: The manifest read when none is given, relative to ``app.root_path``.
DEFAULT_MANIFEST: Final[str] = DefaultManifestPath("push_manifest.json")

_View = TypeVar("_View", bound=Callable[..., Any])


@dataclass
class _AppState:
    """Per-app settings and caches, kept in ``app.extensions["h2push"]``."""

    root_path: str
    manifest: Manifest | None
    enabled: bool
    # Decorator manifests by file, loaded at init, before serving, or on first use.
    loaded: dict[str, Manifest] = field(default_factory=dict)

    def view_manifest(self, view: object) -> Manifest | None:
        spec = getattr(view, _VIEW_ATTR, None)
        if isinstance(spec, Manifest) or spec is None:
            return spec
        file = os.path.join(self.root_path, os.fspath(spec))
        manifest = self.loaded.get(file)
        if manifest is None:
            manifest = self.loaded[file] = Manifest.load(file)
        return manifest


class H2Push:
    """The Quart extension: ``H2Push(app)``, or ``ext = H2Push()`` and ``ext.init_app(app)``.

    Args:
        app: The app to initialise now, or None to call :meth:`init_app` later.
        manifest: A ``push_manifest.json`` path relative to ``app.root_path`` (or absolute), a
            :class:`~h2push.Manifest`, or None. The default file may be missing (no
            manifest then); a path given explicitly must exist.
        max_pushes: The most pushes per response (int >= 0).
        max_pushes_per_connection: The most pushes per HTTP/2 connection (int >= 0); a URL is
            never pushed twice on one (:class:`~h2push.asgi.H2PushMiddleware`).
        early_hints: Send a 103 Early Hints on navigations when the server offers it.
        push: Push when the server offers it.
        proxy: What the reverse proxy in front does: ``"forwards-103"`` (Caddy, Apache httpd,
            nginx >= 1.29, nghttpx, Cloudflare: 103, no push), ``"pushes-from-link"`` or True
            (nginx < 1.25.1, h2o 2.2: no 103, no push), None (``H2PushMiddleware``'s ``proxy``).

    Raises:
        h2push.ManifestError: A manifest cannot be read or is invalid.
        TypeError: A setting has the wrong type.
        ValueError: ``max_pushes`` or ``max_pushes_per_connection`` is negative, or ``proxy``
            names no proxy mode.
    """

    def __init__(
        self,
        app: Quart | None = None,
        *,
        manifest: str | os.PathLike[str] | Manifest | None = DEFAULT_MANIFEST,
        max_pushes: int = DEFAULT_MAX_PUSHES,
        max_pushes_per_connection: int = asgi.DEFAULT_MAX_PUSHES_PER_CONNECTION,
        early_hints: bool = True,
        push: bool = True,
        proxy: ProxyMode | bool | None = None,
    ) -> None:
        check_count("max_pushes", max_pushes)
        check_count("max_pushes_per_connection", max_pushes_per_connection)
        check_flag("early_hints", early_hints)
        check_flag("push", push)
        self.manifest = manifest
        self.max_pushes = max_pushes
        self.max_pushes_per_connection = max_pushes_per_connection
        self.early_hints = early_hints
        self.push = push
        self.proxy: ProxyMode | None = proxy_mode(proxy)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        """Read the app's config, load its manifests, wrap ``app.asgi_app``, add ``push``.

        Manifests of :func:`http2push` views registered so far are loaded now, those of later
        ones before the app serves (``before_serving``) or on their first request.

        Raises:
            h2push.ManifestError: A manifest cannot be read or is invalid.
            TypeError: A setting has the wrong type.
            ValueError: ``H2PUSH_MAX_PUSHES`` or ``H2PUSH_MAX_PUSHES_PER_CONNECTION`` is
                negative, or ``H2PUSH_PROXY`` names no proxy mode.
            RuntimeError: ``app`` already has an H2Push.
        """
        if _EXTENSION_KEY in app.extensions:
            raise RuntimeError("H2Push is already initialised on this app")
        config = app.config
        enabled = config.get("H2PUSH_ENABLED", True)
        max_pushes = config.get("H2PUSH_MAX_PUSHES", self.max_pushes)
        per_connection = config.get(
            "H2PUSH_MAX_PUSHES_PER_CONNECTION", self.max_pushes_per_connection
        )
        early_hints = config.get("H2PUSH_EARLY_HINTS", self.early_hints)
        push_enabled = config.get("H2PUSH_PUSH", self.push)
        proxy = proxy_mode(config.get("H2PUSH_PROXY", self.proxy), "H2PUSH_PROXY")
        hinted_max_age = config.get("H2PUSH_HINTED_MAX_AGE", asgi.DEFAULT_HINTED_MAX_AGE_S)
        if hinted_max_age is not None:
            check_count("H2PUSH_HINTED_MAX_AGE", hinted_max_age)
        check_flag("H2PUSH_ENABLED", enabled)
        check_count("H2PUSH_MAX_PUSHES", max_pushes)
        check_count("H2PUSH_MAX_PUSHES_PER_CONNECTION", per_connection)
        check_flag("H2PUSH_EARLY_HINTS", early_hints)
        check_flag("H2PUSH_PUSH", push_enabled)
        setting = config.get("H2PUSH_MANIFEST", self.manifest)
        state = _AppState(
            root_path=app.root_path,
            manifest=_app_manifest(app.root_path, setting),
            enabled=enabled,
        )
        app.extensions[_EXTENSION_KEY] = state
        app.add_template_global(push, "push")
        if not enabled:
            return
        _load_view_manifests(app, state)

        async def load_later_views() -> None:
            _load_view_manifests(app, state)

        app.before_serving(load_later_views)
        app.asgi_app = cast(  # type: ignore[method-assign]
            Any,
            H2PushMiddleware(
                cast(ASGIApp, app.asgi_app),
                manifest=state.manifest,
                preloads=preloads_resolver(app),
                max_pushes=max_pushes,
                max_pushes_per_connection=per_connection,
                early_hints=early_hints,
                push=push_enabled,
                hinted_max_age_s=hinted_max_age,
                proxy=proxy,
            ),
        )


def http2push(
    manifest: str | os.PathLike[str] | Manifest = DEFAULT_MANIFEST,
) -> Callable[[_View], _View]:
    """Mark a view whose responses preload the resources of a manifest (needs :class:`H2Push`).

    ``@http2push()`` reads ``push_manifest.json``, ``@http2push("static/about.json")`` another
    file, relative to ``app.root_path`` (absolute paths as given). The view is returned
    unchanged, so the decorator goes under or over ``@app.route``. A multi-page manifest gives
    the view the entries of the path it serves.

    Args:
        manifest: A manifest path or a :class:`~h2push.Manifest`.

    Returns:
        The decorator.

    Raises:
        TypeError: Used as ``@http2push`` without parentheses.
    """
    if callable(manifest) and not isinstance(manifest, Manifest):
        raise TypeError("use @http2push() or @http2push('path/to/manifest.json')")

    def decorator(view: _View) -> _View:
        setattr(view, _VIEW_ATTR, manifest)
        return view

    return decorator


def preloads_resolver(app: object) -> Callable[[str, bool], Sequence[Preload] | None] | None:
    """The middleware's ``preloads=`` function for a Quart app's :func:`http2push` views.

    Called with a request path (str, no query string) and whether it is a navigation, it
    matches the path as a GET against the app's URL map and returns the preloads of the
    matched view's manifest. A path that routes nowhere (404, 405) or that Werkzeug redirects
    (a missing trailing slash) gets None: the middleware then sends no 103 and no push for
    it, not even the app manifest's. The app's own manifest is not included:
    :class:`H2Push` gives that to the middleware itself.

    Args:
        app: A Quart application.

    Returns:
        The resolver, or None when ``app`` is not a Quart app or has no :class:`H2Push`.
    """
    if not isinstance(app, Quart):
        return None
    state = app.extensions.get(_EXTENSION_KEY)
    if not isinstance(state, _AppState):
        return None
    endpoint_for = endpoint_of(app.url_map, app.config)

    def resolve(path: str, navigation: bool) -> tuple[Preload, ...] | None:
        endpoint = endpoint_for(path)
        if endpoint is None:
            return None
        view_manifest = state.view_manifest(app.view_functions.get(endpoint))
        # A view's manifest applies to every request of it, as flask-http2-push's decorator.
        return () if view_manifest is None else view_manifest.preloads_for(path)

    return resolve


def push(url: str, *flags: str, strict: bool = False, **attrs: Any) -> str:
    """Preload ``url`` from the current response; return ``url`` (Flask-Firehose's ``push``).

    In a view or, as the ``push`` template global, in a template::

        push("/static/app.js", as_="script")
        push("/static/font.woff2", "crossorigin", as_="font", type="font/woff2")
        {{ push(url_for('static', filename='app.css'), as='style') }}

    The preload joins the response's Link header and is pushed as the response starts, when
    the server and client allow it (:func:`h2push.asgi.push` on the request's scope).

    Args:
        url: An absolute path such as ``/static/app.css``, or an absolute http(s) URL (str).
        flags: ``crossorigin`` (anonymous) and ``nopush``.
        attrs: ``rel``, ``as`` or ``as_``, ``crossorigin`` (True or "" mean anonymous),
            ``type``, ``fetchpriority``, ``nopush``, ``weight``.
        strict: Raise for a value that cannot be sent; by default the preload is dropped
            with one log line and the page goes out without it (:func:`h2push.asgi.push`).

    Returns:
        ``url`` unchanged.

    Raises:
        ValueError: Only with ``strict=True``: the value cannot be sent (an unknown flag, or
            what :class:`h2push.PreloadError` names).
        TypeError: An attribute that is unknown or given twice.
        RuntimeError: Outside a request, or in an app without :class:`H2Push`.
    """
    if not has_request_context():
        raise RuntimeError("push() needs a request context")
    state = current_app.extensions.get(_EXTENSION_KEY)
    if not isinstance(state, _AppState):
        raise RuntimeError("push() needs H2Push(app) to deliver it")
    if state.enabled:
        asgi.push(cast(Scope, request.scope), url, *flags, strict=strict, **attrs)
    else:  # still check it: a bad call fails (or logs) whether or not enabled
        user_preload(url, flags, attrs, strict=strict)
    return url


# --- settings and manifests -------------------------------------------------------------


def _app_manifest(root_path: str, setting: object) -> Manifest | None:
    """Load the app manifest a setting names; None for none or a missing default file."""
    checked = check_manifest_setting(setting)
    if not isinstance(checked, str):
        return checked
    path = os.path.join(root_path, checked)
    if isinstance(setting, DefaultManifestPath) and not os.path.exists(path):
        return None
    return Manifest.load(path)


def _load_view_manifests(app: Quart, state: _AppState) -> None:
    for view in app.view_functions.values():
        state.view_manifest(view)
