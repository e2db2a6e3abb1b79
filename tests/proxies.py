"""Run real reverse proxies on loopback for the tests: Caddy, Apache httpd, h2o and nghttpx.

Each proxy is started from a configuration written into a directory the test owns, listens on
a free port with the test certificate (ALPN ``h2`` and ``http/1.1``; Caddy also HTTP/3 on the
same port over UDP), forwards to an upstream on 127.0.0.1, and is stopped by its own process id.
Its error log stays in that directory: :func:`error_lines` reads what it logged as an error.

The configurations are the ones docs/deploy/ shows, with the paths a test needs added.

Upstreams (:func:`upstream`):

* ``gunicorn``: Gunicorn (>= 25) serves :mod:`apps.proxy_site` as WSGI over plain HTTP/1.1 and
  writes the 103 of ``wsgi.early_hints`` to the proxy;
* ``hypercorn``: ``h2push serve`` (Hypercorn) serves it over TLS, HTTP/2 to a proxy that asks
  for it by ALPN (Caddy, Apache's ``mod_proxy_http2``, nghttpx with ``proto=h2``), else HTTP/1.1,
  over which Hypercorn sends no 103;
* ``gunicorn-asgi``: Gunicorn's ASGI worker serves :mod:`apps.proxy_site.asgi` over plain
  HTTP/1.1 and writes the 103 it gets as ``http.response.informational``;
* ``uvicorn``: Uvicorn (``--http zttp --http2``) serves it over TLS; it sends a 103 over HTTP/2
  only.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from conftest import TLSFiles, free_port, require_program
from processes import SRC, stop, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
APP = "tests.apps.proxy_site:app"
ASGI_APP = "tests.apps.proxy_site.asgi"

Proxy = Literal["caddy", "apache", "h2o", "nghttpx"]
Upstream = Literal["gunicorn", "hypercorn", "gunicorn-asgi", "uvicorn"]

PROXIES: tuple[Proxy, ...] = ("caddy", "apache", "h2o", "nghttpx")
UPSTREAMS: tuple[Upstream, ...] = ("gunicorn", "hypercorn")
ASGI_UPSTREAMS: tuple[Upstream, ...] = ("gunicorn-asgi", "uvicorn")


@dataclass(frozen=True)
class Origin:
    """A running upstream: its port, its scheme towards the proxy, and its output file."""

    kind: Upstream
    port: int
    scheme: Literal["http", "https"]
    log: Path


@dataclass(frozen=True)
class Running:
    """A running proxy: its port, its error log, and the file its own output went to."""

    kind: Proxy
    port: int
    error_log: Path
    output: Path

    @property
    def url(self) -> str:
        """The proxy's base URL, by the name its certificate carries."""
        return f"https://localhost:{self.port}"


