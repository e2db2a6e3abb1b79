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
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("H2PUSH_FUZZ_EXAMPLES", "300"))
FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")

_Test = TypeVar("_Test", bound=Callable[..., Any])


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
