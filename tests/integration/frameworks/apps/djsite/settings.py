"""A Django 5.2 project as `django-admin startproject` makes it, cut to what the tests use.

``LOGGING`` configures the root logger, as many projects do: the OTLP handler must
survive it, and Django's own ``django.request`` records must still be exported.
"""

SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.integration.frameworks.apps.djsite.urls"
WSGI_APPLICATION = "tests.integration.frameworks.apps.djsite.wsgi.application"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(name)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
