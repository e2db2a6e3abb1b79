"""Flask's tutorial app "flaskr", taken from the Flask sdist, set up as h2push's README says.

The sdist of the installed Flask release is downloaded once with ``pip download`` into a cache
directory (``$H2PUSH_TEST_CACHE``, else ``~/.cache/h2push-tests``); :func:`flaskr_project`
copies ``examples/tutorial/flaskr`` into a test's directory, adds ``H2Push(app)`` to its
``create_app()`` and creates its database. Without network access the test is skipped (it
fails on CI, which can reach PyPI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import pytest

from conftest import ON_CI

_CACHE = Path(os.environ.get("H2PUSH_TEST_CACHE", Path.home() / ".cache" / "h2push-tests"))
_MEMBER = "examples/tutorial/flaskr/"


def flask_sdist() -> Path:
    """The sdist of the installed Flask release, downloaded once into the cache directory."""
    version = metadata.version("flask")
    directory = _CACHE / "flask-sdist"
    found = sorted(directory.glob(f"flask-{version}.tar.gz"))
    if found:
        return found[0]
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--no-binary", ":all:", f"flask=={version}", "-d", str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = sorted(directory.glob(f"flask-{version}.tar.gz"))
    if result.returncode != 0 or not found:
        message = f"cannot download the Flask {version} sdist: {result.stderr.strip()[-300:]}"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found[0]


def flaskr_project(directory: Path, *, h2push: bool = True) -> Path:
    """Put flaskr in ``directory`` (the package ``flaskr`` and its ``instance`` folder).

    Args:
        directory: Where to put it; the current directory of a server that imports ``flaskr``.
        h2push: Add ``H2Push(app)`` to ``create_app()``, as the README's Flask section says.

    Returns:
        Path: ``directory``.
    """
    with tarfile.open(flask_sdist()) as sdist:
        for member in sdist.getmembers():
            _, _, inner = member.name.partition("/")
            if not inner.startswith(_MEMBER) or not member.isfile():
                continue
            target = directory / "flaskr" / inner[len(_MEMBER) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            source = sdist.extractfile(member)
            assert source is not None
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
    init = directory / "flaskr" / "__init__.py"
    if h2push:
        text = init.read_text()
        assert "    return app\n" in text
        text = text.replace(
            "    return app\n",
            "    from h2push.flask import H2Push\n\n    H2Push(app)\n    return app\n",
        )
        init.write_text(text)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "flaskr", "init-db"],
        cwd=directory,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return directory
