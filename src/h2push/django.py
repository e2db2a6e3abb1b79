"""Django: a middleware, ``H2PUSH_*`` settings, a ``{% push %}`` tag and a per-view decorator.

Set-up::

    # settings.py
    INSTALLED_APPS = [..., "django.contrib.staticfiles", "h2push"]   # "h2push": the tag library
    MIDDLEWARE = ["h2push.django.H2PushMiddleware", ...]
    H2PUSH_MANIFEST = BASE_DIR / "push_manifest.json"   # optional

    # asgi.py: real 103 Early Hints and pushes, before the view runs
    from h2push.django import get_asgi_application
    application = get_asgi_application()

    # views.py
    from h2push.django import http2push, push

    @http2push("about_manifest.json")         # next to this module; a multi-page one works too
    def about(request):
        push(request, "/static/js/chart.js", as_="script")
        return render(request, "about.html")   # {% push 'css/app.css' as='style' %} in it

How each request is served, by what the server offers:

* ASGI with h2push's wrapper (:func:`get_asgi_application`) on a server with the ASGI
  extensions (Hypercorn over HTTP/2): :class:`h2push.asgi.H2PushMiddleware` sends the 103
  (RFC 8297) and the pushes (RFC 9113 §8.4) of the ``H2PUSH_MANIFEST`` and of the view's
  :func:`http2push` manifest *before* Django runs, and merges the Link header (RFC 8288);
  ``push()`` calls and ``{% push %}`` tags are pushed as the response starts.
* Any other server (WSGI, or ASGI without the wrapper): the Django middleware adds every
  declared preload to the response's ``Link`` header, after the view's own value; a WSGI server
  that offers ``environ["wsgi.early_hints"]`` (Gunicorn >= 25) also gets the declared preloads
  as a 103 before the view runs. A proxy in front (nginx ``http2_push_preload``) can push them.

Settings, read when the middleware (or :func:`get_asgi_application`) is created:

================================ ==================================================
setting                          meaning
================================ ==================================================
H2PUSH_ENABLED                   False turns h2push off (default True)
H2PUSH_MANIFEST                  a ``push_manifest.json`` path (relative paths from
                                 ``BASE_DIR``, or the current directory without
                                 one), a Manifest, or None. Default:
                                 ``push_manifest.json`` in ``BASE_DIR`` when that
                                 file exists.
H2PUSH_MAX_PUSHES                most pushes per response (int >= 0, default 10)
H2PUSH_MAX_PUSHES_PER_CONNECTION most pushes per HTTP/2 connection (int >= 0,
                                 default 100; ASGI only)
H2PUSH_EARLY_HINTS               send a 103 when the server can (default True)
H2PUSH_PUSH                      push when the server can (default True)
H2PUSH_HINTED_MAX_AGE            ASGI: the shortest ``max-age`` (seconds, default
                                 60) of a hinted response left without a lifetime
                                 (Django's static view); None leaves it alone
H2PUSH_PROXY                     the proxy in front: ``"forwards-103"`` (Caddy,
                                 Apache httpd, nginx >= 1.29, nghttpx: 103, no
                                 push), ``"pushes-from-link"`` or True (nginx <
                                 1.25.1, h2o 2.2: no 103, no push), None (default)
================================ ==================================================

Importing this module requires Django (``pip install h2push[django]``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import Resolver404, resolve

from h2push import asgi
from h2push._core.links import Preload, merge_link_header, user_preload
from h2push._core.manifest import Manifest, ManifestError
from h2push._core.plan import DEFAULT_MAX_PUSHES, RequestFacts, is_navigation
from h2push._delivery.asgi_types import ASGIApp, Receive, Scope, Send, answer_lifespan
from h2push._delivery.declare import manifest_marker
from h2push._delivery.engine import Delivery, Prepared
from h2push._delivery.learning import (
    PageLesson,
    StylesheetLesson,
    TeachingBody,
    learner_from_setting,
)
from h2push._proxy import PUSHES_FROM_LINK, ProxyMode, proxy_mode
from h2push.asgi import SCOPE_KEY as ASGI_SCOPE_KEY

__all__ = [
    "H2PushMiddleware",
    "get_asgi_application",
    "http2push",
    "preloads_resolver",
    "push",
]

logger = logging.getLogger(__name__)


_VIEW_ATTR: Final = "_h2push_manifest"
_REQUEST_ATTR: Final = "_h2push"
# Set in the ASGI scope by get_asgi_application(): the ASGI middleware has planned the
# declared preloads already, so the Django middleware leaves them to it.
_PLANNED_KEY: Final = "h2push.django.planned"
_DEFAULT_MANIFEST: Final = "push_manifest.json"

MISSING_MANIFEST_OK_ENV: Final = "H2PUSH_MANIFEST_MISSING_OK"
"""Set (non-empty) by ``h2push manifest --app`` while it imports the project: a missing
``H2PUSH_MANIFEST`` file is then no manifest rather than an error, so that the command can
write it."""

_View = TypeVar("_View", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Settings:
    enabled: bool = True
    manifest: Manifest | None = None
    max_pushes: int = DEFAULT_MAX_PUSHES
    max_pushes_per_connection: int = asgi.DEFAULT_MAX_PUSHES_PER_CONNECTION
    early_hints: bool = True
    push: bool = True
    hinted_max_age_s: int | None = asgi.DEFAULT_HINTED_MAX_AGE_S
    proxy: ProxyMode | None = None

    def middleware_keywords(self) -> dict[str, Any]:
        """All but ``enabled``: the :class:`h2push.asgi.H2PushMiddleware` arguments of that name."""
        keywords = {each.name: getattr(self, each.name) for each in fields(self)}
        del keywords["enabled"]
        return keywords


def _setting(name: str, kind: type, default: Any) -> Any:
    value = getattr(django_settings, name, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ImproperlyConfigured(f"{name} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _load_settings() -> _Settings:
    """Read and check the ``H2PUSH_*`` settings; load the manifest.

    Raises:
        ImproperlyConfigured: A setting has the wrong type or value.
        h2push.ManifestError: The manifest is missing or invalid.
    """
    limits = {
        name: _setting(name, int, default)
        for name, default in (
            ("H2PUSH_MAX_PUSHES", DEFAULT_MAX_PUSHES),
            ("H2PUSH_MAX_PUSHES_PER_CONNECTION", asgi.DEFAULT_MAX_PUSHES_PER_CONNECTION),
        )
    }
    for name, value in limits.items():
        if value < 0:
            raise ImproperlyConfigured(f"{name} {value} must not be negative")
    try:
        proxy = proxy_mode(getattr(django_settings, "H2PUSH_PROXY", None), "H2PUSH_PROXY")
    except (TypeError, ValueError) as error:
        raise ImproperlyConfigured(str(error)) from None
    return _Settings(
        enabled=_setting("H2PUSH_ENABLED", bool, True),
        manifest=_settings_manifest(),
        max_pushes=limits["H2PUSH_MAX_PUSHES"],
        max_pushes_per_connection=limits["H2PUSH_MAX_PUSHES_PER_CONNECTION"],
        # A proxy that pushes from the Link header (nginx < 1.25.1, h2o 2.2) gets no 103.
        early_hints=_setting("H2PUSH_EARLY_HINTS", bool, True) and proxy != PUSHES_FROM_LINK,
        push=_setting("H2PUSH_PUSH", bool, True),
        hinted_max_age_s=_hinted_max_age(),
        proxy=proxy,
    )


def _hinted_max_age() -> int | None:
    value = getattr(django_settings, "H2PUSH_HINTED_MAX_AGE", asgi.DEFAULT_HINTED_MAX_AGE_S)
    if value is None:
        return None
    seconds = cast(int, _setting("H2PUSH_HINTED_MAX_AGE", int, value))
    if seconds < 0:
        raise ImproperlyConfigured(f"H2PUSH_HINTED_MAX_AGE {seconds} must not be negative")
    return seconds


def _settings_manifest() -> Manifest | None:
    base_dir = getattr(django_settings, "BASE_DIR", None)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if not hasattr(django_settings, "H2PUSH_MANIFEST"):
        default = base / _DEFAULT_MANIFEST
        return Manifest.load(default) if base_dir is not None and default.is_file() else None
    setting = django_settings.H2PUSH_MANIFEST
    if setting is None or isinstance(setting, Manifest):
        return setting
    if not isinstance(setting, (str, os.PathLike)):
        raise ImproperlyConfigured(
            f"H2PUSH_MANIFEST must be a path, a Manifest or None, not {type(setting).__name__}"
        )
    path = base / setting
    if not path.exists():
        if os.environ.get(MISSING_MANIFEST_OK_ENV):  # h2push manifest is about to write it
            return None
        package = os.environ.get("DJANGO_SETTINGS_MODULE", "mysite.settings").rpartition(".")[0]
        raise ManifestError(
            str(path),
            (),
            "H2PUSH_MANIFEST names this file, which does not exist yet: create it from the"
            f" project directory with `h2push manifest --app {package or 'mysite'}.asgi:application"
            f" -o {path}` (the pages to read after the option, / by default), or set"
            " H2PUSH_MANIFEST = None",
        )
    return Manifest.load(path)


# --- declarations ------------------------------------------------------------------------


def http2push(
    manifest: str | os.PathLike[str] | Manifest = _DEFAULT_MANIFEST,
) -> Callable[[_View], _View]:
    """Mark a view whose responses preload the resources of a manifest.

    Decorate a view function, a class-based view (the class, or ``View.as_view()``'s result).
    The view is returned unchanged. The manifest's preloads go with every response of the view
    (a multi-page manifest: the entries of the path it serves), together with
    ``H2PUSH_MANIFEST``'s.

    The manifest is loaded here, once: a relative path from the directory of the module that
    defines the view, an absolute one as it is.

    Args and errors: as :func:`h2push.starlette.http2push` (the same decorator, marking
    views instead of endpoints).
    """
    return manifest_marker(manifest, _VIEW_ATTR)


def _view_manifest(view: object) -> Manifest | None:
    for candidate in (view, getattr(view, "view_class", None)):
        found = getattr(candidate, _VIEW_ATTR, None)
        if isinstance(found, Manifest):
            return found
    return None


def _declared(
    manifest: Manifest | None, path: str, navigation: bool, urlconf: str | None = None
) -> tuple[Preload, ...] | None:
    """The app manifest's preloads for ``path`` and those of the view it resolves to.

    None when ``path`` resolves to no view (Django answers 404, or ``APPEND_SLASH``'s
    redirect): such a response uses none of a page's resources.
    """
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    found = manifest.preloads_for(path, navigation=navigation) if manifest is not None else ()
    view_manifest = _view_manifest(match.func)
    # A view's manifest applies to every request of it, as flask-http2-push's decorator.
    return found if view_manifest is None else found + view_manifest.preloads_for(path)


def preloads_resolver(
    app: object = None,
) -> Callable[[str, bool], Sequence[Preload] | None] | None:
    """The ASGI middleware's ``preloads=`` function for the :func:`http2push` views of the URLconf.

    Called with a request path (str, no query string) and whether it is a navigation, it
    resolves the path with ``ROOT_URLCONF`` and returns the preloads of the view's manifest.
    For a path that resolves nowhere it returns None: the middleware then sends no 103 and no
    push, not even ``H2PUSH_MANIFEST``'s (which goes to the middleware as its ``manifest``).

    Args:
        app: The ASGI application (Django's ``ASGIHandler``) or None; any other object gives
            None, so that a server can ask every adapter.

    Returns:
        The resolver, or None.
    """
    if app is not None:
        from django.core.handlers.asgi import ASGIHandler  # noqa: PLC0415

        if not isinstance(app, ASGIHandler):
            return None

    def resolve_view(path: str, navigation: bool) -> tuple[Preload, ...] | None:
        return _declared(None, path, navigation)

    return resolve_view


class _MarkPlanned:
    """ASGI: tell the Django middleware that the ASGI middleware planned the declarations.

    It also answers the lifespan protocol, which Django's handler refuses (Django has nothing
    to start or stop), so that servers do not log a lifespan error at start-up.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] == "http":
            scope[_PLANNED_KEY] = True
        await self.app(scope, receive, send)


