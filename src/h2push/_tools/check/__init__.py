"""``h2push check``: load a page in Chromium and say which hints it used, and why not.

* :mod:`h2push._tools.check.model`: the facts of one page load and the report, plain values;
* :mod:`h2push._tools.check.diagnose`: facts in, report out, no I/O;
* :mod:`h2push._tools.check.run`: the Chromium load (and ``h2push serve`` for ``--app``);
* :mod:`h2push._tools.check.command`: the click command and its tables.

Only the pure parts are imported here, so that :mod:`h2push._tools.trace.client` can use
:func:`~h2push._tools.check.diagnose.cache_problems` without importing the browser run.
"""

from h2push._tools.check.diagnose import cache_problems, diagnose
from h2push._tools.check.model import PageFacts, Report, Row

__all__ = ["PageFacts", "Report", "Row", "cache_problems", "diagnose"]
