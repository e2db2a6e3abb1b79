"""``h2push manifest``: write a push manifest from HTML files or from the application itself.

``h2push manifest SOURCE...`` reads HTML files (a file, or every ``*.html`` under a directory,
served at ``/`` from that directory) and the stylesheets they use, and prints an
http2-push-manifest compatible ``push_manifest.json`` (see :mod:`h2push._tools.discover`
for what is
found and in which order). ``--app module:attr PATH...`` renders the pages through a WSGI or
ASGI application in this process instead, so server-side templates are resolved; its stylesheets
are fetched through the application too. ``--check FILE`` validates an existing manifest.

The manifest is keyed by page (the multi-page form), so that each page is hinted only its own
resources, even for one page; ``--format single`` writes one site-wide list applied to every
navigation instead. Warnings (broken HTML, 404 pages, ``@import`` cycles, a Link header over
3 KB) go to standard error, one line each. A stylesheet a page uses that cannot be read (a 404,
not served as ``text/css``), or with ``--app`` a font of such a stylesheet or a synchronous
script the application does not serve, is an error: nothing is written and the exit status is
1, as it is when no page could be read (or, with ``--check``, when the manifest has problems).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from h2push._core.links import Preload
from h2push._core.manifest import Manifest, ManifestError
from h2push._tools.discover.collect import (
    build_manifest,
    cap_preloads,
    link_value,
    manifest_entries,
    manifest_json,
    merge_pages,
    page_key,
)
from h2push._tools.discover.models import (
    DEFAULT_ORIGIN,
    LINK_HEADER_LIMIT_BYTES,
    DiscoverOptions,
    FetchError,
    PageResult,
    Weight,
)
from h2push._tools.discover.sites import AppSite, FileSite, Site, Stylesheets, read_page
from h2push._tools.discover.urls import normalize_origin

PROGRESS_MIN_PAGES: Final = 6
"""A progress bar is shown from this many pages on."""

_MISSING_MANIFEST_OK_ENV: Final = "H2PUSH_MANIFEST_MISSING_OK"
"""h2push.django.MISSING_MANIFEST_OK_ENV (that module needs Django: not imported here)."""

_SUMMARY_ROWS: Final = 10
_URL_SAFE: Final = "/!$&'()*+=:@~"


@dataclass(frozen=True)
class _Page:
    """One page to read: its manifest key, its URL path, and where it is read from."""

    key: str
    path: str
    site: Site
    stylesheets: Stylesheets


class _Reporter:
    """Warnings and summaries on standard error; each distinct warning once."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, soft_wrap=True, highlight=False)
        self._seen: set[str] = set()

    @property
    def count(self) -> int:
        return len(self._seen)

    def warn(self, message: str) -> None:
        if message not in self._seen:
            self._seen.add(message)
            self.console.print(f"warning: {message}", markup=False)

    def note(self, message: str) -> None:
        self.console.print(message, markup=False)


# --------------------------------------------------------------------------- pages


def _file_pages(
    sources: Sequence[str], root: str | None, origin: str, reporter: _Reporter
) -> list[_Page]:
    """Pages of HTML files and directories; each directory is its own site root."""
    sites: dict[Path, tuple[FileSite, Stylesheets]] = {}
    pages: dict[str, _Page] = {}
    for source in sources:
        given = Path(source)
        if given.is_dir():
            files = sorted(p for p in given.rglob("*.html") if p.is_file())
            site_root = Path(root) if root else given
            if not files:
                reporter.warn(f"{source}: no .html file in this directory")
        elif given.is_file():
            files = [given]
            site_root = Path(root) if root else given.parent
        else:
            reporter.warn(f"{source}: no such file or directory")
            continue
        site_root = site_root.resolve()
        if site_root not in sites:
            site = FileSite(site_root, origin=origin)
            sites[site_root] = (site, Stylesheets(site))
        site, stylesheets = sites[site_root]
        for file in files:
            try:
                key = file.resolve().relative_to(site_root).as_posix()
            except ValueError:
                reporter.warn(f"{file}: not inside the site root {site_root} (see --root)")
                continue
            known = pages.get(key)
            if known is not None and known.site is not site:
                reporter.warn(f"{file}: another source already has a page {key}; left out")
            elif known is None:
                pages[key] = _Page(key, "/" + quote(key, safe=_URL_SAFE), site, stylesheets)
    return [pages[key] for key in sorted(pages)]


