"""The same site as an ASGI app, for the ASGI servers of the proxy matrix.

* ``app``: for Uvicorn (``--http zttp --http2``), which offers ``http.response.early_hint``
  over HTTP/2 only.
* ``gunicorn_app``: for Gunicorn's ASGI worker (``-k asgi``), which takes a 103 as a
  non-standard ``http.response.informational`` message, over HTTP/1.1 too, without offering
  it in ``scope["extensions"]`` (``H2PushMiddleware(informational=True)``).

Both run the Flask app through a2wsgi inside :class:`h2push.asgi.H2PushMiddleware`, as
``h2push serve`` does, so the Flask app's manifest and ``H2PUSH_PROXY`` apply.
"""

from __future__ import annotations

from typing import Any, cast

from a2wsgi import WSGIMiddleware

from h2push.asgi import ASGIApp, H2PushMiddleware
from h2push.flask import middleware_options

from . import app as flask_app

_wsgi = cast(ASGIApp, WSGIMiddleware(cast(Any, flask_app)))

app = H2PushMiddleware(_wsgi, **middleware_options(flask_app))
gunicorn_app = H2PushMiddleware(_wsgi, informational=True, **middleware_options(flask_app))
