"""Settings of the h2push example project: the few a page with h2push needs."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "h2push-example-only-not-a-secret"  # noqa: S105 - an example, never deployed
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "h2push",  # the {% push %} template tag
]
MIDDLEWARE = [
    "h2push.django.H2PushMiddleware",
]
ROOT_URLCONF = "mysite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "mysite" / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "mysite" / "static"]

H2PUSH_MANIFEST = BASE_DIR / "push_manifest.json"  # every page's stylesheet, font and script
