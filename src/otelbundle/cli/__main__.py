"""``python -m otelbundle.cli``: the ``otelbundle`` command."""

import sys

from otelbundle.cli.main import main

sys.exit(main())
