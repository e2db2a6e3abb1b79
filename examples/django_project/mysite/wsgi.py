"""WSGI entry point: Link headers, and 103 Early Hints under Gunicorn 25 or later.

From the project directory::

    gunicorn mysite.wsgi
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
