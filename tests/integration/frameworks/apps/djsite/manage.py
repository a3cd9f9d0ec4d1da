"""`python manage.py runserver`, as a Django user starts the dev server."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integration.frameworks.apps.djsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