def get_asgi_application() -> ASGIApp:
    """Django's ASGI application, wrapped to send 103 Early Hints and pushes before the view.

    Use it in ``asgi.py`` instead of ``django.core.asgi.get_asgi_application``. It sets Django
    up, reads the ``H2PUSH_*`` settings and wraps Django's handler in
    :class:`h2push.asgi.H2PushMiddleware` with ``H2PUSH_MANIFEST`` and the :func:`http2push`
    views' manifests (:func:`preloads_resolver`). With ``H2PUSH_ENABLED = False`` it is
    Django's handler alone.

    Returns:
        An ASGI 3 application.

    Raises:
        ImproperlyConfigured: A setting has the wrong type or value.
        h2push.ManifestError: A manifest is missing or invalid.
    """
    from django.core.asgi import get_asgi_application as django_asgi  # noqa: PLC0415

    handler = cast(ASGIApp, django_asgi())
    settings = _load_settings()
    if not settings.enabled:
        return handler
    return asgi.H2PushMiddleware(
        _MarkPlanned(handler),
        preloads=preloads_resolver(),
        **settings.middleware_keywords(),
        # Learn each URL pattern's critical resources from its pages (h2push._delivery.learning).
        learn=learner_from_setting(
            getattr(django_settings, "H2PUSH_LEARN", True), "H2PUSH_LEARN", "django"
        )
        or False,
    )