def _environment(**extra: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(filter(None, [str(SRC), str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath, **extra}


@contextmanager
def _process(
    command: list[str], port: int, output: Path, *, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env or _environment(), stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process, output)
        yield process
    finally:
        stop(process)


@contextmanager
def upstream(
    kind: Upstream, directory: Path, tls: TLSFiles, *, proxy_mode: str = "forwards-103"
) -> Iterator[Origin]:
    """Serve :mod:`apps.proxy_site` with one of the Python servers on a free port.

    ``proxy_mode`` becomes the app's ``H2PUSH_PROXY``.
    """
    port = free_port()
    log = directory / f"{kind}.log"
    env = _environment(H2PUSH_PROXY=proxy_mode)
    scheme: Literal["http", "https"] = "http"
    tls_options = ["--certfile", str(tls.cert), "--keyfile", str(tls.key)]
    if kind == "gunicorn":
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        # Threads: the proxy fetches the hinted files while the page still thinks.
        command += ["--workers", "1", "--worker-class", "gthread", "--threads", "8", APP]
    elif kind == "gunicorn-asgi":
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", "1", "--worker-class", "asgi", ASGI_APP + ":gunicorn_app"]
    elif kind == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", "--http", "zttp", "--http2", *_uvicorn_tls(tls)]
        command += ["--host", "127.0.0.1", "--port", str(port), ASGI_APP + ":app"]
        scheme = "https"
    else:
        command = [sys.executable, "-m", "h2push", "serve", APP, "--bind", f"127.0.0.1:{port}"]
        command += tls_options
        scheme = "https"
    with _process(command, port, log, env=env):
        yield Origin(kind=kind, port=port, scheme=scheme, log=log)


def _uvicorn_tls(tls: TLSFiles) -> list[str]:
    return ["--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)]


# --------------------------------------------------------------------------- configurations


def caddyfile(directory: Path, port: int, origin: Origin, tls: TLSFiles) -> str:
    """A Caddyfile: HTTPS (HTTP/1.1, 2 and 3) on ``port``, ``reverse_proxy`` to ``origin``."""
    transport = (
        f"""
\t\ttransport http {{
\t\t\ttls_trusted_ca_certs {tls.ca}
\t\t}}"""
        if origin.scheme == "https"
        else ""
    )
    return f"""{{
\tadmin off
\tauto_https disable_redirects
\tskip_install_trust
\tstorage file_system {directory}/storage
\tlog {{
\t\toutput file {directory}/error.log
\t\tlevel WARN
\t}}
}}

https://localhost:{port}, https://127.0.0.1:{port} {{
\ttls {tls.cert} {tls.key}
\treverse_proxy {origin.scheme}://127.0.0.1:{origin.port} {{{transport}
\t}}
}}
"""


def apache_conf(directory: Path, port: int, origin: Origin, tls: TLSFiles) -> str:
    """httpd.conf: mod_ssl + mod_http2 on ``port``, ``H2EarlyHints on``, a ProxyPass to ``origin``.

    A TLS origin is reached over HTTP/2 (``mod_proxy_http2``, ``h2://``), a plain one over
    HTTP/1.1 (``mod_proxy_http``).
    """
    # Run as root, httpd's children switch to User; they only need the files the parent opened.
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    if origin.scheme == "https":
        target = f"h2://localhost:{origin.port}/"
        proxy_tls = f"SSLProxyEngine on\n    SSLProxyCACertificateFile {tls.ca}\n"
    else:
        target = f"http://127.0.0.1:{origin.port}/"
        proxy_tls = ""
    modules = "modules/mod_{0}.so"
    loads = "\n".join(
        f"LoadModule {name}_module {modules.format(name)}"
        for name in (
            "mpm_event",
            "authz_core",
            "socache_shmcb",
            "ssl",
            "http2",
            "proxy",
            "proxy_http",
            "proxy_http2",
        )
    )
    return f"""ServerRoot /usr/lib/apache2
DefaultRuntimeDir {directory}
PidFile {directory}/httpd.pid
ErrorLog {directory}/error.log
LogLevel warn
ServerName localhost
{user}{loads}
Listen 127.0.0.1:{port}
SSLSessionCache shmcb:{directory}/ssl_scache(512000)
<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile {tls.cert}
    SSLCertificateKeyFile {tls.key}
    Protocols h2 http/1.1
    H2EarlyHints on
    {proxy_tls}ProxyPass / {target}
    ProxyPassReverse / {target}
</VirtualHost>
"""


def h2o_conf(directory: Path, port: int, origin: Origin, tls: TLSFiles) -> str:
    """h2o.conf: TLS on ``port``, ``proxy.reverse.url`` to ``origin`` (HTTP/1.1: h2o's only)."""
    # As root, h2o switches to "nobody", who cannot enter a test's private directory.
    user = f"user: {pwd.getpwuid(os.geteuid()).pw_name}\n" if os.geteuid() == 0 else ""
    verify = "proxy.ssl.verify-peer: OFF\n" if origin.scheme == "https" else ""
    return f"""{user}pid-file: {directory}/h2o.pid
error-log: {directory}/error.log
listen:
  host: 127.0.0.1
  port: {port}
  ssl:
    certificate-file: {tls.cert}
    key-file: {tls.key}
    ocsp-update-interval: 0
{verify}hosts:
  default:
    paths:
      /:
        proxy.reverse.url: {origin.scheme}://127.0.0.1:{origin.port}/
        proxy.preserve-host: ON
"""


def nghttpx_command(directory: Path, port: int, origin: Origin, tls: TLSFiles) -> list[str]:
    """nghttpx's command line: TLS on ``port``, a backend of HTTP/2 over TLS or of HTTP/1.1."""
    backend = f"127.0.0.1,{origin.port}"
    if origin.scheme == "https":
        backend += ";;proto=h2;tls;sni=localhost"
    return [
        sbin_program("nghttpx"),
        "--conf=/dev/null",
        f"--frontend=127.0.0.1,{port}",
        f"--backend={backend}",
        f"--cacert={tls.ca}",
        "--no-ocsp",
        "--single-process",
        f"--errorlog-file={directory}/error.log",
        f"--pid-file={directory}/nghttpx.pid",
        str(tls.key),
        str(tls.cert),
    ]


@contextmanager
def proxy(kind: Proxy, directory: Path, origin: Origin, tls: TLSFiles) -> Iterator[Running]:
    """Run proxy ``kind`` in front of ``origin`` until the block ends."""
    port = free_port()
    output = directory / f"{kind}.out"
    error_log = directory / "error.log"
    env = _environment()
    if kind == "caddy":
        conf = directory / "Caddyfile"
        conf.write_text(caddyfile(directory, port, origin, tls))
        env.update(
            HOME=str(directory), XDG_DATA_HOME=str(directory), XDG_CONFIG_HOME=str(directory)
        )
        command = [require_program("caddy"), "run", "--config", str(conf), "--adapter", "caddyfile"]
    elif kind == "apache":
        conf = directory / "httpd.conf"
        conf.write_text(apache_conf(directory, port, origin, tls))
        command = [sbin_program("apache2"), "-f", str(conf), "-DFOREGROUND"]
    elif kind == "h2o":
        conf = directory / "h2o.conf"
        conf.write_text(h2o_conf(directory, port, origin, tls))
        command = [require_program("h2o"), "-c", str(conf)]
    else:
        command = nghttpx_command(directory, port, origin, tls)
    error_log.touch()
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process, output)
        yield Running(kind=kind, port=port, error_log=error_log, output=output)
    finally:
        stop(process)  # SIGTERM: every proxy here stops at once, its children too


def sbin_program(name: str) -> str:
    """A program that Debian installs in /usr/sbin, which a user's PATH may lack."""
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else require_program(name)


#: What an error looks like in each proxy's log: Caddy writes JSON lines, Apache httpd
#: ``[module:level]``, nghttpx its level in capitals, h2o free text.
ERROR_PATTERNS: dict[Proxy, re.Pattern[str]] = {
    "caddy": re.compile(r'"level":"(error|panic|fatal)"'),
    "apache": re.compile(r"\[(\w+:)?(error|crit|alert|emerg)\]"),
    "nghttpx": re.compile(r" (ERROR|FATAL) "),
    "h2o": re.compile(r"error|fail", re.IGNORECASE),
}


def error_lines(running: Running) -> list[str]:
    """The lines of the proxy's error log and of its output that report an error."""
    pattern = ERROR_PATTERNS[running.kind]
    return [
        line
        for path in (running.error_log, running.output)
        for line in path.read_text(errors="replace").splitlines()
        if pattern.search(line)
    ]
