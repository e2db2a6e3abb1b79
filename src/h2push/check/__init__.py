"""``h2push check``: load a page in Chromium and say which hints it used, and why not.

* :mod:`h2push.check.model`: the facts of one page load and the report, plain values;
* :mod:`h2push.check.diagnose`: facts in, report out, no I/O;
* :mod:`h2push.check.run`: the Chromium load (and ``h2push serve`` for ``--app``);
* :mod:`h2push.check.command`: the click command and its tables.
"""

from h2push.check.diagnose import diagnose
from h2push.check.model import PageFacts, Report, Row
from h2push.check.run import CheckError, collect

__all__ = ["CheckError", "PageFacts", "Report", "Row", "collect", "diagnose"]
