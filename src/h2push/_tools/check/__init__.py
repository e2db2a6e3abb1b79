"""``h2push check``: load a page in Chromium and say which hints it used, and why not.

* :mod:`h2push._tools.check.model`: the facts of one page load and the report, plain values;
* :mod:`h2push._tools.check.diagnose`: facts in, report out, no I/O;
* :mod:`h2push._tools.check.run`: the Chromium load (and ``h2push serve`` for ``--app``);
* :mod:`h2push._tools.check.command`: the click command and its tables.

The package imports nothing itself, so that the trace tool can use
:func:`~h2push._tools.check.diagnose.cache_problems` without importing the browser run.
"""

from h2push._extras import require

require("cli", "h2push check", "click", "rich", "h2", "hyperframe", "websockets")
