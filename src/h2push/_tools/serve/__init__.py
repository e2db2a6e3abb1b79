"""``h2push serve`` and ``h2push demo``: the app on Hypercorn over TLS, with the middleware.

* :mod:`~h2push._tools.serve.server`: loading the app, the Hypercorn config, the commands;
* :mod:`~h2push._tools.serve.devcert`: the local CA and the certificate it signs;
* :mod:`~h2push._tools.serve.netem`: a relay that emulates a round trip and a bandwidth cap;
* :mod:`~h2push._tools.serve._hypercorn_fixes`: workarounds applied only in the server
  h2push itself starts.
"""

from h2push._extras import require

require("serve", "h2push serve", "click", "hypercorn", "h2", "cryptography")
