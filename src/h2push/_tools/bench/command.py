"""``h2push bench``: the click group and its ``page``, ``url`` and ``api`` commands."""

from __future__ import annotations

import shutil
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from h2push._tools._common import find_chromium
from h2push._tools._options import cacert_option, insecure_option, rtt_ms_option
from h2push._tools.bench.api import api_command
from h2push._tools.bench.app import PAGE_RTT_MS, PAGE_RUNS, prepare_page, run_app_bench
from h2push._tools.bench.clients import run_page_bench
from h2push._tools.bench.report import (
    format_comparison,
    format_table,
    format_targets,
    write_results,
    write_waterfalls,
)
from h2push._tools.bench.results import (
    CLIENTS,
    PROTOCOLS,
    STRATEGIES,
    BenchError,
    Client,
    PageBenchOptions,
    PageBenchResult,
    Protocol,
    Strategy,
)
from h2push._tools.browser import BrowserError

# --------------------------------------------------------------------------- command

_DIR = click.Path(file_okay=False, dir_okay=True, writable=True, path_type=Path)


class _BenchGroup(click.Group):
    """``bench page`` and ``bench --waterfall DIR`` as before; anything else is your own page.

    ``h2push bench URL`` and ``h2push bench --app MODULE:APP ...`` go to the hidden ``url``
    command, as if it had been named.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        own = {"--waterfall", "--help", "-h"}
        if args and args[0] not in self.commands and args[0] not in own:
            args = ["url", *args]
        return super().parse_args(ctx, args)


_Decorated = TypeVar("_Decorated", bound=Callable[..., Any])


def _rtt_option(default: float) -> Callable[[_Decorated], _Decorated]:
    return rtt_ms_option(
        default=default,
        help="Round trip emulated between the clients and the server, in ms.",
        allow_zero=False,
    )


def _runs_option(default: int) -> Callable[[_Decorated], _Decorated]:
    return click.option(
        "--runs",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help="First visits measured per client, protocol and strategy.",
    )


_bandwidth_option = click.option(
    "--bandwidth-mbit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Cap each direction of the emulated link at this rate, in Mbit/s (default: none).",
)


_SELECTIONS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("--strategy", "strategies", STRATEGIES, "all"),
    ("--client", "clients", CLIENTS, "every installed one"),
    ("--protocol", "protocols", PROTOCOLS, "both"),
)
"""Each selection option: its flag, parameter name, choices and what it defaults to."""


def _selection_options(command: _Decorated) -> _Decorated:
    """``--strategy``, ``--client`` and ``--protocol``, as both benchmarks take them."""
    for flag, name, choices, default in reversed(_SELECTIONS):
        command = click.option(
            flag,
            name,
            type=click.Choice(choices),
            multiple=True,
            help=f"Only this {flag.removeprefix('--')} (repeatable; default: {default}).",
        )(command)
    return command


def _output_options(command: _Decorated) -> _Decorated:
    """``--out`` and ``--waterfall``, as both benchmarks take them."""
    command = click.option(
        "--waterfall", "waterfall_dir", type=_DIR, help="Write a waterfall SVG per case here."
    )(command)
    return click.option(
        "--out", "out_dir", type=_DIR, help="Write page.json, page.svg and page.md here."
    )(command)


@click.group("bench", cls=_BenchGroup, invoke_without_command=True)
@click.option(
    "--waterfall",
    "waterfall_dir",
    type=_DIR,
    help="Run the page benchmark with its defaults and write a waterfall SVG per case here.",
)
@click.pass_context
def bench_command(ctx: click.Context, waterfall_dir: Path | None) -> None:
    """Page-load time of each delivery strategy under an emulated network.

    \b
    h2push bench URL                  your own page, served by a proxy that applies each strategy
    h2push bench --app MODULE:APP     your own app, in process (module:create_app() too)
    h2push bench page                 the bench site (see its --help)
    h2push bench --waterfall DIR      the bench site with its defaults, a waterfall per case

    For your own page see `h2push bench URL --help`.
    """  # noqa: D301 - click's \b keeps the lines as they are
    ctx.ensure_object(dict)["waterfall_dir"] = waterfall_dir
    if ctx.invoked_subcommand is None:
        if waterfall_dir is None:
            click.echo(ctx.get_help())
            return
        ctx.invoke(page_command, waterfall_dir=waterfall_dir)


@bench_command.command("page")
@_rtt_option(100.0)
@click.option(
    "--think-ms",
    type=click.FloatRange(min=0),
    default=200.0,
    show_default=True,
    help="How long the page's view thinks before it answers, in ms.",
)
@_bandwidth_option
@_runs_option(10)
@_selection_options
@_output_options
@click.pass_context
def page_command(
    ctx: click.Context,
    *,
    rtt_ms: float,
    think_ms: float,
    bandwidth_mbit: float | None,
    runs: int,
    strategies: tuple[Strategy, ...],
    clients: tuple[Client, ...],
    protocols: tuple[Protocol, ...],
    out_dir: Path | None,
    waterfall_dir: Path | None,
) -> None:
    """Load a benchmark page with every delivery strategy, client and protocol; print a table.

    The page (HTML that thinks --think-ms; a stylesheet pulling a web font and a background
    image; a script; a module importing another) is served by Hypercorn with H2PushMiddleware
    set up per strategy (nothing, link, hints, push, push+103), behind a relay that emulates
    --rtt-ms (and --bandwidth-mbit) on loopback. nghttp -a and headless Chromium load it, each
    run a first visit. Progress goes to stderr; the table and the target checks to stdout.
    """
    options = PageBenchOptions(
        rtt_ms=rtt_ms,
        think_ms=think_ms,
        bandwidth_mbit=bandwidth_mbit,
        runs=runs,
        strategies=strategies or STRATEGIES,
        clients=_installed_clients(clients),
        protocols=protocols or PROTOCOLS,
    )
    _run(
        ctx,
        options,
        name="h2push bench page",
        bench=run_page_bench,
        summary=format_targets,
        out_dir=out_dir,
        waterfall_dir=waterfall_dir,
    )


@bench_command.command("url", hidden=True)
@click.argument("url", required=False)
@click.option(
    "--app",
    "app_spec",
    metavar="MODULE:APP",
    help="Load this WSGI or ASGI app in process instead of a URL (module:create_app() too).",
)
@click.option(
    "--path",
    default="/",
    show_default=True,
    help="The page's path under --app (with its query string).",
)
@click.option(
    "--manifest",
    "-m",
    type=click.Path(dir_okay=False, exists=True),
    help="Deliver this push_manifest.json (default: the app's own, else what the page uses).",
)
@_rtt_option(PAGE_RTT_MS)
@_bandwidth_option
@_runs_option(PAGE_RUNS)
@_selection_options
@cacert_option(help="Trust this CA (PEM).")
@insecure_option(help="Do not verify the URL's certificate.")
@_output_options
@click.pass_context
def url_command(
    ctx: click.Context,
    *,
    url: str | None,
    app_spec: str | None,
    path: str,
    manifest: str | None,
    rtt_ms: float,
    bandwidth_mbit: float | None,
    runs: int,
    strategies: tuple[Strategy, ...],
    clients: tuple[Client, ...],
    protocols: tuple[Protocol, ...],
    cacert: Path | None,
    insecure: bool,
    out_dir: Path | None,
    waterfall_dir: Path | None,
) -> None:
    """Benchmark your own page: h2push bench URL, or h2push bench --app MODULE:APP [--path P].

    The page is served by Hypercorn over TLS with h2push as `h2push serve` sets it up, once per
    strategy: nothing (no 103, no push, no preload Link), link (the Link header only), hints
    (103 Early Hints), push (HTTP/2 push), push+103. What is hinted: --manifest, else what the
    app declares itself (H2Push, H2PUSH_MANIFEST), else the stylesheets, fonts, scripts and
    images found in the page. A URL is fetched from its server through a proxy (over
    HTTP/1.1), whose own preloads are taken out; give a server on this machine, as the
    emulated --rtt-ms lies between the clients and the proxy.

    nghttp -a and headless Chromium load the page behind an emulated --rtt-ms, each run a first
    visit (new connection, empty cache, no cookies). Printed: the table of `h2push bench page`,
    then each strategy's median over nothing's. Progress goes to stderr.
    """
    if (url is None) == (app_spec is None):
        raise click.UsageError("give the page's URL or --app MODULE:APP (not both)")
    if url is not None and path != "/":
        raise click.UsageError("--path is for --app; put the path in the URL")
    if app_spec is not None and (cacert is not None or insecure):
        raise click.UsageError("--cacert and --insecure are for a URL")
    options = PageBenchOptions(
        rtt_ms=rtt_ms,
        think_ms=0.0,
        bandwidth_mbit=bandwidth_mbit,
        runs=runs,
        strategies=strategies or STRATEGIES,
        clients=_installed_clients(clients),
        protocols=protocols or PROTOCOLS,
    )

    def bench(options: PageBenchOptions, *, progress: Callable[[str], None]) -> PageBenchResult:
        page = prepare_page(
            url=url,
            app=app_spec,
            path=path,
            manifest=manifest,
            cacert=cacert,
            insecure=insecure,
        )
        return run_app_bench(page, options, progress=progress)

    _run(
        ctx,
        options,
        name="h2push bench",
        bench=bench,
        summary=format_comparison,
        out_dir=out_dir,
        waterfall_dir=waterfall_dir,
    )


def _installed_clients(clients: tuple[Client, ...]) -> tuple[Client, ...]:
    """The clients asked for, else every installed one (saying which are missing).

    Raises:
        click.ClickException: Neither client is installed.
    """
    if clients:
        return clients
    installed = {"nghttp": shutil.which("nghttp") is not None, "chromium": find_chromium()}
    for client in CLIENTS:
        if not installed[client]:
            click.echo(f"h2push bench: {client} is not installed; skipping it", err=True)
    chosen = tuple(client for client in CLIENTS if installed[client])
    if not chosen:
        raise click.ClickException("neither nghttp nor Chromium is installed")
    return chosen


class _Bench(typing.Protocol):
    """A benchmark: the options in, the result out, a line of progress at a time to ``progress``."""

    def __call__(
        self, options: PageBenchOptions, *, progress: Callable[[str], None]
    ) -> PageBenchResult: ...


def _run(
    ctx: click.Context,
    options: PageBenchOptions,
    *,
    name: str,
    bench: _Bench,
    summary: Callable[[PageBenchResult], str],
    out_dir: Path | None,
    waterfall_dir: Path | None,
) -> None:
    """Run ``bench`` with progress on stderr; print the table, ``summary`` and the time taken.

    ``waterfall_dir`` falls back to the group's ``--waterfall``. What was written is named on
    stderr.

    Raises:
        click.ClickException: The benchmark failed (a :class:`BenchError` or
            :class:`BrowserError`).
    """
    parent = ctx.find_object(dict) or {}
    waterfall_dir = waterfall_dir or parent.get("waterfall_dir")
    started = time.perf_counter()
    try:
        result = bench(options, progress=lambda line: click.echo(line, err=True))
    except (BenchError, BrowserError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_table(result))
    click.echo("")
    click.echo(summary(result))
    written: list[Path] = []
    if out_dir is not None:
        written += write_results(result, out_dir)
    if waterfall_dir is not None:
        written += write_waterfalls(result, waterfall_dir)
    for path in written:
        click.echo(f"wrote {path}", err=True)
    click.echo(f"{name}: {time.perf_counter() - started:.0f} s", err=True)
    sys.stdout.flush()


bench_command.add_command(api_command)
