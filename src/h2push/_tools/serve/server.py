"""``h2push serve`` and ``h2push demo``: any ASGI or WSGI app on Hypercorn, over TLS, with h2push.

``h2push serve module:attribute`` imports the application (the current directory first on
``sys.path``, as Gunicorn and Uvicorn do), tells ASGI from WSGI by looking at it
(:func:`detect_interface`), wraps it in :class:`h2push.asgi.H2PushMiddleware` (:func:`build_app`;
a WSGI app through ``a2wsgi`` first, because Hypercorn offers push only to ASGI apps) and serves
it with Hypercorn over TLS with ALPN ``h2`` and ``http/1.1`` (RFC 7301), because browsers speak
HTTP/2 only over TLS. Without ``--certfile``/``--keyfile`` it uses the local development
certificate of :mod:`h2push._tools.serve.devcert` and prints what a browser needs to trust it.

``h2push demo`` serves the bundled demo site (:mod:`h2push._tools.demo`) the same way, with its
``push_manifest.json``.

``--http3`` adds Hypercorn's QUIC listener (aioquic) on the same address over UDP: every
response then carries ``Alt-Svc: h3=":PORT"`` (RFC 7838), and over HTTP/3 (RFC 9114) the 103
and the pushes go out as over HTTP/2. The banner's Chromium line then forces QUIC for the
origin (``--enable-quic --origin-to-force-quic-on=HOST:PORT``).

``--rtt-ms`` puts a latency-emulating relay (:mod:`h2push._tools.serve.netem`) on the listening
address, so
that a browser on the same machine sees a network's round trip. The demo uses 50 ms by default:
over a bare loopback Chromium drops a 103 that reaches it before it has finished sending its
own request (a race a real network never loses), and a page served in 0 ms shows no gain.

One worker runs in this process (:func:`hypercorn.asyncio.serve`; SIGINT and SIGTERM stop it
gracefully). With ``--workers N`` Hypercorn starts N processes, each of which imports the app
again by the path ``h2push._tools.serve.server:_worker_app()``; the options reach them in the
environment
variable :data:`OPTIONS_ENV`.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib
import inspect
import ipaddress
import json
import logging
import os
import ssl
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, cast

import click
import hypercorn.logging
from hypercorn.config import Config

from h2push._core.errors import H2PushError
from h2push._core.manifest import Manifest, ManifestError
from h2push._core.plan import DEFAULT_MAX_PUSHES
from h2push._delivery.asgi_types import ASGIApp, Message, Receive, Scope, Send
from h2push._tools._common import free_port
from h2push._tools._options import rtt_ms_option
from h2push._tools.serve import _hypercorn_fixes as hypercorn_fixes
from h2push._tools.serve.devcert import (
    DNS_NAMES,
    IP_ADDRESSES,
    chromium_shell_command,
    ensure_dev_certificate,
    spki_sha256_base64,
)
from h2push._tools.serve.netem import LatencyRelay
from h2push.asgi import DEFAULT_MAX_PUSHES_PER_CONNECTION, H2PushMiddleware
from h2push.versions import StaticVersions

Interface = Literal["asgi", "wsgi"]

logger = logging.getLogger("h2push")

DEFAULT_BIND: Final = "127.0.0.1:8443"
"""Where ``serve`` and ``demo`` listen unless ``--bind`` says otherwise."""

OPTIONS_ENV: Final = "H2PUSH_SERVE_OPTIONS"
"""Environment variable that carries :class:`ServeOptions` (JSON) to Hypercorn's workers."""

DEMO_APP: Final = "h2push._tools.demo:app"
"""The ``module:attribute`` of the bundled demo site."""

_WORKER_APP_PATH: Final = "asgi:h2push._tools.serve.server:_worker_app()"
"""Hypercorn's application path for workers: mode, module and an expression it evaluates."""

DEMO_RTT_MS: Final = 50.0
"""The round trip the demo emulates by default, in milliseconds (``h2push demo --rtt-ms``)."""

_ALPN_PROTOCOLS: Final = ("h2", "http/1.1")

_WILDCARD_HOSTS: Final = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind


