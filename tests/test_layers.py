"""The layering promise: the sans-IO core imports no web framework and no server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
CORE = [
    "h2push",
    "h2push._core.links",
    "h2push._core.manifest",
    "h2push._core.plan",
    "h2push._core.digest",
    "h2push._core.vulcain",
]
FORBIDDEN = [
    "flask",
    "werkzeug",
    "starlette",
    "quart",
    "django",
    "hypercorn",
    "a2wsgi",
    "h2",
    "redis",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_framework(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        f"print(','.join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC)},
    )
    assert result.stdout.strip() == ""
