"""The fuzz profile: one size for every Hypothesis fuzz target, and a marker to select them.

A fuzz target feeds a codec or an adapter input a client or a developer could send, and checks
the invariants of docs/security.md: nothing escapes but the documented declaration-time errors
(``ValueError``, ``TypeError`` for a wrong Python type, ``ManifestError``), no CR, LF or NUL in
any header h2push emits, and no push for another origin or for a path the plan did not choose.

Each target runs ``H2PUSH_FUZZ_EXAMPLES`` examples: 300 unless set, the bounded profile of
``make test``. ``make fuzz`` (``benchmarks/fuzz.py``) runs every target at 10,000 and prints,
per target, how many examples ran and how long they took. ``pytest -m fuzz`` selects the
targets alone.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("H2PUSH_FUZZ_EXAMPLES", "300"))
FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")
#: What ends a line somewhere: bare CR, bare LF, NUL, U+2028 LINE SEPARATOR, U+0085 NEXT LINE.
LINE_BREAKERS = ("\r", "\n", "\0", "\u2028", "\u0085")


def with_line_breaker(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Paths with one :data:`LINE_BREAKERS` character somewhere: ``/<text><char><text>``."""
    return st.tuples(text, st.sampled_from(LINE_BREAKERS), text).map(lambda t: "/" + "".join(t))


_Test = TypeVar("_Test", bound=Callable[..., Any])
_H2PUSH = Path(__file__).resolve().parents[1] / "src" / "h2push"


def raised_by_h2push(error: BaseException) -> bool:
    """Whether h2push itself raised ``error`` (its innermost frame is in h2push's sources).

    A fuzz target that accepts a declaration-time error must check it is h2push's own
    rejection: a framework refusing the header h2push would have written (Werkzeug's
    "header values must not contain newline characters") proves h2push let it through.
    """
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(_H2PUSH)


def fuzz(test: _Test) -> _Test:
    """Mark a ``@given`` test as a fuzz target and run it at the profile's size.

    Put it above ``@given``. Deadlines are off (an example's time varies with the machine's
    load, and a slow example is not a failure), and so are the health checks that would stop a
    large run over slow or often-filtered data.
    """
    sized = settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )(test)
    return pytest.mark.fuzz(sized)  # type: ignore[no-any-return]
