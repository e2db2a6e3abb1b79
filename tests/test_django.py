"""Django: the middleware, ``H2PUSH_*`` settings, ``{% push %}``, ``@http2push``, ASGI wrapper.

This module is its own URLconf. Django's test client drives the WSGI and async stacks (Link
header, ``wsgi.early_hints``); a real Hypercorn over HTTP/2, through :mod:`h2push.testing`,
shows the 103 and pushes of :func:`h2push.django.get_asgi_application`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import require_module

require_module("django")

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.template import Context, Template, TemplateSyntaxError
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.urls import path
from django.views import View

from h2push._core.manifest import Manifest
from h2push.testing import ServeFactory, assert_hinted, assert_linked, assert_pushed

pytest_plugins = ["h2push.testing"]

SITE = Manifest.from_dict({"/static/site.css": {"type": "style", "weight": 2}})
ABOUT = Manifest.from_dict(
    {"/static/about.css": {"type": "style", "weight": 1}, "/static/about.woff2": {"type": "font"}}
)
PAGE = (
    "{% load h2push %}<link rel=stylesheet href=\"{% push 'tag.css' as='style' %}\">"
    "<link rel=preload href=\"{% push 'f.woff2' 'crossorigin' as='font' type='font/woff2' %}\">"
)

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        SECRET_KEY="test-only",
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.staticfiles", "h2push"],
        MIDDLEWARE=["h2push.django.H2PushMiddleware"],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "loaders": [("django.template.loaders.locmem.Loader", {"page.html": PAGE})],
                },
            }
        ],
        STATIC_URL="/static/",
        DATABASES={},
        USE_TZ=True,
        H2PUSH_MANIFEST=SITE,
    )
    django.setup()

from django.core.asgi import get_asgi_application as django_asgi_application
from django.core.wsgi import get_wsgi_application
from django.shortcuts import render

from h2push.django import (
    H2PushMiddleware,
    get_asgi_application,
    http2push,
    preloads_resolver,
    push,
)

ran: list[str] = []


def index(request: HttpRequest) -> HttpResponse:
    ran.append("index")
    return HttpResponse("<p>index")


@http2push(ABOUT)
def about(request: HttpRequest) -> HttpResponse:
    push(request, "/static/chart.js", as_="script")
    return render(request, "page.html")


@http2push(ABOUT)
def own_link(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("<p>own")
    response["Link"] = "<https://cdn.example>; rel=preconnect"
    return response


@http2push(ABOUT)
async def async_about(request: HttpRequest) -> HttpResponse:
    push(request, "/static/chart.js", as_="script")
    return HttpResponse("<p>async")


@http2push(ABOUT)
class AboutView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("<p>class")


class PlainView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("<p>plain")


def missing(request: HttpRequest) -> HttpResponse:
    return HttpResponse("gone", status=404)


def static(request: HttpRequest, name: str) -> HttpResponse:
    return HttpResponse(f"/* {name} */", content_type="text/css")


urlpatterns = [
    path("", index),
    path("about", about),
    path("own", own_link),
    path("async", async_about),
    path("class", AboutView.as_view()),
    path("class-decorated-result", http2push(SITE)(PlainView.as_view())),
    path("missing", missing),
    path("static/<str:name>", static),
]

ALL_ABOUT = (
    "</static/site.css>; rel=preload; as=style, </static/about.css>; rel=preload; as=style,"
    " </static/about.woff2>; rel=preload; as=font; crossorigin,"
    " </static/chart.js>; rel=preload; as=script, </static/tag.css>; rel=preload; as=style,"
    ' </static/f.woff2>; rel=preload; as=font; type="font/woff2"; crossorigin'
)


# --------------------------------------------------------------------------- WSGI and async


def test_wsgi_link_header_from_settings_decorator_push_and_tag() -> None:
    response = Client().get("/about", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response.content.decode() == (
        '<link rel=stylesheet href="/static/tag.css"><link rel=preload href="/static/f.woff2">'
    )
    assert response["Link"] == ALL_ABOUT


def test_the_views_own_link_value_comes_first_and_errors_get_none() -> None:
    client = Client()

    own = client.get("/own", HTTP_ACCEPT="text/html")
    gone = client.get("/missing", HTTP_ACCEPT="text/html")

    assert own["Link"] == (
        "<https://cdn.example>; rel=preconnect, </static/site.css>; rel=preload; as=style,"
        " </static/about.css>; rel=preload; as=style,"
        " </static/about.woff2>; rel=preload; as=font; crossorigin"
    )
    assert gone.status_code == 404
    assert "Link" not in gone


def test_a_view_manifest_applies_to_every_request_the_site_one_to_navigations() -> None:
    response = Client().get("/own", HTTP_ACCEPT="*/*")

    assert "site.css" not in response["Link"]
    assert "</static/about.css>" in response["Link"]


def test_class_based_views_take_the_decorator_on_the_class_or_the_view() -> None:
    client = Client()

    assert "</static/about.css>" in client.get("/class", HTTP_ACCEPT="text/html")["Link"]
    assert client.get("/class-decorated-result")["Link"] == (
        "</static/site.css>; rel=preload; as=style"
    )


def test_wsgi_early_hints_go_out_before_the_view() -> None:
    events: list[Any] = []
    ran.clear()

    def early_hints(headers: list[tuple[str, str]]) -> None:
        events.append(("103", list(headers), list(ran)))

    Client().get("/", HTTP_ACCEPT="text/html", **{"wsgi.early_hints": early_hints})
    Client().get("/", HTTP_ACCEPT="*/*", **{"wsgi.early_hints": early_hints})

    # One 103, for the navigation only, sent before the view ran.
    assert events == [("103", [("Link", "</static/site.css>; rel=preload; as=style")], [])]
    assert ran == ["index", "index"]


def test_a_server_that_cannot_send_the_103_costs_the_page_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def early_hints(headers: list[tuple[str, str]]) -> None:
        raise OSError("client went away")

    response = Client().get("/", HTTP_ACCEPT="text/html", **{"wsgi.early_hints": early_hints})

    assert response.status_code == 200
    assert response["Link"] == "</static/site.css>; rel=preload; as=style"
    assert "could not send the 103" in caplog.text


def test_async_stack() -> None:
    async def call() -> Any:
        return await AsyncClient().get("/async", headers={"accept": "text/html"})

    response = asyncio.run(call())

    assert response.status_code == 200
    assert response["Link"] == (
        "</static/site.css>; rel=preload; as=style, </static/about.css>; rel=preload; as=style,"
        " </static/about.woff2>; rel=preload; as=font; crossorigin,"
        " </static/chart.js>; rel=preload; as=script"
    )


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"H2PUSH_MAX_PUSHES": -1}, "must not be negative"),
        ({"H2PUSH_MAX_PUSHES": "10"}, "H2PUSH_MAX_PUSHES must be a int"),
        ({"H2PUSH_MAX_PUSHES_PER_CONNECTION": -5}, "PER_CONNECTION -5 must not be negative"),
        ({"H2PUSH_MAX_PUSHES_PER_CONNECTION": 1.5}, "PER_CONNECTION must be a int"),
        ({"H2PUSH_EARLY_HINTS": 1}, "H2PUSH_EARLY_HINTS must be a bool"),
        ({"H2PUSH_MANIFEST": 42}, "H2PUSH_MANIFEST must be a path"),
    ],
)
def test_bad_settings_are_improperly_configured(overrides: dict[str, Any], message: str) -> None:
    with override_settings(**overrides), pytest.raises(ImproperlyConfigured, match=message):
        H2PushMiddleware(lambda request: HttpResponse())


def test_the_asgi_application_takes_the_push_limits_from_settings() -> None:
    from h2push.asgi import H2PushMiddleware as ASGIMiddleware

    with override_settings(H2PUSH_MAX_PUSHES=4, H2PUSH_MAX_PUSHES_PER_CONNECTION=7):
        application = get_asgi_application()
    assert isinstance(application, ASGIMiddleware)
    assert (application.max_pushes, application.max_pushes_per_connection) == (4, 7)


def test_disabled_means_no_middleware_and_no_wrapper() -> None:
    with override_settings(H2PUSH_ENABLED=False):
        response = Client().get("/about", HTTP_ACCEPT="text/html")
        application = get_asgi_application()

    assert response.status_code == 200
    assert "Link" not in response
    assert type(application).__name__ == "ASGIHandler"


def test_manifest_setting_paths_are_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "push_manifest.json").write_text(json.dumps({"/base.css": {"type": "style"}}))
    with override_settings(BASE_DIR=tmp_path, H2PUSH_MANIFEST="push_manifest.json"):
        response = Client().get("/", HTTP_ACCEPT="text/html")
    with override_settings(BASE_DIR=tmp_path):
        del settings.H2PUSH_MANIFEST  # not set: push_manifest.json in BASE_DIR if there is one
        default = Client().get("/", HTTP_ACCEPT="text/html")

    assert response["Link"] == "</base.css>; rel=preload; as=style"
    assert default["Link"] == "</base.css>; rel=preload; as=style"


def test_http2push_reads_a_relative_path_next_to_the_views_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "page_manifest.json").write_text(json.dumps({"/p.css": {"type": "style"}}))
    (tmp_path / "views_mod.py").write_text(
        textwrap.dedent(
            """
            from h2push.django import http2push

            @http2push("page_manifest.json")
            def page(request):
                ...
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir("/")
    try:
        import views_mod
    finally:
        sys.modules.pop("views_mod", None)

    assert [p.url for p in views_mod.page._h2push_manifest.preloads_for("/")] == ["/p.css"]


