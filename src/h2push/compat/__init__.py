"""Drop-in modules for the Flask extensions h2push replaces: change the import, keep the code.

* :mod:`h2push.compat.flask_firehose`: Flask-Firehose 0.2.3 (``Firehose``, ``Connector``,
  ``push``).
* :mod:`h2push.compat.flask_http2_push`: flask-http2-push 0.0.3 (``http2push``).

Each keeps the old names, signatures and observable behaviour, built on :mod:`h2push.flask`.
What h2push does beyond them (103 Early Hints, a cache-digest cookie, Redis tracking, settings)
is in :mod:`h2push.flask`; docs/migrating.md shows each old call beside the new one.
"""
