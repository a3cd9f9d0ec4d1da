"""``otelbundle stack install``: obtain every backend into the version-keyed cache.

Per component, the first source that applies:

1. an explicit ``OTELBUNDLE_<NAME>_BIN``;
2. a valid cache entry (``~/.cache/otelbundle/bin/<name>-<version>/<name>``; ``cache``);
3. Prometheus already on PATH (Debian's package);
4. the official release archive for this OS and architecture, checked against the
   release's published sha256 list (the collector: ``otelcol-contrib`` of the same
   version, a superset of our distribution) - a minute where the release host answers
   (``releases``);
5. with a Go toolchain, a build from the Go module proxy (``gobuild``).

Downloads come first because they take a minute where builds take many. Where the
release host cannot be reached (no route, no DNS, a firewall that drops), the first
attempt gives up after OTELBUNDLE_DOWNLOAD_PROBE_TIMEOUT seconds (default 5) and
every component of the run goes straight to its build. ``--source build`` and
``--source download`` take one source only. Loki is never built (its module is
AGPL): it is a release download or a binary the user names.

Then the Jaeger UI release asset (``jaeger_ui``), then ``validate`` of the collector configs.
"""

from otelbundle.cli.stack.install.errors import InstallError
from otelbundle.cli.stack.install.installer import SOURCES, Installer

__all__ = ["SOURCES", "InstallError", "Installer"]
