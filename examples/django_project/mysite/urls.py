"""URLs of the h2push example project."""

from django.urls import path, re_path

from mysite import views

urlpatterns = [
    path("", views.index),
    path("about", views.about),
    re_path(r"^static/(?P<path>.+)$", views.static_file),
]
