"""flask-http2-push 0.0.3's API on h2push, for a migration that changes only an import.

A migrating app changes only its import line::

    from h2push.compat.flask_http2_push import http2push

    @app.route("/")
    @http2push()                          # push_manifest.json
    def main():
        return "hello, world!"

    @app.route("/about")
    @http2push("static/my_manifest.json")
    def about(): ...

What stays as flask-http2-push did it: the decorator reads the manifest once and adds
``<url>; rel=preload; as=<type>`` for each entry to every response of the view (RFC 8288),
for a server or CDN in front to push; a relative manifest path is found in the working
directory, as before, and also in ``app.root_path`` (an app inside a package finds the
manifest beside it); ``"type": "document"`` entries are linked and pushed as before (never sent
in a 103: browsers ignore them, and a warning says so once).

What is fixed: it runs on Python 3; URLs stay relative (``</app.js>``) instead of being joined
to the request's host; the Link value follows any the view set instead of replacing it; font
preloads carry ``crossorigin`` (browsers fetch fonts twice without it); a missing manifest
raises :class:`~h2push.ManifestError` naming both places looked in.

It is :func:`h2push.flask.http2push` looking in the working directory first. With
:class:`h2push.flask.H2Push` on the app, the extension's settings and tracker apply too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final, TypeVar

from h2push.flask import _decorator

__all__ = ["PUSH_MANIFEST", "http2push"]

#: The manifest ``@http2push()`` reads (flask-http2-push's name for it).
PUSH_MANIFEST: Final = "push_manifest.json"

_View = TypeVar("_View", bound=Callable[..., Any])


def http2push(manifest: str | os.PathLike[str] = PUSH_MANIFEST) -> Callable[[_View], _View]:
    """Decorate a view so its responses preload the resources of a push manifest.

    Args:
        manifest: The manifest's path (str or path-like). A relative path is looked up in the
            working directory, then in ``app.root_path``.

    Returns:
        The decorator.

    Raises:
        h2push.ManifestError: On the view's first request (at decoration for an
            absolute path): the manifest is in neither place (the message names both), cannot
            be read, or is invalid.
        TypeError: Used as ``@http2push`` without parentheses.
    """
    return _decorator(manifest, cwd_first=True)
