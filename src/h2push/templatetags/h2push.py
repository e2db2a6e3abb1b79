"""``{% push %}``: preload a static file from the response that renders the template.

::

    {% load h2push %}
    <link rel="stylesheet" href="{% push 'css/app.css' as='style' %}">
    <script src="{% push 'js/app.js' as='script' %}" defer></script>
    {% push 'fonts/body.woff2' as='font' type='font/woff2' %}

The first argument is a path for Django's ``static`` tag (``STATIC_URL`` and the storage's
hashed names apply); the tag outputs that URL and adds it to the response through
:func:`h2push.django.push`: a Link preload header (RFC 8288), pushed on a server that can
(RFC 9113 §8.4). More positional arguments are flags (``'crossorigin'``, ``'nopush'``);
keyword arguments are ``push()``'s attributes. The template must be rendered with its request
(``render(request, ...)``), and the request must pass through
:class:`h2push.django.H2PushMiddleware`.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.templatetags.static import static

from h2push.django import push as push_preload

register = template.Library()


@register.simple_tag(takes_context=True, name="push")
def push(context: template.Context, path: str, *flags: str, **attrs: Any) -> str:
    """Return ``static(path)`` and preload it from the current response.

    Raises:
        django.template.TemplateSyntaxError: The template was rendered without a request.
        ValueError: An attribute or flag that cannot be sent (see :func:`h2push.django.push`).
    """
    request = getattr(context, "request", None) or context.get("request")
    if request is None:
        raise template.TemplateSyntaxError(
            "{% push %} needs the request: render the template with render(request, ...)"
        )
    return push_preload(request, static(path), *flags, **attrs)