class AppLoadError(H2PushError):
    """The APP given to ``serve`` cannot be imported or is not an ASGI or WSGI application.

    The message is one line, fit to show a user without a traceback.
    """


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """What ``h2push serve`` was asked to do.

    Attributes:
        app (str): The application as ``module:attribute`` (``module`` alone means
            ``module:app``); the attribute may be dotted (``module:holder.app``).
        bind (str): ``HOST:PORT`` to listen on (``[::1]:8443`` for IPv6).
        manifest (str | None): A ``push_manifest.json`` (http2-push-manifest format) for the
            app's pages, or None.
        certfile (str | None): The server certificate chain (PEM); the development
            certificate when None.
        keyfile (str | None): The certificate's private key (PEM); with ``certfile`` only.
        workers (int): Worker processes; 1 runs in this process.
        push (bool): Send HTTP/2 server push (PUSH_PROMISE, RFC 9113 §8.4).
        early_hints (bool): Send 103 Early Hints (RFC 8297).
        access_log (bool): Write Hypercorn's access log to standard output.
        rtt_ms (float): A round-trip time to emulate between clients and the server, in
            milliseconds (a :class:`h2push._tools.serve.netem.LatencyRelay` on ``bind``); 0 for
            none.
        static_dir (str | None): The directory the app serves at ``/static/``, whose files'
            content hashes version what the tracker remembers; None for none.
        max_pushes (int | None): The most push promises per response; None for the app's
            own setting (a Flask app's ``H2PUSH_MAX_PUSHES``), else 10.
        max_pushes_per_connection (int | None): The most push promises on one connection over
            its life; None for no limit.
        http3 (bool): Also serve HTTP/3 over QUIC on the same address (UDP), with an
            ``Alt-Svc`` header on every response; needs aioquic (``h2push[http3]``).
    """

    app: str
    bind: str = DEFAULT_BIND
    manifest: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    workers: int = 1
    push: bool = True
    early_hints: bool = True
    access_log: bool = False
    rtt_ms: float = 0.0
    static_dir: str | None = None
    max_pushes: int | None = None
    max_pushes_per_connection: int | None = DEFAULT_MAX_PUSHES_PER_CONNECTION
    http3: bool = False


