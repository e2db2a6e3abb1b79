"""The Flask extension: Link preload headers, ``wsgi.early_hints`` and the compatible APIs.

Three ways to declare a page's critical resources, all delivered the same way::

    app = Flask(__name__)
    H2Push(app)                      # push_manifest.json next to the app, if there is one

    @app.route("/about")
    @http2push("static/about_manifest.json")   # flask-http2-push's decorator
    def about(): ...

    push(url_for("static", filename="app.css"), as_="style")   # Flask-Firehose's push()
    {{ push(url_for('static', filename='app.css'), as='style') }}   # ... in a template

For every request the adapter gathers the candidate preloads (the app's manifest, the matched
view's decorator manifest, the ``push()`` calls), asks :func:`h2push.plan.plan` what to send
and carries the plan out:

* before the view runs, on navigations, one ``103 Early Hints`` (RFC 8297) through the WSGI
  server's ``environ["wsgi.early_hints"]`` callable when it offers one (Gunicorn >= 25);
* after the view, every preload as ``Link: <url>; rel=preload`` (RFC 8288) appended to the Link
  value the view set, never over it. A proxy such as nginx (``http2_push_preload on``) or a CDN
  turns those into pushes or 103s; a browser preloads them.

WSGI has no server push: under ``h2push serve`` the Flask app runs inside the ASGI middleware,
which pushes and hints before the view runs, using :func:`preloads_resolver`.

Settings: the :class:`H2Push` constructor arguments are the defaults for every app it is
initialised on; the app's config keys override them per app, read once in
:meth:`H2Push.init_app`:

================== ================================ ============================================
config key         constructor argument             meaning
================== ================================ ============================================
H2PUSH_ENABLED     (none; default True)             False turns h2push off for the app
H2PUSH_MANIFEST    ``manifest``                     path (relative to ``app.root_path``),
                                                    a :class:`~h2push.manifest.Manifest`, or None
H2PUSH_MAX_PUSHES  ``max_pushes``                   most pushes per response (int >= 0)
H2PUSH_EARLY_HINTS ``early_hints``                  send 103 Early Hints when the server can
H2PUSH_PROXY       ``proxy``                        behind nginx/h2o pushing from Link: no 103,
                                                    Link preloads count as delivered
================== ================================ ============================================

Errors: a declaration the app got wrong (a bad manifest, bad ``push()`` arguments, a bad
setting) raises at the call or at :meth:`H2Push.init_app`. A failure while delivering (a
tracker that raises, a 103 the server cannot write) is logged on the ``h2push.flask`` logger
and the response goes out without it: h2push never turns a working page into an error.

Importing this module requires Flask (``pip install h2push[flask]``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeVar

from flask import Flask, current_app, g, has_app_context, has_request_context, request, session
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from h2push.asgi import SCOPE_KEY as ASGI_SCOPE_KEY
from h2push.links import Preload, merge_link_header, user_preload
from h2push.manifest import Manifest
from h2push.plan import DEFAULT_MAX_PUSHES, Plan, RequestFacts, delivered, is_navigation, plan
from h2push.trackers import (
    DEFAULT_TRACKER,
    ClientState,
    FirehoseConnector,
    FirehoseTracker,
    Tracker,
    as_tracker,
    carries_client_state,
    may_be_stored_by_shared_cache,
)
from h2push.versions import StaticVersions, resource_keys

__all__ = [
    "DEFAULT_MANIFEST",
    "H2Push",
    "SessionTracker",
    "http2push",
    "preloads_resolver",
    "push",
    "versions_resolver",
]

logger = logging.getLogger(__name__)

_EXTENSION_KEY: Final = "h2push"
_G_KEY: Final = "_h2push"
_VIEW_ATTR: Final = "_h2push_manifest"


class _DefaultManifestPath(str):
    """The default manifest path: a missing file then means "no manifest", not an error."""

    __slots__ = ()


#: The manifest :class:`H2Push` and :func:`http2push` read when given none:
#: ``push_manifest.json`` relative to ``app.root_path``.
DEFAULT_MANIFEST: Final[str] = _DefaultManifestPath("push_manifest.json")

ManifestSetting = str | os.PathLike[str] | Manifest | None
"""A manifest setting: a file path (relative to ``app.root_path`` unless absolute), a loaded
:class:`~h2push.manifest.Manifest`, or None for no manifest."""

_View = TypeVar("_View", bound=Callable[..., Any])


class SessionTracker:
    """Flask-Firehose's tracker, for migrations: the URLs pushed to a client in its session.

    Reads and writes ``session["h2-pushed"]`` as Flask-Firehose did (a comma-joined str of
    URLs; a list is read too), so a site switching from Flask-Firehose keeps what its clients
    were already sent. It needs ``SECRET_KEY``; without one it reads nothing and writes
    nothing (Flask-Firehose answered every push with a 500 then). It grows with every URL and
    ignores versions: prefer the default :class:`~h2push.trackers.CookieDigestTracker` once
    the migration is done. Pass it as ``H2Push(app, tracker=SessionTracker())``.
    """

    key: Final = "h2-pushed"

    def get_pushed(self) -> set[str]:
        """The URLs recorded in the current session (an empty set when there is none)."""
        if not current_app.secret_key:
            return set()
        value = session.get(self.key, "")
        if isinstance(value, str):
            return {url for url in value.split(",") if url}
        if isinstance(value, (list, tuple, set)):
            return {url for url in value if isinstance(url, str) and url}
        return set()

    def set_pushed(self, pushed: set[str], /) -> None:
        """Store ``pushed`` in the session (comma-joined, sorted), when there is a secret key."""
        if current_app.secret_key:
            session[self.key] = ",".join(sorted(pushed))


@dataclass
class _AppState:
    """Per-app settings and caches, kept in ``app.extensions["h2push"]``."""

    manifest: Manifest | None = None
    max_pushes: int = DEFAULT_MAX_PUSHES
    early_hints: bool = True
    enabled: bool = True
    tracker: Tracker | None = DEFAULT_TRACKER
    proxy: bool = False
    versions: Callable[[str], str | None] | None = None
    # Decorator manifests by endpoint, filled from app.view_functions (init, first request).
    view_manifests: dict[str, Manifest] = field(default_factory=dict)
    views_loaded: bool = False


#: What a view decorated with :func:`http2push` gets in an app without :class:`H2Push`.
_STANDALONE: Final = _AppState()


@dataclass
class _RequestState:
    """One request's h2push state, kept in ``g._h2push``.

    ``preloads`` is the list of preloads added by :func:`push` during the request.
    """

    app_state: _AppState
    facts: RequestFacts
    candidates: tuple[Preload, ...]
    tracker: Tracker | None
    preloads: list[Preload] = field(default_factory=list)
    hinted: tuple[Preload, ...] = ()
    client: ClientState | None = None
    known: frozenset[str] = frozenset()


def push(url: str, *flags: str, strict: bool = False, **attrs: Any) -> str:
    """Preload ``url`` from the current response; return ``url`` (Flask-Firehose's ``push``).

    Call it in a view or, as the ``push`` template global, in a Jinja template::

        push("/static/app.css", as_="style")
        push("/static/font.woff2", "crossorigin", "nopush", rel="preload", as="font")
        {{ push(url_for('static', filename='css/main.css'), as='style') }}

    The preload joins the response's Link header (RFC 8288) after the view returns, as its
    budget allows (:data:`h2push.plan.MAX_LINK_BYTES`). It is too late for a 103: only
    manifest entries go out before the view runs.

    A value that cannot be sent (from user data: a URL too long or holding CR, LF, NUL, a
    backslash or white space; an unknown ``as`` or flag) drops this preload with one warning
    on the ``h2push`` logger, and the page goes out without it
    (:func:`h2push.links.user_preload`). ``strict=True`` raises :class:`ValueError` instead.

    Args:
        url: An absolute path such as ``/static/app.css`` or an absolute http(s) URL (str).
        flags: Attributes without a value: ``crossorigin`` (anonymous) and ``nopush``.
        attrs: ``rel`` (preload, modulepreload, preconnect), ``as`` or ``as_`` (a fetch
            destination such as style, script, font, image), ``crossorigin`` (anonymous,
            use-credentials; True or "" mean anonymous), ``type`` (a MIME type),
            ``fetchpriority`` (high, low, auto), ``nopush`` (bool), ``weight`` (int >= 0).
        strict: Raise :class:`ValueError` for a value that cannot be sent instead of
            dropping the preload with a log line.

    Returns:
        ``url`` unchanged, for use in ``href``/``src``.

    Raises:
        ValueError: Only with ``strict=True``: a value that cannot be sent: a URL that is
            relative, too long, or holds CR, LF, ``<``, ``>``, ``,``, ``;``, ``"``, a
            backslash or white space; an unknown ``rel``, ``as`` or flag; and so on
            (:class:`h2push.links.PreloadError` names the field).
        TypeError: An unknown attribute name, one given twice, or a value of the wrong type.
        RuntimeError: Called where no response will carry it: in an app without
            :class:`H2Push` outside an :func:`http2push` view, or outside an app context.
    """
    preload = user_preload(url, flags, attrs, strict=strict)
    state = g.get(_G_KEY) if has_request_context() else None
    if isinstance(state, _RequestState):
        if preload is not None:
            state.preloads.append(preload)
    elif not has_app_context() or _EXTENSION_KEY not in current_app.extensions:
        raise RuntimeError(
            "push() needs H2Push(app), or a view decorated with @http2push(), to deliver it"
        )
    return url


class H2Push:
    """The Flask extension: manifest preloads, ``push()``, Link headers and 103 Early Hints.

    Use ``H2Push(app)``, or ``ext = H2Push()`` then ``ext.init_app(app)`` in an app factory.
    The arguments are defaults; ``H2PUSH_*`` config keys of each app override them (see the
    module docstring). Nothing about an app is kept on the extension object: each app's
    settings live in ``app.extensions["h2push"]``.

    Args:
        app: The app to initialise now, or None to call :meth:`init_app` later.
        manifest: A ``push_manifest.json`` path relative to ``app.root_path`` (or absolute),
            a :class:`~h2push.manifest.Manifest`, or None. The default file may be missing
            (no manifest then); a path given explicitly must exist.
        max_pushes: The most pushes per response (int >= 0), for servers that can push.
        early_hints: Whether to send a 103 Early Hints when the WSGI server offers
            ``wsgi.early_hints``.
        proxy: The app runs behind a reverse proxy that pushes from the Link header (nginx
            with ``http2_push_preload on``, h2o): then no 103 goes to the proxy (nginx before
            1.29 takes an upstream 103 for the final response; h2o pushes from it, known or
            not), and a navigation's Link preloads count as delivered. ``H2PUSH_PROXY``.
        tracker: What each client is believed to have (:mod:`h2push.trackers`): by default a
            cache-digest cookie; a :class:`~h2push.trackers.RedisTracker`; an object with
            Flask-Firehose's connector shape (``get_pushed() -> set[str]``,
            ``set_pushed(set[str])``, e.g. :class:`SessionTracker`); or None. Resources a
            client has are linked with ``nopush``, so a proxy does not push them again.

    Raises:
        h2push.manifest.ManifestError: The manifest cannot be read or is invalid; the message
            names the file, the key and the reason.
        TypeError: A setting or the tracker has the wrong type.
        ValueError: ``max_pushes`` is negative.
    """

    #: Flask-Firehose's ``firehose.push(...)``: the same function as :func:`push`.
    push = staticmethod(push)

    def __init__(
        self,
        app: Flask | None = None,
        *,
        manifest: ManifestSetting = DEFAULT_MANIFEST,
        max_pushes: int = DEFAULT_MAX_PUSHES,
        early_hints: bool = True,
        tracker: Tracker | FirehoseConnector | None = DEFAULT_TRACKER,
        proxy: bool = False,
    ) -> None:
        _check_settings("max_pushes", max_pushes, "early_hints", early_hints)
        if not isinstance(proxy, bool):
            raise TypeError(f"proxy must be a bool, not {type(proxy).__name__}")
        self.proxy = proxy
        self.manifest = manifest
        self.max_pushes = max_pushes
        self.early_hints = early_hints
        self.tracker = None if tracker is None else as_tracker(tracker)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register h2push on ``app``: read its config, load its manifests, add the hooks.

        Loads the app manifest and the manifests of the :func:`http2push` views registered so
        far (views registered later are loaded on the first request), registers the
        ``before_request`` and ``after_request`` hooks and the ``push`` template global.

        Raises:
            h2push.manifest.ManifestError: A manifest cannot be read or is invalid.
            TypeError: A setting has the wrong type.
            ValueError: ``H2PUSH_MAX_PUSHES`` is negative.
            RuntimeError: ``app`` already has an H2Push.
        """
        if _EXTENSION_KEY in app.extensions:
            raise RuntimeError("H2Push is already initialised on this app")
        config = app.config
        max_pushes = config.get("H2PUSH_MAX_PUSHES", self.max_pushes)
        early_hints = config.get("H2PUSH_EARLY_HINTS", self.early_hints)
        enabled = config.get("H2PUSH_ENABLED", True)
        proxy = config.get("H2PUSH_PROXY", self.proxy)
        _check_settings("H2PUSH_MAX_PUSHES", max_pushes, "H2PUSH_EARLY_HINTS", early_hints)
        for name, value in (("H2PUSH_ENABLED", enabled), ("H2PUSH_PROXY", proxy)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
        state = _AppState(
            manifest=_app_manifest(app.root_path, config.get("H2PUSH_MANIFEST", self.manifest)),
            max_pushes=max_pushes,
            early_hints=early_hints and not proxy,
            proxy=proxy,
            enabled=enabled,
            tracker=self.tracker,
            versions=versions_resolver(app),
        )
        state.view_manifests = _view_manifests(app)
        app.before_request(_before_request)
        app.after_request(_after_request)
        app.add_template_global(push, "push")
        app.extensions[_EXTENSION_KEY] = state


def http2push(
    manifest: str | os.PathLike[str] | Manifest = DEFAULT_MANIFEST,
) -> Callable[[_View], _View]:
    """Decorate a view so its responses preload the resources of a manifest.

    flask-http2-push's decorator, fixed: ``@http2push()`` reads ``push_manifest.json`` and
    ``@http2push("static/my_manifest.json")`` another file, relative to ``app.root_path``
    (absolute paths as given). Every response of the view gets a Link header with the
    manifest's preloads (RFC 8288), as paths, appended to any Link value the view set; on
    navigations a WSGI server offering ``wsgi.early_hints`` also gets them as a 103 (RFC 8297)
    before the view runs. A multi-page manifest gives the view the entries of the path it
    serves.

    Works with or without :class:`H2Push`: with it, the extension's hooks deliver the
    manifest together with the app's own (settings and tracker apply); without it, the
    decorated view does it itself, and :func:`push` calls in that view are delivered too.

    The manifest is loaded once: an absolute path when decorating; a relative one when
    :meth:`H2Push.init_app` runs or on the app's first request (with H2Push), or on the view's
    first request (without). Unlike :class:`H2Push`'s, the decorator's manifest must exist,
    the default one included: the decorator exists to deliver it.

    Args:
        manifest: A manifest path (relative to ``app.root_path``, or absolute) or a
            :class:`~h2push.manifest.Manifest`.

    Returns:
        The decorator.

    Raises:
        h2push.manifest.ManifestError: The manifest is missing or invalid (when decorating for
            an absolute path; otherwise at init or the first request, as above).
        TypeError: Used as ``@http2push`` without parentheses.
    """
    if callable(manifest) and not isinstance(manifest, Manifest):
        raise TypeError("use @http2push() or @http2push('path/to/manifest.json')")
    spec = _ViewManifest(manifest)

    def decorator(view: _View) -> _View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            app = current_app
            if _EXTENSION_KEY in app.extensions:  # the extension's hooks deliver it
                result: ResponseReturnValue = app.ensure_sync(view)(*args, **kwargs)
                return result
            state = _start(_STANDALONE, spec.load(app.root_path))
            response = app.make_response(app.ensure_sync(view)(*args, **kwargs))
            _finish(state, response)
            return response

        setattr(wrapper, _VIEW_ATTR, spec)
        return wrapper  # type: ignore[return-value]

    return decorator


def preloads_resolver(app: object) -> Callable[[str, bool], Sequence[Preload]] | None:
    """Return the function the ASGI middleware asks for a path's preloads, for ``h2push serve``.

    ``h2push serve`` runs a Flask app in the ASGI middleware (through a2wsgi), which pushes
    and sends the 103 *before* the view runs. It calls the returned function with a request
    path (str, no query string) and gets what a navigation to that path is declared to
    preload: the entries of the app's manifest for it (:class:`H2Push`) and the manifest of
    the :func:`http2push` view the path routes to (matched as a GET; a path that routes
    nowhere or redirects gets the app's manifest only). It is cheap per call: manifests are
    loaded when the resolver is made, the view's per endpoint.

    Args:
        app: The object ``h2push serve`` loaded.

    Returns:
        The resolver, or None when ``app`` is not a Flask app. For an app whose H2Push is
        disabled it returns no preloads.

    Raises:
        h2push.manifest.ManifestError: A decorated view's manifest is missing or invalid.
    """
    if not isinstance(app, Flask):
        return None
    state = app.extensions.get(_EXTENSION_KEY)
    if isinstance(state, _AppState) and not state.enabled:
        return lambda path, navigation: ()
    manifest = state.manifest if isinstance(state, _AppState) else None
    view_manifests = _view_manifests(app)
    adapter = app.url_map.bind(app.config.get("SERVER_NAME") or "localhost")

    def resolve(path: str, navigation: bool) -> tuple[Preload, ...]:
        found = manifest.preloads_for(path, navigation=navigation) if manifest is not None else ()
        try:
            endpoint, _ = adapter.match(path, method="GET")
        except HTTPException:  # NotFound, MethodNotAllowed, RequestRedirect
            return found
        view_manifest = view_manifests.get(str(endpoint))
        if view_manifest is not None:
            found += view_manifest.preloads_for(path)
        return found

    return resolve


# --- settings and manifests -------------------------------------------------------------


def _check_settings(max_name: str, max_pushes: object, hints_name: str, hints: object) -> None:
    if isinstance(max_pushes, bool) or not isinstance(max_pushes, int):
        raise TypeError(f"{max_name} must be an int, not {type(max_pushes).__name__}")
    if max_pushes < 0:
        raise ValueError(f"{max_name} {max_pushes} must not be negative")
    if not isinstance(hints, bool):
        raise TypeError(f"{hints_name} must be a bool, not {type(hints).__name__}")


def _app_manifest(root_path: str, setting: object) -> Manifest | None:
    """Load the app manifest a setting names; None for no manifest."""
    if setting is None or isinstance(setting, Manifest):
        return setting
    if not isinstance(setting, (str, os.PathLike)):
        raise TypeError(
            f"H2PUSH_MANIFEST must be a path, a Manifest or None, not {type(setting).__name__}"
        )
    path = os.path.join(root_path, os.fspath(setting))
    if isinstance(setting, _DefaultManifestPath) and not os.path.exists(path):
        return None
    return Manifest.load(path)


class _ViewManifest:
    """The manifest of an :func:`http2push` view, loaded once per app root."""

    def __init__(self, manifest: str | os.PathLike[str] | Manifest) -> None:
        self.manifest = manifest if isinstance(manifest, Manifest) else None
        self.path = "" if isinstance(manifest, Manifest) else os.fspath(manifest)
        self._loaded: dict[str, Manifest] = {}
        if self.manifest is None and os.path.isabs(self.path):
            self.load("/")

    def load(self, root_path: str) -> Manifest:
        if self.manifest is not None:
            return self.manifest
        file = os.path.join(root_path, self.path)
        loaded = self._loaded.get(file)
        if loaded is None:
            loaded = self._loaded[file] = Manifest.load(file)
        return loaded


def _view_manifests(app: Flask) -> dict[str, Manifest]:
    """The manifests of the app's :func:`http2push` views by endpoint, loading them."""
    found: dict[str, Manifest] = {}
    for endpoint, view in app.view_functions.items():
        spec = getattr(view, _VIEW_ATTR, None)
        if isinstance(spec, _ViewManifest):
            found[endpoint] = spec.load(app.root_path)
    return found


# --- per request -------------------------------------------------------------------------


def _before_request() -> None:
    state: _AppState = current_app.extensions[_EXTENSION_KEY]
    if not state.enabled:
        return
    if not state.views_loaded:
        state.view_manifests = _view_manifests(current_app)
        state.views_loaded = True
    _start(state, state.view_manifests.get(request.endpoint or ""))


def _after_request(response: Response) -> Response:
    state = g.get(_G_KEY)
    if isinstance(state, _RequestState):
        _finish(state, response)
    return response


def _start(app_state: _AppState, view_manifest: Manifest | None) -> _RequestState:
    """Gather the request's candidates, send the 103 if the plan has one; set ``g._h2push``."""
    environ = request.environ
    send_hints = environ.get("wsgi.early_hints")
    facts = RequestFacts(
        method=request.method,
        path=request.path,
        navigation=is_navigation(environ.get("HTTP_SEC_FETCH_MODE"), environ.get("HTTP_ACCEPT")),
        can_early_hint=callable(send_hints),
        can_push=False,  # WSGI has no server push
        pushed=False,
    )
    candidates: tuple[Preload, ...] = ()
    under_middleware = _under_middleware(environ)
    if not under_middleware:  # else H2PushMiddleware planned the declarations and tracks
        if app_state.manifest is not None:
            candidates = app_state.manifest.preloads_for(facts.path, navigation=facts.navigation)
        if view_manifest is not None:
            # A decorator's manifest applies to every request of its view (flask-http2-push).
            candidates += view_manifest.preloads_for(facts.path)
    state = _RequestState(
        app_state=app_state,
        facts=facts,
        candidates=candidates,
        tracker=None if under_middleware else app_state.tracker,
    )
    setattr(g, _G_KEY, state)
    if candidates:
        _learn(state, candidates)
    if candidates and callable(send_hints):
        first = _plan(state, candidates, facts)
        if first.early_hints and _send_early_hints(send_hints, first):
            state.hinted = first.early_hints
    return state


def _under_middleware(environ: dict[str, Any]) -> bool:
    """Whether the request came through :class:`h2push.asgi.H2PushMiddleware` (via a2wsgi)."""
    scope = environ.get("asgi.scope")
    return isinstance(scope, dict) and ASGI_SCOPE_KEY in scope


def _learn(state: _RequestState, preloads: Iterable[Preload]) -> None:
    """Add to ``state.known`` which of ``preloads`` the client has (loading it once)."""
    if state.tracker is None:
        return
    if state.client is None:
        # A tracker reads only these two: WSGI joins a request's cookie fields into one.
        environ = request.environ
        headers = [
            (name, value)
            for name, key in (("cookie", "HTTP_COOKIE"), ("cache-digest", "HTTP_CACHE_DIGEST"))
            if (value := environ.get(key))
        ]
        state.client = state.tracker.load(
            headers, authority=environ.get("HTTP_HOST"), scheme=environ["wsgi.url_scheme"]
        )
    versions = state.app_state.versions
    # A generator: a client with nothing recorded answers without asking for any version.
    keys = ((p.url, versions(p.url) if versions else None) for p in preloads)
    state.known |= state.client.known_urls(keys)


def _finish(state: _RequestState, response: Response) -> None:
    """Merge the plan's Link values into ``response`` after the view's own; update the tracker."""
    candidates = state.candidates + tuple(state.preloads)
    if not candidates or response.status_code >= 400:
        return
    if state.preloads:
        _learn(state, state.preloads)
    # The 103, if any, went out before the view ran; this plan is for the final response.
    final = _plan(state, candidates, replace(state.facts, can_early_hint=False))
    existing = ", ".join(response.headers.getlist("Link")) or None
    merged = final.link_header if existing is None else merge_link_header(existing, final.links)
    if merged is not None and merged != existing:
        response.headers["Link"] = merged
    _remember(state, final, response)


def _plan(state: _RequestState, candidates: Iterable[Preload], facts: RequestFacts) -> Plan:
    settings = state.app_state
    return plan(
        facts,
        candidates,
        known=state.known,
        max_pushes=settings.max_pushes,
        early_hints=settings.early_hints,
    )


def _send_early_hints(send_hints: Callable[..., object], first: Plan) -> bool:
    """Send one 103 with one Link field line per preload (Gunicorn writes them all).

    Returns:
        Whether the WSGI server took it.
    """
    try:
        send_hints([("Link", value) for value in first.early_hint_values])
    except Exception:  # the client may be gone; the final response will tell
        logger.warning("h2push: the WSGI server could not send the 103", exc_info=True)
        return False
    return True


def _remember(state: _RequestState, final: Plan, response: Response) -> None:
    """Tell the tracker what this response delivered (:func:`h2push.plan.delivered`)."""
    client = state.client
    if client is None:
        return
    # Behind a proxy that pushes from the Link header (nginx, h2o), the proxy delivers a
    # navigation's Link preloads, over whatever protocol the app itself is reached by.
    http2 = state.app_state.proxy or request.environ.get("SERVER_PROTOCOL", "").upper().startswith(
        "HTTP/2"
    )
    if not state.hinted and not (http2 and state.facts.navigation):
        return  # nothing can have been delivered (plan.delivered)
    if not carries_client_state(response.content_type) or may_be_stored_by_shared_cache(
        response.headers.get("Cache-Control")
    ):
        return
    urls = delivered(
        hinted=state.hinted, linked=final.links, navigation=state.facts.navigation, http2=http2
    )
    if not urls - state.known:
        return
    client.add(resource_keys(sorted(urls), state.app_state.versions))
    for name, value in client.response_headers():
        response.headers.add(name.decode("latin-1"), value.decode("latin-1"))


def middleware_options(app: object) -> dict[str, Any]:
    """A Flask app's :class:`~h2push.asgi.H2PushMiddleware` keyword arguments.

    ``h2push serve`` runs a Flask app inside the middleware. For any Flask app: ``preloads``
    (:func:`preloads_resolver`) and ``versions`` (:func:`versions_resolver`). With an
    :class:`H2Push`, also ``max_pushes`` (``H2PUSH_MAX_PUSHES``), ``early_hints``
    (``H2PUSH_EARLY_HINTS``, off with ``H2PUSH_PROXY``) and ``tracker`` when it works outside
    Flask's request context (the cookie digest, Redis, None). A Flask-Firehose-shaped tracker
    such as :class:`SessionTracker` reads Flask's session, which the middleware cannot reach
    before the view runs: the middleware keeps its own cookie tracker then.

    Args:
        app: The object ``h2push serve`` loaded.

    Returns:
        A dict of keyword arguments (str to value); empty when ``app`` is not a Flask app.

    Raises:
        h2push.manifest.ManifestError: A decorated view's manifest is missing or invalid.
    """
    if not isinstance(app, Flask):
        return {}
    options: dict[str, Any] = {
        "preloads": preloads_resolver(app),
        "versions": versions_resolver(app),
    }
    state = app.extensions.get(_EXTENSION_KEY)
    if isinstance(state, _AppState):
        options.update(max_pushes=state.max_pushes, early_hints=state.early_hints)
        if not isinstance(state.tracker, FirehoseTracker):
            options["tracker"] = state.tracker
    return options


def versions_resolver(app: object) -> Callable[[str], str | None] | None:
    """The versions of a Flask app's static files (content hashes), for trackers' keys.

    Args:
        app: A Flask app; anything else gets None.

    Returns:
        A :class:`~h2push.versions.StaticVersions` over ``app.static_folder`` at
        ``app.static_url_path``, or None when the app has no static folder.
    """
    if not isinstance(app, Flask) or not app.has_static_folder or app.static_folder is None:
        return None
    return StaticVersions(app.static_folder, (app.static_url_path or "/static") + "/")


# --- push() arguments --------------------------------------------------------------------
