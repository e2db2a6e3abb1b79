"""ASGI entry point: h2push's wrapper sends 103 Early Hints and pushes before Django runs.

From the project directory::

    h2push serve mysite.asgi:application
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from h2push.django import get_asgi_application

application = get_asgi_application()
