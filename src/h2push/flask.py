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
view's decorator manifest, the ``push()`` calls), asks :func:`h2push.plan` what to send
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
H2PUSH_MANIFEST    ``manifest``                     path (relative: looked up in
                                                    ``app.root_path``, then the working
                                                    directory), a
                                                    :class:`~h2push.Manifest`, or None
H2PUSH_MAX_PUSHES  ``max_pushes``                   most pushes per response (int >= 0)
H2PUSH_EARLY_HINTS ``early_hints``                  send 103 Early Hints when the server can
H2PUSH_PROXY       ``proxy``                        the proxy in front: ``"forwards-103"``
                                                    (Caddy, Apache httpd, nginx >= 1.29,
                                                    nghttpx, Cloudflare: the 103 goes to it)
                                                    or ``"pushes-from-link"`` / True (nginx
                                                    < 1.25.1, h2o 2.2: no 103, Link preloads
                                                    count as delivered); None or False: none
H2PUSH_LEARN       (none; default True)             learn each endpoint's critical resources
                                                    from its pages (docs/learning.md,
                                                    under ``h2push serve``); a ``redis://``
                                                    URL shares them; False turns it off
================== ================================ ============================================

Hints browsers can use: a browser keeps a hinted response in its HTTP cache and the page reads
it from there, so a response it must revalidate is fetched twice. Flask serves static files
``Cache-Control: no-cache`` while ``SEND_FILE_MAX_AGE_DEFAULT`` is None (its default), so
h2push gives the static files it hints (manifest entries, ``@http2push`` and ``push()`` URLs)
``max-age=60`` instead, as WhiteNoise does for unversioned files. The config key
``H2PUSH_HINTED_MAX_AGE`` sets the seconds (an int >= 0 or a timedelta); None turns it off.
An app's own choice (``SEND_FILE_MAX_AGE_DEFAULT`` set, even to 0; a ``get_send_file_max_age``
of its own; any view but the static one) is never changed. A hinted response that stays
``no-store`` or must be revalidated is reported once per URL, as a warning on the
``h2push.flask`` logger. No WSGI server pushes, so the tracker is read and its cookie set only
behind a pushing proxy (``proxy=True``): a cookie set on the page would change the ``Cookie``
header between the 103's preload and the page's use of it (:func:`h2push.trackers.tracks`).

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
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, TypeVar, cast

from flask import (
    Blueprint,
    Flask,
    after_this_request,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
    session,
)
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_cache_control_header
from werkzeug.wrappers import Response

from h2push._core.links import Preload, merge_link_header, user_preload
from h2push._core.manifest import Manifest, ManifestError
from h2push._core.plan import DEFAULT_MAX_PUSHES, Plan, RequestFacts, delivered, is_navigation
from h2push._delivery.declare import (
    DefaultManifestPath,
    check_count,
    check_flag,
    check_manifest_setting,
)
from h2push._delivery.engine import Delivery, Prepared, Visit, records_delivery
from h2push._delivery.learning import (
    Learner,
    StylesheetLesson,
    TeachingBody,
    learner_from_setting,
    route_resolver,
)
from h2push._delivery.werkzeug_routes import endpoint_of
from h2push._proxy import FORWARDS_103, PUSHES_FROM_LINK, ProxyMode, proxy_mode
from h2push.asgi import DEFAULT_HINTED_MAX_AGE_S
from h2push.asgi import SCOPE_KEY as ASGI_SCOPE_KEY
from h2push.trackers import (
    DEFAULT_TRACKER,
    FirehoseTracker,
    Tracker,
    TrackerSetting,
    as_tracker,
    tracks,
)
from h2push.versions import StaticVersions

