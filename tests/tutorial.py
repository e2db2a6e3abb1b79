"""Real apps nobody here wrote, set up as h2push's README says: flaskr and Django's admin.

Flask's tutorial app "flaskr" is taken from the Flask sdist.

The sdist of the installed Flask release is downloaded once with ``pip download`` into a cache
directory (``$H2PUSH_TEST_CACHE``, else ``~/.cache/h2push-tests``); :func:`flaskr_project`
copies ``examples/tutorial/flaskr`` into a test's directory, adds ``H2Push(app)`` to its
``create_app()`` and creates its database. Without network access the test is skipped (it
fails on CI, which can reach PyPI). :func:`django_project` makes a fresh ``django-admin
startproject`` with h2push added.
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


def django_project(directory: Path, *, manifest_setting: bool = True) -> Path:
    """A fresh ``startproject`` "mysite" in ``directory``, with h2push added as the README says.

    ``h2push`` in ``INSTALLED_APPS``, its middleware first, h2push's ``get_asgi_application`` in
    ``asgi.py``, the static files served as Django's documentation says for a server other than
    ``runserver`` in development (``staticfiles_urlpatterns()``), and the database migrated.

    Args:
        directory: Where to put it; the current directory of a server that imports ``mysite``.
        manifest_setting: Add the README's ``H2PUSH_MANIFEST = BASE_DIR / "push_manifest.json"``.

    Returns:
        Path: ``directory``.
    """

    def run(*command: str) -> None:
        done = subprocess.run(
            [sys.executable, *command],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"

    run("-m", "django", "startproject", "mysite", str(directory))
    settings = directory / "mysite" / "settings.py"
    text = settings.read_text()
    text = text.replace("INSTALLED_APPS = [\n", 'INSTALLED_APPS = [\n    "h2push",\n', 1)
    text = text.replace(
        "MIDDLEWARE = [\n", 'MIDDLEWARE = [\n    "h2push.django.H2PushMiddleware",\n', 1
    )
    if manifest_setting:
        text += '\nH2PUSH_MANIFEST = BASE_DIR / "push_manifest.json"\n'
    settings.write_text(text)
    asgi = directory / "mysite" / "asgi.py"
    asgi.write_text(
        asgi.read_text().replace(
            "from django.core.asgi import get_asgi_application",
            "from h2push.django import get_asgi_application",
        )
    )
    urls = directory / "mysite" / "urls.py"
    urls.write_text(
        urls.read_text()
        + "\nfrom django.contrib.staticfiles.urls import staticfiles_urlpatterns  # noqa: E402\n"
        + "\nurlpatterns += staticfiles_urlpatterns()\n"
    )
    run("manage.py", "migrate", "-v", "0")
    return directory
