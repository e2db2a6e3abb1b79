"""h2push: get a page's critical subresources to the client early.

One declaration of a page's critical resources (a ``push_manifest.json``, a decorator, or
``push()`` calls) is delivered by the best mechanism each request allows: a ``103 Early Hints``
response (RFC 8297), HTTP/2 server push (RFC 9113 §8.4), and ``Link: rel=preload`` on the final
response (RFC 8288).

The public API is what ``__all__`` lists here, plus the adapters' own ``__all__``:

* the sans-IO core: :class:`Preload` (one resource to hint), :class:`LinkValue` and
  :func:`parse_link_header` / :func:`format_link_header` (RFC 8288 ``Link`` fields),
  :class:`Manifest` (a ``push_manifest.json``), :func:`plan` with :class:`RequestFacts` in and a
  :class:`Plan` out (what one request gets);
* the trackers that keep what each client has (:class:`CookieDigestTracker`, the default, and
  :class:`RedisTracker`; docs/cache-digest.md);
* the errors: :class:`H2PushError` is the base of every exception h2push raises;
  :class:`PreloadError`, :class:`LinkValueError` and :class:`ManifestError` are also
  :class:`ValueError`;
* the adapters, one module each: :mod:`h2push.flask`, :mod:`h2push.quart`,
  :mod:`h2push.starlette`, :mod:`h2push.django`, :mod:`h2push.asgi` (any ASGI app),
  :mod:`h2push.compat` (drop-in replacements of older Flask extensions), :mod:`h2push.httpx`
  (a client transport that receives pushes) and :mod:`h2push.testing` (pytest helpers);
* the ``h2push`` command (:func:`h2push.cli.main`).

Everything under ``h2push._core``, ``h2push._delivery`` and ``h2push._tools`` is private: it
may move between releases.
"""

from h2push._core.errors import H2PushError
from h2push._core.links import (
    LinkValue,
    LinkValueError,
    Preload,
    PreloadError,
    format_link_header,
    parse_link_header,
)
from h2push._core.manifest import Manifest, ManifestError
from h2push._core.plan import Plan, RequestFacts, plan
from h2push.trackers import CookieDigestTracker, RedisTracker

__version__ = "0.1.0"

__all__ = [
    "CookieDigestTracker",
    "H2PushError",
    "LinkValue",
    "LinkValueError",
    "Manifest",
    "ManifestError",
    "Plan",
    "Preload",
    "PreloadError",
    "RedisTracker",
    "RequestFacts",
    "__version__",
    "format_link_header",
    "parse_link_header",
    "plan",
]
