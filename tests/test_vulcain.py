"""h2push._core.vulcain: the Preload header codec, JSON Pointer selection, same-origin
resolution."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import fuzz
from h2push._core.vulcain import (
    MAX_HEADER_BYTES,
    MAX_POINTER_TOKENS,
    MAX_POINTERS,
    PreloadHeaderError,
    Selected,
    format_pointer,
    format_preload,
    parse_fields,
    parse_pointer,
    parse_preload,
    same_origin_path,
    select,
)

# --------------------------------------------------------------------------- the header


@pytest.mark.parametrize(
    ("value", "pointers"),
    [
        ('"/items/*"', ("/items/*",)),
        ('"/member/*/author", "/author"', ("/member/*/author", "/author")),
        (b'"/a";rel=x;n=1;b=?1;s="q";t=tok, "/b"', ("/a", "/b")),
        ('"/a","/a"', ("/a",)),
        ('  "/a"  ,\t"/b"', ("/a", "/b")),
        ('"/with \\"quote\\" and \\\\"', ('/with "quote" and \\',)),
        ('"/a~1b/~0c"', ("/a~1b/~0c",)),
        ("", ()),
        ('""', ("",)),
    ],
)
def test_parse_preload(value: str | bytes, pointers: tuple[str, ...]) -> None:
    assert parse_preload(value) == pointers


@pytest.mark.parametrize(
    "value",
    [
        "/items/*",  # the draft's earlier unquoted form is not a Structured Field
        '"/a" "/b"',
        '"/a",',
        '"/a",,"/b"',
        '"/unterminated',
        '"/bad\\escape"',
        '"items"',  # not a JSON Pointer
        '"/a~2"',
        '"/a";Key=1',
        '"/a";k=?2',
        '("/a" "/b")',  # an inner list
        '"/é"',
    ],
)
def test_malformed_preload_is_refused(value: str) -> None:
    with pytest.raises(PreloadHeaderError, match="Preload"):
        parse_preload(value)


def test_limits() -> None:
    many = ", ".join(f'"/{i}"' for i in range(MAX_POINTERS + 1))
    with pytest.raises(PreloadHeaderError, match="more than"):
        parse_preload(many)
    deep = '"' + "/a" * (MAX_POINTER_TOKENS + 1) + '"'
    with pytest.raises(PreloadHeaderError, match="deeper"):
        parse_preload(deep)
    long = '"/' + "a" * MAX_HEADER_BYTES + '"'
    with pytest.raises(PreloadHeaderError, match="longer"):
        parse_preload(long)


def test_fields_has_the_same_syntax() -> None:
    assert parse_fields('"/name", "/price"') == ("/name", "/price")
    with pytest.raises(PreloadHeaderError, match="Fields"):
        parse_fields("name")


_TOKEN = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)
_POINTER = st.lists(_TOKEN, max_size=MAX_POINTER_TOKENS).map(format_pointer)


@fuzz
@given(st.lists(_POINTER, max_size=MAX_POINTERS, unique=True))
def test_format_then_parse_round_trips(pointers: list[str]) -> None:
    value = format_preload(pointers)
    if len(value) <= MAX_HEADER_BYTES:
        assert parse_preload(value) == tuple(pointers)
        assert parse_preload(value.encode("latin-1")) == tuple(pointers)


@fuzz
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_value_parses_or_raises_preload_error(value: str | bytes) -> None:
    try:
        pointers = parse_preload(value)
    except PreloadHeaderError:
        return
    assert len(pointers) <= MAX_POINTERS
    assert all(len(parse_pointer(p)) <= MAX_POINTER_TOKENS for p in pointers)


@fuzz
@given(st.lists(_TOKEN, max_size=MAX_POINTER_TOKENS))
def test_pointer_round_trips(tokens: list[str]) -> None:
    assert parse_pointer(format_pointer(tokens)) == tuple(tokens)


# --------------------------------------------------------------------------- selection

BOOKS = {
    "@id": "/books",
    "member": ["/books/1", "/books/2"],
    "author": "/people/9",
    "meta": {"next": "/books?page=2", "count": 2, "tags": ["a", None, 3]},
}


@pytest.mark.parametrize(
    ("pointers", "selected"),
    [
        (["/member/*"], [Selected("/books/1"), Selected("/books/2")]),
        (["/member/1"], [Selected("/books/2")]),
        (["/member/01", "/member/9", "/member/-"], []),
        (["/author", "/meta/next"], [Selected("/people/9"), Selected("/books?page=2")]),
        (
            ["/member/*/author", "/member/*/reviews/*"],
            [
                Selected("/books/1", ("/author", "/reviews/*")),
                Selected("/books/2", ("/author", "/reviews/*")),
            ],
        ),
        (
            ["/member/*", "/member/*/author"],
            [Selected("/books/1", ("/author",)), Selected("/books/2", ("/author",))],
        ),
        (["/meta/*"], [Selected("/books?page=2")]),
        (["/meta/count", "/meta/tags/*", "/meta", "/nothing/*"], [Selected("a")]),
    ],
)
def test_select(pointers: list[str], selected: list[Selected]) -> None:
    assert select(BOOKS, pointers) == selected


def test_select_is_bounded() -> None:
    document = {"items": [f"/items/{i}" for i in range(1000)]}
    assert len(select(document, ["/items/*"], max_urls=10)) == 10
    # The document and the array are visits too.
    assert len(select(document, ["/items/*"], max_visits=52)) == 50
    assert select(document, ["/items/*"], max_urls=0) == []


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=40,
)


@fuzz
@given(_JSON, st.lists(st.sampled_from(["/*", "/*/*", "/0", "/a/*", "/*/a/*/b", ""]), max_size=4))
def test_select_any_document(document: Any, pointers: list[str]) -> None:
    found = select(document, pointers, max_urls=7)
    assert len(found) <= 7
    assert len({s.url for s in found}) == len(found)
    strings = json.dumps(document)
    for selection in found:
        assert json.dumps(selection.url) in strings
        for nested in selection.preload:
            parse_pointer(nested)


# --------------------------------------------------------------------------- same origin


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/items/1", "/items/1"),
        ("items/1", "/api/items/1"),
        ("../x", "/x"),
        ("https://api.test:8443/items/1?full=1#frag", "/items/1?full=1"),
        ("HTTPS://API.TEST:8443/a", "/a"),
        ("https://api.test/items/1", None),  # another port
        ("http://api.test:8443/items/1", None),
        ("//evil.test/items/1", None),
        ("https://evil.test:8443/", None),
        ("/a b", None),
        ("/a\r\nSet-Cookie: x", None),
        ("/a>", None),
        ("/a,b", None),
        ("", None),
        ("/" + "a" * 3000, None),
        ("javascript:alert(1)", None),
    ],
)
def test_same_origin_path(url: str, path: str | None) -> None:
    found = same_origin_path(url, base_path="/api/list", scheme="https", authority="api.test:8443")
    assert found == path


@fuzz
@given(st.text(max_size=60))
def test_same_origin_path_never_leaves_the_origin(url: str) -> None:
    found = same_origin_path(url, base_path="/a/b", scheme="https", authority="h.test")
    if found is not None:
        assert found.startswith("/")
        assert not found.startswith("//")
        assert not any(c in found for c in "\r\n\0 <>,")
