"""``h2push check``: does Chromium use what this page hints, and what should it hint?"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from h2push._tools._options import (
    cacert_option,
    insecure_option,
    json_option,
    rtt_ms_option,
    timeout_option,
)
from h2push._tools.check.diagnose import diagnose
from h2push._tools.check.model import Report
from h2push._tools.check.run import (
    DEFAULT_RTT_MS,
    UNUSED_PRELOAD_WAIT_S,
    CheckError,
    collect,
    served_app,
)

_OUTCOME_STYLE = {
    "early-hints": "green",
    "preloaded": "green",
    "fetched again": "red",
    "never used": "red",
    "not hinted": "dim",
}


def _size(count: int) -> str:
    return f"{count / 1024:.1f} KiB" if count >= 1024 else f"{count} B"


def format_report(report: Report, console: Console) -> None:
    """Print ``report`` as tables: one row per resource, then the late ones and their entries.

    Args:
        report (Report): What :func:`h2push._tools.check.diagnose.diagnose` concluded.
        console (Console): Where to print (rich; plain text in a pipe).
    """
    console.print(f"h2push check: {report.url} -> {report.status}")
    table = Table(box=box.SIMPLE, show_edge=False)
    for column in ("resource", "delivery", "status", "Chromium", "why not"):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        why = "; ".join(row.reasons)
        if row.wasted_bytes and row.problem:
            why += f" ({_size(row.wasted_bytes)} wasted)"
        style = _OUTCOME_STYLE.get(row.outcome, "")
        table.add_row(
            row.path,
            " ".join(row.delivery) or "-",
            "-" if row.status is None else str(row.status),
            f"[{style}]{row.outcome}[/]" if style else row.outcome,
            why or "",
        )
    console.print(table)
    if report.late:
        console.print("Discovered late and not hinted (the page waited for them):")
        late = Table(box=box.SIMPLE, show_edge=False)
        for column in ("resource", "found in", "requested at"):
            late.add_column(column, overflow="fold")
        for resource in report.late:
            late.add_row(resource.path, resource.found_in, f"{resource.start_ms:.0f} ms")
        console.print(late)
        console.print("Add to push_manifest.json (under the page's key in a multi-page manifest):")
        console.print(json.dumps(report.manifest(), indent=2), markup=False, highlight=False)
    for problem in report.problems:
        console.print(f"problem: {problem}", markup=False, highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    problems = sum(1 for row in report.rows if row.problem)
    if report.ok:
        console.print("OK: every hint and preload was used; nothing was wasted.")
    elif not problems:
        console.print("The page's hints did not reach the browser.")
    else:
        wasted = f"; {_size(report.wasted_bytes)} wasted" if report.wasted_bytes else ""
        console.print(f"{problems} resource(s) hinted, pushed or preloaded for nothing{wasted}.")


@click.command("check")
@click.argument("url", required=False)
@click.option(
    "--app",
    "app_spec",
    metavar="MODULE:APP",
    help="Start this app with `h2push serve` on a free port and check it; URL is then a path"
    " (default /).",
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --app: the push_manifest.json `h2push serve --manifest` gets.",
)
@rtt_ms_option(
    default=DEFAULT_RTT_MS,
    help="Round trip emulated in front of a loopback server (ms); 0 for none.",
)
@cacert_option(help="PEM file of the CA(s) to trust for the server's certificate.")
@insecure_option(help="Trust the server's certificate without verifying it.")
@json_option(help="Print the report as one JSON document.")
@timeout_option(default=30.0, help="Seconds allowed for the page's load event.")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=UNUSED_PRELOAD_WAIT_S,
    show_default=True,
    help="Seconds to wait after the load event: Chromium names unused preloads after 3 s.",
)
def check_command(
    *,
    url: str | None,
    app_spec: str | None,
    manifest: Path | None,
    rtt_ms: float,
    cacert: Path | None,
    insecure: bool,
    as_json: bool,
    timeout_s: float,
    wait_s: float,
) -> None:
    """Load URL in Chromium and say, per resource, whether its hint or push was used, and why not.

    The page is loaded once in a fresh profile of the installed Chromium, over an emulated round
    trip (--rtt-ms) for a server on this machine. Each resource the page fetched or the server
    hinted (103 Early Hints), pushed or linked (Link: rel=preload) gets a row: what Chromium did
    with it (early-hints, fetched again, never used) and why not: no-store, must revalidate
    (no-cache, max-age=0), Vary on a header that changed, a credentials mode mismatch (a font
    preloaded without crossorigin), an error status, a hint the page never used. Resources the
    page found late and nothing hinted are listed with the push_manifest.json entry to add.

    A server with a private CA's certificate is trusted with --cacert FILE (or --insecure), by
    pinning its key in Chromium, which then still honours 103 responses.

    Exits 0 when every hint and preload was used and nothing was wasted, 1 otherwise, 2 when
    the page could not be loaded.
    """
    if app_spec is None and url is None:
        raise click.UsageError("give a URL, or --app MODULE:APP (and optionally a path)")
    if app_spec is None and manifest is not None:
        raise click.UsageError("--manifest goes with --app (a running server has its own)")
    try:
        if app_spec is not None:
            path = url or "/"
            if not path.startswith("/"):
                raise click.UsageError(f"with --app, give a path such as /about, not {path!r}")
            with served_app(app_spec, manifest=manifest) as served:
                facts = collect(
                    served.url + path,
                    rtt_ms=rtt_ms,
                    spki=[served.spki],
                    timeout_s=timeout_s,
                    wait_s=wait_s,
                )
        else:
            assert url is not None
            facts = collect(
                url,
                rtt_ms=rtt_ms,
                cacert=cacert,
                insecure=insecure,
                timeout_s=timeout_s,
                wait_s=wait_s,
            )
    except CheckError as error:
        click.echo(f"h2push check: {error}", err=True)
        raise SystemExit(2) from None
    report = diagnose(facts)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=160)
        format_report(report, console)
    if report.status >= 400:
        click.echo(f"h2push check: the page answered {report.status}", err=True)
        raise SystemExit(2)
    raise SystemExit(0 if report.ok else 1)
