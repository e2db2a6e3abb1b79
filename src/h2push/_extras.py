"""Which optional dependency ("extra") a part of h2push needs, and the message when it is missing.

``pip install h2push`` installs the core and the framework adapters only; the command line, the
server, the pytest helpers and the benchmarks come with extras (see ``pyproject.toml``).
"""

from __future__ import annotations

import importlib.util


def require(extra: str, what: str, *modules: str) -> None:
    """Check that ``modules`` can be imported, without importing them.

    Args:
        extra: The extra that installs them, such as ``"cli"``.
        what: What needs them, for the message (``"h2push serve"``).
        modules: Top-level module names (``"hypercorn"``).

    Raises:
        ModuleNotFoundError: One of them is not installed; the message names the extra to
            install, e.g. ``pip install "h2push[cli]"``.
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{what} needs {', '.join(missing)}, which"
            f" {'is' if len(missing) == 1 else 'are'} not installed:"
            f' pip install "h2push[{extra}]"',
            name=missing[0],
        )


def missing(error: ModuleNotFoundError, extra: str, what: str) -> ModuleNotFoundError:
    """Return the error to raise when an import of an optional dependency failed.

    Args:
        error: The failed import's error (its ``name`` is the missing module).
        extra: The extra that installs it, such as ``"testing"``.
        what: What needs it, for the message (``"h2push.testing"``).

    Returns:
        ModuleNotFoundError: Its message names the module and ``pip install "h2push[extra]"``.
    """
    return ModuleNotFoundError(
        f'{what} needs {error.name}, which is not installed: pip install "h2push[{extra}]"',
        name=error.name,
    )
