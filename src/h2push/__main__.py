"""``python -m h2push``: the same as the ``h2push`` command."""

from h2push.cli import main

main()