# --- per request -------------------------------------------------------------------------


@dataclass
class _RequestState:
    """One request's h2push state, on ``request._h2push``.

    ``scope`` is the ASGI scope when :class:`h2push.asgi.H2PushMiddleware` serves the request
    (directly, or a WSGI app through a2wsgi): ``push()`` then goes to it. Otherwise this
    middleware delivers ``candidates`` and ``preloads`` itself, as a Link header.
    """

    facts: RequestFacts
    candidates: tuple[Preload, ...] = ()
    scope: Scope | None = None
    preloads: list[Preload] = field(default_factory=list)
    learning: str | None = None  # the URL pattern's key in h2push._delivery.learning (WSGI only)
    origin: str = "http://localhost"  # the scheme and Host of the request, for learning

    def add(self, preload: Preload) -> None:
        if self.scope is not None:
            attributes = {each.name: getattr(preload, each.name) for each in fields(preload)}
            asgi.push(self.scope, attributes.pop("url"), **attributes)
        else:
            self.preloads.append(preload)


def _asgi_scope(request: HttpRequest) -> Scope | None:
    """The ASGI scope of a request served through H2PushMiddleware, or None."""
    scope = getattr(request, "scope", None)  # ASGIRequest
    if scope is None:
        scope = request.META.get("asgi.scope")  # a WSGI app under a2wsgi
    return scope if isinstance(scope, MutableMapping) and ASGI_SCOPE_KEY in scope else None