__all__ = [
    "DEFAULT_HINTED_MAX_AGE_S",
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
_MAX_HINTED_PATHS: Final = 4096  # paths whose caching h2push watches, per app
_MAX_ROUTES: Final = 1024  # kinds of request whose delivery is kept, per app (then cleared)
_MAX_ROUTE_KEY: Final = 512  # longer path and header values are planned per request, not kept

_G_KEY: Final = "_h2push"
_ENVIRON_KEY: Final = "h2push.flask"  # the request's state, for the WSGI layer
_EMPTY: frozenset[str] = frozenset()

_VIEW_ATTR: Final = "_h2push_manifest"


#: The manifest :class:`H2Push` and :func:`http2push` read when given none:
#: ``push_manifest.json`` in ``app.root_path`` or else in the working directory.
DEFAULT_MANIFEST: Final[str] = DefaultManifestPath("push_manifest.json")

ManifestSetting = str | os.PathLike[str] | Manifest | None
"""A manifest setting: a file path (a relative one is looked up in ``app.root_path``, then in
the working directory), a loaded :class:`~h2push.Manifest`, or None for no manifest."""

_View = TypeVar("_View", bound=Callable[..., Any])

_RouteKey = tuple[str, str, str, str | None, str | None, bool]
"""A kind of request: method, path, endpoint, ``Sec-Fetch-Mode``, ``Accept`` (the two
headers that tell a navigation, as sent), and whether ``wsgi.early_hints`` is offered."""


class SessionTracker:
    """Flask-Firehose's tracker, for migrations: the URLs pushed to a client in its session.

    Reads and writes ``session["h2-pushed"]`` as Flask-Firehose did (a comma-joined str of
    URLs; a list is read too), so a site switching from Flask-Firehose keeps what its clients
    were already sent. It needs ``SECRET_KEY``; without one it reads nothing and writes
    nothing (Flask-Firehose answered every push with a 500 then). It grows with every URL and
    ignores versions: prefer the default :class:`~h2push.trackers.CookieDigestTracker` once
    the migration is done. Pass it as ``H2Push(app, tracker=SessionTracker())``, with
    ``proxy=True`` behind nginx as Flask-Firehose's setup had it; or keep Flask-Firehose's API
    with :mod:`h2push.compat.flask_firehose` (docs/migrating.md).
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
    tracker: Tracker | None = None
    proxy: bool = False  # a proxy that pushes from the Link header is in front
    proxy_mode: ProxyMode | None = None
    versions: Callable[[str], str | None] | None = None
    hinted_max_age_s: int | None = DEFAULT_HINTED_MAX_AGE_S
    # Decorator manifests by endpoint, filled from app.view_functions (init, first request).
    view_manifests: dict[str, Manifest] = field(default_factory=dict)
    views_loaded: bool = False
    # Flask-Firehose's behaviour (h2push.compat.flask_firehose): what the client has is left
    # out of the Link header, and every response's Link preloads count as delivered (the
    # proxy in front pushes them, whatever the request).
    firehose: bool = False
    # The same-origin paths h2push preloads (manifests, push()), and those already reported.
    hinted_paths: set[str] = field(default_factory=set)
    reported: set[str] = field(default_factory=set)
    # What h2push learns from the app's pages (H2PUSH_LEARN, h2push._delivery.learning), or None.
    learner: Learner | None = None
    # What an untracked request of each kind gets (_Route), by _RouteKey: made on the first
    # request of the kind.
    routes: dict[_RouteKey, _Route] = field(default_factory=dict)
    # The plans made for this app, with the Link values they send (the delivery engine).
    delivery: Delivery = field(
        default_factory=lambda: Delivery(
            max_pushes=DEFAULT_MAX_PUSHES,
            early_hints=True,
            push=True,
            tracker=None,
            pushing_proxy=False,
        )
    )

    def request_facts(self, method: str, path: str, navigation: bool, hint: bool) -> RequestFacts:
        """The facts of a WSGI request (no push), made once per kind of request (bounded)."""
        return self.delivery.facts((method, path, navigation, hint, False, False))

    def learn_paths(self, preloads: Iterable[Preload]) -> None:
        """Add the same-origin paths of ``preloads`` to :attr:`hinted_paths` (bounded)."""
        for preload in preloads:
            if len(self.hinted_paths) >= _MAX_HINTED_PATHS:
                return
            if preload.same_origin and preload.rel != "preconnect":
                self.hinted_paths.add(preload.url.partition("?")[0])


# Where an app without :class:`H2Push` keeps the state of its :func:`http2push` views.
_STANDALONE_KEY: Final = "h2push.standalone"


def _standalone(app: Flask) -> _AppState:
    """The state of an app's :func:`http2push` views when it has no :class:`H2Push`."""
    state = app.extensions.get(_STANDALONE_KEY)
    if not isinstance(state, _AppState):
        state = app.extensions[_STANDALONE_KEY] = _AppState()
    return state


class _RequestState(Visit):
    """One request's h2push state, kept in ``g._h2push``: the engine's visit, Flask's parts.

    ``preloads`` is the list of preloads added by :func:`push` during the request.
    """

    __slots__ = ("app_state", "candidates", "environ", "finished", "hinted", "tracker")

    def __init__(
        self,
        app_state: _AppState,
        facts: RequestFacts,
        candidates: tuple[Preload, ...],
        tracker: Tracker | None,
        environ: dict[str, Any],
    ) -> None:
        super().__init__(facts)
        self.app_state = app_state
        self.candidates = candidates
        self.tracker = tracker
        self.environ = environ
        self.hinted: tuple[Preload, ...] = ()
        self.finished = False  # the Link header was merged into the Response object


class _Route:
    """What :class:`H2Push` sends an untracked request of one kind, made once per app.

    A kind (:data:`_RouteKey`) is a method, a path, its endpoint, the headers that tell a
    navigation and whether the WSGI server offers ``wsgi.early_hints``. For a client nobody
    tracks (no pushing proxy in front, not under the ASGI middleware) the plan depends on
    nothing else: the 103's field lines and the final Link value are formatted here once,
    and a request of the kind costs a lookup, maybe a 103, and an append to the WSGI header
    list (:class:`_LinkHeaders`). A :func:`push` call turns it into a :class:`_RequestState`
    (:func:`_current_state`).

    Attributes:
        facts: The request facts (early hints as offered).
        candidates: The declared preloads (app manifest, then the view's decorator manifest).
        per_request: Planned per request by :func:`_start`, not from here: the client is
            tracked (a pushing proxy in front, Flask-Firehose's mode), or the request has no
            declaration and its route may have learned some (a GET navigation, a learner on).
        hint_fields: The 103's ``("Link", value)`` field lines, or None for no 103.
        links: The final response's preloads (the plan's Link preloads).
        link: The final response's ``("Link", value)`` field line, or None.
    """

    __slots__ = ("candidates", "facts", "hint_fields", "link", "links", "per_request")

    def __init__(self, app_state: _AppState, key: _RouteKey) -> None:
        method, path, endpoint, fetch_mode, accept, hint = key
        navigation = is_navigation(fetch_mode, accept)
        self.facts = facts = app_state.request_facts(method, path, navigation, hint)
        self.candidates = candidates = _declared(
            app_state, facts, app_state.view_manifests.get(endpoint)
        )
        self.per_request = (
            (app_state.tracker is not None and app_state.proxy)
            or app_state.firehose
            or (not candidates and app_state.learner is not None and navigation and method == "GET")
        )
        self.hint_fields: list[tuple[str, str]] | None = None
        self.links: tuple[Preload, ...] = ()
        self.link: tuple[str, str] | None = None
        if not candidates:
            return
        if hint:
            first = _prepare(app_state, candidates, facts, _EMPTY)
            if first.plan.early_hints:
                self.hint_fields = [("Link", value) for value in first.hint_values]
        final = _prepare(app_state, candidates, _final_facts(app_state, facts), _EMPTY)
        self.links = final.plan.links
        if final.link_text is not None:
            self.link = ("Link", final.link_text)  # formatted once per route


def push(url: str, *flags: str, strict: bool = False, **attrs: Any) -> str:
    """Preload ``url`` from the current response; return ``url`` (Flask-Firehose's ``push``).

    Call it in a view or, as the ``push`` template global, in a Jinja template::

        push("/static/app.css", as_="style")
        push("/static/font.woff2", "crossorigin", "nopush", rel="preload", as="font")
        {{ push(url_for('static', filename='css/main.css'), as='style') }}

    The preload joins the response's Link header (RFC 8288) after the view returns, as its
    budget allows (:data:`h2push._core.plan.MAX_LINK_BYTES`). It is too late for a 103: only
    manifest entries go out before the view runs.

    A value that cannot be sent (from user data: a URL too long or holding CR, LF, NUL, a
    backslash or white space; an unknown ``as`` or flag) drops this preload with one warning
    on the ``h2push`` logger, and the page goes out without it
    (:func:`h2push._core.links.user_preload`). ``strict=True`` raises :class:`ValueError` instead.

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
            (:class:`h2push.PreloadError` names the field).
        TypeError: An unknown attribute name, one given twice, or a value of the wrong type.
        RuntimeError: Called where no response will carry it: in an app without
            :class:`H2Push` outside an :func:`http2push` view, or outside an app context.
    """
    preload = user_preload(url, flags, attrs, strict=strict)
    state = _current_state() if has_request_context() else None
    if state is not None:
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
        manifest: A ``push_manifest.json`` path, a :class:`~h2push.Manifest`, or
            None. A relative path is looked up in ``app.root_path``, then in the working
            directory (where flask-http2-push looked). The default file may be missing (no
            manifest then); a path given explicitly must exist. Entries of type ``document``
            are linked and pushed but never hinted; browsers ignore such a preload, and one
            warning says so when the manifest is loaded.
        max_pushes: The most pushes per response (int >= 0), for servers that can push.
        early_hints: Whether to send a 103 Early Hints when the WSGI server offers
            ``wsgi.early_hints``.
        proxy: What the reverse proxy or CDN in front does (``H2PUSH_PROXY``; see
            docs/deploy/). ``"forwards-103"``: it forwards the 103 to the client (Caddy,
            Apache httpd with ``H2EarlyHints on``, nginx >= 1.29 with ``early_hints``,
            nghttpx, Cloudflare); the 103 goes to it through ``wsgi.early_hints``, and no
            client is tracked (browsers take no push). ``"pushes-from-link"`` or True: it
            pushes from the Link header (nginx 1.13.9 to 1.25.0 with ``http2_push_preload
            on``, h2o 2.2); then no 103 goes to it (nginx before 1.29 takes an upstream 103
            for the final response; h2o pushes from it, known or not), and a navigation's
            Link preloads count as delivered. None or False: no proxy.
        tracker: What each client is believed to have (:mod:`h2push.trackers`): by default a
            cache-digest cookie; a :class:`~h2push.trackers.RedisTracker`; an object with
            Flask-Firehose's connector shape (``get_pushed() -> set[str]``,
            ``set_pushed(set[str])``, e.g. :class:`SessionTracker`); or None. Resources a
            client has are linked with ``nopush``, so a proxy does not push them again. A
            WSGI server cannot push: the tracker is used only with a pushing ``proxy`` (and under
            ``h2push serve``, for the clients that accept pushes).

    Raises:
        h2push.ManifestError: The manifest cannot be read or is invalid; the message
            names the file, the key and the reason.
        TypeError: A setting or the tracker has the wrong type.
        ValueError: ``max_pushes`` is negative, or ``proxy`` names no proxy mode.
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
        tracker: TrackerSetting = DEFAULT_TRACKER,
        proxy: ProxyMode | bool | None = None,
    ) -> None:
        _check_settings("max_pushes", max_pushes, "early_hints", early_hints)
        self.proxy: ProxyMode | None = proxy_mode(proxy)
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
        ``before_request`` hook (and ``after_request`` where clients are tracked: behind a
        pushing proxy, in Flask-Firehose's mode), wraps ``app.wsgi_app`` to add the Link
        header as the response starts, and adds the ``push`` template global.

        Raises:
            h2push.ManifestError: A manifest cannot be read or is invalid.
            TypeError: A setting has the wrong type.
            ValueError: ``H2PUSH_MAX_PUSHES`` is negative, or ``H2PUSH_PROXY`` names no
                proxy mode.
            RuntimeError: ``app`` already has an H2Push.
        """
        if _EXTENSION_KEY in app.extensions:
            raise RuntimeError("H2Push is already initialised on this app")
        config = app.config
        max_pushes = config.get("H2PUSH_MAX_PUSHES", self.max_pushes)
        early_hints = config.get("H2PUSH_EARLY_HINTS", self.early_hints)
        enabled = config.get("H2PUSH_ENABLED", True)
        _check_settings("H2PUSH_MAX_PUSHES", max_pushes, "H2PUSH_EARLY_HINTS", early_hints)
        check_flag("H2PUSH_ENABLED", enabled)
        mode = proxy_mode(config.get("H2PUSH_PROXY", self.proxy), "H2PUSH_PROXY")
        # A pushing proxy (nginx < 1.25.1, h2o 2.2) gets no 103; one that forwards it does.
        proxy = mode == PUSHES_FROM_LINK
        state = _AppState(
            manifest=_app_manifest(app.root_path, config.get("H2PUSH_MANIFEST", self.manifest)),
            max_pushes=max_pushes,
            early_hints=early_hints and not proxy,
            proxy=proxy,
            proxy_mode=mode,
            enabled=enabled,
            tracker=self.tracker,
            versions=versions_resolver(app),
        )
        state.hinted_max_age_s = _hinted_max_age(
            config.get("H2PUSH_HINTED_MAX_AGE", DEFAULT_HINTED_MAX_AGE_S)
        )
        state.learner = learner_from_setting(config.get("H2PUSH_LEARN", True), "H2PUSH_LEARN", app)
        state.view_manifests = _view_manifests(app)
        _learn_manifest_paths(state)
        before, after = _hooks(state)
        app.before_request(before)
        if state.tracker is not None and (
            state.proxy or isinstance(state.tracker, FirehoseTracker)
        ):  # clients are tracked only behind a pushing proxy, or in Flask-Firehose's mode
            app.after_request(after)
        # The Link header goes on at the WSGI layer, as a WSGI middleware would add it: one
        # append to the header list, without Werkzeug's header objects; so does what the
        # response's caching and learning need.
        app.wsgi_app = _LinkHeaders(app.wsgi_app, state)  # type: ignore[method-assign]
        app.add_template_global(push, "push")
        app.extensions[_EXTENSION_KEY] = state


def http2push(
    manifest: str | os.PathLike[str] | Manifest = DEFAULT_MANIFEST,
) -> Callable[[_View], _View]:
    """Decorate a view so its responses preload the resources of a manifest.

    flask-http2-push's decorator, fixed: ``@http2push()`` reads ``push_manifest.json`` and
    ``@http2push("static/my_manifest.json")`` another file. A relative path is looked up in
    ``app.root_path``, then in the working directory (where flask-http2-push looked);
    absolute paths as given. Every response of the view gets a Link header with the
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
        manifest: A manifest path (relative or absolute) or a
            :class:`~h2push.Manifest`. Its ``document`` entries are linked and
            pushed, never hinted (one warning when it is loaded: browsers ignore them).

    Returns:
        The decorator.

    Raises:
        h2push.ManifestError: The manifest is missing (the message names both
            places looked in) or invalid (when decorating for an absolute path; otherwise at
            init or the first request, as above).
        TypeError: Used as ``@http2push`` without parentheses.
    """
    return _decorator(manifest, cwd_first=False)


def _decorator(
    manifest: str | os.PathLike[str] | Manifest, *, cwd_first: bool
) -> Callable[[_View], _View]:
    """:func:`http2push`'s decorator; ``cwd_first`` looks in the working directory first."""
    if callable(manifest) and not isinstance(manifest, Manifest):
        raise TypeError("use @http2push() or @http2push('path/to/manifest.json')")
    spec = _ViewManifest(manifest, cwd_first=cwd_first)

    def decorator(view: _View) -> _View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            app = current_app
            if _EXTENSION_KEY in app.extensions:  # the extension's hooks deliver it
                result: ResponseReturnValue = app.ensure_sync(view)(*args, **kwargs)
                return result
            state = _start(_standalone(app), spec.load(app.root_path))
            response = app.make_response(app.ensure_sync(view)(*args, **kwargs))
            _finish(state, response)
            return response

        setattr(wrapper, _VIEW_ATTR, spec)
        return wrapper  # type: ignore[return-value]

    return decorator


def preloads_resolver(app: object) -> Callable[[str, bool], Sequence[Preload] | None] | None:
    """Return the function the ASGI middleware asks for a path's preloads, for ``h2push serve``.

    ``h2push serve`` runs a Flask app in the ASGI middleware (through a2wsgi), which pushes
    and sends the 103 *before* the view runs. It calls the returned function with a request
    path (str, no query string) and gets what a navigation to that path is declared to
    preload: the entries of the app's manifest for it (:class:`H2Push`) and the manifest of
    the :func:`http2push` view the path routes to (matched as a GET). A path that routes
    nowhere (404, 405) or that Werkzeug redirects (a missing trailing slash) gets None: the
    middleware then sends no 103 and no push for it. It is cheap per call: manifests are
    loaded when the resolver is made, the view's per endpoint.

    Args:
        app: The object ``h2push serve`` loaded.

    Returns:
        The resolver, or None when ``app`` is not a Flask app. For an app whose H2Push is
        disabled it returns no preloads.

    Raises:
        h2push.ManifestError: A decorated view's manifest is missing or invalid.
    """
    if not isinstance(app, Flask):
        return None
    state = app.extensions.get(_EXTENSION_KEY)
    if isinstance(state, _AppState) and not state.enabled:
        return lambda path, navigation: ()
    manifest = state.manifest if isinstance(state, _AppState) else None
    view_manifests = _view_manifests(app)
    endpoint_for = endpoint_of(app.url_map, app.config)

    def resolve(path: str, navigation: bool) -> tuple[Preload, ...] | None:
        endpoint = endpoint_for(path)
        if endpoint is None:
            return None
        found = manifest.preloads_for(path, navigation=navigation) if manifest is not None else ()
        view_manifest = view_manifests.get(endpoint)
        if view_manifest is not None:
            found += view_manifest.preloads_for(path)
        return found

    return resolve


# --- settings and manifests -------------------------------------------------------------


def _check_settings(max_name: str, max_pushes: object, hints_name: str, hints: object) -> None:
    check_count(max_name, max_pushes)
    check_flag(hints_name, hints)


def _app_manifest(root_path: str, setting: object) -> Manifest | None:
    """Load the app manifest a setting names; None for no manifest."""
    path = check_manifest_setting(setting)
    if not isinstance(path, str):
        return path
    if isinstance(setting, DefaultManifestPath) and _find_manifest(path, root_path) is None:
        return None
    return _load_manifest(path, root_path)


def _find_manifest(path: str, root_path: str, *, cwd_first: bool = False) -> str | None:
    """The file a manifest path names, or None when it is in neither place looked in.

    An absolute path is taken as given. A relative one is looked up in ``app.root_path``
    (where h2push's API looks) and in the working directory (where flask-http2-push looked),
    in that order or, with ``cwd_first``, the other.
    """
    if os.path.isabs(path):
        return path if os.path.exists(path) else None
    roots = (os.getcwd(), root_path) if cwd_first else (root_path, os.getcwd())
    return next((file for root in roots if os.path.exists(file := os.path.join(root, path))), None)


def _load_manifest(path: str, root_path: str, *, cwd_first: bool = False) -> Manifest:
    """Find (:func:`_find_manifest`) and load a manifest; warn once about ``document`` entries.

    Raises:
        h2push.ManifestError: The file cannot be found (the message names both
            places looked in), cannot be read, or is invalid.
    """
    file = _find_manifest(path, root_path, cwd_first=cwd_first)
    if file is None and not os.path.isabs(path):
        raise ManifestError(
            path,
            (),
            f"not found in the app's root_path ({os.path.join(root_path, path)}) nor in the"
            f" working directory ({os.path.join(os.getcwd(), path)}): move it to one of them"
            " or give an absolute path",
        )
    manifest = Manifest.load(file or path)  # a missing absolute path: load says so
    _warn_documents(manifest)
    return manifest


def _warn_documents(manifest: Manifest) -> None:
    """Log one warning for a manifest's ``"type": "document"`` entries, if it has any."""
    urls = sorted(
        {p.url for preloads in manifest.entries.values() for p in preloads if p.as_ == "document"}
    )
    if urls:
        logger.warning(
            "h2push: %s: %s of type document: browsers ignore rel=preload as=document; they"
            " are linked and pushed, never sent in a 103 (remove them or use another type)",
            manifest.source,
            ", ".join(urls),
        )


class _ViewManifest:
    """The manifest of an :func:`http2push` view, loaded once per app root."""

    def __init__(
        self, manifest: str | os.PathLike[str] | Manifest, *, cwd_first: bool = False
    ) -> None:
        self.manifest = manifest if isinstance(manifest, Manifest) else None
        self.path = "" if isinstance(manifest, Manifest) else os.fspath(manifest)
        self.cwd_first = cwd_first
        self._loaded: dict[str, Manifest] = {}
        if self.manifest is None and os.path.isabs(self.path):
            self.load("/")

    def load(self, root_path: str) -> Manifest:
        if self.manifest is not None:
            return self.manifest
        key = "" if os.path.isabs(self.path) else root_path
        loaded = self._loaded.get(key)
        if loaded is None:
            loaded = self._loaded[key] = _load_manifest(
                self.path, root_path, cwd_first=self.cwd_first
            )
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


def _hooks(state: _AppState) -> tuple[Callable[[], None], Callable[[Response], Response]]:
    """The ``before_request`` and ``after_request`` hooks of an app whose state is ``state``.

    The ``before_request`` hook runs for every request: what a kind of request gets is looked
    up (:class:`_Route`), and only what depends on the client or on what the route learned is
    worked out per request (:func:`_start`). The ``after_request`` hook is registered only
    for an app whose clients are tracked (:func:`_finish` needs the Response object); what
    every response gets at the end (the Link value, a hinted static file's lifetime, a
    stylesheet's lesson) is done at the WSGI layer, by :class:`_LinkHeaders`.
    """
    routes = state.routes

    def before_request() -> None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        if req.routing_exception is not None or not state.enabled:
            return  # off, or no route (404, 405, a redirect): hints would serve an error page
        if not state.views_loaded:
            _load_views(state, current_app)
        environ = req.environ
        get = environ.get
        send_hints = get("wsgi.early_hints")
        rule = req.url_rule
        key: _RouteKey = (
            req.method,
            req.path,
            "" if rule is None else rule.endpoint,
            get("HTTP_SEC_FETCH_MODE"),
            get("HTTP_ACCEPT"),
            send_hints is not None and callable(send_hints),
        )
        route = routes.get(key)
        if route is None:
            route = _Route(state, key)
            if len(key[1]) + len(key[3] or "") + len(key[4] or "") <= _MAX_ROUTE_KEY:
                if len(routes) >= _MAX_ROUTES:
                    routes.clear()
                routes[key] = route
        if route.per_request or ("asgi.scope" in environ and _under_middleware(environ)):
            visit = _start(state, state.view_manifests.get(key[2]), req)
            learner = state.learner
            if visit.learning and learner is not None:
                # The page teaches what it names (h2push._delivery.learning).
                after_this_request(functools.partial(_teach_page, learner, visit))
        elif route.hint_fields is None:
            environ[_ENVIRON_KEY] = route  # the Link header goes on in _LinkHeaders
        else:
            _send_early_hints(send_hints, route.hint_fields)
            environ[_ENVIRON_KEY] = route

    def after_request(response: Response) -> Response:
        visit = g.get(_G_KEY)
        if isinstance(visit, _RequestState) and (visit.tracker is not None or state.firehose):
            _finish(visit, response)  # the tracker reads the response; else _LinkHeaders
        return response

    return before_request, after_request


def _load_views(state: _AppState, app: Flask) -> None:
    """Load the manifests of the app's :func:`http2push` views (first request)."""
    state.view_manifests = _view_manifests(app)
    state.views_loaded = True
    state.routes.clear()
    _learn_manifest_paths(state)


def _current_state() -> _RequestState | None:
    """The request's :class:`_RequestState`, made from its :class:`_Route` on first need."""
    state = g.get(_G_KEY)
    if isinstance(state, _RequestState):
        return state
    environ = request.environ
    route = environ.get(_ENVIRON_KEY)
    if not isinstance(route, _Route):
        return None
    app_state = current_app.extensions[_EXTENSION_KEY]
    state = _RequestState(app_state, route.facts, route.candidates, None, environ)
    setattr(g, _G_KEY, state)
    environ[_ENVIRON_KEY] = state
    return state


def _teach_page(learner: Learner, visit: _RequestState, response: Response) -> Response:
    """Let a page hinted from learning teach h2push._delivery.learning as it goes out.

    A page whose status, header fields and first bytes repeat the last one its route was read
    from (:meth:`~h2push._delivery.learning.Learner.unchanged`) is left as it is.
    """
    req = request._get_current_object()  # type: ignore[attr-defined]
    if req.method != "GET" or _under_middleware(req.environ) or not visit.learning:
        return response
    status = response.status_code
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    body = response.response
    if (
        isinstance(body, list)
        and body
        and isinstance(body[0], bytes)
        and learner.unchanged(visit.learning, status, headers, body[0], visit.preloads)
    ):
        return response  # the same head as last time: nothing new to learn
    lesson = learner.page(
        visit.facts.path,
        origin=f"{req.scheme}://{req.host}",
        status=status,
        headers=headers,
        pushed=visit.preloads,
        key=visit.learning,
    )
    if lesson is not None:
        response.response = TeachingBody(cast("Iterable[bytes]", response.response), lesson)
    return response


def _stylesheet_lesson(
    learner: Learner, req: Any, status: str, headers: list[tuple[str, str]]
) -> StylesheetLesson | None:
    """The lesson of a stylesheet a learned page names, as its response starts, or None."""
    if req.method != "GET" or _under_middleware(req.environ):
        return None
    return learner.stylesheet(
        req.full_path.rstrip("?") if req.query_string else req.path,
        origin=f"{req.scheme}://{req.host}",
        status=int(status[:3]),
        headers=[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    )


class _LinkHeaders:
    """WSGI: what every response of the app gets as it starts, on its header list.

    * For a request :class:`H2Push` planned for whose client is not tracked (the tracker and
      Flask-Firehose's mode need the Response object: the ``after_request`` hook does those),
      the Link value is appended, after any the application set.
    * A hinted static file gets a lifetime browsers can reuse (:func:`_make_reusable`).
    * A stylesheet a learned page names teaches what it loads (h2push._delivery.learning).

    It runs after every ``after_request`` hook and the session, so it sees the response's
    header fields as they go out.
    """

    __slots__ = ("state", "wsgi_app")

    def __init__(self, wsgi_app: Callable[..., Any], state: _AppState) -> None:
        self.wsgi_app = wsgi_app
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        app_state = self.state
        lesson: StylesheetLesson | None = None

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal lesson
            route = environ.pop(_ENVIRON_KEY, None)
            learner = app_state.learner
            if exc_info is None and (learner is not None or app_state.hinted_paths):
                req = environ.get("werkzeug.request")  # the app's Request (Werkzeug sets it)
                if req is None and has_request_context():
                    req = request._get_current_object()  # type: ignore[attr-defined]
                if req is not None:
                    path = req.path
                    if learner is not None and learner.wants(
                        req.full_path.rstrip("?") if req.query_string else path
                    ):
                        lesson = _stylesheet_lesson(learner, req, status, headers)
                    if path in app_state.hinted_paths or (
                        learner is not None and learner.hints(path)
                    ):
                        _make_reusable(app_state, path, status, headers)
            if type(route) is _Route:
                # Not on an error (4xx, 5xx): the status line starts with its code.
                if route.link is not None and status[0] < "4":
                    for name, _ in headers:
                        if len(name) == 4 and name.lower() == "link":
                            _merge_link(headers, route.links)
                            break
                    else:
                        headers.append(route.link)  # formatted once per route
            elif isinstance(route, _RequestState) and not route.finished:
                _finish_headers(route, int(status[:3]), headers)
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, start)
        if lesson is not None:
            return TeachingBody(body, lesson)
        return body


def _merge_link(headers: list[tuple[str, str]], links: tuple[Preload, ...]) -> None:
    """Merge ``links`` into the Link fields of a WSGI header list (one field after)."""
    where = [i for i, (name, _) in enumerate(headers) if name.lower() == "link"]
    existing = ", ".join(headers[i][1] for i in where)
    merged = merge_link_header(existing, links)
    if merged is not None and merged != existing:
        for i in reversed(where[1:]):
            del headers[i]
        headers[where[0]] = ("Link", merged)


def _finish_headers(state: _RequestState, status: int, headers: list[tuple[str, str]]) -> None:
    """:func:`_finish` for an untracked client, on a WSGI header list (changed in place)."""
    candidates = state.candidates + tuple(state.preloads) if state.preloads else state.candidates
    if state.preloads:
        state.app_state.learn_paths(state.preloads)
    if not candidates or status >= 400:
        return
    final = _plan(state, candidates, _final_facts(state.app_state, state.facts))
    if any(name.lower() == "link" for name, _ in headers):
        _merge_link(headers, final.plan.links)
    elif final.link_text is not None:
        headers.append(("Link", final.link_text))  # formatted once per plan


def _final_facts(app_state: _AppState, facts: RequestFacts) -> RequestFacts:
    """A request's facts for the final response: the 103, if any, has gone out."""
    if facts.can_early_hint:
        return app_state.request_facts(facts.method, facts.path, facts.navigation, False)
    return facts


def _hinted_max_age(value: object) -> int | None:
    """Check ``H2PUSH_HINTED_MAX_AGE``: seconds (int >= 0 or a timedelta) or None."""
    if isinstance(value, timedelta):
        value = int(value.total_seconds())
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"H2PUSH_HINTED_MAX_AGE must be seconds (an int) or None, not {type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"H2PUSH_HINTED_MAX_AGE {value} must not be negative")
    return value


def _learn_manifest_paths(state: _AppState) -> None:
    manifests = [state.manifest, *state.view_manifests.values()]
    for manifest in manifests:
        if manifest is not None:
            for preloads in manifest.entries.values():
                state.learn_paths(preloads)


def _uses_flask_static_default() -> bool:
    """Whether this request is Flask's static view with Flask's default lifetime (None)."""
    endpoint = request.endpoint or ""
    if endpoint != "static" and not endpoint.endswith(".static"):
        return False
    if current_app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is not None:
        return False
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if endpoint == "static":
        return getattr(type(app), "get_send_file_max_age", None) is Flask.get_send_file_max_age
    blueprint = app.blueprints.get(endpoint.rpartition(".")[0])
    own = getattr(type(blueprint), "get_send_file_max_age", None)
    return blueprint is not None and own is Blueprint.get_send_file_max_age


def _make_reusable(
    state: _AppState, path: str, status: str, headers: list[tuple[str, str]]
) -> None:
    """Let a browser reuse a hinted static file; report what h2push cannot change.

    Chromium keeps a hinted response in its HTTP cache and the page reads it from there: a
    ``no-cache`` response is fetched again. Flask's static view says ``no-cache`` only
    because ``SEND_FILE_MAX_AGE_DEFAULT`` is None; that one case gets
    ``max-age=H2PUSH_HINTED_MAX_AGE``. Anything the app chose stays as it is.

    Args:
        state: The app's state.
        path: The request path (str, no query string).
        status: The WSGI status line.
        headers: The response's WSGI header list, changed in place.
    """
    where = [i for i, (name, _) in enumerate(headers) if name.lower() == "cache-control"]
    value = ", ".join(headers[i][1] for i in where) if where else None
    cache = parse_cache_control_header(value, cls=ResponseCacheControl)
    if (
        state.hinted_max_age_s is not None
        and cache.no_cache is True
        and cache.max_age is None
        and not cache.no_store
        and _uses_flask_static_default()
    ):
        cache.no_cache = None
        cache.max_age = state.hinted_max_age_s
        for i in reversed(where[1:]):
            del headers[i]
        headers[where[0]] = ("Cache-Control", cache.to_header())
        return
    if not 200 <= int(status[:3]) < 300 or path in state.reported:
        return
    if cache.no_store:
        reason = "Cache-Control: no-store, so browsers fetch it a second time"
    elif cache.no_cache or cache.max_age == 0:
        reason = f"Cache-Control: {value}, which browsers revalidate"
    else:
        return
    state.reported.add(path)
    logger.warning(
        "h2push: %s is hinted but served with %s: the hint is wasted. Let browsers keep it for"
        " a while (e.g. max-age=60), or leave it out of the manifest and push() calls.",
        path,
        reason,
    )


def _start(app_state: _AppState, view_manifest: Manifest | None, req: Any = None) -> _RequestState:
    """Gather the request's candidates, send the 103 if the plan has one; set ``g._h2push``."""
    if req is None:
        req = request._get_current_object()  # type: ignore[attr-defined]
    environ = req.environ
    send_hints = environ.get("wsgi.early_hints")
    facts = app_state.request_facts(  # WSGI has no server push
        req.method,
        req.path,
        is_navigation(environ.get("HTTP_SEC_FETCH_MODE"), environ.get("HTTP_ACCEPT")),
        callable(send_hints),
    )
    under_middleware = "asgi.scope" in environ and _under_middleware(environ)
    # Under H2PushMiddleware, it planned the declarations and tracks.
    candidates = () if under_middleware else _declared(app_state, facts, view_manifest)
    state = _RequestState(
        app_state,
        facts,
        candidates,
        # WSGI cannot push: the client is tracked only for a pushing proxy in front.
        (
            app_state.tracker
            if not under_middleware and tracks(can_push=False, proxy=app_state.proxy)
            else None
        ),
        environ,
    )
    setattr(g, _G_KEY, state)
    environ[_ENVIRON_KEY] = state
    learner = app_state.learner
    if (
        not candidates
        and learner is not None
        and not under_middleware
        and facts.navigation
        and facts.method == "GET"
    ):  # no declaration: what the route learned (h2push._delivery.learning)
        state.learning = learner.key(facts.path)
        if state.learning is not None:
            candidates = state.candidates = learner.preloads(facts.path, key=state.learning)
    if candidates and state.tracker is not None:
        _learn(state, candidates)
    if candidates and callable(send_hints):
        first = _plan(state, candidates, facts)
        if first.plan.early_hints and _send_early_hints(
            send_hints, [("Link", value) for value in first.hint_values]
        ):
            state.hinted = first.plan.early_hints
    return state


def _declared(
    app_state: _AppState, facts: RequestFacts, view_manifest: Manifest | None
) -> tuple[Preload, ...]:
    """A request's declared preloads: the app manifest's, then its view's decorator's."""
    candidates: tuple[Preload, ...] = ()
    if app_state.manifest is not None:
        candidates = app_state.manifest.preloads_for(facts.path, navigation=facts.navigation)
    if view_manifest is not None:
        # A decorator's manifest applies to every request of its view (flask-http2-push).
        candidates += view_manifest.preloads_for(facts.path)
    return candidates


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
        environ = state.environ
        headers = [
            (name, value)
            for name, key in (("cookie", "HTTP_COOKIE"), ("cache-digest", "HTTP_CACHE_DIGEST"))
            if (value := environ.get(key))
        ]
        state.client = state.tracker.load(
            headers, authority=environ.get("HTTP_HOST"), scheme=environ["wsgi.url_scheme"]
        )
    Delivery.learn(state, preloads, state.app_state.versions)


def _finish(state: _RequestState, response: Response) -> None:
    """Merge the plan's Link values into ``response`` after the view's own; update the tracker."""
    state.finished = True
    candidates = state.candidates + tuple(state.preloads) if state.preloads else state.candidates
    if state.preloads:
        state.app_state.learn_paths(state.preloads)
    if not candidates or response.status_code >= 400:
        return
    if state.preloads:
        _learn(state, state.preloads)
    final = _plan(state, candidates, _final_facts(state.app_state, state.facts))
    headers = response.headers
    existing = ", ".join(headers.getlist("Link")) or None
    if state.app_state.firehose:  # what the client has is not linked at all
        merged = merge_link_header(
            existing, (p for p in final.plan.links if p.url not in state.known)
        )
    elif existing is None:
        if final.link_text is not None:
            headers.add("Link", final.link_text)  # formatted once per plan
        merged = None
    else:
        merged = merge_link_header(existing, final.plan.links)
    if merged is not None and merged != existing:
        headers["Link"] = merged
    if state.client is not None:
        _remember(state, final.plan, response)


def _plan(state: _RequestState, candidates: tuple[Preload, ...], facts: RequestFacts) -> Prepared:
    return _prepare(state.app_state, candidates, facts, state.known)


def _prepare(
    settings: _AppState,
    candidates: tuple[Preload, ...],
    facts: RequestFacts,
    known: frozenset[str],
) -> Prepared:
    return settings.delivery.prepare(
        facts,
        candidates,
        known=known,
        max_pushes=settings.max_pushes,
        early_hints=settings.early_hints,
        push=True,
    )


def _send_early_hints(send_hints: Callable[..., object], fields: list[tuple[str, str]]) -> bool:
    """Send one 103 with one Link field line per preload (Gunicorn writes them all).

    Args:
        send_hints: The WSGI server's ``wsgi.early_hints`` callable.
        fields: The ``("Link", value)`` field lines (a copy is sent).

    Returns:
        Whether the WSGI server took it.
    """
    try:
        send_hints(list(fields))
    except Exception:  # the client may be gone; the final response will tell
        logger.warning("h2push: the WSGI server could not send the 103", exc_info=True)
        return False
    return True


def _remember(state: _RequestState, final: Plan, response: Response) -> None:
    """Tell the tracker what this response delivered (:func:`h2push._core.plan.delivered`)."""
    client = state.client
    if client is None:
        return
    # Behind a proxy that pushes from the Link header (nginx, h2o), the proxy delivers a
    # navigation's Link preloads, over whatever protocol the app itself is reached by.
    http2 = state.app_state.proxy or state.environ.get("SERVER_PROTOCOL", "").upper().startswith(
        "HTTP/2"
    )
    navigation = state.facts.navigation
    if state.app_state.firehose:  # the proxy pushed every Link preload
        http2 = navigation = True
    if not records_delivery(
        delivered_any=bool(state.hinted),
        navigation=navigation,
        http2=http2,
        content_type=response.content_type,
        cache_control=response.headers.get("Cache-Control"),
    ):
        return
    urls = delivered(hinted=state.hinted, linked=final.links, navigation=navigation, http2=http2)
    if not Delivery.record(state, urls, state.app_state.versions):
        return
    for name, value in client.response_headers():
        response.headers.add(name.decode("latin-1"), value.decode("latin-1"))


def middleware_options(app: object) -> dict[str, Any]:
    """A Flask app's :class:`~h2push.asgi.H2PushMiddleware` keyword arguments.

    ``h2push serve`` runs a Flask app inside the middleware. For any Flask app: ``preloads``
    (:func:`preloads_resolver`) and ``versions`` (:func:`versions_resolver`). With an
    :class:`H2Push`, also ``max_pushes`` (``H2PUSH_MAX_PUSHES``), ``early_hints``
    (``H2PUSH_EARLY_HINTS``, off behind a proxy that pushes from the Link header), ``proxy``
    when ``H2PUSH_PROXY`` is ``"forwards-103"``, ``hinted_max_age_s``
    (``H2PUSH_HINTED_MAX_AGE``) and ``tracker`` when it works outside
    Flask's request context (the cookie digest, Redis, None). A Flask-Firehose-shaped tracker
    such as :class:`SessionTracker` reads Flask's session, which the middleware cannot reach
    before the view runs: the middleware keeps its own cookie tracker then.

    Args:
        app: The object ``h2push serve`` loaded.

    Returns:
        A dict of keyword arguments (str to value); empty when ``app`` is not a Flask app.

    Raises:
        h2push.ManifestError: A decorated view's manifest is missing or invalid.
    """
    if not isinstance(app, Flask):
        return {}
    options: dict[str, Any] = {
        "preloads": preloads_resolver(app),
        "versions": versions_resolver(app),
        "learn": Learner(
            route=route_resolver(app)
        ),  # keyed by endpoint (h2push._delivery.learning)
    }
    state = app.extensions.get(_EXTENSION_KEY)
    if isinstance(state, _AppState):
        options["learn"] = state.learner or False
        options.update(
            max_pushes=state.max_pushes,
            early_hints=state.early_hints,
            hinted_max_age_s=state.hinted_max_age_s,
        )
        # Behind a proxy that forwards the 103: no push to it, no tracking. An app declared
        # behind a pushing proxy is served as before the modes had names: no 103, pushes.
        if state.proxy_mode == FORWARDS_103:
            options["proxy"] = FORWARDS_103
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
