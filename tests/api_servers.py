"""Servers for the API push tests: h2push serve, bare Hypercorn over HTTP/2 and HTTP/1.1."""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import TLSFiles, free_port, require_program
from processes import h2push_command, running

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
API_APP = "apps.api_app:app"


@contextmanager
def h2push_serve(tls: TLSFiles, *args: str) -> Iterator[str]:
    """``h2push serve`` on the API app (push on); yield its origin."""
    port = free_port()
    files = ["--certfile", str(tls.cert), "--keyfile", str(tls.key)]
    command = h2push_command("serve", API_APP, "--bind", f"127.0.0.1:{port}", *files, *args)
    with running(command, port=port, cwd=TESTS):
        yield f"https://127.0.0.1:{port}"


@contextmanager
def bare_hypercorn(
    tls: TLSFiles, tmp_path: Path, *, alpn: tuple[str, ...], keep_alive_s: float = 5
) -> Iterator[str]:
    """Hypercorn without h2push on the API app, offering ``alpn``; yield its origin.

    ``keep_alive_s`` is how long it keeps an idle connection open.
    """
    port = free_port()
    config = tmp_path / f"hypercorn-{port}.toml"
    protocols = ", ".join(f'"{p}"' for p in alpn)
    config.write_text(
        f'bind = ["127.0.0.1:{port}"]\ncertfile = "{tls.cert}"\nkeyfile = "{tls.key}"\n'
        f"alpn_protocols = [{protocols}]\nkeep_alive_timeout = {keep_alive_s}\n"
    )
    command = [sys.executable, "-m", "hypercorn", "--config", str(config), API_APP]
    with running(command, port=port, cwd=TESTS):
        yield f"https://127.0.0.1:{port}"


@contextmanager
def cleartext_hypercorn() -> Iterator[str]:
    """Hypercorn over plain TCP (HTTP/1.1) on the API app; yield its origin."""
    port = free_port()
    command = [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}", API_APP]
    with running(command, port=port, cwd=TESTS):
        yield f"http://127.0.0.1:{port}"


def nginx_static(tls: TLSFiles, directory: Path, *, http2: bool) -> Any:
    """nginx serving ``directory/root`` over TLS (HTTP/2 or HTTP/1.1 only), with no push."""
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    program = shutil.which("nginx", path=sbin) or require_program("nginx")
    port = free_port()
    # As root, nginx runs its workers as "nobody", who cannot enter a test's private directory.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {directory}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = directory / "nginx.conf"
    conf.write_text(
        f"""{user}worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    types {{ application/json json; }}
    server {{
        listen 127.0.0.1:{port} ssl{" http2" if http2 else ""};
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        root {directory}/root;
        location / {{ try_files $uri $uri.json =404; }}
    }}
}}
"""
    )
    command = [program, "-c", str(conf), "-p", f"{directory}/", "-e", f"{directory}/error.log"]
    return running(command, port=port, cwd=directory), f"https://127.0.0.1:{port}"
