"""The sans-IO discovery core: HTML and CSS text in, ordered preloads and manifests out."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from h2push._core.links import Preload
from h2push._core.manifest import Manifest
from h2push._tools.discover.collect import (
    build_manifest,
    cap_preloads,
    discover_page,
    link_value,
    manifest_entries,
    merge_pages,
    page_key,
)
from h2push._tools.discover.css import scan_css
from h2push._tools.discover.html import decode_html, parse_srcset, pick_srcset, scan_html
from h2push._tools.discover.models import (
    CssScan,
    DiscoverOptions,
    InlineStyle,
    PageResult,
    Reference,
    Weight,
)
from h2push._tools.discover.urls import guess_destination, normalize_origin

ORIGIN = "https://localhost"
PAGE = f"{ORIGIN}/index.html"


class Sheets:
    """A stylesheet loader over a dict of path -> CSS text; other paths are missing."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = files
        self.calls: list[str] = []

    def __call__(self, target: str) -> CssScan:
        self.calls.append(target)
        if target not in self.files:
            return CssScan(error=f"stylesheet {target}: missing")
        return scan_css(self.files[target], ORIGIN + target)


def discover(
    html: str,
    css: Mapping[str, str] | None = None,
    *,
    images: int | None = 3,
    css_images: bool = False,
) -> PageResult:
    options = DiscoverOptions(images=images, css_images=css_images)
    return discover_page(html, PAGE, Sheets(css or {}), options)


def entries(
    html: str, css: Mapping[str, str] | None = None, *, css_images: bool = False
) -> list[str]:
    """The page's preloads as their Link values, with the weight in front."""
    return [f"{p.weight} {p}" for p in discover(html, css, css_images=css_images).preloads]


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Fonts.Example:443/css?x", "https://fonts.example"),
        ("http://example.com:80", "http://example.com"),
        ("http://example.com:8080/", "http://example.com:8080"),
        ("https://[::1]:8443/a", "https://[::1]:8443"),
    ],
)
def test_normalize_origin(url: str, origin: str) -> None:
    assert normalize_origin(url) == origin


@pytest.mark.parametrize(
    "url", ["ftp://example.com", "/static/a.css", "https://", "https://x:99999"]
)
def test_normalize_origin_rejects(url: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by cause
        normalize_origin(url)


@pytest.mark.parametrize(
    ("url", "destination"),
    [
        ("/data.json", "fetch"),
        ("/a/app.mjs?v=2#x", "script"),
        ("/f/font.WOFF2", "font"),
        ("/i/photo.avif", "image"),
        ("/s/site.css", "style"),
        ("/subs.vtt", "track"),
        ("/readme", None),
        ("/archive.tar.gz", None),
    ],
)
def test_guess_destination(url: str, destination: str | None) -> None:
    assert guess_destination(url) == destination


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/", "index.html"),
        ("/blog/", "blog/index.html"),
        ("/about.html", "about.html"),
        ("/about", "/about"),
        ("/search?q=x", "/search"),
    ],
)
def test_page_key_is_served_at_its_path(path: str, key: str) -> None:
    assert page_key(path) == key
    manifest = Manifest.from_dict({key: {"/a.css": {"type": "style"}}})
    assert manifest.preloads_for(path.split("?")[0]) != ()


# --------------------------------------------------------------------------- srcset


def test_parse_srcset_keeps_commas_inside_urls() -> None:
    assert parse_srcset(" a.png?x=1,2 1x,b.png 2x , c.png, d.png,") == [
        ("a.png?x=1,2", ("1x",)),
        ("b.png", ("2x",)),
        ("c.png", ()),
        ("d.png", ()),
    ]


def test_parse_srcset_descriptors_with_parentheses() -> None:
    assert parse_srcset("a.png 100w (junk, more), b.png 2x") == [
        ("a.png", ("100w", "(junk, more)")),
        ("b.png", ("2x",)),
    ]


@pytest.mark.parametrize(
    ("srcset", "src", "chosen"),
    [
        ("a.png 1x, b.png 2x", None, "a.png"),
        ("b.png 2x, a.png", None, "a.png"),
        ("b.png 2x, c.png 3x", "a.png", "a.png"),
        ("c.png 3x, b.png 1.5x", None, "b.png"),
        ("s.png 0.5x, t.png 0.75x", None, "t.png"),
        (None, " a.png ", "a.png"),
        ("   ", "a.png", "a.png"),
        ("bad.png 2q", "a.png", "a.png"),
        (None, None, None),
    ],
)
def test_pick_srcset_for_a_1x_screen(srcset: str | None, src: str | None, chosen: str) -> None:
    assert pick_srcset(srcset, src) == (chosen, None)


