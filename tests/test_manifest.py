"""Push manifests: both http2-push-manifest formats, and errors that name file, key and reason."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import FORBIDDEN_IN_HEADERS, fuzz
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


# --- fuzz: whatever a manifest file holds, loading it either works or names the problem --------

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["style", "script", "font", "image", "fetch", "document", "high", "", "/"]),
)
_entry_keys = st.one_of(
    st.sampled_from(["type", "weight", "nopush", "fetchpriority", "crossorigin", "as", "rel"]),
    st.text(max_size=12),
)
_urls = st.one_of(
    st.sampled_from(["/a.css", "//evil.example/x.js", "https://cdn.example/f.woff2", "/a b"]),
    st.text(max_size=30),
    st.text(max_size=30).map(lambda s: "/" + s),
)
_entry = st.dictionaries(_entry_keys, _json_scalars, max_size=5)
_flat = st.dictionaries(_urls, st.one_of(_entry, _json_scalars), max_size=5)
_documents = st.one_of(
    _flat,
    st.dictionaries(
        st.one_of(st.sampled_from(["index.html", "a/index.html", "/"]), st.text(max_size=15)),
        st.one_of(_flat, _json_scalars),
        max_size=3,
    ),
    _json_scalars,
    st.lists(_json_scalars, max_size=3),
)


def _check_loaded(manifest: Manifest, paths: list[str]) -> None:
    for path in paths:
        for navigation in (True, False):
            for preload in manifest.preloads_for(path, navigation=navigation):
                text = str(preload)
                assert not any(c in text for c in FORBIDDEN_IN_HEADERS)
                assert text.isascii()
                if preload.pushable:  # a push is only ever for this origin's absolute path
                    assert preload.url.startswith("/")
                    assert not preload.url.startswith("//")


def _check_error(error: ManifestError, source: str) -> None:
    """One line naming the source, the keys to the problem, and the problem."""
    assert error.source == source
    assert error.reason
    assert str(error).startswith(f"{source}: ")
    assert "\n" not in str(error)
    assert "\r" not in str(error)


@fuzz
@given(document=_documents, paths=st.lists(st.text(max_size=20).map(lambda s: "/" + s), max_size=3))
def test_any_manifest_document_loads_or_raises_manifest_error(
    document: object, paths: list[str]
) -> None:
    try:
        manifest = Manifest.from_dict(document)  # type: ignore[arg-type]
    except ManifestError as error:
        failure = error
    else:
        failure = None
    if failure is not None:
        _check_error(failure, "<mapping>")
        return
    _check_loaded(manifest, ["/", "/index.html", "/a/", *paths])
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))).to_dict() == (
        manifest.to_dict()
    )


@fuzz
@given(
    content=st.one_of(
        st.binary(max_size=200),
        _documents.map(json.dumps).map(str.encode),
        st.tuples(_documents.map(json.dumps), st.integers(0, 200)).map(
            lambda t: t[0][: t[1]].encode()  # cut short, as a file being written is
        ),
    )
)
def test_any_manifest_file_loads_or_names_itself_in_the_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "push_manifest.json"
        path.write_bytes(content)
        try:
            manifest = Manifest.load(path)
        except ManifestError as error:
            failure = error
        else:
            failure = None
    if failure is not None:
        _check_error(failure, str(path))
        return
    _check_loaded(manifest, ["/", "/index.html"])
