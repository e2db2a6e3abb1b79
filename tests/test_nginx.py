"""nginx 1.22 in front of a Flask app with H2Push: ``http2_push_preload on`` pushes for h2push.

Gunicorn serves :mod:`apps.proxied_flask` over plain HTTP/1.x; nginx terminates TLS and HTTP/2
and turns the ``rel=preload`` values of h2push's Link header into server pushes. The real
``nghttp`` must see a PUSH_PROMISE for exactly the manifest entries without ``nopush``, the
page's own Link value kept in the final response, and no push on a repeat visit (h2push's cookie
marks every entry ``nopush`` then).

The server block is the one ``docs/deploy/nginx.md`` shows. It is run twice: with nginx's
default ``proxy_http_version 1.0``, and with ``proxy_http_version 1.1`` (keep-alive upstreams,
a common setting). Over an HTTP/1.1 upstream connection Gunicorn (>= 25) sends the 103 Early
Hints that H2Push asks for, and nginx before 1.29 cannot forward a 103: the page must still
arrive whole.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.proxied_flask import MANIFEST
from apps.proxied_flask.upstream import (
    assert_apps_link_value_kept_first,
    assert_no_push_without_navigation,
    assert_page_arrived,
    assert_repeat_visit_gets_no_push,
    gunicorn,
    stop,
    wait_for_port,
)
from conftest import TLSFiles, free_port, require_program
from nghttp import nghttp

pytestmark = pytest.mark.peer

PUSHED = [path for path, pushed in MANIFEST if pushed]

#: What each run adds to the ``location`` block: nothing (nginx's default HTTP/1.0 upstream),
#: or an HTTP/1.1 upstream connection as keep-alive setups configure it.
UPSTREAM_HTTP = {
    "upstream-http1.0": "",
    "upstream-http1.1": (
        '\n            proxy_http_version 1.1;\n            proxy_set_header Connection "";'
    ),
}


def nginx_conf(directory: Path, port: int, upstream: int, tls: TLSFiles, upstream_http: str) -> str:
    """nginx.conf: every path in ``directory``; the ``server`` block is docs/deploy/nginx.md's."""
    # As root, nginx runs its workers as "nobody", who cannot enter a test's private directory.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    return f"""\
{user}worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;

events {{
    worker_connections 256;
}}

http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;

    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};

        http2_push_preload on;

        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;{upstream_http}
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    with gunicorn(port, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"):
        yield port


@pytest.fixture(scope="module", params=sorted(UPSTREAM_HTTP))
def nginx(
    request: pytest.FixtureRequest,
    upstream: int,
    tls_files: TLSFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    # Debian puts nginx in /usr/sbin, which is not on a normal user's PATH.
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    program = shutil.which("nginx", path=sbin) or require_program("nginx")
    directory = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(nginx_conf(directory, port, upstream, tls_files, UPSTREAM_HTTP[request.param]))
    error_log = directory / "error.log"
    command = [program, "-c", str(conf), "-p", f"{directory}/", "-e", str(error_log)]
    with (directory / "stderr.log").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, directory / "stderr.log", "nginx")
        yield f"https://127.0.0.1:{port}"
        errors = [
            line
            for line in error_log.read_text().splitlines()
            if any(f"[{level}]" in line for level in ("error", "crit", "alert", "emerg"))
        ]
        assert errors == [], "nginx logged errors:\n" + "\n".join(errors)
    finally:
        subprocess.run([*command, "-s", "stop"], capture_output=True, timeout=10, check=False)
        stop(process)


def test_nginx_pushes_exactly_the_manifest_entries_without_nopush(nginx: str) -> None:
    log = nghttp(nginx + "/", "-H", "accept: text/html")
    stream = assert_page_arrived(log)
    assert [p.header(":path") for p in log.promises] == PUSHED  # h2push's order: weight
    for promise in log.promises:
        assert promise.stream_id == stream
        assert promise.promised_stream_id is not None
        assert log.final_headers(promise.promised_stream_id).header(":status") == "200"
        assert log.stream_ended(promise.promised_stream_id)
    assert log.informational == []  # nginx 1.22 forwards no 103


def test_the_apps_own_link_value_is_kept_before_h2pushs(nginx: str) -> None:
    assert_apps_link_value_kept_first(nginx)


def test_a_request_that_is_not_a_navigation_gets_no_push(nginx: str) -> None:
    assert_no_push_without_navigation(nginx)


def test_a_repeat_visit_with_h2pushs_cookie_gets_no_push(nginx: str) -> None:
    assert_repeat_visit_gets_no_push(nginx)