def test_pick_srcset_width_descriptors_depend_on_the_viewport() -> None:
    url, problem = pick_srcset("a.png 480w, b.png 960w", "a.png")
    assert url is None
    assert problem is not None
    assert "width descriptors" in problem


@given(st.text(max_size=80))
def test_srcset_parsing_never_fails(value: str) -> None:
    for url, descriptors in parse_srcset(value):
        assert url
        assert not any(c in url for c in " \t\n\r\f")
        assert all(descriptors)
    pick_srcset(value, "fallback.png")


# --------------------------------------------------------------------------- CSS


def test_scan_css_imports_only_before_other_rules() -> None:
    scan = scan_css(
        '@charset "utf-8"; @layer base, theme; @import "a.css"; @import url(b.css) screen;'
        ' @import url("c.css") layer(x) supports(display: grid);'
        " .x { color: red } @import 'late.css';",
        f"{ORIGIN}/css/main.css",
    )
    assert scan.imports == tuple(f"{ORIGIN}/css/{n}.css" for n in "abc")
    assert len(scan.warnings) == 1
    assert "late.css after other rules" in scan.warnings[0]


def test_scan_css_font_face_takes_the_source_browsers_download() -> None:
    scan = scan_css(
        "@font-face { font-family: A; src: local(A), url(a.eot) format('embedded-opentype'),"
        " url(a.svg#a) format('svg'), url('a.woff2') format('woff2'), url(a.woff) }"
        "@font-face { font-family: B; src: url(old.ttf); src: url(new.woff2) format(woff2) }"
        "@font-face { font-family: C; src: url(c.otf) format('opentype') tech(variations) }"
        "@font-face { font-family: D; src: local(D) }",
        f"{ORIGIN}/css/site.css",
    )
    assert scan.fonts == (
        f"{ORIGIN}/css/a.woff2",
        f"{ORIGIN}/css/new.woff2",
        f"{ORIGIN}/css/c.otf",
    )


def test_scan_css_images_in_nested_and_grouping_rules() -> None:
    scan = scan_css(
        ".a { background: url(a.png) no-repeat, image-set('b.png' 1x, url(c.png) 2x) }"
        "@media screen { .d { mask-image: url('d.svg') } }"
        "@supports (display: grid) { .e { & .f { list-style: url(e.gif) } } }"
        ".g { --icon: url(g.webp); --data: url(h.json); filter: url(#blur) }"
        ".i { background: url(data:image/png;base64,AAAA) }"
        "@keyframes k { from { background: url(k.png) } }",
        f"{ORIGIN}/css/x.css",
    )
    assert scan.images == tuple(
        f"{ORIGIN}/css/{n}" for n in ["a.png", "b.png", "c.png", "d.svg", "e.gif", "g.webp"]
    )


def test_scan_css_bytes_honours_charset() -> None:
    css = '@charset "iso-8859-1"; .x { background: url("caf\xe9.png") }'.encode("latin-1")
    scan = scan_css(css, f"{ORIGIN}/s.css")
    assert scan.images == (f"{ORIGIN}/caf\xe9.png",)


@given(st.text(max_size=200))
def test_scan_css_never_fails(css: str) -> None:
    scan_css(css, f"{ORIGIN}/x.css")


# --------------------------------------------------------------------------- HTML


def test_scan_html_head_and_body() -> None:
    scan = scan_html(
        "<!doctype html><title>T <b>bold</b></title>"
        "<link rel=stylesheet href=a.css><link rel=stylesheet href=p.css media=print>"
        "<link rel='alternate stylesheet' href=alt.css><link rel=stylesheet href=off.css disabled>"
        "<style media=print>@import 'x.css';</style>"
        "<script src=sync.js></script><script src=d.js defer></script>"
        "<script type=text/template src=tpl.js></script><script nomodule src=old.js></script>"
        "<script type='text/javascript; charset=utf-8' src=typed.js></script>"
        "<p>text<link rel=stylesheet href=body.css><script src=late.js></script>",
        PAGE,
    )
    refs = [(i.url.rsplit("/", 1)[1], i.weight) for i in scan.items if isinstance(i, Reference)]
    assert refs == [
        ("a.css", Weight.BLOCKING_STYLE),
        ("p.css", Weight.STYLE),
        ("sync.js", Weight.BLOCKING_SCRIPT),
        ("d.js", Weight.SCRIPT),
        ("typed.js", Weight.BLOCKING_SCRIPT),
        ("body.css", Weight.STYLE),
        ("late.js", Weight.BLOCKING_SCRIPT),
    ]
    styles = [i for i in scan.items if isinstance(i, InlineStyle)]
    assert len(styles) == 1
    assert not styles[0].blocking


