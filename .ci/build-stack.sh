#!/usr/bin/env bash
# Obtain every backend binary the native stack and the e2e tests use, into a
# cache outside the repository (~/.cache/otelbundle, keyed by version and by the
# files that define each build). The work is `otelbundle stack install`
# (src/otelbundle/cli/stack/install/), the same code an installed package runs;
# this script adds what only a checkout/CI machine does: Debian's Prometheus
# and Alertmanager from apt, and the venv the command runs from.
#
# A warm run is a few hash checks; a cold one downloads the official releases
# (about a minute) and, where the release host cannot be reached (it gives up
# within 5 s), builds from the Go module proxy instead (on 2 cores: the
# collector ~6 min, Jaeger 5-9 min, VictoriaLogs ~25 s, Alertmanager ~40 s).
# Loki is never built (AGPL). Environment (see docs/deploy.md):
#   OTELBUNDLE_CACHE, OTELBUNDLE_JAEGER_UI_ASSETS, OTELBUNDLE_JAEGER_UI_SHA256,
#   OTELBUNDLE_DOWNLOAD_URL, OTELBUNDLE_DOWNLOAD_PROBE_TIMEOUT,
#   OTELBUNDLE_REQUIRE_STACK=1 (the Jaeger UI is required)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[build-stack] %s\n' "$*"; }

# Debian packages: Prometheus 2.42 + promtool, Alertmanager 0.25 for amtool (the
# versions the configs and deploy/ tests are checked with; the stack's own
# Alertmanager, 0.31.1, comes from its release or module, which have the web UI
# Debian's lacks).
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's packages start system services where an init system runs; ours run
# on our own configs and ports. Stop those through the service manager - never
# by process name, which would also kill a Prometheus that is not ours.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  for unit in prometheus prometheus-alertmanager; do
    if systemctl is-active --quiet "$unit"; then
      say "systemctl disable --now $unit (Debian's service would hold the stack's port)"
      systemctl disable --now "$unit" >/dev/null 2>&1 || say "could not stop $unit; \`otelbundle stack up\` will name the port's holder"
    fi
  done
fi

# The command lives in the venv (`make dev`; a no-op when it is up to date).
make -s dev
exec .venv/bin/otelbundle stack install
