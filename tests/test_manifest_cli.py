"""``h2push manifest``: fixture sites, the app rendered in process, --check, and Chromium.

The acceptance test at the end serves the Jinja-rendered Flask fixture with Hypercorn over TLS,
loads it in headless Chromium over the DevTools protocol, and compares what the browser fetched
with what ``h2push manifest --app`` listed for the same page.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result

from conftest import TLSFiles, free_port, require_program
from h2push._core.links import parse_link_header
from h2push._core.manifest import Manifest
from h2push._tools.browser import Chromium
from h2push._tools.discover.command import manifest_command
from h2push._tools.serve.devcert import spki_sha256_base64
from processes import running

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "discover"
SITE = FIXTURES / "site"
EXPECTED = FIXTURES / "expected"
FLASK_APP = "tests.fixtures.discover.flask_site.app:app"
ASGI_APP = "tests.fixtures.discover.asgi_app:app"
STARTUP_S = 20.0


def run(args: Sequence[str], *, code: int = 0) -> Result:
    result = CliRunner().invoke(manifest_command, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def warnings_of(result: Result) -> list[str]:
    return [
        line[len("warning: ") :]
        for line in result.stderr.splitlines()
        if line.startswith("warning: ")
    ]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """--app imports module:attr with the current directory first on sys.path, as `serve` does."""
    monkeypatch.chdir(REPO)


# --------------------------------------------------------------------------- the fixture site


def test_fixture_site_page_gives_exactly_the_expected_manifest() -> None:
    result = run([str(SITE / "index.html"), "--format", "single"])
    assert result.stdout == (EXPECTED / "index.json").read_text()
    assert warnings_of(result) == [
        (
            "/css/reset.css: @import cycle /css/main.css -> /css/base.css -> /css/reset.css"
            " -> /css/main.css: not followed"
        ),
        "/css/theme.css: line 4: @import late.css after other rules: browsers ignore it",
    ]
    assert "1 of 1 pages read" in result.stderr


def test_one_page_gives_that_pages_entry_unless_asked_for_a_site_wide_manifest() -> None:
    # A single-page manifest applies to every navigation (a 404, a redirect): one page's
    # resources are written as that page's entry.
    expected = json.loads((EXPECTED / "index.json").read_text())
    assert json.loads(run([str(SITE / "index.html")]).stdout) == {"index.html": expected}
    assert json.loads(run([str(SITE / "index.html"), "--format", "single"]).stdout) == expected
    about = json.loads(run([str(SITE / "about" / "index.html"), "--root", str(SITE)]).stdout)
    assert list(about) == ["about/index.html"]
    assert Manifest.from_dict(about).multi_page


def test_fixture_site_directory_gives_the_expected_multi_page_manifest(tmp_path: Path) -> None:
    output = tmp_path / "push_manifest.json"
    result = run([str(SITE), "-o", str(output)])
    assert result.stdout == ""
    assert output.read_text() == (EXPECTED / "site.json").read_text()
    assert "2 of 2 pages read" in result.stderr
    assert f"written to {output}" in result.stderr


@pytest.mark.parametrize("name", ["index.json", "site.json"])
def test_outputs_load_and_round_trip_unchanged(name: str) -> None:
    text = (EXPECTED / name).read_text()
    manifest = Manifest.load(EXPECTED / name)
    assert manifest.multi_page == (name == "site.json")
    assert json.dumps(manifest.to_dict(), indent=2) + "\n" == text


def test_what_the_fixture_manifest_says() -> None:
    data = json.loads((EXPECTED / "index.json").read_text())
    # A .json fetched by script is a fetch with crossorigin (implied by the type), never a script.
    assert data["/data.json"] == {"type": "fetch", "weight": 50}
    fetch = Manifest.from_dict(data).entries[None]
    assert next(p for p in fetch if p.url == "/data.json").crossorigin == "anonymous"
    assert data["/js/main.mjs"]["rel"] == "modulepreload"
    assert data["/js/analytics.js"]["nopush"] is True
    assert data["https://fonts.example"] == {"type": "", "weight": 90, "rel": "preconnect"}
    assert "/fonts/body.eot" not in data  # the first source a browser downloads is the woff2
    assert "/img/hero-2x.png" not in data  # srcset: the 1x candidate
    assert "/img/card.avif" in data  # <picture><source type=image/avif> wins over <img src>
    assert "/img/fourth.png" not in data  # beyond --images 3
    assert not [url for url in data if "noscript" in url or "template" in url or "legacy" in url]


def test_link_prints_the_ready_header_value() -> None:
    result = run([str(SITE / "index.html"), "--link"])
    assert result.stdout.endswith("\n")
    assert result.stdout.count("\n") == 1
    values = parse_link_header(result.stdout.strip(), strict=True)
    assert [v.target for v in values] == list(json.loads((EXPECTED / "index.json").read_text()))
    font = next(v for v in values if v.target == "/fonts/body.woff2")
    assert font.get("type") == "font/woff2"  # the page's preload said so
    assert font.has("crossorigin")


def test_link_for_several_pages_is_a_json_object() -> None:
    links = json.loads(run([str(SITE), "--link"]).stdout)
    assert list(links) == ["about/index.html", "index.html"]
    assert links["about/index.html"].startswith("</css/main.css>; rel=preload; as=style")


def test_format_overrides_the_default() -> None:
    single = json.loads(run([str(SITE), "--format", "single"]).stdout)
    assert "/img/team.png" in single  # from about/index.html
    assert single["/img/about.png"]["weight"] == 50
    Manifest.from_dict(single)
    multi = json.loads(run([str(SITE / "index.html"), "--format", "multi"]).stdout)
    assert list(multi) == ["index.html"]


def test_max_caps_entries_but_keeps_preconnects() -> None:
    result = run([str(SITE / "index.html"), "--max", "3", "--format", "single"])
    assert list(json.loads(result.stdout)) == [
        "https://fonts.example",
        "/css/main.css",
        "/css/base.css",
        "/css/reset.css",
    ]
    assert "15 entries over --max left out" in result.stderr


def test_images_and_css_images_options() -> None:
    args = [str(SITE / "index.html"), "--images", "0", "--css-images", "--format", "single"]
    data = json.loads(run(args).stdout)
    images = [url for url, entry in data.items() if entry["type"] == "image"]
    assert images == ["/img/bg.png", "/img/wide.png", "/img/inline-bg.png"]  # document order
    assert {data[url]["weight"] for url in images} == {10}


def test_a_link_header_over_3_kb_is_a_warning(tmp_path: Path) -> None:
    scripts = "".join(f'<script src="/js/{"x" * 40}-{i}.js" defer></script>' for i in range(80))
    (tmp_path / "index.html").write_text(f"<!doctype html><head>{scripts}</head>")
    result = run([str(tmp_path)])
    assert any("over 3072 (a common CDN limit" in w for w in warnings_of(result))
    capped = run([str(tmp_path), "--max", "10"])
    assert not any("CDN limit" in w for w in warnings_of(capped))


def test_many_pages(tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "site.css").write_text("@font-face { src: url(f.woff2) }")
    for i in range(12):
        page = tmp_path / f"section{i % 3}" / f"page{i}.html"
        page.parent.mkdir(exist_ok=True)
        page.write_text(f'<link rel=stylesheet href="/css/site.css"><img src="p{i}.png">')
    result = run([str(tmp_path)])
    data = json.loads(result.stdout)
    assert len(data) == 12
    assert list(data["section1/page4.html"]) == [
        "/css/site.css",
        "/css/f.woff2",
        "/section1/p4.png",
    ]
    assert "12 of 12 pages read; 1 stylesheets" in result.stderr
    assert "... 2 more" in result.stderr


# --------------------------------------------------------------------------- broken input


def test_broken_input_gives_warnings_not_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "dir.css").mkdir()  # a stylesheet that cannot be read
    (tmp_path / "a.css").write_text("@import 'b.css';")
    (tmp_path / "b.css").write_text("@import 'a.css'; @import url(")
    (tmp_path / "index.html").write_bytes(
        b"<head><link rel=stylesheet href=dir.css><link rel=stylesheet href=gone.css>"
        b'<link rel=stylesheet href=a.css><link rel=stylesheet href="/%2e%2e/%2e%2e/etc/passwd">'
        b"<title>caf\xe9</title><img src=x.png srcset='x.png 10w'><div><p></span><style>.x{"
    )
    (tmp_path / "other.html").write_bytes(b"\x00\xff\xfe garbage <<<>>> <script src=")
    output = tmp_path / "push_manifest.json"
    result = run([str(tmp_path), "-o", str(output)], code=1)
    warnings = warnings_of(result)
    # Stylesheets the page uses that cannot be read are errors: nothing is written.
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(": cannot read")[0] for e in errors] == [
        "error: index.html: stylesheet /dir.css",
        "error: index.html: stylesheet /gone.css",
        (
            "error: index.html: stylesheet /%2e%2e/%2e%2e/etc/passwd: outside the site root"
            f" {tmp_path}"
        ),
    ]
    assert "3 resources the pages use could not be read; nothing written" in result.stderr
    assert not output.exists()
    assert any("@import cycle" in w for w in warnings)
    assert any("not valid utf-8" in w for w in warnings)
    assert any("<style> is not closed" in w for w in warnings)
    assert any("width descriptors" in w for w in warnings)
    (tmp_path / "dir.css").rmdir()
    (tmp_path / "dir.css").write_text("")
    (tmp_path / "gone.css").write_text("")
    page = (tmp_path / "index.html").read_bytes()
    outside = b'<link rel=stylesheet href="/%2e%2e/%2e%2e/etc/passwd">'
    (tmp_path / "index.html").write_bytes(page.replace(outside, b""))
    result = run([str(tmp_path), "-o", str(output)])
    assert list(json.loads(output.read_text())["index.html"]) == [
        "/dir.css",
        "/gone.css",
        "/a.css",
        "/b.css",
    ]


def test_nothing_readable_is_an_error(tmp_path: Path) -> None:
    result = run([str(tmp_path / "nope.html")], code=1)
    assert "no such file or directory" in result.stderr
    assert "no page could be read" in result.stderr
    result = run([str(tmp_path)], code=1)
    assert "no .html file" in result.stderr


def test_usage_errors() -> None:
    assert "give at least one SOURCE" in run([], code=2).stderr
    assert "not an http(s) origin" in run([str(SITE), "--origin", "ftp://x"], code=2).stderr
    assert "must be a path" in run(["--app", FLASK_APP, "about"], code=2).stderr
    result = run(["--app", "tests.fixtures.discover.no_such_module:app"], code=1)
    assert "cannot import" in result.stderr


# --------------------------------------------------------------------------- --app


FLASK_ENTRIES = {
    "https://localhost:1": {"type": "", "weight": 90, "rel": "preconnect"},
    "/static/css/site.css": {"type": "style", "weight": 80},
    "/static/css/base.css": {"type": "style", "weight": 80},
    "/static/css/inline.css": {"type": "style", "weight": 80},
    "/static/fonts/brand.woff2": {"type": "font", "weight": 70},
    "/static/js/app.js": {"type": "script", "weight": 60},
    "/static/data.json": {"type": "fetch", "weight": 50},
    "/static/js/module.js": {"type": "script", "weight": 40, "rel": "modulepreload"},
    "/static/img/hero-1x.svg": {"type": "image", "weight": 20},
    "/static/img/second.svg": {"type": "image", "weight": 20},
}


def test_app_renders_the_jinja_page_in_process() -> None:
    result = run(["--app", FLASK_APP, "--images", "2"])  # PATH defaults to /
    data = json.loads(result.stdout)
    assert data == {"index.html": FLASK_ENTRIES}
    assert list(data["index.html"]) == list(FLASK_ENTRIES)
    assert json.dumps(Manifest.from_dict(data).to_dict(), indent=2) + "\n" == result.stdout
    assert warnings_of(result) == [
        (
            "/static/css/base.css: @import cycle /static/css/site.css -> /static/css/base.css"
            " -> /static/css/site.css: not followed"
        )
    ]


def test_app_errors_and_404_are_warnings() -> None:
    result = run(["--app", FLASK_APP, "--images", "2", "/", "/broken", "/missing"])
    warnings = warnings_of(result)
    # Flask logs the exception to wsgi.errors, whose last line ends the warning; under pytest
    # its log goes to the log capture instead, and the warning ends at the status.
    assert [w for w in warnings if w.startswith("page GET /broken: 500")]
    assert "page GET /missing: 404" in warnings
    assert json.loads(result.stdout) == {"index.html": FLASK_ENTRIES}
    assert "unreadable: /broken, /missing" in result.stderr
    assert run(["--app", FLASK_APP, "/missing"], code=1).exit_code == 1


def test_asgi_app_with_lifespan_state() -> None:
    result = run(["--app", ASGI_APP, "/fixed", "--format", "single"])
    assert json.loads(result.stdout) == {
        "/style.css": {"type": "style", "weight": 80},
        "/more.css": {"type": "style", "weight": 80},
        "/m.woff2": {"type": "font", "weight": 70},
        "/bundle-7f3a.js": {"type": "script", "weight": 60},
        "/logo.png": {"type": "image", "weight": 20},
    }
    assert warnings_of(result) == []


def test_a_stylesheet_the_app_does_not_serve_is_an_error(tmp_path: Path) -> None:
    output = tmp_path / "push_manifest.json"
    result = run(["--app", ASGI_APP, "-o", str(output)], code=1)
    assert [line for line in result.stderr.splitlines() if line.startswith("error: ")] == [
        "error: index.html: stylesheet GET /missing.css: 404",
        "error: index.html: stylesheet GET /plain.css: Content-Type text/plain, not text/css",
    ]
    assert "is the app serving its static files?" in result.stderr
    assert "2 resources the pages use could not be read" in result.stderr
    assert "nothing written" in result.stderr
    assert not output.exists()


# --------------------------------------------------------------------------- --check


def test_check_a_good_manifest() -> None:
    result = run(["--check", str(EXPECTED / "site.json"), "--root", str(SITE)])
    assert result.stdout == ""
    assert "site.json: 28 entries, no problems" in result.stderr


def test_check_reports_every_problem(tmp_path: Path) -> None:
    manifest = tmp_path / "push_manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "index.html": {
                    "/css/main.css": {"type": "style", "weight": 80},
                    "/css/gone.css": {"type": "style", "weight": 80},
                    "https://cdn.example/lib.js": {"type": "script"},
                    "/img/about.png": {"type": "image"},
                },
                "about/index.html": {"/img/team.png": {"type": "image"}},
            }
        )
    )
    result = run(["--check", str(manifest), "--root", str(SITE)], code=1)
    assert result.stdout.splitlines() == [
        (
            "cross-origin: https://cdn.example/lib.js in index.html: another origin's resource"
            " cannot be pushed; declare its origin with rel preconnect instead"
        ),
        f"missing: /css/gone.css in index.html: no file {SITE / 'css' / 'gone.css'}",
        "unreferenced: /css/gone.css in index.html: not referenced by page index.html",
        "unreferenced: /img/about.png in index.html: not referenced by page index.html",
    ]
    assert "4 entries, 4 problems" in result.stderr


def test_check_against_given_pages_and_the_app(tmp_path: Path) -> None:
    manifest = tmp_path / "push_manifest.json"
    entries = {**FLASK_ENTRIES, "/static/old.js": {"type": "script"}}
    manifest.write_text(json.dumps(entries))
    result = run(["--check", str(manifest), "--app", FLASK_APP, "/"], code=1)
    assert result.stdout.splitlines() == [
        "unavailable: /static/old.js: GET returned 404",
        "unreferenced: /static/old.js: not referenced by any page read",
    ]
    single = tmp_path / "single.json"
    single.write_text((EXPECTED / "index.json").read_text())
    result = run(["--check", str(single), str(SITE / "index.html")])
    assert "no problems" in result.stderr


def test_check_an_invalid_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "push_manifest.json"
    manifest.write_text('{"/a.css": {"type": "style"}, "/a.css": {"type": "style"}}')
    result = run(["--check", str(manifest)], code=1)
    assert result.stdout.startswith("invalid: ")
    assert "key appears twice" in result.stdout
    manifest.write_text("{not json")
    assert "is not valid JSON" in run(["--check", str(manifest)], code=1).stdout


# --------------------------------------------------------------------------- Chromium


@pytest.fixture(scope="module")
def flask_site_url(tls_files: TLSFiles) -> Iterator[str]:
    """Serve the Flask fixture with Hypercorn over TLS (HTTP/2); yield its base URL."""
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = [sys.executable, "-m", "hypercorn", *tls, "--bind", f"127.0.0.1:{port}", FLASK_APP]
    with running(command, port=port, cwd=REPO):
        yield f"https://127.0.0.1:{port}"


# What Chromium fetches for the Flask page but the manifest leaves out, each by a documented rule.
EXCLUDED_BY_RULE = {
    "/static/img/third.svg": "the third image, beyond --images 2",
    "/static/img/lazy.svg": "loading=lazy",
    "/static/img/bg.svg": "a CSS background image, without --css-images",
}


@pytest.mark.peer
def test_app_manifest_lists_what_chromium_fetches(flask_site_url: str, tls_files: TLSFiles) -> None:
    require_program("chromium")
    data = json.loads(run(["--app", FLASK_APP, "--images", "2", "/", "--format", "single"]).stdout)
    manifest = Manifest.from_dict(data)
    listed = {p.url for p in manifest.entries[None] if p.rel != "preconnect"}
    preconnects = {p.url for p in manifest.entries[None] if p.rel == "preconnect"}

    with Chromium(spki=[spki_sha256_base64(tls_files.cert.read_bytes())]) as browser:
        load = browser.load(f"{flask_site_url}/", timeout_s=30, settle_s=0.5)
    assert load.navigation.response_status == 200
    netloc = urlsplit(flask_site_url).netloc
    fetched = {r.path for r in load.resources if urlsplit(r.name).netloc == netloc}
    other_origins = {urlsplit(r.name).netloc for r in load.resources} - {netloc}

    assert fetched - set(EXCLUDED_BY_RULE) == listed, load.resources
    # The rules excluded something the browser really fetched: the comparison can tell.
    assert {"/static/img/third.svg", "/static/img/bg.svg"} <= fetched
    # The browser took the 1x candidate and the first font source, as the manifest did.
    assert "/static/img/hero-2x.svg" not in fetched
    assert "/static/fonts/brand.woff" not in fetched
    # The cross-origin stylesheet (an unsafe port: never connected) is a preconnect only.
    assert preconnects == {"https://localhost:1"}
    assert other_origins <= {"localhost:1"}


def test_a_script_the_app_does_not_serve_is_an_error_an_image_a_warning() -> None:
    result = run(["--app", ASGI_APP, "/unserved"], code=1)
    assert [line for line in result.stderr.splitlines() if line.startswith("error: ")] == [
        "error: /unserved: script /gone.js: GET returned 404"
    ]
    assert warnings_of(result) == [
        "/unserved: image /gone.png: GET returned 404; hinted all the same"
    ]
    assert result.stdout == ""
