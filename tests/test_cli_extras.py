"""The CLI loads subcommands lazily and names the extra to install when one is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from h2push import cli

SRC = Path(__file__).resolve().parents[1] / "src"


def test_a_subcommand_whose_extra_is_missing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(cli._SUBCOMMANDS, "ghost", "h2push_test_no_such_module:command")
    result = CliRunner().invoke(cli.main, ["ghost", "--anything"])
    assert result.exit_code == 1
    assert "No module named 'h2push_test_no_such_module'" in result.output
    listing = CliRunner().invoke(cli.main, ["--help"])
    assert "ghost     (not installed)" in listing.output


def test_a_missing_extra_message_names_the_extra() -> None:
    probe = (
        "from h2push._extras import require\n"
        "try:\n    require('serve', 'h2push serve', 'json', 'h2push_test_no_such_module')\n"
        "except ModuleNotFoundError as error:\n    print(error)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == (
        "h2push serve needs h2push_test_no_such_module, which is not installed:"
        ' pip install "h2push[serve]"'
    )


def test_every_subcommand_loads() -> None:
    for name in sorted(cli._SUBCOMMANDS):
        result = CliRunner().invoke(cli.main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "(not installed)" not in result.output


def test_the_command_without_click_names_the_extra_and_no_traceback() -> None:
    # sys.modules["click"] = None makes `import click` fail as when it is not installed.
    probe = "import sys; sys.modules['click'] = None; from h2push.__main__ import run; run()"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert result.stderr == (
        "h2push: The h2push command needs click, which is not installed:"
        ' pip install "h2push[cli]"\n'
    )