def test_resolver_matches_the_urlconf() -> None:
    resolve = preloads_resolver()
    assert resolve is not None
    assert [p.url for p in resolve("/about", False)] == [
        "/static/about.css",
        "/static/about.woff2",
    ]
    assert list(resolve("/", True)) == []
    assert resolve("/nowhere", True) is None  # no view: no 103, no push
    assert preloads_resolver(django_asgi_application()) is not None
    assert preloads_resolver(object()) is None


# --------------------------------------------------------------------------- push() and the tag


def test_the_tag_needs_the_request() -> None:
    with pytest.raises(TemplateSyntaxError, match="needs the request"):
        Template("{% load h2push %}{% push 'a.css' as='style' %}").render(Context())


def test_push_outside_the_middleware_says_so() -> None:
    with pytest.raises(RuntimeError, match="H2PushMiddleware"):
        push(RequestFactory().get("/"), "/a.css", as_="style")


@pytest.mark.parametrize(
    ("flags", "attrs", "error"),
    [
        (("eager",), {}, ValueError),
        ((), {"as": "stylesheet"}, ValueError),
        ((), {"colour": "red"}, TypeError),
        (("nopush",), {"nopush": True}, TypeError),
    ],
)
def test_push_refuses_bad_arguments(
    flags: tuple[str, ...], attrs: dict[str, Any], error: type
) -> None:
    request = RequestFactory().get("/")
    with pytest.raises(error):
        push(request, "/a.css", *flags, strict=True, **attrs)