def test_scan_html_ignores_inert_content_and_resolves_base() -> None:
    scan = scan_html(
        "<head><base href='https://localhost/app/'><base href='/other/'>"
        "<noscript><link rel=stylesheet href=ns.css><style>@import 'n.css';</style></noscript>"
        "<link rel=stylesheet href=a.css></head>"
        "<template><img src=t.png><template><img src=t2.png></template><img src=t3.png></template>"
        "<svg><image href=s.png /><style>x{}</style></svg>"
        "<img src=img.png><img src='javascript:void(0)'><img src=''><img src='#frag'>",
        PAGE,
    )
    urls = [i.url for i in scan.items if isinstance(i, Reference)]
    assert urls == [f"{ORIGIN}/app/a.css", f"{ORIGIN}/app/img.png"]
    assert not [i for i in scan.items if isinstance(i, InlineStyle)]


def test_scan_html_picture_source_wins_over_img() -> None:
    scan = scan_html(
        "<picture><source srcset=a.jxl type=image/jxl><source srcset=b.webp media=print>"
        "<source srcset='c.avif 1x, c2.avif 2x' type=image/avif><img src=d.jpg></picture>"
        "<picture><source srcset=e.webp type='image/webp'></picture><img src=f.jpg>",
        PAGE,
    )
    urls = [i.url.rsplit("/", 1)[1] for i in scan.items if isinstance(i, Reference)]
    assert urls == ["c.avif", "f.jpg"]


def test_scan_html_broken_markup_gives_warnings_not_errors() -> None:
    scan = scan_html(
        '<link rel=stylesheet href="a.css"<script src=x.js></scr><div><p><b></i>'
        "<style>@import 'u.css';",
        PAGE,
    )
    assert any("<style> is not closed" in w for w in scan.warnings)


@given(st.text(max_size=300))
def test_scan_html_never_fails(html: str) -> None:
    scan_html(html, PAGE)


def test_decode_html_uses_meta_charset_and_reports_bad_bytes() -> None:
    text, warnings = decode_html(b'<meta charset="windows-1252"><p>caf\xe9')
    assert text.endswith("caf\xe9")
    assert warnings == []
    text, warnings = decode_html(b"<p>caf\xe9 \xff")
    assert "\ufffd" in text
    assert warnings
    assert "not valid utf-8" in warnings[0]
    assert decode_html(b"<p>x", "nonsense-charset")[1] == [
        "unknown charset 'nonsense-charset'; read as UTF-8"
    ]


# --------------------------------------------------------------------------- discovery


HEAD = "<!doctype html><html><head><meta charset=utf-8><title>t</title>"


def test_weights_follow_the_documented_order() -> None:
    html = (
        HEAD + "<link rel=stylesheet href=/s.css>"
        "<link rel=preload as=image href=/pre.png>"
        "<script type=module src=/m.js></script><script src=/a.js async></script>"
        "<script src=/sync.js></script>"
        "<link rel=stylesheet href=https://cdn.example/x.css>"
        "</head><body><img src=/i.png><link rel=stylesheet href=/b.css>"
    )
    css = {"/s.css": "@font-face{src:url(/f.woff2)} .x{background:url(/bg.png)}", "/b.css": ""}
    assert entries(html, css, css_images=True) == [
        "90 <https://cdn.example>; rel=preconnect",
        "80 </s.css>; rel=preload; as=style",
        "70 </f.woff2>; rel=preload; as=font; crossorigin",
        "60 </sync.js>; rel=preload; as=script",
        "50 </pre.png>; rel=preload; as=image",
        "40 </m.js>; rel=modulepreload; as=script",
        "40 </a.js>; rel=preload; as=script",
        "30 </b.css>; rel=preload; as=style",
        "20 </i.png>; rel=preload; as=image",
        "10 </bg.png>; rel=preload; as=image",
    ]


