"""Push manifests: both http2-push-manifest formats, and errors that name file, key and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from h2push import Manifest, ManifestError, Preload


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "push_manifest.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_single_page_applies_to_every_navigation(tmp_path: Path) -> None:
    manifest = Manifest.load(
        write(
            tmp_path,
            {
                "/app.js": {"type": "script", "weight": 1},
                "/app.css": {"type": "style", "weight": 4},
            },
        )
    )
    assert not manifest.multi_page
    expected = (
        Preload(url="/app.css", as_="style", weight=4),
        Preload(url="/app.js", as_="script", weight=1),
    )
    assert manifest.preloads_for("/") == expected
    assert manifest.preloads_for("/any/page") == expected
    assert manifest.preloads_for("/", navigation=False) == ()


def test_multi_page_applies_to_the_pages_it_names(tmp_path: Path) -> None:
    manifest = Manifest.load(
        write(
            tmp_path,
            {
                "index.html": {"/home.css": {"type": "style", "weight": 1}},
                "about.html": {"/about.css": {"type": "style", "weight": 1}},
                "blog/index.html": {"/blog.css": {"type": "style", "weight": 1}},
            },
        )
    )
    assert manifest.multi_page
    for path in ("/", "/index.html"):
        assert [p.url for p in manifest.preloads_for(path)] == ["/home.css"]
    for path in ("/about", "/about.html"):
        assert [p.url for p in manifest.preloads_for(path)] == ["/about.css"]
    for path in ("/blog/", "/blog", "/blog/index.html"):
        assert [p.url for p in manifest.preloads_for(path)] == ["/blog.css"]
    assert manifest.preloads_for("/contact") == ()


def test_a_multi_page_manifest_of_empty_pages(tmp_path: Path) -> None:
    manifest = Manifest.load(write(tmp_path, {"index.html": {}, "about.html": {}}))
    assert manifest.multi_page
    assert manifest.preloads_for("/") == ()
    assert Manifest.from_dict(manifest.to_dict()).entries == manifest.entries


def test_extra_keys(tmp_path: Path) -> None:
    manifest = Manifest.load(
        write(
            tmp_path,
            {
                "/f.woff2": {"type": "font", "weight": 2},
                "/raw": {"type": "", "weight": 1},
                "/m.js": {"type": "script", "rel": "modulepreload", "fetchpriority": "high"},
                "/big.png": {"type": "image", "nopush": True, "crossorigin": "use-credentials"},
                "https://fonts.example": {"type": "", "rel": "preconnect"},
            },
        )
    )
    by_url = {p.url: p for p in manifest.preloads_for("/")}
    assert by_url["/f.woff2"].crossorigin == "anonymous"
    assert by_url["/raw"].as_ is None
    assert by_url["/raw"].pushable
    assert not by_url["/raw"].hintable
    assert by_url["/m.js"].rel == "modulepreload"
    assert by_url["/m.js"].weight == 1  # the default weight
    assert by_url["/big.png"].nopush
    assert by_url["https://fonts.example"].rel == "preconnect"


def test_ties_keep_file_order(tmp_path: Path) -> None:
    manifest = Manifest.load(
        write(
            tmp_path,
            '{"/b": {"type": "script", "weight": 1}, "/a": {"type": "script", "weight": 1}}',
        )
    )
    assert [p.url for p in manifest.preloads_for("/")] == ["/b", "/a"]


@pytest.mark.parametrize(
    ("document", "key", "reason"),
    [
        ("{not json", "", "not valid JSON"),
        ("[]", "", "must be a JSON object"),
        ('{"/a": {"type": "style"}, "/a": {"type": "script"}}', '"/a"', "twice"),
        (
            {"/a.css": {"type": "styel", "weight": 1}},
            '"/a.css" > "type"',
            "not a fetch destination",
        ),
        ({"/a.css": {"type": "style", "weight": -1}}, '"/a.css" > "weight"', "negative"),
        ({"/a.css": {"type": "style", "weight": "1"}}, '"/a.css" > "weight"', "wrong type"),
        ({"/a.css": {"type": "style", "wieght": 1}}, '"/a.css" > "wieght"', "unknown key"),
        ({"app.css": {"type": "style", "weight": 1}}, '"app.css"', "absolute path"),
        (
            {"https://cdn.example/a.css": {"type": "style"}},
            '"https://cdn.example/a.css"',
            "other origins",
        ),
        ({"//cdn.example/a.css": {"type": "style"}}, '"//cdn.example/a.css"', "absolute path"),
        (
            {"/a.css\r\nSet-Cookie: x=1": {"type": "style"}},
            '"/a.css\\r\\nSet-Cookie: x=1"',
            "control characters",
        ),
        ({"/a.css": "style"}, '"/a.css"', "must be an object"),
        (
            {"/a.css": {"type": "style", "crossorigin": "yes"}},
            '"/a.css" > "crossorigin"',
            "anonymous",
        ),
        (
            {"index.html": {"/a.css": {"type": "bogus"}}},
            '"index.html" > "/a.css" > "type"',
            "fetch destination",
        ),
        (
            {"index.html": {"/a.css": {"type": "style"}}, "about.html": 3},
            '"about.html"',
            "must be an object",
        ),
    ],
)
def test_errors_name_file_key_and_reason(
    tmp_path: Path, document: object, key: str, reason: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(ManifestError) as info:
        Manifest.load(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert key in message
    assert reason in message
    assert info.value.source == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot be read"):
        Manifest.load(tmp_path / "nope.json")


_entries = st.dictionaries(
    st.from_regex(r"/[a-z0-9._-][a-z0-9/._-]{0,19}", fullmatch=True),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["", "style", "script", "image", "font", "fetch", "document"]),
            "weight": st.integers(0, 100),
        },
        optional={
            "nopush": st.just(True),
            "fetchpriority": st.sampled_from(["high", "low", "auto"]),
        },
    ),
    max_size=8,
)


@given(
    st.one_of(
        _entries,
        st.dictionaries(
            st.sampled_from(["index.html", "about.html", "a/index.html"]),
            _entries.filter(bool),
            max_size=3,
        ),
    )
)
def test_to_dict_round_trips(data: dict[str, object]) -> None:
    manifest = Manifest.from_dict(data)
    again = Manifest.from_dict(json.loads(json.dumps(manifest.to_dict())))
    assert again.entries == manifest.entries
    assert again.to_dict() == manifest.to_dict()
