"""What a reverse proxy or CDN in front of the application does with preloads: the proxy modes.

Two kinds of proxy stand between a Python app and a browser, and each needs something else:

``"forwards-103"``
    The proxy passes an upstream ``103 Early Hints`` (RFC 8297) on to the client: Caddy 2,
    Apache httpd 2.4 with ``H2EarlyHints on``, nginx 1.29 or later with ``early_hints``,
    nghttpx, Cloudflare (which also makes 103s of its own from the Link header). The app sends
    its 103 as it would to a browser, and the Link header. Browsers take no push, so no client
    is tracked: a tracker cookie would only change the page's ``Cookie`` between the 103's
    preload and the page's use of it.

``"pushes-from-link"`` (``True``)
    The proxy turns the final response's ``Link: rel=preload`` values (and, for h2o, an
    upstream 103) into HTTP/2 pushes and does not forward a 103: nginx 1.13.9 to 1.25.0 with
    ``http2_push_preload on``, h2o 2.2. No 103 goes to it (nginx before 1.29 takes an upstream
    103 for the final response; h2o pushes from it, known to the client or not); the Link
    header carries what it needs, what the client has marked ``nopush``.

``None`` (``False``): no proxy is declared; the app talks to the client itself.
"""

from __future__ import annotations

from typing import Final, Literal

ProxyMode = Literal["forwards-103", "pushes-from-link"]

FORWARDS_103: Final = "forwards-103"
"""A proxy that forwards an upstream 103 Early Hints to the client."""

PUSHES_FROM_LINK: Final = "pushes-from-link"
"""A proxy that pushes from the Link header (and does not forward a 103)."""

PROXY_MODES: Final = (FORWARDS_103, PUSHES_FROM_LINK)


def proxy_mode(value: object, name: str = "proxy") -> ProxyMode | None:
    """Read a proxy setting: a mode name, ``True`` (``"pushes-from-link"``), or ``False``/None.

    Args:
        value: The setting as given (str, bool or None).
        name: The setting's name, for the error message (``proxy``, ``H2PUSH_PROXY``).

    Returns:
        ``"forwards-103"``, ``"pushes-from-link"``, or None when no proxy is declared.

    Raises:
        ValueError: A string that names no mode.
        TypeError: Any other type.
    """
    if value is None or value is False:
        return None
    if value is True:
        return PUSHES_FROM_LINK
    if isinstance(value, str):
        if value == FORWARDS_103:
            return FORWARDS_103
        if value == PUSHES_FROM_LINK:
            return PUSHES_FROM_LINK
        modes = ", ".join(repr(mode) for mode in PROXY_MODES)
        raise ValueError(f"{name} {value!r} is not a proxy mode: use {modes}, True or False")
    raise TypeError(
        f"{name} must be a proxy mode (str), a bool or None, not {type(value).__name__}"
    )