def _app_pages(paths: Sequence[str], site: AppSite, reporter: _Reporter) -> list[_Page]:
    """Pages rendered by the application, keyed as http2-push-manifest keys pages."""
    stylesheets = Stylesheets(site)
    pages: dict[str, _Page] = {}
    for path in paths:
        if not path.startswith("/"):
            raise click.BadParameter(f"{path!r} must be a path such as /about", param_hint="PATH")
        key = page_key(path)
        if key in pages:
            reporter.warn(f"{path}: the manifest key {key} is already taken by {pages[key].path}")
            continue
        pages[key] = _Page(key, quote(path, safe=_URL_SAFE + "?%"), site, stylesheets)
    return list(pages.values())


def _load_app_site(spec: str, origin: str, stack: contextlib.ExitStack) -> AppSite:
    """Import ``module:attr`` and wrap it for in-process requests.

    Raises:
        click.ClickException: The application cannot be imported or is not WSGI or ASGI.
    """
    from h2push._tools.serve.server import AppLoadError, detect_interface, import_app  # noqa: PLC0415

    # A Django project whose H2PUSH_MANIFEST does not exist yet imports without it: this
    # command is how that file gets written (h2push.django.MISSING_MANIFEST_OK_ENV).
    previous = os.environ.get(_MISSING_MANIFEST_OK_ENV)
    os.environ[_MISSING_MANIFEST_OK_ENV] = "1"
    stack.callback(_restore_env, _MISSING_MANIFEST_OK_ENV, previous)
    try:
        target = import_app(spec)
        interface = detect_interface(target)
    except AppLoadError as error:
        raise click.ClickException(str(error)) from None
    return stack.enter_context(AppSite(target, interface, origin=origin))


