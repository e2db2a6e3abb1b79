"""Flask-Firehose 0.2.3's API on h2push, for a migration that changes only an import.

A migrating app changes only its import line::

    from h2push.compat.flask_firehose import Firehose, push

    app = Flask(__name__)
    app.config["SECRET_KEY"] = ...        # the default Connector keeps its set in the session
    Firehose(app)                         # or firehose = Firehose(); firehose.init_app(app)

    @app.route("/page")
    def page():
        push("/static/js/app.js", **{"as": "script", "rel": "preload"})
        return render_template("page.html")   # {{ push('/static/css/main.css', as='style') }}

What stays as Flask-Firehose did it:

* ``push(url, *flags, **attrs)`` in views and as the ``push`` Jinja global returns ``url`` and
  adds ``<url>; rel=preload; as=...`` to the response's Link header (RFC 8288), which the
  reverse proxy in front turns into an HTTP/2 push (nginx ``http2_push_preload on``).
* The URLs pushed to a client are kept by a connector (``get_pushed() -> set``,
  ``set_pushed(set)``); the default :class:`Connector` keeps them comma-joined in
  ``session["h2-pushed"]``. A request leaves out of its Link header every URL the connector
  already has, so a repeat visit is not pushed again, and ``set_pushed`` is called after each
  response that linked something new, whatever the request's ``Accept`` (nginx pushes for
  any request).
* No 103 Early Hints: nginx before 1.29 would take one for the final response.

What is fixed: attribute values are checked (a CR, LF, ``<``, ``>`` or ``,`` in a URL raises
``ValueError`` instead of corrupting the header), ``as_=`` works in Python, the Link value has no
trailing comma and follows any Link value the view set instead of replacing it, a missing
``SECRET_KEY`` means no tracking instead of a 500 on every push.

The extension is an :class:`h2push.flask.H2Push` (``proxy=True``, no manifest by default), so
the ``H2PUSH_*`` config keys apply. For 103 Early Hints, a cache-digest cookie instead of the
session, and manifests, use :mod:`h2push.flask` directly (docs/migrating.md).
"""

from __future__ import annotations

from flask import Flask

from h2push.flask import _EXTENSION_KEY, H2Push, SessionTracker, push
from h2push.trackers import FirehoseConnector

__all__ = ["Connector", "Firehose", "push"]

_SESSION = SessionTracker()


class Connector:
    """Flask-Firehose's default connector: the pushed URLs in ``session["h2-pushed"]``.

    A comma-joined str of URLs in Flask's session, as Flask-Firehose 0.2.3 wrote it, so a
    site switching keeps what its clients were already sent. Its methods are static, as in
    Flask-Firehose: ``Firehose(connector=Connector)`` and ``Firehose(connector=Connector())``
    both work. Without ``SECRET_KEY`` it reads and writes nothing.
    """

    @staticmethod
    def get_pushed() -> set[str]:
        """The URLs already pushed to the current client (an empty set for a new one)."""
        return _SESSION.get_pushed()

    @staticmethod
    def set_pushed(inset: set[str]) -> None:
        """Replace the current client's pushed URLs with ``inset`` (a set of str)."""
        _SESSION.set_pushed(inset)


class Firehose(H2Push):
    """Flask-Firehose's extension: ``Firehose(app)`` or ``Firehose()`` then :meth:`init_app`.

    Args:
        app: The Flask app to initialise now, or None for an app factory.
        connector: Where the URLs pushed to each client are kept: an object (or class) with
            ``get_pushed() -> set[str]`` and ``set_pushed(set[str])``; None for
            :class:`Connector` (the session). Both are called inside the request context.

    Raises:
        TypeError: ``connector`` lacks ``get_pushed`` or ``set_pushed``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        connector: FirehoseConnector | type[FirehoseConnector] | None = None,
    ) -> None:
        #: The connector in use (Flask-Firehose's attribute).
        self.connector = Connector() if connector is None else connector
        super().__init__(manifest=None, tracker=self.connector, proxy=True)  # type: ignore[arg-type]
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register on ``app``: the ``push`` Jinja global and the request hooks.

        Raises:
            RuntimeError: ``app`` already has an h2push extension.
        """
        super().init_app(app)
        app.extensions[_EXTENSION_KEY].firehose = True
