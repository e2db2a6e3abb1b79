"""What the adapters share to declare preloads.

The default manifest path, the app manifest setting, and the route decorator that marks a
view or endpoint with its manifest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from h2push._core.manifest import Manifest

_Marked = TypeVar("_Marked", bound=Callable[..., Any])

ManifestSetting = str | os.PathLike[str] | Manifest | None
"""A manifest setting: a file path, a loaded :class:`~h2push.Manifest`, or None."""


class DefaultManifestPath(str):
    """The default manifest path: a missing file then means "no manifest", not an error."""

    __slots__ = ()


def check_count(name: str, value: object) -> None:
    """Check a setting that counts (pushes, seconds): an int >= 0, not a bool.

    Raises:
        TypeError: ``value`` is not an int (the message names the setting).
        ValueError: ``value`` is negative.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} {value} must not be negative")


def check_flag(name: str, value: object) -> None:
    """Check a setting that turns something on or off: a bool.

    Raises:
        TypeError: ``value`` is not a bool (the message names the setting).
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


def check_manifest_setting(setting: object) -> Manifest | str | None:
    """The manifest, the path (str) or None that an ``H2PUSH_MANIFEST`` setting names.

    Raises:
        TypeError: ``setting`` is neither a path, a Manifest nor None.
    """
    if setting is None or isinstance(setting, Manifest):
        return setting
    if not isinstance(setting, (str, os.PathLike)):
        raise TypeError(
            f"H2PUSH_MANIFEST must be a path, a Manifest or None, not {type(setting).__name__}"
        )
    return os.fspath(setting)


def manifest_marker(
    manifest: str | os.PathLike[str] | Manifest, attribute: str
) -> Callable[[_Marked], _Marked]:
    """A decorator that loads ``manifest`` beside what it decorates and sets it as an attribute.

    The decorated view or endpoint is returned unchanged (a framework still sees its
    signature); the adapter's resolver reads the attribute. A relative path is taken from the
    directory of the module that defines it (:meth:`Manifest.load_beside`).

    Raises:
        h2push.ManifestError: The file is missing or invalid (naming file, key, reason).
        TypeError: Used as ``@http2push`` without parentheses.
    """
    if callable(manifest) and not isinstance(manifest, Manifest):
        raise TypeError("use @http2push() or @http2push('path/to/manifest.json')")

    def decorator(marked: _Marked) -> _Marked:
        loaded = (
            manifest if isinstance(manifest, Manifest) else Manifest.load_beside(manifest, marked)
        )
        setattr(marked, attribute, loaded)
        return marked

    return decorator
