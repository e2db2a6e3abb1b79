"""``h2push bench page``: page-load times of each delivery strategy under an emulated network.

The benchmark serves a small site (:class:`~h2push._tools.bench.site.BenchSite`) through the
real stack: Hypercorn over TLS, :class:`h2push.asgi.H2PushMiddleware` configured per strategy
(:data:`~h2push._tools.bench.results.STRATEGIES`), and a
:class:`h2push._tools.serve.netem.LatencyRelay` in front that adds the round trip (and optionally
a bandwidth cap) a browser on another machine would see. It then loads the page with each client:

* ``nghttp -a`` (nghttp2-client): an HTTP/2 client that accepts server push and fetches the
  stylesheets, scripts and images the HTML links to (one level: it does not read CSS or
  JavaScript, so it never asks for the font, the background image or the imported module);
* headless Chromium over the DevTools protocol (:mod:`h2push._tools.browser`), which acts on
  103 Early Hints and ``Link: rel=preload`` but refuses push (``SETTINGS_ENABLE_PUSH=0``).

Each run is a first visit: a new relay port, so a new TCP and TLS connection, an empty browser
cache and no cookies. The page-complete time of a run is, for Chromium, ``loadEventEnd`` (ms since
navigation start); for nghttp, the last byte of the last stream (ms since its TCP connection
was established).

The physical limit (:func:`~h2push._tools.bench.results.physical_limit_ms`) is what no delivery
strategy can beat: the
handshakes (TCP, then TLS 1.3: two round trips), one request round trip, the server"s think time,
and every byte of the page and its resources through the bandwidth cap.

The modules: :mod:`~h2push._tools.bench.results` (strategies, results, target checks),
:mod:`~h2push._tools.bench.site` (the built-in site), :mod:`~h2push._tools.bench.servers` (the
server under test), :mod:`~h2push._tools.bench.clients` (nghttp, Chromium and the run),
:mod:`~h2push._tools.bench.app` (your own page), :mod:`~h2push._tools.bench.report` (tables,
charts, files), :mod:`~h2push._tools.bench.waterfall` (waterfall SVGs),
:mod:`~h2push._tools.bench.api` (``h2push bench api``) and :mod:`~h2push._tools.bench.command`
(the click group).
"""

from h2push._extras import require

require(
    "bench",
    "h2push bench",
    "click",
    "rich",
    "hypercorn",
    "h2",
    "hyperframe",
    "cryptography",
    "websockets",
    "tinycss2",
)