# --------------------------------------------------------------------------- a real server


@pytest.mark.peer
def test_asgi_wrapper_hints_and_pushes_before_the_view(h2push_serve: ServeFactory) -> None:
    server = h2push_serve(get_asgi_application())

    result = server.fetch("/about")

    assert result.status == 200
    assert_hinted(
        result, ["/static/site.css", "/static/about.css", "/static/about.woff2"], exact=True
    )
    # The declarations before Django ran, then push() and the tags as the response started.
    assert result.pushed_paths[:3] == (
        "/static/site.css",
        "/static/about.css",
        "/static/about.woff2",
    )
    assert_pushed(
        result,
        [
            "/static/site.css",
            "/static/about.css",
            "/static/about.woff2",
            "/static/chart.js",
            "/static/tag.css",
            "/static/f.woff2",
        ],
        exact=True,
    )
    assert_linked(result, ["/static/site.css", "/static/chart.js", "/static/f.woff2"])
    assert result.linked_paths.count("/static/site.css") == 1


@pytest.mark.peer
def test_wsgi_app_served_through_a2wsgi_gets_pushes_from_its_link_header(
    h2push_serve: ServeFactory,
) -> None:
    result = h2push_serve(get_wsgi_application()).fetch("/about")

    assert result.status == 200
    assert result.early_hint_count == 0  # h2push serve plans nothing for a Django WSGI app
    assert_pushed(
        result,
        ["/static/site.css", "/static/about.css", "/static/chart.js", "/static/tag.css"],
    )
    assert_linked(result, ["/static/site.css", "/static/about.css", "/static/chart.js"])


@pytest.mark.peer
def test_djangos_own_asgi_app_under_the_middleware_pushes_as_the_response_starts(
    h2push_serve: ServeFactory,
) -> None:
    result = h2push_serve(django_asgi_application()).fetch("/about")

    assert result.status == 200
    assert result.early_hint_count == 0  # nothing planned before Django ran
    assert_pushed(
        result,
        [
            "/static/site.css",
            "/static/about.css",
            "/static/about.woff2",
            "/static/chart.js",
            "/static/tag.css",
            "/static/f.woff2",
        ],
        exact=True,
    )
    assert_linked(result, ["/static/site.css", "/static/about.css", "/static/chart.js"])


# --------------------------------------------------------------------------- learning (WSGI)


def learned_page(request: HttpRequest, n: int) -> HttpResponse:
    return HttpResponse(f"<head><link rel=stylesheet href=/static/learned.css></head><p>{n}")


urlpatterns.append(path("learned/<int:n>", learned_page))


def test_under_a_wsgi_server_a_url_pattern_learns_from_its_pages() -> None:
    hints: list[list[tuple[str, str]]] = []
    with override_settings(H2PUSH_MANIFEST=None):
        client = Client()  # one handler, so one middleware and one learner, for the test
        navigate = {"HTTP_ACCEPT": "text/html", "wsgi.early_hints": hints.append}
        assert client.get("/learned/1", **navigate).content.endswith(b"<p>1")
        assert hints == []  # the first navigation: as without h2push
        response = client.get("/learned/2", **navigate)  # another path, the same pattern
    assert hints == [[("Link", "</static/learned.css>; rel=preload; as=style")]]
    assert response["Link"] == "</static/learned.css>; rel=preload; as=style"
