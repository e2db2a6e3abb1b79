"""The benchmark's own site (:class:`BenchSite`) and the physical limit of its page load."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import resources
from typing import Final

from h2push._core.manifest import Manifest
from h2push._delivery.asgi_types import Receive, Scope, Send
from h2push._tools._common import http_or_lifespan
from h2push._tools.bench.results import STATIC_MAX_AGE_S

# --------------------------------------------------------------------------- the site

_FONT_FAMILY: Final = "Bench Serif"


def _filler(prefix: str, count: int) -> str:
    """``count`` lines of plausible source text (CSS rules or JS table rows) for weight."""
    lines = []
    for i in range(count):
        shade = (i * 37) % 256
        lines.append(
            f"{prefix}{i} {{ margin: {i % 7}px {i % 5}px; padding: {i % 3}px;"
            f" color: #{shade:02x}{(shade * 3) % 256:02x}{(shade * 7) % 256:02x}; }}"
        )
    return "\n".join(lines) + "\n"


def _stylesheet() -> bytes:
    head = f"""/* h2push bench: the render-blocking stylesheet. Its web font and background image
   cannot start downloading before this file has arrived and been parsed, unless hinted. */
@font-face {{
  font-family: "{_FONT_FAMILY}";
  src: url("/static/bench.woff2") format("woff2");
  font-weight: 700;
  font-display: swap;
}}
html {{ font: 16px/1.5 system-ui, sans-serif; color: #1d2430; }}
body {{ margin: 0 auto; max-width: 48rem; padding: 2rem 1rem;
  background: #fbfaf7 url("/static/backdrop.svg") no-repeat top right; }}
h1, h2 {{ font-family: "{_FONT_FAMILY}", Georgia, serif; font-weight: 700; }}
"""
    return (head + _filler(".b", 260)).encode("ascii")


def _backdrop() -> bytes:
    """An SVG background image of about 20 KB: deterministic circles."""
    shapes = []
    for i in range(240):
        x, y, r = (i * 53) % 400, (i * 97) % 300, 4 + (i * 13) % 23
        hue = (i * 29) % 360
        shapes.append(
            f'<circle cx="{x}" cy="{y}" r="{r}" fill="hsl({hue} 60% 70%)" fill-opacity="0.35"/>'
        )
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300" viewBox="0 0 400 300">'
        + "".join(shapes)
        + "</svg>\n"
    )
    return svg.encode("ascii")


def _table_js(name: str, rows: int) -> str:
    entries = ",\n".join(f'  [{i}, "{name}-{i:04d}", {(i * 7919) % 10007}]' for i in range(rows))
    return f"const {name} = [\n{entries}\n];\n"


def _app_js() -> bytes:
    body = _table_js("rows", 420) + (
        "document.documentElement.dataset.app = String(rows.length);\n"
    )
    return body.encode("ascii")


def _main_mjs() -> bytes:
    return (
        'import { mark } from "/static/lib.mjs";\n'
        + _table_js("settings", 60)
        + 'mark("main", settings.length);\n'
    ).encode("ascii")


def _lib_mjs() -> bytes:
    return (
        _table_js("table", 240)
        + "export function mark(name, size) {\n"
        + "  document.documentElement.dataset[name] = String(size + table.length);\n"
        + "}\n"
    ).encode("ascii")


def _page() -> bytes:
    paragraphs = "\n".join(
        f"<p>Paragraph {i}: the page arrives after the server has thought; what it needs should"
        " already be on its way, or in the cache, by then.</p>"
        for i in range(24)
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>h2push bench</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/bench.css">
<script src="/static/app.js" defer></script>
<script type="module" src="/static/main.mjs"></script>
</head>
<body>
<h1>h2push bench</h1>
<h2>A slow page and its critical resources</h2>
{paragraphs}
</body>
</html>
""".encode("ascii")


_CSS: Final = b"text/css; charset=utf-8"
_JS: Final = b"text/javascript; charset=utf-8"


@dataclass(frozen=True)
class _File:
    media_type: bytes
    body: bytes


class BenchSite:
    """The benchmark site, a plain ASGI 3 application that knows nothing of push or hints.

    ``GET /`` waits ``think_ms`` (the view "thinking": a database query), then returns an HTML
    page (``no-store``) that uses a render-blocking stylesheet, which pulls a web font through
    ``@font-face`` and a background image, a classic deferred script, and a module script that
    imports another module. Those six files are served from ``/static/`` with
    ``Cache-Control: public, max-age=3600``; everything else is a 404.

    :attr:`manifest` declares the six files for ``/`` only (a multi-page manifest), so that a
    client that sends ``Accept: text/html`` on every request (``nghttp -H``) is hinted and pushed
    to for the page alone.

    Args:
        think_ms: How long ``GET /`` waits before answering, in milliseconds (>= 0).

    Raises:
        ValueError: ``think_ms`` is negative.
    """

    def __init__(self, think_ms: float) -> None:
        if think_ms < 0:
            raise ValueError(f"think_ms must be >= 0, got {think_ms!r}")
        self.think_ms = float(think_ms)
        font = resources.files("h2push._tools.demo").joinpath("static/dejavu-serif-bold.woff2")
        self.files: dict[str, _File] = {
            "/static/bench.css": _File(_CSS, _stylesheet()),
            "/static/bench.woff2": _File(b"font/woff2", font.read_bytes()),
            "/static/backdrop.svg": _File(b"image/svg+xml", _backdrop()),
            "/static/app.js": _File(_JS, _app_js()),
            "/static/main.mjs": _File(_JS, _main_mjs()),
            "/static/lib.mjs": _File(_JS, _lib_mjs()),
        }
        self.page = _page()
        self.manifest = Manifest.from_dict(
            {
                "index.html": {
                    "/static/bench.css": {"type": "style", "weight": 6},
                    "/static/bench.woff2": {"type": "font", "weight": 5},
                    "/static/backdrop.svg": {"type": "image", "weight": 4},
                    "/static/app.js": {"type": "script", "weight": 3},
                    "/static/main.mjs": {"type": "script", "weight": 2, "rel": "modulepreload"},
                    "/static/lib.mjs": {"type": "script", "weight": 1, "rel": "modulepreload"},
                }
            },
            source="<bench site>",
        )

    @property
    def sizes(self) -> dict[str, int]:
        """Body bytes per path, the page (``/``) first."""
        return {"/": len(self.page), **{path: len(f.body) for path, f in self.files.items()}}

    @property
    def total_bytes(self) -> int:
        """Body bytes of the page and all its resources."""
        return sum(self.sizes.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the page and its static files (ASGI 3); answer lifespan events."""
        if not await http_or_lifespan(scope, receive, send):
            return
        path = scope["path"]
        if path == "/":
            await asyncio.sleep(self.think_ms / 1000)
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"no-store"),
            ]
            await _respond(send, 200, headers, self.page)
        elif path in self.files:
            file = self.files[path]
            headers = [
                (b"content-type", file.media_type),
                (b"cache-control", f"public, max-age={STATIC_MAX_AGE_S}".encode("ascii")),
            ]
            await _respond(send, 200, headers, file.body)
        else:
            await _respond(send, 404, [(b"content-type", b"text/plain")], b"not found\n")


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    length = (b"content-length", str(len(body)).encode("ascii"))
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})
