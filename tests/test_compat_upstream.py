"""The old extensions' own test suites, run against the compat modules.

Set ``H2PUSH_UPSTREAM_SUITES`` to a directory holding checkouts of the public repositories
``flask-firehose`` (github.com/shreyanshk/flask-firehose at tag v0.2.3) and ``flask-http2-push``
(github.com/jdaroesti/flask-http2-push). The suites are on GitHub only (neither release on PyPI
ships its tests: Flask-Firehose has a wheel only, flask-http2-push's sdist lacks the test's
manifests), so these tests are marked ``upstream`` and left out of the default run unless the
variable is set (``make upstream``); once it is set, a missing checkout fails.

Each suite is copied to a temporary directory without the old extension's module, and changed in two
ways only: its import lines name the compat module, and its exact-string ``Link`` assertions compare
the two values as RFC 8288 link sets (``upstream_linkset.py``). Every other assertion runs as
written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

#: Each checkout: the old module (left out), the (pattern, replacement) pairs per file, what
#: pytest runs, and how many tests pass.
SUITES = {
    "flask-firehose": (
        "flask_firehose.py",
        {
            "testapp/server.py": [
                (
                    r"^from flask_firehose import Firehose, push$",
                    "from h2push.compat.flask_firehose import Firehose, push",
                ),
            ],
            "tests/test_flask_firehose.py": [
                (
                    r"^(\s*)assert resp\.headers\['Link'\] == (\(?'.*?'(?:\s*\n\s*'.*?')*\)?)$",
                    (
                        r"\1from upstream_linkset import link_set\n"
                        r"\1assert link_set(resp.headers['Link'], resp.request.url)"
                        r" == link_set(\2, resp.request.url)"
                    ),
                ),
            ],
        },
        "tests",
        6,
    ),
    "flask-http2-push": (
        "flask_http2_push.py",
        {
            "test/test.py": [
                (
                    r"^from flask_http2_push import http2push$",
                    "from h2push.compat.flask_http2_push import http2push",
                ),
                (
                    (
                        r"^(\s*)self\.assertEqual\(response\.headers\.get\('Link'\),\n"
                        r"(\s*)('(?:.|\n)*?')\)$"
                    ),
                    (
                        r"\1from upstream_linkset import link_set\n"
                        r"\1self.assertEqual("
                        r"link_set(response.headers.get('Link'), response.request.url),"
                        r"\n\2link_set(\3, response.request.url))"
                    ),
                ),
            ],
        },
        "test/test.py",
        3,
    ),
}


pytestmark = pytest.mark.upstream


@pytest.mark.parametrize("name", sorted(SUITES))
def test_the_old_extensions_suite_passes_against_the_compat_module(
    name: str, tmp_path: Path
) -> None:
    root = os.environ.get("H2PUSH_UPSTREAM_SUITES", "")
    assert (Path(root) / name).is_dir(), (
        f"set H2PUSH_UPSTREAM_SUITES to a directory holding a checkout of {name}"
    )
    module, changes, target, count = SUITES[name]
    suite = tmp_path / name
    shutil.copytree(Path(root) / name, suite, ignore=shutil.ignore_patterns(".git", module))
    shutil.copy(HERE / "upstream_linkset.py", suite / "upstream_linkset.py")
    for file, substitutions in changes.items():
        text = (suite / file).read_text()
        for pattern, replacement in substitutions:
            text, made = re.subn(pattern, replacement, text, flags=re.MULTILINE)
            assert made, f"{name}/{file}: {pattern!r} matched nothing; is it the right checkout?"
        (suite / file).write_text(text)
    (suite / "pytest.ini").write_text("[pytest]\n")  # not this project's settings
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(suite)])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{count} passed" in result.stdout, result.stdout
