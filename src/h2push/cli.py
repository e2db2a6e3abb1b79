"""The ``h2push`` command line: serve, demo, trace, manifest, bench and check."""

from __future__ import annotations

import click

from h2push import __version__
from h2push._tools.bench.api import api_command
from h2push._tools.bench.bench import bench_command
from h2push._tools.check.command import check_command
from h2push._tools.discover.command import manifest_command
from h2push._tools.serve.server import demo_command, serve_command
from h2push._tools.trace.client import trace_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="h2push")
def main() -> None:
    """Deliver a page's critical resources early: HTTP/2 push, 103 Early Hints, Link preload."""


main.add_command(serve_command)
main.add_command(demo_command)
main.add_command(trace_command)
main.add_command(manifest_command)
main.add_command(bench_command)
bench_command.add_command(api_command)
main.add_command(check_command)