class H2PushMiddleware:
    """Deliver ``H2PUSH_MANIFEST``, :func:`http2push` manifests and :func:`push` calls.

    Put it first in ``MIDDLEWARE`` (it only adds a header to the response). It works in WSGI
    and ASGI projects, sync or async. See the module docstring for what each server gets.

    A Django middleware (``get_response``), not the ASGI one of the same name,
    :class:`h2push.asgi.H2PushMiddleware`: :func:`get_asgi_application` wraps Django's ASGI
    handler in that one, which sends the 103 and the pushes before the view runs, and this
    one then adds only what the view declared (:func:`push`) to the Link header.

    Raises:
        django.core.exceptions.MiddlewareNotUsed: ``H2PUSH_ENABLED`` is False.
        ImproperlyConfigured: A setting has the wrong type or value.
        h2push.ManifestError: ``H2PUSH_MANIFEST`` is missing or invalid.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.settings = _load_settings()
        if not self.settings.enabled:
            raise MiddlewareNotUsed("H2PUSH_ENABLED is False")
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        # The plans this middleware made, with the Link values they send (never pushes: the
        # ASGI middleware does those).
        self._delivery = Delivery(
            max_pushes=self.settings.max_pushes,
            early_hints=self.settings.early_hints,
            push=False,
            tracker=None,
            pushing_proxy=False,
        )
        # Without the ASGI middleware (a WSGI server), this middleware learns (learning).
        self.learner = learner_from_setting(
            getattr(django_settings, "H2PUSH_LEARN", True), "H2PUSH_LEARN", "django"
        )

    def __call__(self, request: HttpRequest) -> Any:
        """Handle one request (a coroutine when Django serves asynchronously)."""
        if self.is_async:
            return self._acall(request)
        state = self._start(request)
        response = self.get_response(request)
        self._finish(state, response)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        state = self._start(request)
        response: HttpResponseBase = await self.get_response(request)
        self._finish(state, response)
        return response

    def _start(self, request: HttpRequest) -> _RequestState:
        """Gather the request's declarations; send the 103 where only WSGI can."""
        send_hints = request.META.get("wsgi.early_hints")
        navigation = is_navigation(
            request.headers.get("Sec-Fetch-Mode"), request.headers.get("Accept")
        )
        facts = self._delivery.facts(
            (
                request.method or "GET",
                request.path_info,
                navigation,
                callable(send_hints),
                False,
                False,
            )
        )
        scope = _asgi_scope(request)
        state = _RequestState(facts=facts, scope=scope)
        if scope is None and self.learner is not None:
            state.origin = f"{request.scheme}://{request.META.get('HTTP_HOST', 'localhost')}"
        setattr(request, _REQUEST_ATTR, state)
        if scope is not None and scope.get(_PLANNED_KEY):
            return state  # the ASGI middleware planned them before Django ran
        urlconf = getattr(request, "urlconf", None)
        declared = _declared(self.settings.manifest, facts.path, facts.navigation, urlconf) or ()
        if scope is not None:
            for preload in declared:  # pushed and linked as the response starts
                state.add(preload)
            return state
        if not declared and self.learner is not None and facts.navigation and facts.method == "GET":
            state.learning = self.learner.key(facts.path)  # no declaration: what it learned
            if state.learning is not None:
                declared = self.learner.preloads(facts.path, key=state.learning)
        state.candidates = declared
        if declared and callable(send_hints):
            first = self._plan(state.facts, declared)
            if first.plan.early_hints:
                try:
                    send_hints([("Link", value) for value in first.hint_values])
                except Exception:  # the client may be gone; the final response will tell
                    logger.warning("h2push: the WSGI server could not send the 103", exc_info=True)
        return state

    def _finish(self, state: _RequestState, response: HttpResponseBase) -> None:
        """Merge every preload into the response's Link header, after the view's own value."""
        if state.scope is None and self.learner is not None:
            self._teach(state, response)  # the view's own Link values, before ours
        candidates = (*state.candidates, *state.preloads) if state.preloads else state.candidates
        if state.scope is not None or not candidates or response.status_code >= 400:
            return  # the ASGI middleware does it, or nothing to add, or an error page
        facts = state.facts
        if facts.can_early_hint:
            facts = self._delivery.facts(
                (facts.method, facts.path, facts.navigation, False, False, False)
            )
        final = self._plan(facts, candidates)
        existing = response.headers.get("Link")
        if existing is None:
            merged = final.link_text  # formatted once per plan
        else:
            merged = merge_link_header(existing, final.plan.links)
        if merged is not None and merged != existing:
            response.headers["Link"] = merged

    def _teach(self, state: _RequestState, response: HttpResponseBase) -> None:
        """Let a page (or a stylesheet) teach h2push._delivery.learning once it has gone out.

        A streaming response teaches as its chunks go out; any other once the server has
        sent it and closes it (Django's resource closers), so no byte is delayed.
        """
        assert self.learner is not None
        learning = state.learning
        if not learning and (
            state.facts.method != "GET" or not self.learner.wants(state.facts.path)
        ):
            return  # neither a page that teaches nor a stylesheet a learned page names
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
        origin = state.origin
        lesson: PageLesson | StylesheetLesson | None
        if learning:
            if isinstance(response, HttpResponse) and self.learner.unchanged(
                learning, response.status_code, headers, response.content, state.preloads
            ):
                return  # the same start and head as last time: nothing new to learn
            lesson = self.learner.page(
                state.facts.path,
                origin=origin,
                status=response.status_code,
                headers=headers,
                pushed=state.preloads,
                key=learning,
            )
        else:
            lesson = self.learner.stylesheet(
                state.facts.path, origin=origin, status=response.status_code, headers=headers
            )
        if lesson is None:
            return
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            body = cast("Iterator[bytes]", response.streaming_content)
            response.streaming_content = TeachingBody(body, lesson)
        elif isinstance(response, HttpResponse):
            closers = getattr(response, "_resource_closers", None)
            if isinstance(closers, list):
                content = response.content
                closers.append(lambda: lesson.feed(content, more=False))

    def _plan(self, facts: RequestFacts, candidates: Sequence[Preload]) -> Prepared:
        return self._delivery.prepare(
            facts,
            candidates,
            max_pushes=self.settings.max_pushes,
            early_hints=self.settings.early_hints,
            push=False,  # the Django middleware never pushes: the ASGI middleware does
        )


