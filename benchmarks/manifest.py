"""Cost of ``h2push manifest`` on a generated site of 1 000 pages: time and peak memory.

Run as ``python benchmarks/manifest.py [PAGES]``. The site is written to a temporary directory:
``PAGES`` pages in ``SECTIONS`` sections, each page about 6 KB of HTML with stylesheets (one
shared ``@import`` chain with a cycle and ``@font-face`` fonts, one per section), scripts, a
module, a preload, an inline ``<style>`` and a dozen images. The command then writes a
multi-page manifest exactly as a user would run it, in this process.

Printed: wall time of the run; the process's peak resident memory (``ru_maxrss``: interpreter,
imports and the run together; the target is under 200 MB); the peak of Python allocations during
a second, traced run (``tracemalloc``, which slows the run down, so it is not timed).
"""

from __future__ import annotations

import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from h2push._core.manifest import Manifest
from h2push._tools.discover.command import manifest_command

PAGES = 1000
SECTIONS = 10
IMAGES_PER_PAGE = 12
PARAGRAPHS_PER_PAGE = 12
TARGET_MB = 200

CSS = {
    "css/main.css": '@import "base.css";\n@import url(theme.css);\n'
    '@font-face { font-family: Body; src: url("../fonts/body.woff2") format("woff2"),'
    ' url("../fonts/body.woff") format("woff"); }\n'
    "body { font-family: Body, serif; background: url(../img/bg.png); }\n",
    "css/base.css": '@import "reset.css";\n'
    "@font-face { font-family: Head; src: url(../fonts/head.woff2); }\n",
    "css/reset.css": '@import "main.css";\n* { box-sizing: border-box; }\n',
    "css/theme.css": "@media (min-width: 40em) { .wide { background: url(../img/wide.png) } }\n",
}


def page_html(section: int, number: int) -> str:
    images = "".join(
        f'<img src="/img/s{section}/p{number}-{i}.jpg"'
        f' srcset="/img/s{section}/p{number}-{i}.jpg 1x, /img/s{section}/p{number}-{i}@2x.jpg 2x"'
        ' alt="">'
        for i in range(IMAGES_PER_PAGE)
    )
    text = "".join(
        f"<p>Paragraph {i} of page {number} in section {section}, with <a href='/'>a link</a>.</p>"
        for i in range(PARAGRAPHS_PER_PAGE)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Page {number}</title>
<link rel="preconnect" href="https://cdn.example">
<link rel="stylesheet" href="/css/main.css">
<link rel="stylesheet" href="/css/section{section}.css">
<link rel="preload" href="/data/page{number}.json" as="fetch" crossorigin>
<style>@font-face {{ font-family: Inline; src: url(/fonts/inline.woff2); }}</style>
<script src="/js/vendor.js"></script>
<script src="/js/app.js" defer></script>
<script type="module" src="/js/section{section}.mjs"></script>
<script src="https://cdn.example/analytics.js" async></script>
</head><body><main>{images}{text}</main></body></html>
"""


def write_site(root: Path, pages: int) -> int:
    """Write the site; return its HTML size in bytes."""
    for name, text in CSS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for section in range(SECTIONS):
        (root / "css" / f"section{section}.css").write_text(
            f'@import "main.css";\n.s{section} {{ background: url(../img/s{section}.png) }}\n'
        )
        (root / f"section{section}").mkdir()
    size = 0
    for number in range(pages):
        section = number % SECTIONS
        html = page_html(section, number)
        (root / f"section{section}" / f"page{number}.html").write_text(html)
        size += len(html)
    return size


def run(root: Path, output: Path) -> float:
    """Run the command once; return its wall time in seconds."""
    started = time.perf_counter()
    manifest_command.main([str(root), "-o", str(output)], standalone_mode=False)
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, else KiB


def main() -> None:
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else PAGES
    print(f"Python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    with tempfile.TemporaryDirectory(prefix="h2push-manifest-bench-") as directory:
        root = Path(directory) / "site"
        root.mkdir()
        html_bytes = write_site(root, pages)
        output = Path(directory) / "push_manifest.json"
        rss_before_mb = peak_rss_mb()

        elapsed_s = run(root, output)
        rss_mb = peak_rss_mb()

        tracemalloc.start()
        run(root, output)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        manifest = Manifest.load(output)
        entries = sum(len(p) for p in manifest.entries.values())
        print()
        html_mb, output_mb = html_bytes / 2**20, output.stat().st_size / 2**20
        print(f"site: {pages} pages, {html_mb:.1f} MB of HTML, {len(CSS) + SECTIONS} stylesheets")
        print(f"manifest: {len(manifest.entries)} pages, {entries} entries, {output_mb:.1f} MB")
        print(f"time: {elapsed_s:.2f} s ({pages / elapsed_s:.0f} pages/s)")
        print(
            f"peak memory: {rss_mb:.0f} MB resident for the process"
            f" ({rss_before_mb:.0f} MB before the run; target under {TARGET_MB} MB),"
            f" {traced_peak / 2**20:.1f} MB of Python allocations (tracemalloc)"
        )


if __name__ == "__main__":
    main()
