"""Preload values and the RFC 8288 Link header codec."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import FORBIDDEN_IN_HEADERS, fuzz
from h2push._core.links import (
    PRELOAD_DESTINATIONS,
    LinkValue,
    Preload,
    PreloadError,
    format_link_header,
    link_additions,
    merge_link_header,
    parse_link_header,
    split_link_header,
)

# --- Preload -----------------------------------------------------------------------------------


def test_str_is_the_link_value() -> None:
    assert (
        str(Preload(url="/static/app.css", as_="style"))
        == "</static/app.css>; rel=preload; as=style"
    )


def test_every_attribute_is_written() -> None:
    preload = Preload(
        url="/f.woff2",
        as_="font",
        type="font/woff2",
        crossorigin="use-credentials",
        fetchpriority="high",
        nopush=True,
    )
    assert str(preload) == (
        '</f.woff2>; rel=preload; as=font; type="font/woff2"; crossorigin=use-credentials;'
        " fetchpriority=high; nopush"
    )


@pytest.mark.parametrize("as_", ["font", "fetch"])
def test_font_and_fetch_default_to_crossorigin_anonymous(as_: str) -> None:
    preload = Preload(url="/x", as_=as_)
    assert preload.crossorigin == "anonymous"
    assert str(preload).endswith("; crossorigin")


def test_style_has_no_crossorigin_by_default() -> None:
    assert Preload(url="/x.css", as_="style").crossorigin is None


def test_preconnect_takes_an_origin() -> None:
    preload = Preload(url="https://fonts.example", rel="preconnect")
    assert str(preload) == "<https://fonts.example>; rel=preconnect"
    assert not preload.pushable
    assert preload.hintable
    with pytest.raises(PreloadError, match="origin"):
        Preload(url="/x", rel="preconnect")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "/a.css>; rel=preload, </evil"}, "url"),
        ({"url": "/a.css\r\nSet-Cookie: x=1"}, "url"),
        ({"url": "/a\0"}, "url"),
        ({"url": "/a b"}, "url"),
        ({"url": '/a"'}, "url"),
        ({"url": "/a;b"}, "url"),
        ({"url": "/a,b"}, "url"),
        ({"url": "/é"}, "url"),
        ({"url": "relative.css"}, "url"),
        ({"url": ""}, "url"),
        ({"url": "/a", "as_": "style\r\nSet-Cookie: x=1"}, "as_"),
        ({"url": "/a", "as_": "stylesheet"}, "as_"),
        ({"url": "/a", "rel": "prefetch"}, "rel"),
        ({"url": "/a", "crossorigin": "yes"}, "crossorigin"),
        ({"url": "/a", "type": "text/css\r\n"}, "type"),
        ({"url": "/a", "type": "css"}, "type"),
        ({"url": "/a", "fetchpriority": "urgent"}, "fetchpriority"),
        ({"url": "/a", "weight": -1}, "weight"),
    ],
)
def test_invalid_fields_are_rejected_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=field.rstrip("_")) as info:
        Preload(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, PreloadError)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs"), [{"url": 1}, {"url": "/a", "weight": 1.5}, {"url": "/a", "nopush": 1}]
)
def test_wrong_types_are_type_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        Preload(**kwargs)  # type: ignore[arg-type]


def test_pushable_and_hintable() -> None:
    assert Preload(url="/a.css", as_="style").pushable
    assert not Preload(url="/a.css", as_="style", nopush=True).pushable
    assert not Preload(url="https://cdn.example/a.css", as_="style").pushable
    assert not Preload(url="//cdn.example/a.css", as_="style").pushable
    assert Preload(url="/m.js", rel="modulepreload").hintable
    assert not Preload(url="/a").hintable  # a preload without `as` is never hinted
    assert not Preload(url="/v.mp4", as_="video").hintable


def test_preloads_are_values() -> None:
    assert Preload(url="/a", as_="style") == Preload(url="/a", as_="style")
    assert len({Preload(url="/a"), Preload(url="/a")}) == 1
    with pytest.raises(AttributeError):
        Preload(url="/a").url = "/b"  # type: ignore[misc]


# --- parsing -----------------------------------------------------------------------------------


def test_parse_quoted_strings_with_commas_and_semicolons() -> None:
    values = parse_link_header(
        '</a>; rel="preload nofollow"; title="a, b; \\"c\\"", <https://x>; rel=preconnect'
    )
    assert values == [
        LinkValue("/a", (("rel", "preload nofollow"), ("title", 'a, b; "c"'))),
        LinkValue("https://x", (("rel", "preconnect"),)),
    ]
    assert values[0].rels == {"preload", "nofollow"}


def test_split_keeps_each_link_value_as_written_even_a_malformed_one() -> None:
    text = ' ,</a,b>; title="x, \\"y\\", z" ,, not a link; rel=preload, </c>;rel=preload,'
    assert split_link_header(text) == [
        '</a,b>; title="x, \\"y\\", z"',
        "not a link; rel=preload",
        "</c>;rel=preload",
    ]


def test_parse_is_lenient_about_spacing_case_and_empty_elements() -> None:
    values = parse_link_header(" ,</a>;REL=Preload ;AS = style;nopush ,, </b>; ; rel=preload,")
    assert [v.target for v in values] == ["/a", "/b"]
    assert values[0].get("as") == "style"
    assert values[0].has("NOPUSH")
    assert values[0].rels == {"preload"}


def test_malformed_values_are_skipped_or_raise_when_strict() -> None:
    text = 'garbage, </ok>; rel=preload, </q>; title="unterminated'
    assert [v.target for v in parse_link_header(text)] == ["/ok"]
    with pytest.raises(ValueError, match="offset 0"):
        parse_link_header(text, strict=True)


def test_from_link_value() -> None:
    (value,) = parse_link_header('</f.woff2>; rel=preload; as=font; crossorigin; type="font/woff2"')
    assert Preload.from_link_value(value) == Preload(url="/f.woff2", as_="font", type="font/woff2")
    (canonical,) = parse_link_header("</>; rel=canonical")
    with pytest.raises(ValueError, match="resource hint"):
        Preload.from_link_value(canonical)


# --- merging -----------------------------------------------------------------------------------


def test_merge_appends_and_never_overwrites() -> None:
    existing = "<https://cdn.example>; rel=preconnect, </a.css>; rel=preload; as=style"
    merged = merge_link_header(
        existing, [Preload(url="/a.css", as_="style"), Preload(url="/b.js", as_="script")]
    )
    assert merged == existing + ", </b.js>; rel=preload; as=script"
    assert link_additions(existing, [Preload(url="/a.css", as_="style", nopush=True)]) is None
    assert merge_link_header(None, []) is None
    assert merge_link_header(None, [Preload(url="/b")]) == "</b>; rel=preload"


# --- properties --------------------------------------------------------------------------------

_token = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~", min_size=1, max_size=12
)
_target_chars = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>,;\\')
_paths = st.text(alphabet=_target_chars, min_size=0, max_size=40).map(lambda s: "/" + s)
_param_values = st.one_of(
    st.none(), st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
)
_link_values = st.builds(
    LinkValue,
    target=_paths,
    params=st.lists(st.tuples(_token.map(str.lower), _param_values), max_size=5).map(tuple),
)
_preloads = st.builds(
    Preload,
    url=_paths,
    rel=st.sampled_from(["preload", "modulepreload"]),
    as_=st.one_of(st.none(), st.sampled_from(sorted(PRELOAD_DESTINATIONS))),
    crossorigin=st.sampled_from([None, "anonymous", "use-credentials"]),
    type=st.one_of(st.none(), st.tuples(_token, _token).map("/".join)),
    fetchpriority=st.sampled_from([None, "high", "low", "auto"]),
    nopush=st.booleans(),
)


@given(st.lists(_link_values, max_size=6))
def test_link_values_round_trip(values: list[LinkValue]) -> None:
    assert parse_link_header(format_link_header(values), strict=True) == values


@given(st.lists(_preloads, max_size=6))
def test_preloads_round_trip(preloads: list[Preload]) -> None:
    parsed = [
        Preload.from_link_value(v)
        for v in parse_link_header(format_link_header(preloads), strict=True)
    ]
    assert parsed == preloads


@fuzz
@given(st.text(max_size=200))
def test_parse_never_fails_on_arbitrary_text(text: str) -> None:
    for value in parse_link_header(text):
        assert not any(c in str(value) for c in FORBIDDEN_IN_HEADERS)


# Link headers as a server receives them from an application or an upstream: built from the
# grammar's own pieces (RFC 8288 §3), so most are nearly right, then spliced with stray bytes.
_link_piece = st.one_of(
    st.sampled_from(
        [
            "<",
            ">",
            ";",
            ",",
            "=",
            '"',
            "\\",
            " ",
            "\t",
            "\r\n",
            "\0",
            "rel",
            "preload",
            "nopush",
            "as",
            "style",
            "crossorigin",
            "modulepreload",
            "preconnect",
            "//",
            "/a.css",
            "https://cdn.example/x.js",
            'rel="preload next"',
            "as=STYLE",
            "title*=UTF-8''%e2",
            "\u00e9",
            "\ud800",
        ]
    ),
    _token,
    st.text(max_size=8),
)
_link_texts = st.lists(_link_piece, max_size=24).map("".join)


@fuzz
@given(text=_link_texts)
def test_parse_of_near_valid_link_headers_is_safe_and_stable(text: str) -> None:
    values = parse_link_header(text)
    written = format_link_header(values)
    assert not any(c in written for c in FORBIDDEN_IN_HEADERS)
    assert parse_link_header(written, strict=True) == values  # what it keeps, it keeps whole
    try:
        strict = parse_link_header(text, strict=True)
    except ValueError:
        return
    assert strict == values


@fuzz
@given(
    existing=st.one_of(st.none(), _link_texts),
    additions=st.lists(_preloads, max_size=4),
    nopush=st.booleans(),
)
def test_merging_into_any_app_link_header_is_safe(
    existing: str | None, additions: list[Preload], nopush: bool
) -> None:
    if nopush:
        additions = [p.as_nopush for p in additions]
    extra = link_additions(existing, additions)
    # The application's value goes out as it is (its own to get right); h2push's part is safe
    # and well-formed (what it holds: the next test, where the application's value is known).
    assert merge_link_header(existing, additions) == (
        ", ".join(part for part in (existing, extra) if part) or None
    )
    if extra is not None:
        assert not any(c in extra for c in FORBIDDEN_IN_HEADERS)
        assert extra.isascii()
        assert parse_link_header(extra, strict=True)  # well-formed, every link-value kept


_RELS = ["preload", "modulepreload", "preconnect", "preload next", "next"]


def _read_target_rels(header: str) -> list[tuple[str, str]]:
    """``(target, rel)`` of each link-value of a header h2push wrote (the test's own reading).

    Targets never hold ``<>,;`` (they are percent-encoded) and h2push's parameters never hold a
    comma, so a regular expression reads them (RFC 8288 §3).
    """
    found = []
    for target, params in re.findall(r"<([^>]*)>((?:\s*;[^,;]*)*)", header):
        rel = re.search(r';\s*rel="?([^";]*)"?', params)
        assert rel is not None, header
        found.append((target, rel.group(1)))
    return found


@fuzz
@given(
    existing=st.lists(st.tuples(_paths, st.sampled_from(_RELS)), max_size=4),
    additions=st.lists(_preloads, max_size=4),
    nopush=st.booleans(),
)
def test_merging_adds_each_preload_the_app_link_header_lacks_once(
    existing: list[tuple[str, str]], additions: list[Preload], nopush: bool
) -> None:
    if nopush:
        additions = [p.as_nopush for p in additions]
    # The application's header, written out by the test; what it already has, by construction.
    text = ", ".join(f'<{url}>; rel="{rel}"' for url, rel in existing) or None
    had = {(url, rel) for url, rels in existing for rel in rels.split()}
    wanted = {(p.url, p.rel) for p in additions} - had
    extra = link_additions(text, additions)
    if extra is None:
        assert not wanted
        return
    added = _read_target_rels(extra)
    assert set(added) == wanted
    assert len(added) == len(wanted)  # each once


@fuzz
@given(
    url=st.text(max_size=60),
    as_=st.one_of(st.none(), st.text(max_size=30)),
    type_=st.one_of(st.none(), st.text(max_size=30)),
)
def test_no_input_yields_a_header_with_cr_lf_or_nul(
    url: str, as_: str | None, type_: str | None
) -> None:
    try:
        preload = Preload(url=url, as_=as_, type=type_)
    except ValueError:
        return
    text = format_link_header([preload])
    assert not any(c in text for c in FORBIDDEN_IN_HEADERS)
    assert text.isascii()