def test_import_cycle_is_followed_once_with_a_warning() -> None:
    css = {
        "/a.css": "@import 'b.css'; @font-face{src:url(a.woff2)}",
        "/b.css": "@import url(/c.css);",
        "/c.css": "@import 'a.css'; @import 'b.css';",
    }
    load = Sheets(css)
    result = discover_page(HEAD + "<link rel=stylesheet href=a.css>", PAGE, load)
    assert [p.url for p in result.preloads] == ["/a.css", "/b.css", "/c.css", "/a.woff2"]
    assert sorted(load.calls) == ["/a.css", "/b.css", "/c.css"]
    cycles = [w for w in result.warnings if "@import cycle" in w]
    assert cycles == [
        "/c.css: @import cycle /a.css -> /b.css -> /c.css -> /a.css: not followed",
        "/c.css: @import cycle /b.css -> /c.css -> /b.css: not followed",
    ]


def test_unreadable_stylesheet_is_left_out_as_a_failure() -> None:
    html = (
        HEAD + "<link rel=stylesheet href=gone.css><link rel=stylesheet href=ok.css>"
        "<style>@import 'gone.css';</style><link rel=preload as=style href=gone.css>"
    )
    result = discover(html, {"/ok.css": ""})
    assert [p.url for p in result.preloads] == ["/ok.css"]
    assert set(result.failures) == {"stylesheet /gone.css: missing"}
    assert result.warnings == ()


def test_stylesheet_seen_first_as_non_blocking_is_followed_again_when_blocking() -> None:
    css = {"/p.css": "@import 'shared.css';", "/shared.css": "@font-face{src:url(f.woff2)}"}
    html = (
        HEAD + "<link rel=stylesheet href=p.css media=print><link rel=stylesheet href=shared.css>"
    )
    assert entries(html, css) == [
        "80 </shared.css>; rel=preload; as=style",
        "70 </f.woff2>; rel=preload; as=font; crossorigin",
        "30 </p.css>; rel=preload; as=style",
    ]


def test_cross_origin_becomes_preconnect_with_the_right_crossorigin() -> None:
    html = (
        HEAD + "<link rel=stylesheet href=https://fonts.example/css>"
        "<link rel=preload as=font href=https://static.example/f.woff2>"
        "<link rel=preconnect href=https://static.example crossorigin>"
        "<script type=module src=//modules.example/m.js></script>"
        "<link rel=preconnect href=/self>"
        "<style>@font-face{src:url(https://static.example/g.woff2)}</style>"
    )
    assert entries(html) == [
        "90 <https://fonts.example>; rel=preconnect",
        "90 <https://static.example>; rel=preconnect; crossorigin",
        "90 <https://modules.example>; rel=preconnect; crossorigin",
    ]


def test_origin_option_makes_absolute_urls_same_origin() -> None:
    html = HEAD + "<link rel=stylesheet href='https://www.example.com/a.css'>"
    result = discover_page(
        html,
        "https://www.example.com/",
        Sheets({"/a.css": ""}),
        DiscoverOptions(origin="https://www.example.com"),
    )
    assert [p.url for p in result.preloads] == ["/a.css"]


def test_declared_preloads_keep_their_attributes() -> None:
    html = (
        HEAD + "<link rel=preload as=fetch href=data.json>"
        "<link rel=preload as=font href=f.woff2 type=font/woff2 fetchpriority=HIGH>"
        "<link rel=preload as=script href=x.js crossorigin=use-credentials nopush>"
        "<link rel=preload as=image href=hero.png fetchpriority=bogus>"
        "<link rel=stylesheet href=s.css>"
    )
    assert entries(html, {"/s.css": "@font-face{src:url(f.woff2) format('woff2')}"}) == [
        "80 </s.css>; rel=preload; as=style",
        '70 </f.woff2>; rel=preload; as=font; type="font/woff2"; crossorigin; fetchpriority=high',
        "50 </data.json>; rel=preload; as=fetch; crossorigin",
        "50 </x.js>; rel=preload; as=script; crossorigin=use-credentials; nopush",
        "50 </hero.png>; rel=preload; as=image",
    ]


def test_declared_preload_without_as_falls_back_to_the_extension() -> None:
    result = discover(
        HEAD + "<link rel=preload href=data.json><link rel=preload href=blob as=bogus>"
    )
    assert [str(p) for p in result.preloads] == ["</data.json>; rel=preload; as=fetch; crossorigin"]
    assert len(result.warnings) == 2
    assert "listed as as=fetch from its extension" in result.warnings[0]


