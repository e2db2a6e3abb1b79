"""ASGI middleware: 103 Early Hints, HTTP/2 server push and Link preload for any ASGI app.

For a request it gathers the facts, asks :func:`h2push.plan.plan` what to send, and carries the
plan out with the ASGI HTTP extensions (the ASGI extensions spec, "HTTP/2 Server Push" and
"Early Hints"): before the application runs, one ``http.response.early_hint`` message and the
``http.response.push`` messages, so the pushed responses are produced while the application is
still thinking; when the application starts its response, the Link header is merged after the
application's own. An extension message is sent only when ``scope["extensions"]`` offers it:
over HTTP/1.1 a request gets the Link header and nothing else.

Usage::

    from h2push.asgi import H2PushMiddleware, push

    app = H2PushMiddleware(app, manifest="push_manifest.json")

    async def handler(scope, receive, send):
        push(scope, "/static/chart.js", as_="script")   # adds to this response's plan
        ...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from h2push.links import LinkValue, Preload, link_additions, parse_link_header
from h2push.manifest import Manifest
from h2push.plan import DEFAULT_MAX_PUSHES, Plan, RequestFacts, is_navigation, plan, push_headers

__all__ = ["SCOPE_KEY", "H2PushMiddleware", "push"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("h2push")

#: The scope key under which the middleware keeps a request's state; its presence tells an app
#: (e.g. a WSGI app behind a2wsgi, through ``environ["asgi.scope"]``) that the middleware is there.
SCOPE_KEY = "h2push"
# Hypercorn gives a pushed request a copy of the pushing request's ``scope["state"]``; this key
# in it marks the requests h2push pushed, so that they never push in turn (RFC 9113 §8.4).
_PUSHED_STATE_KEY = "h2push.pushed"
_EARLY_HINT = "http.response.early_hint"
_PUSH = "http.response.push"


class _RequestState:
    """One request in flight: its facts, what was sent before the app ran, ``push()`` calls."""

    __slots__ = ("before", "facts", "preloads", "scope", "send")

    def __init__(self, scope: Scope, send: Send, facts: RequestFacts, before: Plan) -> None:
        self.scope = scope
        self.send = send
        self.facts = facts
        self.before = before
        self.preloads: list[Preload] = []


def push(scope: Scope, url: str, *, as_: str | None = None, **attrs: Any) -> str:
    """Add a preload to the response of the request in ``scope``; return ``url``.

    Call it from an application wrapped by :class:`H2PushMiddleware` before the response
    starts. The resource is pushed when the server and client allow it (RFC 9113 §8.4) and is
    always added to the response's Link header (RFC 8288).

    Args:
        scope: The ASGI HTTP scope of the current request (Starlette: ``request.scope``).
        url: An absolute path such as ``/static/app.js`` (str).
        as_: The Fetch destination (``style``, ``script``, ``font``, ...).
        **attrs: Other :class:`~h2push.Preload` fields: ``rel``, ``crossorigin``, ``type``,
            ``fetchpriority``, ``nopush``, ``weight``; ``as`` is accepted for ``as_``.

    Returns:
        ``url``, so it can be used inline in templates.

    Raises:
        ValueError: The URL or an attribute cannot be sent (see :class:`~h2push.Preload`).
        RuntimeError: The request does not pass through :class:`H2PushMiddleware`.
    """
    if "as" in attrs:
        as_ = attrs.pop("as")
    state = scope.get(SCOPE_KEY)
    if not isinstance(state, _RequestState):
        raise RuntimeError("h2push.asgi.push() needs the app to be wrapped in H2PushMiddleware")
    state.preloads.append(Preload(url=url, as_=as_, **attrs))
    return url


class H2PushMiddleware:
    """Deliver a manifest's and the application's preloads by 103, push and Link header.

    Args:
        app: The ASGI application to wrap.
        manifest: A :class:`~h2push.Manifest`, or the path of a ``push_manifest.json`` file
            (loaded here, once), or None.
        preloads: A function from a request path (str) and whether the request is a
            navigation (bool) to more candidate preloads, e.g. a framework's per-route
            declarations (:func:`h2push.flask.preloads_resolver`); called per request.
        max_pushes: The most push promises per response (int >= 0; default 10, as nginx).
        early_hints: Send a 103 on navigation requests when the server offers it.
        push: Push when the server offers it.
        push_preload: Like nginx's ``http2_push_preload``: also push the same-origin
            ``rel=preload`` values of the Link header the application sets (without
            ``nopush``), as its response starts.

    Raises:
        ManifestError: The manifest file is missing or invalid (naming file, key and reason).
        ValueError: ``max_pushes`` is negative.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        manifest: Manifest | str | os.PathLike[str] | None = None,
        preloads: Callable[[str, bool], Sequence[Preload]] | None = None,
        max_pushes: int = DEFAULT_MAX_PUSHES,
        early_hints: bool = True,
        push: bool = True,
        push_preload: bool = False,
    ) -> None:
        if max_pushes < 0:
            raise ValueError(f"max_pushes {max_pushes} must not be negative")
        self.app = app
        self.manifest = (
            manifest
            if isinstance(manifest, Manifest) or manifest is None
            else Manifest.load(manifest)
        )
        self.preloads = preloads
        self.max_pushes = max_pushes
        self.early_hints = early_hints
        self.push = push
        self.push_preload = push_preload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope; only ``http`` scopes are planned for."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        sec_fetch_mode = accept = None
        for name, value in scope["headers"]:
            if name == b"sec-fetch-mode":
                sec_fetch_mode = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
        extensions = scope.get("extensions") or {}
        state = scope.get("state")
        facts = RequestFacts(
            method=scope["method"],
            path=scope["path"],
            navigation=is_navigation(sec_fetch_mode, accept),
            can_early_hint=_EARLY_HINT in extensions,
            can_push=_PUSH in extensions,
            pushed=isinstance(state, dict) and bool(state.get(_PUSHED_STATE_KEY)),
        )
        before = plan(
            facts,
            self._candidates(facts),
            max_pushes=self.max_pushes,
            early_hints=self.early_hints,
            push=self.push,
        )
        if before.early_hints:
            await _send_extension(send, {"type": _EARLY_HINT, "links": before.early_hint_links})
        await self._send_pushes(scope, send, before)

        request = scope[SCOPE_KEY] = _RequestState(scope, send, facts, before)

        async def send_with_links(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = await self._start_response(request, message)
            await send(message)

        await self.app(scope, receive, send_with_links)

    def _candidates(self, facts: RequestFacts) -> list[Preload]:
        candidates: list[Preload] = []
        if self.manifest is not None:
            candidates.extend(self.manifest.preloads_for(facts.path, navigation=facts.navigation))
        if self.preloads is not None:
            candidates.extend(self.preloads(facts.path, facts.navigation))
        return candidates

    async def _send_pushes(self, scope: Scope, send: Send, todo: Plan) -> None:
        if not todo.pushes:
            return
        state = scope.get("state")
        if isinstance(state, dict):
            state[_PUSHED_STATE_KEY] = True
        for preload in todo.pushes:
            headers = push_headers(preload, scope["headers"])
            await _send_extension(send, {"type": _PUSH, "path": preload.url, "headers": headers})

    async def _start_response(self, request: _RequestState, message: Message) -> Message:
        """Push what the app asked for, and merge every preload into the Link header."""
        before = request.before
        headers = list(message.get("headers", ()))
        app_links = ", ".join(
            value.decode("latin-1") for name, value in headers if name.lower() == b"link"
        )
        late: list[Preload] = list(request.preloads)
        if self.push_preload and app_links:
            late.extend(_preloads_in(app_links))
        status = int(message.get("status", 200))
        after = plan(
            request.facts,
            late,
            known={p.url for p in before.pushes},
            max_pushes=self.max_pushes - len(before.pushes),
            early_hints=False,
            push=self.push and 200 <= status < 300,
        )
        await self._send_pushes(request.scope, request.send, after)
        if status >= 400:
            return message
        extra = link_additions(app_links or None, (*before.links, *after.links))
        if extra is None:
            return message
        headers.append((b"link", extra.encode("ascii")))
        return {**message, "headers": headers}


def _preloads_in(link_header: str) -> list[Preload]:
    """The resource hints of an application's Link header that h2push understands."""
    return [p for p in map(_preload_or_none, parse_link_header(link_header)) if p is not None]


def _preload_or_none(value: LinkValue) -> Preload | None:
    try:
        return Preload.from_link_value(value)
    except ValueError:
        return None  # another relation (canonical, next, ...) or an attribute we don't know


async def _send_extension(send: Send, message: Message) -> None:
    """Send an extension message; a server or client that refuses it costs the page nothing."""
    try:
        await send(message)
    except Exception:  # a refused hint or push must never fail the request
        logger.debug("h2push: %s not sent", message["type"], exc_info=True)
