"""``h2push trace``: the click command."""

from __future__ import annotations

import json
from pathlib import Path

import click

from h2push._tools._options import cacert_option, insecure_option, json_option, timeout_option
from h2push._tools.bench.waterfall import from_trace, render_svg
from h2push._tools.trace.cookies import CookieJarError, CookieJarFile
from h2push._tools.trace.formatting import format_text
from h2push._tools.trace.models import TraceError
from h2push._tools.trace.session import cache_checks, fetch_hinted, parse_header_line, trace

# --------------------------------------------------------------------------- command


def _header_option(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(parse_header_line(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


@click.command("trace")
@click.argument("url")
@insecure_option(help="Do not verify the server certificate.")
@cacert_option(help="PEM file of the CA(s) to trust instead of the system store.")
@click.option("--no-push", is_flag=True, help="Send SETTINGS_ENABLE_PUSH=0: refuse server push.")
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    callback=_header_option,
    help="Add a request header (repeatable); replaces a default of the same name.",
)
@json_option(help="Print the whole trace as one JSON document.")
@click.option(
    "--waterfall",
    "waterfall_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE.svg",
    help="Also draw the trace as a waterfall: one row per stream, coloured by delivery (SVG).",
)
@click.option(
    "--cookie-jar",
    "cookie_jar",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Send the cookies kept in FILE for this URL and keep the main response's Set-Cookie"
    " values there (a curl/Netscape cookie file, or JSON when it ends in .json).",
)
@timeout_option(default=10.0, help="Seconds allowed for the whole exchange.")
@click.option(
    "--no-fetch-hints",
    is_flag=True,
    help="Do not GET the hinted resources that were not pushed to check their caching.",
)
def trace_command(
    *,
    url: str,
    insecure: bool,
    cacert: Path | None,
    no_push: bool,
    headers: tuple[tuple[str, str], ...],
    as_json: bool,
    waterfall_file: Path | None,
    cookie_jar: Path | None,
    timeout_s: float,
    no_fetch_hints: bool,
) -> None:
    """Load URL over HTTP/2 and print every frame, then the response, 103s and pushes.

    Times are milliseconds since the TCP connect started. Exits 0 when the main response is 2xx,
    1 otherwise (non-2xx, reset, or a connection, TLS, ALPN, protocol or timeout failure, which
    is reported in one line on stderr). With --cookie-jar, a second trace of the same site is a
    repeat visit: it sends what the first one was told to keep (h2push's cache-digest cookie).

    The summary ends with the hinted and pushed responses a browser cannot reuse from its cache
    (no-store; no-cache or max-age=0: must revalidate; Vary): a browser fetches those a second
    time. Hinted resources that were not pushed are fetched once each after the trace, unless
    --no-fetch-hints.
    """
    jar: CookieJarFile | None = None
    if cookie_jar is not None:
        try:
            jar = CookieJarFile(cookie_jar)
        except (OSError, CookieJarError) as exc:
            raise click.UsageError(str(exc)) from exc
        cookie = jar.header_for(url) if url.lower().startswith("https://") else None
        if cookie is not None:
            headers = (*headers, ("cookie", cookie))
    try:
        result = trace(
            url,
            insecure=insecure,
            cacert=cacert,
            enable_push=not no_push,
            headers=headers,
            timeout_s=timeout_s,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except TraceError as exc:
        hint = " (trust its CA with --cacert FILE, or use --insecure)"
        click.echo(f"h2push trace: {exc}{hint if exc.kind == 'certificate' else ''}", err=True)
        raise SystemExit(1) from None
    hinted = (
        {}
        if no_fetch_hints
        else fetch_hinted(result, insecure=insecure, cacert=cacert, timeout_s=timeout_s)
    )
    cache = cache_checks(result, hinted)
    if as_json:
        document = result.to_dict()
        document["cache"] = [check.to_dict() for check in cache]
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(format_text(result, cache))
    try:
        if jar is not None:
            jar.store(url, result.main.headers)
            jar.save()
        if waterfall_file is not None:
            waterfall_file.write_text(render_svg(from_trace(result)), encoding="utf-8")
    except OSError as exc:
        click.echo(f"h2push trace: cannot write {exc.filename}: {exc.strerror}", err=True)
        raise SystemExit(1) from None
    if not result.ok:
        main = result.main
        why = f"reset {main.reset}" if main.reset else f"status {main.status}"
        click.echo(f"h2push trace: main response {why}", err=True)
        raise SystemExit(1)
