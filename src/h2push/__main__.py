"""``python -m h2push`` and the ``h2push`` console script."""

from __future__ import annotations

import sys


def run() -> None:
    """Run the ``h2push`` command; without the ``cli`` extra, say how to install it.

    The command line needs click (``pip install "h2push[cli]"``). Without it this prints one
    line naming the extra and exits with status 1, instead of a traceback.
    """
    try:
        from h2push.cli import main  # noqa: PLC0415 - click is optional
    except ModuleNotFoundError as error:
        if error.name != "click":
            raise
        sys.exit(f"h2push: {error}")
    main()


if __name__ == "__main__":
    run()