def push(request: HttpRequest, url: str, *flags: str, strict: bool = False, **attrs: Any) -> str:
    """Preload ``url`` from the response to ``request``; return ``url``.

    Needs :class:`H2PushMiddleware` in ``MIDDLEWARE`` (or the app from
    :func:`get_asgi_application`). The preload joins the response's Link header (RFC 8288) and,
    on a server that can, is pushed as the response starts (RFC 9113 §8.4). The
    ``{% push %}`` template tag calls it with ``static()``'s URL.

    Args:
        request: The current request.
        url: An absolute path such as ``/static/app.js``, or an absolute http(s) URL (str).
        flags: ``crossorigin`` (anonymous) and ``nopush``, as attributes without a value.
        attrs: ``as`` or ``as_`` (style, script, font, image, fetch, ...), ``rel``,
            ``crossorigin`` (True or "" mean anonymous), ``type``, ``fetchpriority``, ``nopush``,
            ``weight``.
        strict: Raise for a value that cannot be sent; by default the preload is dropped
            with one log line and the page goes out without it
            (:func:`h2push._core.links.user_preload`).

    Returns:
        ``url`` unchanged.

    Raises:
        ValueError: Only with ``strict=True``: a value that cannot be sent
            (:class:`h2push.PreloadError` names the field), or an unknown flag.
        TypeError: An unknown attribute, or one given twice.
        RuntimeError: The request did not pass through h2push's middleware (and
            ``H2PUSH_ENABLED`` is not False).
    """
    preload = user_preload(url, flags, attrs, strict=strict)
    if preload is None:
        return url
    state = getattr(request, _REQUEST_ATTR, None)
    if isinstance(state, _RequestState):
        state.add(preload)
        return url
    scope = _asgi_scope(request)
    if scope is None:
        if not getattr(django_settings, "H2PUSH_ENABLED", True):
            return url  # h2push is off: the page still gets its URL
        raise RuntimeError("push() needs h2push.django.H2PushMiddleware in MIDDLEWARE")
    _RequestState(facts=RequestFacts(), scope=scope).add(preload)
    return url
