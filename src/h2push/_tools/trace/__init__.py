"""An HTTP/2 client that records a frame-level trace of one page load (``h2push trace``).

:func:`~h2push._tools.trace.session.trace` opens one TLS connection (ALPN ``h2``, RFC 9113
§3.2), sends one request, and
records every HTTP/2 frame sent and received, in order, with its time in milliseconds since the
TCP connect started. It waits until the main response and every pushed response (RFC 9113 §8.4)
have ended or been reset, then sends GOAWAY and closes. The result is a :class:`Trace`: the
ordered frames, the main :class:`Response`, each ``103 Early Hints`` response (RFC 8297) and each
:class:`Pushed` resource.

The command ``h2push trace`` prints the trace in the manner of ``nghttp -nv`` followed by a
summary, or everything as one JSON document with ``--json``; ``--waterfall FILE.svg`` also draws
it (:mod:`h2push._tools.bench.waterfall`). ``--cookie-jar FILE`` sends the cookies a
:class:`~h2push._tools.trace.cookies.CookieJarFile`
holds for the URL and keeps the ``Set-Cookie`` values of the main response, so that a second
trace is a repeat visit.

The modules: :mod:`~h2push._tools.trace.models` (the values), :mod:`~h2push._tools.trace.session`
(the connection and :func:`~h2push._tools.trace.session.trace`),
:mod:`~h2push._tools.trace.formatting` (text output), :mod:`~h2push._tools.trace.cookies` (the
cookie jar) and :mod:`~h2push._tools.trace.command` (the click command). The package itself
imports none of them.
"""

from h2push._extras import require

require("cli", "h2push trace", "click", "h2", "hyperframe")