def _unavailable(
    pages: Sequence[_Page], results: dict[str, PageResult], reporter: _Reporter
) -> dict[str, str]:
    """Resources an application does not serve, found in its pages (``--app`` only).

    A font of a render-blocking stylesheet or a synchronous script that does not answer 2xx
    is returned (by page key, ``{"font /static/a.woff2: GET returned 404": key}``): the page
    needs it to render. Any other resource that does not is a warning. Each is checked once.
    """
    sites = {page.key: page.site for page in pages}
    checked: dict[str, str | None] = {}
    unavailable: dict[str, str] = {}
    for key, result in results.items():
        site = sites[key]
        if not isinstance(site, AppSite):
            continue
        for preload in result.preloads:
            if preload.rel == "preconnect" or preload.as_ == "style":  # stylesheets: read already
                continue
            if preload.url not in checked:
                checked[preload.url] = site.check(preload.url)
            problem = checked[preload.url]
            if problem is None:
                continue
            line = f"{preload.as_ or 'resource'} {preload.url}: {problem}"
            if preload.weight >= Weight.BLOCKING_SCRIPT:
                unavailable.setdefault(line, key)
            else:
                reporter.warn(f"{key}: {line}; hinted all the same")
    return unavailable


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _discover(
    pages: Sequence[_Page], options: DiscoverOptions, reporter: _Reporter
) -> tuple[dict[str, PageResult], list[str]]:
    """Read every page; return the results by key and the keys that could not be read."""
    results: dict[str, PageResult] = {}
    failed: list[str] = []
    progress = Progress(
        TextColumn("reading pages"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=reporter.console,
        transient=True,
        disable=len(pages) < PROGRESS_MIN_PAGES,
    )
    with progress:
        task = progress.add_task("pages", total=len(pages))
        for page in pages:
            try:
                result = read_page(page.site, page.path, page.stylesheets, options)
            except FetchError as error:
                reporter.warn(f"page {error}")
                failed.append(page.key)
            else:
                for message in result.warnings:
                    reporter.warn(message)
                results[page.key] = result
            progress.advance(task)
    return results, failed


# --------------------------------------------------------------------------- output


def _kind(preload: Preload) -> str:
    if preload.rel == "preconnect":
        return "preconnect"
    if preload.as_ in ("style", "script", "font", "image", "fetch"):
        return str(preload.as_)
    return "other"


_KINDS: Final = ("preconnect", "style", "script", "font", "image", "fetch", "other")


def _summary(
    rows: Sequence[tuple[str, Sequence[Preload]]],
    total: Sequence[Preload],
    caption: str,
    reporter: _Reporter,
    *,
    multi: bool,
) -> None:
    """A table of entries by kind per page (the first few) and for the manifest."""
    counts = [(key, Counter(_kind(p) for p in preloads), preloads) for key, preloads in rows]
    total_counts = Counter(_kind(p) for p in total)
    kinds = [kind for kind in _KINDS if total_counts[kind] or any(c[kind] for _, c, _ in counts)]
    table = Table(title="h2push manifest", caption=caption, box=box.SIMPLE_HEAD, pad_edge=False)
    longest = max((len(key) for key, _ in rows[:_SUMMARY_ROWS]), default=4)
    table.add_column("page", overflow="fold", min_width=min(longest, 32))
    for kind in (*kinds, "Link bytes"):
        table.add_column(kind, justify="right", no_wrap=True)

    def cells(counter: Counter[str], preloads: Sequence[Preload] | None) -> list[str]:
        size = "" if preloads is None else str(len(link_value(preloads).encode("ascii")))
        return [str(counter[kind] or "") for kind in kinds] + [size]

    for key, counter, preloads in counts[:_SUMMARY_ROWS]:
        table.add_row(key, *cells(counter, preloads))
    if len(rows) > _SUMMARY_ROWS:
        table.add_row(f"... {len(rows) - _SUMMARY_ROWS} more", *[""] * (len(kinds) + 1))
    if multi:  # each page has its own Link header: the row counts distinct entries
        table.add_row("all pages", *cells(total_counts, None), style="bold")
    elif len(rows) != 1:
        table.add_row("manifest", *cells(total_counts, total), style="bold")
    reporter.console.print(table)


def _write(text: str, output: str | None) -> None:
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from None


def _generate(
    pages: Sequence[_Page],
    *,
    options: DiscoverOptions,
    multi: bool,
    link: bool,
    max_entries: int | None,
    output: str | None,
    reporter: _Reporter,
) -> None:
    """Discover, then write the manifest or Link values and print the summary.

    Raises:
        click.ClickException: No page could be read, or the output cannot be written.
    """
    results, failed = _discover(pages, options, reporter)
    if not results:
        raise click.ClickException(f"no page could be read (of {len(pages)})")
    errors = {failure: key for key, result in results.items() for failure in result.failures}
    errors.update(_unavailable(pages, results, reporter))
    if errors:
        for failure, key in errors.items():
            reporter.console.print(f"error: {key}: {failure}", markup=False)
        hint = (
            " (is the app serving its static files? Django under ASGI serves none by itself:"
            " add WhiteNoise, see docs/frameworks.md)"
            if any(isinstance(page.site, AppSite) for page in pages)
            else ""
        )
        raise click.ClickException(
            f"{len(errors)} resource{'' if len(errors) == 1 else 's'} the pages use could not"
            f" be read{hint}; nothing written"
        )
    found = {key: result.preloads for key, result in results.items()}
    entries = manifest_entries(found, multi=multi, max_entries=max_entries)
    every = manifest_entries(found, multi=multi)
    dropped = sum(map(len, every.values())) - sum(map(len, entries.values()))
    if not any(entries.values()):
        reporter.warn("no page references any resource: the manifest is empty")
    links = {
        str(key) if key is not None else "manifest": link_value(preloads)
        for key, preloads in entries.items()
    }
    for key, value in links.items():
        size = len(value.encode("ascii"))
        if size > LINK_HEADER_LIMIT_BYTES:
            reporter.warn(
                f"{key}: the Link header would be {size} bytes, over {LINK_HEADER_LIMIT_BYTES}"
                " (a common CDN limit on one header); cap the entries with --max"
            )
    if not link:
        text = manifest_json(build_manifest(found, multi=multi, max_entries=max_entries))
    elif None in entries:
        text = links["manifest"] + "\n"
    else:
        text = json.dumps(links, indent=2) + "\n"
    _write(text, output)

    rows = [(key, cap_preloads(found[key], max_entries)) for key in sorted(found)]
    total = entries[None] if None in entries else merge_pages([p for _, p in rows])
    sheets = {id(page.stylesheets): len(page.stylesheets) for page in pages}
    parts = [
        f"{len(results)} of {len(pages)} pages read",
        f"{sum(sheets.values())} stylesheets",
        f"{reporter.count} warning{'' if reporter.count == 1 else 's'}",
    ]
    if failed:
        parts.append(f"unreadable: {', '.join(failed[:3])}{' ...' if len(failed) > 3 else ''}")
    if dropped:
        parts.append(f"{dropped} entries over --max left out")
    parts.append(f"written to {output}" if output and output != "-" else "printed")
    _summary(rows, total, "; ".join(parts), reporter, multi=None not in entries)


# --------------------------------------------------------------------------- --check


def _split_cross_origin(data: object) -> tuple[object, list[tuple[str | None, str]]]:
    """Take entries for other origins (never pushable) out of raw manifest data.

    Returns:
        The remaining data and ``(page key or None, url)`` of each entry taken out.
    """
    if not isinstance(data, dict):
        return data, []

    def cross(url: object, entry: object) -> bool:
        preconnect = isinstance(entry, dict) and entry.get("rel") == "preconnect"
        return (
            isinstance(url, str)
            and url.startswith(("http://", "https://", "//"))
            and not preconnect
        )

    multi = any(
        isinstance(value, dict) and any(isinstance(e, dict) for e in value.values())
        for value in data.values()
    )
    taken: list[tuple[str | None, str]] = []
    if not multi:
        taken = [(None, url) for url, entry in data.items() if cross(url, entry)]
        return {u: e for u, e in data.items() if not cross(u, e)}, taken
    clean: dict[str, Any] = {}
    for page, resources in data.items():
        clean[page] = resources
        if isinstance(resources, dict):
            taken.extend((page, url) for url, entry in resources.items() if cross(url, entry))
            clean[page] = {u: e for u, e in resources.items() if not cross(u, e)}
    return clean, taken


def _load_for_check(path: str) -> tuple[Manifest, list[tuple[str | None, str]]]:
    """Load a manifest; entries for other origins are reported rather than fatal.

    Raises:
        ManifestError: The manifest is invalid for another reason.
    """
    try:
        return Manifest.load(path), []
    except ManifestError as error:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise error from None
        clean, taken = _split_cross_origin(data)
        if not taken:
            raise
        return Manifest.from_dict(clean, source=path), taken


def _request_path(key: str) -> str:
    """The request path of a multi-page manifest key (``about/index.html`` -> ``/about/``)."""
    if key.startswith("/"):
        return key
    if key == "index.html" or key.endswith("/index.html"):
        return "/" + key[: -len("index.html")]
    return "/" + key


def _check(
    manifest_file: str,
    pages: Sequence[_Page],
    site: Site,
    origin: str,
    reporter: _Reporter,
) -> int:
    """Validate a manifest and print its problems; return the exit status."""
    try:
        manifest, cross = _load_for_check(manifest_file)
    except ManifestError as error:
        click.echo(f"invalid: {error}")
        return 1
    problems: list[str] = []

    def where(page: str | None) -> str:
        return f" in {page}" if page is not None else ""

    for page, url in cross:
        problems.append(
            f"cross-origin: {url}{where(page)}: another origin's resource cannot be pushed;"
            " declare its origin with rel preconnect instead"
        )
    checked: dict[str, str | None] = {}
    for page, preloads in manifest.entries.items():
        for preload in preloads:
            if preload.rel == "preconnect":
                continue
            if preload.url not in checked:
                checked[preload.url] = site.check(preload.url)
            problem = checked[preload.url]
            if problem is not None:
                kind = "missing" if isinstance(site, FileSite) else "unavailable"
                problems.append(f"{kind}: {preload.url}{where(page)}: {problem}")

    if not pages and manifest.multi_page:
        stylesheets = Stylesheets(site)
        pages = [
            _Page(str(key), _request_path(str(key)), site, stylesheets) for key in manifest.entries
        ]
    if pages:
        options = DiscoverOptions(images=None, css_images=True, origin=origin)
        results, _ = _discover(pages, options, reporter)
        referenced = {key: {p.url for p in r.preloads} for key, r in results.items()}
        everything = set().union(*referenced.values()) if referenced else set()
        for page, preloads in manifest.entries.items():
            if page is not None and str(page) in referenced:
                known, scope = referenced[str(page)], f"page {page}"
            elif results:
                known, scope = everything, "any page read"
            else:
                continue
            problems.extend(
                f"unreferenced: {p.url}{where(page)}: not referenced by {scope}"
                for p in preloads
                if p.url not in known
            )
    else:
        reporter.note("give the pages (SOURCE or PATH) to also look for unreferenced entries")

    for line in problems:
        click.echo(line)
    count = sum(len(p) for p in manifest.entries.values())
    status = f"{len(problems)} problems" if problems else "no problems"
    reporter.note(f"{manifest_file}: {count} entries, {status}")
    return 1 if problems else 0


# --------------------------------------------------------------------------- the command


def _origin(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return normalize_origin(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command("manifest")
@click.argument("sources", nargs=-1, metavar="[SOURCE|PATH]...")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write to FILE instead of standard output.",
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(["single", "multi"]),
    help="multi: keyed by page (index.html, about/index.html), each page hinted its own"
    " resources; single: one site-wide list applied to every navigation. Default: multi (with"
    " --link and one page: that page's Link value).",
)
@click.option("--link", is_flag=True, help="Print the ready Link header value instead (RFC 8288).")
@click.option(
    "--max",
    "max_entries",
    type=click.IntRange(min=0),
    metavar="N",
    help="Keep at most N entries per page, highest weight first (preconnects not counted).",
)
@click.option(
    "--images",
    type=click.IntRange(min=0),
    metavar="N",
    default=3,
    show_default=True,
    help="Keep the first N images of each page (<img>, srcset, <picture>, <video poster>).",
)
@click.option("--css-images", is_flag=True, help="Also keep images referenced from CSS.")
@click.option(
    "--app",
    "app_spec",
    metavar="MODULE:ATTR",
    help="Render the PATHs (default /) through this WSGI or ASGI app, in process.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True),
    help="The site root served at / (default: the SOURCE directory, or an HTML file's).",
)
@click.option(
    "--origin",
    metavar="URL",
    default=DEFAULT_ORIGIN,
    show_default=True,
    callback=_origin,
    help="The site's origin: absolute URLs on it count as its own, and --app requests use it.",
)
@click.option(
    "--learned",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --app: navigate to each PATH N times through h2push's learning (no manifest),"
    " as a browser would, and write what it learned (docs/learning.md) for review.",
)
@click.option(
    "--check",
    "check_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Validate manifest FILE: missing files, 404s, other origins, unreferenced entries.",
)
def manifest_command(
    *,
    sources: tuple[str, ...],
    output: str | None,
    format_: str | None,
    link: bool,
    max_entries: int | None,
    images: int,
    css_images: bool,
    app_spec: str | None,
    root: str | None,
    origin: str,
    learned: int | None,
    check_file: str | None,
) -> None:
    """Write a push manifest (http2-push-manifest JSON) for pages.

    SOURCE is an HTML file or a directory (every *.html under it, served at / from it). With
    --app MODULE:ATTR the arguments are request PATHs rendered by the application itself, so
    server-side templates are resolved.

    Found: stylesheets and their @import chains and @font-face fonts, scripts (type=module as
    modulepreload), the page's own preloads, the first --images images; other origins become
    preconnect entries. Weights: 90 preconnect, 80 render-blocking CSS, 70 its fonts, 60
    synchronous scripts, 50 declared preloads, 40 module/async/defer scripts, 30 other CSS,
    20 images, 10 CSS images; ties keep document order.

    The manifest is keyed by page, even for one page (--format single: one site-wide list).
    Warnings go to standard error. The status is 1, and nothing is written, when no page could
    be read, or a stylesheet a page uses cannot be (a 404, not text/css), or with --app a font
    of one or a synchronous script answers an error. With --check
    FILE [SOURCE|PATH]... the manifest is validated instead and the status is 1 when it has
    problems.
    """
    if learned is not None:
        if app_spec is None:
            raise click.UsageError("--learned needs --app MODULE:ATTR")
        with contextlib.ExitStack() as stack:
            found = _learned_manifest(app_spec, sources or ("/",), origin, learned, stack)
        if not found:
            raise click.ClickException("nothing was learned: no PATH answered a 2xx HTML page")
        _write(json.dumps(found, indent=2) + "\n", output)
        return
    reporter = _Reporter()
    options = DiscoverOptions(images=images, css_images=css_images, origin=origin)
    with contextlib.ExitStack() as stack:
        site: Site | None = None
        if app_spec is not None:
            app_site = _load_app_site(app_spec, origin, stack)
            site = app_site
            pages = _app_pages(sources or (() if check_file else ("/",)), app_site, reporter)
        else:
            if not sources and check_file is None:
                raise click.UsageError("give at least one SOURCE (an HTML file or a directory)")
            pages = _file_pages(sources, root, origin, reporter)
        if check_file is not None:
            if site is None:
                site = _check_file_site(check_file, sources, root, origin, pages)
            raise SystemExit(_check(check_file, pages, site, origin, reporter))
        multi = format_ == "multi" or (format_ is None and (len(pages) > 1 or not link))
        _generate(
            pages,
            options=options,
            multi=multi,
            link=link,
            max_entries=max_entries,
            output=output,
            reporter=reporter,
        )


def _learned_manifest(
    spec: str, paths: Sequence[str], origin: str, navigations: int, stack: contextlib.ExitStack
) -> dict[str, Any]:
    """Navigate to ``paths`` through the app with learning on; what it learned, by path.

    Each navigation is followed by a request for every stylesheet the page named, as a
    browser's would be, so that the fonts those name are learned too.
    """
    import asyncio  # noqa: PLC0415

    from h2push._delivery.learning import learned_manifest  # noqa: PLC0415
    from h2push._tools.serve.server import AppLoadError, build_app, detect_interface, import_app  # noqa: PLC0415
    from h2push.asgi import H2PushMiddleware  # noqa: PLC0415

    previous = os.environ.get(_MISSING_MANIFEST_OK_ENV)
    os.environ[_MISSING_MANIFEST_OK_ENV] = "1"
    stack.callback(_restore_env, _MISSING_MANIFEST_OK_ENV, previous)
    try:
        target = import_app(spec)
        app: Any = build_app(target, detect_interface(target), push=False)
    except AppLoadError as error:
        raise click.ClickException(str(error)) from None
    learner = None
    layer = app
    while layer is not None and learner is None:
        if isinstance(layer, H2PushMiddleware):
            learner = layer.learner
        layer = getattr(layer, "app", None)
    if learner is None:
        raise click.ClickException(f"{spec} has learning turned off (H2PUSH_LEARN)")
    scheme, _, authority = origin.partition("://")

    async def get(path: str, navigation: bool) -> None:
        headers = [(b"host", authority.encode("idna"))]
        if navigation:
            headers += [(b"sec-fetch-mode", b"navigate"), (b"accept", b"text/html")]
        else:
            headers += [(b"sec-fetch-mode", b"no-cors"), (b"accept", b"text/css,*/*;q=0.1")]
        path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "2",
            "method": "GET",
            "scheme": scheme,
            "path": path,
            "raw_path": path.encode("ascii"),
            "query_string": query.encode("ascii"),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 443),
            "extensions": {"http.response.early_hint": {}},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(_message: dict[str, Any]) -> None:
            return None

        await asyncio.wait_for(app(scope, receive, send), timeout=30)

    async def replay() -> None:
        for path in paths:
            for _ in range(navigations):
                await get(path, navigation=True)
                for preload in learner.preloads(path):
                    if preload.as_ == "style" and preload.same_origin:
                        await get(preload.url, navigation=False)
        await asyncio.sleep(0.2)  # a shared store writes in the background

    asyncio.run(replay())
    return {page_key(path): entries for path, entries in learned_manifest(learner, paths).items()}


def _check_file_site(
    check_file: str, sources: Sequence[str], root: str | None, origin: str, pages: list[_Page]
) -> Site:
    """The files a manifest is checked against: --root, the first SOURCE's, or its folder."""
    if root is not None:
        return FileSite(Path(root), origin=origin)
    if pages:
        return pages[0].site
    for source in sources:
        given = Path(source)
        return FileSite(given if given.is_dir() else given.parent, origin=origin)
    return FileSite(Path(check_file).resolve().parent, origin=origin)
