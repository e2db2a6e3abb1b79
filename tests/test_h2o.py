"""h2o 2.2.5 in front of a Flask app with H2Push: ``http2-push-preload`` pushes for h2push.

Gunicorn serves :mod:`apps.proxied_flask` over plain HTTP/1.1; h2o terminates TLS and HTTP/2 and
turns the ``rel=preload`` values of h2push's Link header into server pushes (its
``http2-push-preload``, on by default, is set explicitly). The real ``nghttp`` must see a
PUSH_PROMISE for exactly the manifest entries without ``nopush``, the page's own Link value kept
in the final response, and no push on a repeat visit (h2push's cookie marks every entry
``nopush`` then).

h2o always speaks HTTP/1.1 to its upstream, so Gunicorn (>= 25) sends it the 103 Early Hints
H2Push asks for; h2o 2.2.5 does not forward it, and the final response must arrive whole.

The configuration is the one ``docs/deploy/h2o.md`` shows.
"""

from __future__ import annotations

import os
import pwd
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


def h2o_conf(directory: Path, port: int, upstream: int, tls: TLSFiles) -> str:
    """h2o.conf: pid and error log in ``directory``; the rest is docs/deploy/h2o.md's."""
    # As root, h2o switches to "nobody", who cannot enter a test's private directory.
    user = f"user: {pwd.getpwuid(os.geteuid()).pw_name}\n" if os.geteuid() == 0 else ""
    return f"""\
{user}pid-file: {directory}/h2o.pid
error-log: {directory}/error.log
listen:
  host: 127.0.0.1
  port: {port}
  ssl:
    certificate-file: {tls.cert}
    key-file: {tls.key}
    ocsp-update-interval: 0
http2-push-preload: ON
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:{upstream}/
        proxy.preserve-host: ON
"""


@pytest.fixture(scope="module")
def h2o(tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    program = require_program("h2o")
    directory = tmp_path_factory.mktemp("h2o")
    upstream, port = free_port(), free_port()
    conf = directory / "h2o.conf"
    conf.write_text(h2o_conf(directory, port, upstream, tls_files))
    with gunicorn(upstream, directory / "gunicorn.log"):
        with (directory / "stderr.log").open("wb") as output:
            process = subprocess.Popen(
                [program, "-c", str(conf)], stdout=output, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(port, process, directory / "stderr.log", "h2o")
            yield f"https://127.0.0.1:{port}"
        finally:
            stop(process)


def test_h2o_pushes_exactly_the_manifest_entries_without_nopush(h2o: str) -> None:
    log = nghttp(h2o + "/", "-H", "accept: text/html")
    stream = assert_page_arrived(log)
    assert [p.header(":path") for p in log.promises] == PUSHED  # h2push's order: weight
    for promise in log.promises:
        assert promise.stream_id == stream
        assert promise.promised_stream_id is not None
        assert log.final_headers(promise.promised_stream_id).header(":status") == "200"
        assert log.stream_ended(promise.promised_stream_id)
    assert log.informational == []  # Gunicorn's 103 stops at h2o 2.2.5


def test_the_apps_own_link_value_is_kept_before_h2pushs(h2o: str) -> None:
    assert_apps_link_value_kept_first(h2o)


def test_a_request_that_is_not_a_navigation_gets_no_push(h2o: str) -> None:
    assert_no_push_without_navigation(h2o)


def test_a_repeat_visit_with_h2pushs_cookie_gets_no_push(h2o: str) -> None:
    assert_repeat_visit_gets_no_push(h2o)
