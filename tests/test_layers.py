"""The layering promise and the public API.

The sans-IO core imports no web framework and no server; the adapters import neither each other
(but for the allowed edges) nor the tools; the public API is the one chosen.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_module

SRC = Path(__file__).resolve().parents[1] / "src"
CORE = [
    "h2push",
    "h2push._core.errors",
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


ROOT = Path(__file__).resolve().parents[1]


def test_the_layer_contracts_hold() -> None:
    # pyproject.toml [tool.importlinter]: the core imports no other layer, the adapters import
    # neither each other (but for the allowed edges listed there) nor the tools.
    require_module("importlinter")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import sys; from importlinter.cli import lint_imports;"
                " sys.exit(lint_imports(no_cache=True, no_logo=True))"
            ),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_public_api_is_what_all_lists() -> None:
    import h2push

    assert sorted(h2push.__all__) == [
        "CookieDigestTracker",
        "H2PushError",
        "LinkValue",
        "LinkValueError",
        "Manifest",
        "ManifestError",
        "Plan",
        "Preload",
        "PreloadError",
        "RedisTracker",
        "RequestFacts",
        "__version__",
        "format_link_header",
        "parse_link_header",
        "plan",
    ]
    # h2push.plan is the function; the module it comes from is private (h2push._core.plan).
    assert callable(h2push.plan)


def test_private_modules_have_no_all() -> None:
    package = SRC / "h2push"
    private = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if any(
            part.startswith("_") and part != "__init__.py"
            for part in path.relative_to(package).parts
        )
        and "__all__" in path.read_text(encoding="utf-8")
    )
    assert private == []


def test_h2push_version_imports_no_tool() -> None:
    probe = (
        "import sys; sys.argv = ['h2push', '--version']; from h2push.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('h2push._tools')"
        " or m in ('hypercorn', 'h2', 'rich', 'cryptography', 'websockets', 'tinycss2'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.stdout.splitlines() == ["h2push, version " + __import__("h2push").__version__, ""]
