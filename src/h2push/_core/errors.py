"""The root of every exception h2push raises.

:class:`H2PushError` is exported from :mod:`h2push`: ``except h2push.H2PushError`` catches
anything h2push itself raises. Errors about a value the caller passed (a manifest, a preload, a
link-value, a cache digest) also derive from :class:`ValueError`, so code written against the
built-in keeps working.
"""

from __future__ import annotations


class H2PushError(Exception):
    """Base class of every exception h2push raises (a bad value, a failed trace, a tool error)."""