def parse_bind(bind: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (or ``[IPv6]:PORT``) into its host and port.

    Args:
        bind (str): e.g. ``"127.0.0.1:8443"``, ``"localhost:8443"``, ``"[::1]:8443"``.

    Returns:
        tuple[str, int]: The host (without brackets) and the TCP port.

    Raises:
        ValueError: No port, a port outside 1-65535, or an unbracketed IPv6 address.
    """
    host, separator, port_text = bind.rpartition(":")
    if not separator or not port_text.isdigit():
        raise ValueError(f"--bind {bind!r} must be HOST:PORT, e.g. {DEFAULT_BIND}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"--bind {bind!r}: write an IPv6 address in brackets, e.g. [::1]:8443")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"--bind {bind!r}: the port must be in 1-65535")
    return host, port


def _url(host: str, port: int) -> str:
    """The https URL a browser on this machine opens for a server bound to ``host:port``."""
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{port}/"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def import_app(spec: str) -> object:
    """Import the application ``module:attribute`` names, the current directory first on the path.

    The attribute may be a call of an application factory, as Flask's CLI and Hypercorn accept
    (``module:create_app()``, ``module:create_app("production")``: literal arguments only). A
    plain function that takes no argument (``module:create_app``) is such a factory too: it
    cannot be an ASGI or WSGI application, so it is called (Flask's CLI does the same).

    Args:
        spec (str): ``module:attribute``, ``module:attribute.sub``, ``module`` (meaning
            ``module:app``) or ``module:factory(ARGS)``.

    Returns:
        object: The attribute's value, or what the factory returned.

    Raises:
        AppLoadError: The spec is malformed, the module cannot be imported (or raised while
            being imported), the attribute does not exist, the factory failed, or the attribute
            is a function that needs arguments. One line, naming what failed and what to write.
    """
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or "app"
    path, call = _parse_attribute(spec, attribute)
    if not all(part.isidentifier() for part in module_name.split(".")):
        raise AppLoadError(f"APP {spec!r} must look like module:attribute, e.g. myproject.web:app")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and (
            module_name == error.name or module_name.startswith(error.name + ".")
        ):
            raise AppLoadError(
                f"cannot import {module_name!r}: no module named {error.name!r}"
                f" (looked in {cwd} and on sys.path)"
            ) from None
        raise AppLoadError(_import_failure(module_name, error)) from None
    except Exception as error:
        raise AppLoadError(_import_failure(module_name, error)) from None
    target: object = module
    missing = object()
    for depth, name in enumerate(path):
        target = getattr(target, name, missing)
        if target is missing:
            owner = ".".join([module_name, *path[:depth]])
            raise AppLoadError(f"{owner!r} has no attribute {name!r} (APP {spec!r})")
    name = f"{module_name}:{'.'.join(path)}"
    if call is not None:
        if not callable(target):
            raise AppLoadError(f"APP {spec!r}: {name} is not callable, so it is not a factory")
        return _call_factory(target, name, *call)
    if _is_factory(target, spec, name):
        return _call_factory(cast(Callable[..., object], target), name, (), {})
    return target


def _parse_attribute(
    spec: str, attribute: str
) -> tuple[list[str], tuple[tuple[Any, ...], dict[str, Any]] | None]:
    """Split ``attr.sub`` or ``factory(ARGS)`` into the attribute path and the call's arguments.

    Raises:
        AppLoadError: Not a dotted name or a call of one with literal arguments.
    """
    malformed = AppLoadError(
        f"APP {spec!r} must look like module:attribute or module:factory(), e.g."
        " myproject.web:app or myproject:create_app()"
    )
    try:
        node = ast.parse(attribute.strip(), mode="eval").body
    except SyntaxError:
        raise malformed from None
    call: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    if isinstance(node, ast.Call):
        try:
            args = tuple(ast.literal_eval(arg) for arg in node.args)
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
        except ValueError:
            raise AppLoadError(
                f"APP {spec!r}: a factory's arguments must be literals (strings, numbers, True,"
                " False, None, lists, dicts)"
            ) from None
        if len(kwargs) != len(node.keywords):
            raise malformed
        call, node = (args, kwargs), node.func
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise malformed
    return [node.id, *path], call


def _is_factory(target: object, spec: str, name: str) -> bool:
    """Whether ``target`` is a plain function to call for the application (no arguments).

    A WSGI application function takes two arguments (``environ``, ``start_response``) and an
    ASGI one is a coroutine function: neither is a factory.

    Raises:
        AppLoadError: A plain function that needs one argument, or more than two: it is neither
            an application nor a factory h2push can call; the message says what to write.
    """
    if not inspect.isfunction(target) or inspect.iscoroutinefunction(target):
        return False
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    required = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if not required:
        return True
    if len(required) == 2:  # WSGI's environ and start_response (PEP 3333)
        return False
    raise AppLoadError(
        f"APP {spec!r} is the function {target.__name__}{signature}, neither an application"
        f" nor a factory callable without arguments: write '{name}(...)' with its arguments"
        " (literals), or name the application object itself"
    )


def _call_factory(
    factory: Callable[..., object], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> object:
    """Call an application factory; one line about what went wrong.

    Raises:
        AppLoadError: The factory raised or returned None.
    """
    try:
        app = factory(*args, **kwargs)
    except Exception as error:
        frames = traceback.extract_tb(error.__traceback__)
        where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        message = f"the factory {name}() failed: {type(error).__name__}: {error}{where}"
        raise AppLoadError(" ".join(message.split())) from None
    if app is None:
        raise AppLoadError(f"the factory {name}() returned None, not an application")
    return app


def _import_failure(module_name: str, error: BaseException) -> str:
    """One line about an exception raised while importing ``module_name``, with its location."""
    message = f"importing {module_name!r} failed: {type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames and not isinstance(error, SyntaxError):  # a SyntaxError names its line itself
        message += f" ({frames[-1].filename}:{frames[-1].lineno})"
    return " ".join(message.split())


def detect_interface(target: object) -> Interface:
    """Tell whether ``target`` is an ASGI 3 or a WSGI application, as Hypercorn does.

    ASGI when ``target`` or its ``__call__`` is a coroutine function (:func:`inspect.
    iscoroutinefunction`); otherwise WSGI when it is callable (PEP 3333).

    Args:
        target (object): The application object.

    Returns:
        Literal["asgi", "wsgi"]: Its interface.

    Raises:
        AppLoadError: ``target`` is a class (an instance was meant) or not callable.
    """
    if inspect.isclass(target):
        raise AppLoadError(
            f"APP is the class {target.__qualname__}; give an application instance"
            " (an ASGI or WSGI callable)"
        )
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - the method itself is inspected
    ):
        return "asgi"
    if callable(target):
        return "wsgi"
    raise AppLoadError(
        f"APP is {type(target).__name__!r}, neither an ASGI nor a WSGI application (not callable)"
    )


def apply_hypercorn_fixes() -> None:
    """Patch Hypercorn for the servers h2push starts itself (``h2push serve``, its workers, bench).

    The patches are process-wide (:mod:`h2push._tools.serve._hypercorn_fixes`), so they are
    applied only in a process whose server h2push runs: never by :func:`build_app`, which
    :mod:`h2push.testing` calls inside a user's test run.
    """
    hypercorn_fixes.apply()  # release the streams of clients that leave (Hypercorn 0.18)
    # Hypercorn 0.18 offers push to clients that refused it (all browsers): a tracker would
    # then set its cookie on their pages, changing the Cookie header their hints were fetched
    # with. Offer push only to clients whose SETTINGS_ENABLE_PUSH allows it.
    hypercorn_fixes.offer_push_only_when_accepted()


def _is_flask_app(target: object) -> bool:
    """Whether ``target`` is a :class:`flask.Flask` (or a subclass), judged without importing."""
    return any(
        cls.__module__ == "flask.app" and cls.__name__ == "Flask" for cls in type(target).__mro__
    )


def _flask_options(target: object) -> dict[str, Any]:
    """A Flask app's middleware arguments (:func:`h2push.flask.middleware_options`), else {}.

    Flask is optional: :mod:`h2push.flask` is imported only for a Flask application (whose
    ``H2Push`` and ``@http2push`` declarations it reads), never for other apps.
    """
    if not _is_flask_app(target):
        return {}
    from h2push.flask import middleware_options  # noqa: PLC0415

    return middleware_options(target)


def build_app(
    target: object,
    interface: Interface,
    *,
    manifest: Manifest | None = None,
    push: bool = True,
    early_hints: bool = True,
    static_dir: str | None = None,
    max_pushes: int | None = None,
    max_pushes_per_connection: int | None = DEFAULT_MAX_PUSHES_PER_CONNECTION,
) -> ASGIApp:
    """Wrap an application in :class:`h2push.asgi.H2PushMiddleware`.

    An ASGI app is wrapped as it is. A WSGI app is bridged with ``a2wsgi.WSGIMiddleware`` first;
    the middleware then turns the ``Link: rel=preload`` values the app sets into pushes (like
    nginx's ``http2_push_preload``), and for a Flask app that uses :mod:`h2push.flask` its
    ``H2Push`` manifest and ``@http2push`` declarations are planned before the view runs, so
    that the 103 goes out early, within its ``H2PUSH_MAX_PUSHES``, with its tracker, and with
    no 103 when its ``H2PUSH_EARLY_HINTS`` is off (:func:`h2push.flask.middleware_options`).

    Args:
        target (object): The application.
        interface (Literal["asgi", "wsgi"]): What :func:`detect_interface` said about it.
        manifest (Manifest | None): Preloads for every request, or None.
        push (bool): Send HTTP/2 server push.
        early_hints (bool): Send 103 Early Hints.
        static_dir (str | None): The directory ``/static/`` serves; its files' content hashes
            version the tracker's keys, so a changed file is pushed again. A Flask app's
            static folder is used without it.
        max_pushes (int | None): The most push promises per response (>= 0); None for the
            Flask app's ``H2PUSH_MAX_PUSHES``, else 10.
        max_pushes_per_connection (int | None): The most push promises on one connection
            over its life (>= 0), or None for no limit.

    Returns:
        Callable: The ASGI 3 application to serve.
    """
    versions = StaticVersions(static_dir, "/static/") if static_dir is not None else None
    if interface == "asgi":
        inner: ASGIApp = cast(ASGIApp, target)
        if not (push and early_hints) or max_pushes is not None:
            inner = _Restrict(inner, push=push, early_hints=early_hints, max_pushes=max_pushes)
        return H2PushMiddleware(
            inner,
            manifest=manifest,
            push=push,
            early_hints=early_hints,
            versions=versions,
            max_pushes=DEFAULT_MAX_PUSHES if max_pushes is None else max_pushes,
            max_pushes_per_connection=max_pushes_per_connection,
        )
    from a2wsgi import WSGIMiddleware  # noqa: PLC0415 - only WSGI apps need the bridge

    flask: dict[str, Any] = {"max_pushes": DEFAULT_MAX_PUSHES, **_flask_options(target)}
    if max_pushes is not None:
        flask["max_pushes"] = max_pushes
    flask["early_hints"] = early_hints and flask.get("early_hints", True)
    flask["versions"] = versions or flask.get("versions")
    return H2PushMiddleware(
        cast(ASGIApp, WSGIMiddleware(cast(Any, target))),
        manifest=manifest,
        push=push,
        push_preload=True,
        max_pushes_per_connection=max_pushes_per_connection,
        **flask,
    )


_PUSH: Final = "http.response.push"
_EARLY_HINT: Final = "http.response.early_hint"


class _Restrict:
    """Hold an ASGI app that may deliver by itself to what ``serve`` was told.

    An app can bring its own :class:`h2push.asgi.H2PushMiddleware` (Django's
    :func:`h2push.django.get_asgi_application`, a Starlette app's middleware). ``--no-push``
    and ``--no-early-hints`` take the ASGI extensions ``http.response.push`` and
    ``http.response.early_hint`` out of the scope the app sees, so that it cannot send either;
    ``--max-pushes`` lets at most that many of its push messages through per response.
    """

    def __init__(
        self, app: ASGIApp, *, push: bool, early_hints: bool, max_pushes: int | None
    ) -> None:
        self.app = app
        self.withheld = {name for name, on in ((_PUSH, push), (_EARLY_HINT, early_hints)) if not on}
        self.max_pushes = max_pushes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.get("extensions")
        if scope["type"] != "http" or not extensions:
            await self.app(scope, receive, send)
            return
        scope = {
            **scope,
            "extensions": {k: v for k, v in extensions.items() if k not in self.withheld},
        }
        budget = self.max_pushes
        if budget is None:
            await self.app(scope, receive, send)
            return
        pushed = 0

        async def capped(message: Message) -> None:
            nonlocal pushed
            if message["type"] == _PUSH:
                if pushed >= budget:
                    return
                pushed += 1
            await send(message)

        await self.app(scope, receive, capped)


def load_app(options: ServeOptions) -> tuple[ASGIApp, Interface]:
    """Import, detect and wrap the application that ``options`` name.

    Args:
        options (ServeOptions): The ``app``, ``manifest``, ``push`` and ``early_hints`` fields
            are used.

    Returns:
        tuple[Callable, Literal["asgi", "wsgi"]]: The ASGI app to serve (:func:`build_app`'s)
        and the interface of the original one.

    Raises:
        AppLoadError: See :func:`import_app` and :func:`detect_interface`.
        ManifestError: The manifest file is missing or invalid.
    """
    target = import_app(options.app)
    interface = detect_interface(target)
    manifest = None if options.manifest is None else Manifest.load(options.manifest)
    wrapped = build_app(
        target,
        interface,
        manifest=manifest,
        push=options.push,
        early_hints=options.early_hints,
        static_dir=options.static_dir,
        max_pushes=options.max_pushes,
        max_pushes_per_connection=options.max_pushes_per_connection,
    )
    return wrapped, interface


def _worker_app() -> ASGIApp:
    """Build the application in a Hypercorn worker process (``--workers N``).

    Hypercorn evaluates :data:`_WORKER_APP_PATH` in each worker; the parent has checked the
    options already and put them in :data:`OPTIONS_ENV`.
    """
    options = ServeOptions(**json.loads(os.environ[OPTIONS_ENV]))
    apply_hypercorn_fixes()
    return load_app(options)[0]


class _Logger(hypercorn.logging.Logger):
    """Hypercorn's logger with the access log at INFO while the error log stays at WARNING.

    Hypercorn gives both loggers ``config.loglevel``; at WARNING (which keeps its own
    "Running on" lines, naming the relay's upstream, from the banner) its INFO access lines
    were dropped.
    """

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        if self.access_logger is not None:
            self.access_logger.setLevel(logging.INFO)


def _hypercorn_config(options: ServeOptions, certfile: str, keyfile: str) -> Config:
    config = Config()
    config.bind = [options.bind]
    config.certfile = certfile
    config.keyfile = keyfile
    config.alpn_protocols = list(_ALPN_PROTOCOLS)
    config.accesslog = "-" if options.access_log else None
    config.logger_class = _Logger
    # The banner names the URL; Hypercorn's own "Running on" would name the relay's upstream.
    config.loglevel = "WARNING"
    config.workers = options.workers
    if options.http3:
        # QUIC on the same host and port over UDP; Hypercorn adds Alt-Svc: h3=":PORT".
        config.quic_bind = [options.bind]
    return config


def _require_aioquic() -> None:
    """Fail with what to install when ``--http3`` is asked for without aioquic."""
    try:
        importlib.import_module("aioquic")
    except ImportError:
        raise click.ClickException("--http3 needs aioquic: pip install 'h2push[http3]'") from None


def _check_listen(config: Config) -> None:
    """Fail early, with one line, when the certificate or the address cannot be used.

    Raises:
        click.ClickException: The certificate or key cannot be loaded, or the address bound.
    """
    try:
        config.create_ssl_context()
    except (OSError, ssl.SSLError) as error:
        raise click.ClickException(
            f"cannot use certificate {config.certfile} with key {config.keyfile}: {error}"
        ) from None
    try:
        sockets = config.create_sockets()
    except OSError as error:
        reason = error.strerror or str(error)
        raise click.ClickException(f"cannot listen on {config.bind[0]}: {reason}") from None
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets, *sockets.quic_sockets]:
        sock.close()


def run(options: ServeOptions, *, title: str | None = None) -> int:
    """Serve an application as ``h2push serve`` does, until SIGINT or SIGTERM.

    Prints the URL; for the development certificate the CA file; the certificate's SPKI
    SHA-256; and a Chromium command line that trusts that key.

    Args:
        options (ServeOptions): What to serve and how.
        title (str | None): The first line printed; names the app when None.

    Returns:
        int: The exit status: 0 after a clean shutdown, else a worker's exit code.

    Raises:
        click.ClickException: A one-line error: the app, manifest, certificate or address
            cannot be used.
        click.UsageError: Only one of ``certfile`` and ``keyfile`` is given, or ``bind`` is
            malformed.
    """
    try:
        host, port = parse_bind(options.bind)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if (options.certfile is None) != (options.keyfile is None):
        raise click.UsageError("give both --certfile and --keyfile, or neither")
    if options.http3:
        _require_aioquic()
    apply_hypercorn_fixes()
    try:
        app, interface = load_app(options)
    except (AppLoadError, ManifestError) as error:
        raise click.ClickException(str(error)) from None

    lines = []
    if options.certfile is None or options.keyfile is None:
        try:
            dev = ensure_dev_certificate()
        except OSError as error:
            raise click.ClickException(
                f"cannot keep the development certificate: {error}"
            ) from None
        certfile, keyfile = str(dev.cert_file), str(dev.key_file)
        spki = dev.spki_sha256
        lines.append(("CA file", str(dev.ca_file)))
    else:
        certfile, keyfile = options.certfile, options.keyfile
        try:
            spki = spki_sha256_base64(Path(certfile).read_bytes())
        except (OSError, ValueError) as error:
            raise click.ClickException(f"cannot read certificate {certfile}: {error}") from None
    config = _hypercorn_config(options, certfile, keyfile)
    relay: LatencyRelay | None = None
    if options.rtt_ms > 0:
        if not _is_loopback(host):
            raise click.UsageError("--rtt-ms emulates a network on loopback only: bind 127.0.0.1")
        # Hypercorn listens on a private port; the relay takes the address the user asked for.
        config.bind = [f"127.0.0.1:{free_port()}"]  # QUIC (UDP) keeps the address asked for
        relay = LatencyRelay(
            int(config.bind[0].rsplit(":", 1)[1]),
            rtt_ms=options.rtt_ms,
            listen_host=host.strip("[]"),
            listen_port=port,
        )
        lines.append(("Network", f"{options.rtt_ms:g} ms round trip emulated (--rtt-ms 0: none)"))
    _check_listen(config)

    url = _url(host, port)
    chromium_flags: list[str] = []
    if options.http3:
        origin = url.removeprefix("https://").rstrip("/")
        chromium_flags = ["--enable-quic", f"--origin-to-force-quic-on={origin}"]
        delay = " (--rtt-ms delays TCP only)" if relay is not None else ""
        lines.append(("HTTP/3", f"QUIC on UDP {origin}, announced by Alt-Svc{delay}"))
    # What the middleware will do: an app's own proxy setting (a Flask app's H2PUSH_PROXY)
    # can turn off push or the 103 that the options leave on.
    hints_on = options.early_hints and getattr(app, "early_hints", True)
    push_on = options.push and getattr(app, "push", True)
    mechanisms = [
        name for name, enabled in (("103 Early Hints", hints_on), ("push", push_on)) if enabled
    ]
    delivery = " and ".join(mechanisms) if mechanisms else "Link headers only"
    click.echo(title or f"h2push serve: {options.app} ({interface.upper()}) with {delivery}")
    for label, value in [
        ("URL", url),
        *lines,
        ("SPKI", spki),
        ("Chromium", chromium_shell_command(url, [spki], extra_args=chromium_flags)),
    ]:
        click.echo(f"  {label + ':':<10}{value}")
    if options.certfile is None and not _is_loopback(host):
        names = ", ".join([*DNS_NAMES, *IP_ADDRESSES])
        click.echo(f"  note: the development certificate is valid for {names} only")
    click.echo(
        "Chromium honours 103 Early Hints only for a trusted certificate: open the URL with the"
        " command above\n(not with --ignore-certificate-errors). Ctrl-C stops the server."
    )

    if relay is not None:
        try:
            relay.start_in_thread()
        except OSError as error:
            raise click.ClickException(f"cannot listen on {options.bind}: {error}") from None
    try:
        if options.workers > 1:
            return _run_workers(options, config)
        return _run_here(app, config)
    finally:
        if relay is not None:
            relay.stop()


def _run_here(app: ASGIApp, config: Config) -> int:
    """Serve in this process; Hypercorn stops gracefully on SIGINT and SIGTERM."""
    from hypercorn.asyncio import serve  # noqa: PLC0415

    try:
        asyncio.run(serve(cast(Any, app), config, mode="asgi"))
    except KeyboardInterrupt:  # a Ctrl-C before Hypercorn installed its handlers
        return 130
    except (ssl.SSLError, ConnectionError) as error:
        # Hypercorn 0.18 lets a connection's TLS close error (e.g. a client that sent data
        # after its close_notify) escape its graceful shutdown: the server has stopped cleanly.
        logger.debug("h2push: a connection closed uncleanly at shutdown: %s", error)
    return 0


def _run_workers(options: ServeOptions, config: Config) -> int:
    """Serve with Hypercorn's worker processes, each building the app with :func:`_worker_app`."""
    from hypercorn.run import run as hypercorn_run  # noqa: PLC0415

    os.environ[OPTIONS_ENV] = json.dumps(dataclasses.asdict(options))
    config.application_path = _WORKER_APP_PATH
    return hypercorn_run(config)


_BIND_HELP = f"HOST:PORT to listen on (default {DEFAULT_BIND}; [::1]:PORT for IPv6)."


@click.command("serve")
@click.argument("app", metavar="APP")
@click.option("--bind", "-b", default=DEFAULT_BIND, show_default=True, help=_BIND_HELP)
@click.option(
    "--manifest",
    "-m",
    type=click.Path(dir_okay=False),
    help="A push_manifest.json (http2-push-manifest format) applied to every navigation.",
)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False),
    help="Certificate chain (PEM). Default: a local development certificate.",
)
@click.option("--keyfile", type=click.Path(dir_okay=False), help="Private key (PEM) of --certfile.")
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes.",
)
# --no-push and --no-early-hints set the push and early_hints fields to False.
@click.option(
    "--no-push", "push", flag_value=False, default=True, help="Do not send HTTP/2 server push."
)
@click.option(
    "--no-early-hints",
    "early_hints",
    flag_value=False,
    default=True,
    help="Do not send 103 Early Hints.",
)
@click.option("--access-log", is_flag=True, help="Log every request to standard output.")
@rtt_ms_option(
    default=0.0, help="Emulate this network round trip (ms) in front of the server; loopback only."
)
@click.option(
    "--static-dir",
    type=click.Path(file_okay=False, exists=True),
    help="The directory served at /static/: a file changed there is pushed again.",
)
@click.option(
    "--max-pushes",
    type=click.IntRange(min=0),
    help=f"Most push promises per response. Default: a Flask app's H2PUSH_MAX_PUSHES, else"
    f" {DEFAULT_MAX_PUSHES}.",
)
@click.option(
    "--max-pushes-per-connection",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_PUSHES_PER_CONNECTION,
    show_default=True,
    help="Most push promises on one connection; a URL is never pushed twice on one.",
)
@click.option(
    "--http3",
    is_flag=True,
    help="Also serve HTTP/3 over QUIC on the same port (UDP), announced by Alt-Svc."
    " Needs aioquic (pip install 'h2push[http3]').",
)
def serve_command(**options: Any) -> None:
    """Serve APP (module:attribute, ASGI or WSGI) over HTTP/2 with push and early hints.

    APP is imported with the current directory on sys.path. A Flask app's H2Push manifest and
    @http2push declarations drive the pushes and hints; --manifest adds a manifest for any app.
    Without --certfile/--keyfile a local development CA and a certificate for localhost,
    127.0.0.1 and ::1 are created once and kept in the user's cache directory
    ($H2PUSH_CACHE_DIR, else $XDG_CACHE_HOME/h2push or ~/.cache/h2push).
    """
    sys.exit(run(ServeOptions(**options)))  # each option is the ServeOptions field of its name


@click.command("demo")
@click.option("--bind", "-b", default=DEFAULT_BIND, show_default=True, help=_BIND_HELP)
@click.option("--access-log", is_flag=True, help="Log every request to standard output.")
@rtt_ms_option(
    default=DEMO_RTT_MS,
    help="Emulate this network round trip (ms), so that the early start shows; 0 for none.",
)
def demo_command(*, bind: str, access_log: bool, rtt_ms: float) -> None:
    """Serve the bundled demo site: a slow page whose CSS, font and script arrive early.

    Open the printed URL with the printed Chromium command: the page shows, from the Resource
    Timing API, which of its resources came by 103 Early Hints. A 50 ms network round trip is
    emulated in front of the server (--rtt-ms), as a browser on another machine would see.
    """
    from h2push._tools.demo import MANIFEST_PATH, STATIC_DIR  # noqa: PLC0415 - reads the demo's files

    options = ServeOptions(
        app=DEMO_APP,
        bind=bind,
        manifest=str(MANIFEST_PATH),
        access_log=access_log,
        rtt_ms=rtt_ms,
        static_dir=str(STATIC_DIR),
    )
    sys.exit(run(options, title="h2push demo: a 200 ms page with 103 Early Hints and push"))
