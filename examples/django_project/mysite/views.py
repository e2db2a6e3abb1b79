"""Views of the h2push example project."""

import mimetypes
import time

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from h2push.django import http2push

THINK_TIME_S = 0.2
"""How long the home page thinks (a database query, say); the 103 goes out before."""


def index(request: HttpRequest) -> HttpResponse:
    """The home page: thinks, then renders."""
    time.sleep(THINK_TIME_S)
    return render(request, "index.html", {"framework": "Django"})


@http2push("about_manifest.json")  # next to this module: the about page's own stylesheet
def about(request: HttpRequest) -> HttpResponse:
    """The about page, with its view's own manifest."""
    return render(request, "index.html", {"framework": "Django", "about": True})


def static_file(request: HttpRequest, path: str) -> HttpResponse:
    """A file of ``STATICFILES_DIRS``, cacheable for an hour, as early hints need.

    The example serves its static files itself; a real site lets its web server, a CDN or
    WhiteNoise do it. Hypercorn pushes by asking this app for the pushed path.
    """
    root = settings.STATICFILES_DIRS[0].resolve()
    file = (root / path).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise Http404(path)
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    response = HttpResponse(file.read_bytes(), content_type=content_type)
    response["Cache-Control"] = "public, max-age=3600"
    return response
