"""The ``h2push`` command line: serve, demo, trace, manifest, bench and check.

Each subcommand's module is imported only when that subcommand runs (or ``--help`` lists
them), so ``h2push --version`` imports click and nothing else.
"""

from __future__ import annotations

import importlib

from h2push import __version__
from h2push._extras import missing

try:
    import click
except ModuleNotFoundError as error:  # pragma: no cover - depends on the installation
    raise missing(error, "cli", "The h2push command") from error

#: Subcommand name -> ``module:attribute`` of its click command.
_SUBCOMMANDS = {
    "bench": "h2push._tools.bench.command:bench_command",
    "check": "h2push._tools.check.command:check_command",
    "demo": "h2push._tools.serve.server:demo_command",
    "manifest": "h2push._tools.discover.command:manifest_command",
    "serve": "h2push._tools.serve.server:serve_command",
    "trace": "h2push._tools.trace.command:trace_command",
}


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click's LazyGroup pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _SUBCOMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = _SUBCOMMANDS[cmd_name].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or error.name.split(".")[0] == "h2push":
                raise
            return _unavailable(cmd_name, str(error))
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command


def _unavailable(name: str, message: str) -> click.Command:
    """A stand-in for a subcommand whose extra is not installed: it says which one to install."""

    def fail(**_: object) -> None:
        raise click.ClickException(message)

    return click.Command(
        name,
        callback=fail,
        help=message,
        short_help="(not installed) " + message.rpartition(": ")[2],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="h2push")
def main() -> None:
    """Deliver a page's critical resources early: HTTP/2 push, 103 Early Hints, Link preload."""
