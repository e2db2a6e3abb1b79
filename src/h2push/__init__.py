"""h2push: get a page's critical subresources to the client early.

One declaration of a page's critical resources (a ``push_manifest.json``, a decorator, or
``push()`` calls) is delivered by the best mechanism each request allows: a ``103 Early Hints``
response (RFC 8297), HTTP/2 server push (RFC 9113 §8.4), and ``Link: rel=preload`` on the final
response (RFC 8288). The sans-IO core is :class:`Preload`, :class:`Manifest` and :func:`plan`;
the adapters live in :mod:`h2push.flask` and :mod:`h2push.asgi`.
"""

from h2push._core.links import LinkValue, Preload, format_link_header, parse_link_header
from h2push._core.manifest import Manifest, ManifestError
from h2push._core.plan import Plan, RequestFacts, plan

__version__ = "0.1.0"

__all__ = [
    "LinkValue",
    "Manifest",
    "ManifestError",
    "Plan",
    "Preload",
    "RequestFacts",
    "__version__",
    "format_link_header",
    "parse_link_header",
    "plan",
]
