"""One exception base: every h2push exception derives from ``h2push.H2PushError``."""

from __future__ import annotations

import pytest

import h2push
from h2push._core.digest import CacheDigest, DigestError
from h2push._core.vulcain import PreloadHeaderError, parse_preload

VALUE_ERRORS = [
    h2push.PreloadError,
    h2push.LinkValueError,
    h2push.ManifestError,
    DigestError,
    PreloadHeaderError,
]


@pytest.mark.parametrize("error", VALUE_ERRORS)
def test_value_errors_keep_value_error(error: type[Exception]) -> None:
    assert issubclass(error, h2push.H2PushError)
    assert issubclass(error, ValueError)


def test_a_link_value_raises_its_own_error() -> None:
    with pytest.raises(h2push.LinkValueError) as info:
        h2push.LinkValue("/a b")
    assert info.value.field == "target"
    assert not isinstance(info.value, h2push.PreloadError)


def test_a_bad_link_param_names_itself() -> None:
    with pytest.raises(h2push.LinkValueError) as info:
        h2push.LinkValue("/a", (("bad name", "x"),))
    assert info.value.field == "bad name"


def test_a_preload_still_raises_preload_error() -> None:
    with pytest.raises(h2push.PreloadError) as info:
        h2push.Preload(url="")
    assert info.value.field == "url"


def test_core_raise_sites_reach_the_base() -> None:
    with pytest.raises(h2push.H2PushError):
        h2push.Manifest.from_dict({"/": "not a mapping"})
    with pytest.raises(h2push.H2PushError):
        CacheDigest.from_base64url("!!")
    with pytest.raises(h2push.H2PushError):
        parse_preload("not a list of strings")


def test_tool_errors_reach_the_base() -> None:
    from h2push._tools.browser import BrowserError, BrowserTimeoutError
    from h2push._tools.trace.cookies import CookieJarError
    from h2push._tools.trace.models import TraceError

    for error in (BrowserError, BrowserTimeoutError, TraceError, CookieJarError):
        assert issubclass(error, h2push.H2PushError)