def test_declared_preload_that_does_not_match_its_use_is_reported() -> None:
    html = HEAD + "<link rel=preload as=script href=m.js><script type=module src=m.js></script>"
    result = discover(html)
    assert [str(p) for p in result.preloads] == ["</m.js>; rel=modulepreload; as=script"]
    assert result.preloads[0].weight == Weight.PRELOAD
    assert "browsers fetch it twice" in result.warnings[0]


def test_images_first_n_skip_lazy_and_data() -> None:
    html = (
        HEAD + "</head><body><img src=data:image/gif;base64,R0lG><img src=1.png loading=lazy>"
        "<img src=2.png><video poster=3.jpg></video><img srcset='4.png 1x, 4@2x.png 2x'>"
        "<img src=5.png>"
    )
    assert [p.url for p in discover(html, images=3).preloads] == ["/2.png", "/3.jpg", "/4.png"]
    assert [p.url for p in discover(html, images=0).preloads] == []
    assert len(discover(html, images=None).preloads) == 4


def test_urls_are_made_safe_for_a_link_header() -> None:
    html = HEAD + "<script src='/js/a b,c;d\u00e9.js?x=1&y=2#frag'></script>"
    assert [p.url for p in discover(html).preloads] == ["/js/a%20b%2Cc%3Bd%C3%A9.js?x=1&y=2"]


def test_discovery_is_deterministic() -> None:
    html = HEAD + "".join(
        f"<link rel=stylesheet href=/s{i}.css><img src=/i{i}.png>" for i in range(20)
    )
    css = {f"/s{i}.css": f"@font-face{{src:url(/f{i % 3}.woff2)}}" for i in range(20)}
    first = discover(html, css)
    assert all(discover(html, css) == first for _ in range(3))


# --------------------------------------------------------------------------- manifests


def preloads(*specs: str) -> tuple[Preload, ...]:
    result = []
    for spec in specs:
        weight, url, as_ = spec.split()
        if as_ == "preconnect":
            result.append(Preload(url=url, rel="preconnect", weight=int(weight)))
        else:
            result.append(Preload(url=url, as_=as_, weight=int(weight)))
    return tuple(result)


def test_cap_keeps_preconnects() -> None:
    found = preloads(
        "90 https://a.example preconnect", "80 /a.css style", "60 /b.js script", "20 /c.png image"
    )
    assert [p.url for p in cap_preloads(found, 1)] == ["https://a.example", "/a.css"]
    assert cap_preloads(found, None) == found


def test_merge_pages_keeps_the_highest_weight_and_first_order() -> None:
    merged = merge_pages(
        [
            preloads("80 /a.css style", "20 /shared.png image"),
            preloads("80 /b.css style", "60 /shared.png image", "20 /x.png image"),
        ]
    )
    assert [(p.url, p.weight) for p in merged] == [
        ("/a.css", 80),
        ("/b.css", 80),
        ("/shared.png", 60),
        ("/x.png", 20),
    ]


@pytest.mark.parametrize("multi", [False, True])
def test_build_manifest_round_trips(multi: bool) -> None:
    pages = {
        "index.html": preloads(
            "90 https://a.example preconnect", "80 /a.css style", "70 /f.woff2 font"
        ),
        "about/index.html": preloads("80 /a.css style", "40 /m.js script"),
        "empty.html": (),
    }
    data = build_manifest(pages, multi=multi)
    assert list(data) == (
        ["about/index.html", "empty.html", "index.html"]
        if multi
        else ["https://a.example", "/a.css", "/f.woff2", "/m.js"]
    )
    text = json.dumps(data, indent=2)
    assert json.dumps(Manifest.from_dict(json.loads(text)).to_dict(), indent=2) == text


def test_empty_multi_page_manifest_is_an_empty_object() -> None:
    assert manifest_entries({"a.html": (), "b.html": ()}, multi=True) == {None: ()}
    assert build_manifest({"a.html": (), "b.html": ()}, multi=True) == {}


def test_link_value_is_rfc8288() -> None:
    assert link_value(preloads("80 /a.css style", "70 /f.woff2 font")) == (
        "</a.css>; rel=preload; as=style, </f.woff2>; rel=preload; as=font; crossorigin"
    )
