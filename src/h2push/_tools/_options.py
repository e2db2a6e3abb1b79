"""Click options that several commands take: one declaration each, with the command's own help.

Kept apart from :mod:`h2push._tools._common`, which the tools' click-free modules import.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

_Command = TypeVar("_Command", bound=Callable[..., Any])

_PEM_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def rtt_ms_option(
    *, default: float, help: str, allow_zero: bool = True
) -> Callable[[_Command], _Command]:
    """``--rtt-ms``: a network round trip to emulate on loopback, in milliseconds (float).

    Args:
        default: The round trip when the option is not given (ms).
        help: The command's help text for it.
        allow_zero: Whether 0 (no emulation) is allowed.
    """
    return click.option(
        "--rtt-ms",
        type=click.FloatRange(min=0, min_open=not allow_zero),
        default=default,
        show_default=True,
        help=help,
    )


def timeout_option(*, default: float, help: str) -> Callable[[_Command], _Command]:
    """``--timeout`` (parameter ``timeout_s``): seconds allowed, more than 0 (float)."""
    return click.option(
        "--timeout",
        "timeout_s",
        type=click.FloatRange(min=0, min_open=True),
        default=default,
        show_default=True,
        help=help,
    )


def cacert_option(*, help: str) -> Callable[[_Command], _Command]:
    """``--cacert``: an existing PEM file of the CA(s) to trust (:class:`~pathlib.Path`)."""
    return click.option("--cacert", type=_PEM_FILE, help=help)


def insecure_option(*, help: str) -> Callable[[_Command], _Command]:
    """``-k``/``--insecure``: do not verify the server's certificate (a flag, like curl's)."""
    return click.option("-k", "--insecure", is_flag=True, help=help)


def json_option(*, help: str) -> Callable[[_Command], _Command]:
    """``--json`` (parameter ``as_json``): print the result as JSON."""
    return click.option("--json", "as_json", is_flag=True, help=help)
