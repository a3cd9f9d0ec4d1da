#!/usr/bin/env bash
# Obtain every backend binary the native stack and the e2e tests use, into a
# cache outside the repository, keyed by version and by the files that define
# the build. A warm run is a few hash checks; a cold one builds from the Go
# module proxy (collector ~5 min, Loki ~6 min, Jaeger ~2 min on 2 cores).
#
#   OTELBUNDLE_CACHE   cache root (default ~/.cache/otelbundle)
#   GOPROXY            kept, minus a trailing ",direct": a missing module must
#                      fail fast instead of waiting on a host that is unreachable
#   OTELBUNDLE_JAEGER_UI_ASSETS
#                      a local copy of the jaeger-ui release asset (assets.tar.gz,
#                      or a folder holding build/index.html) for machines that
#                      cannot download it from GitHub
#   OTELBUNDLE_JAEGER_UI_SHA256
#                      expected sha256 of that archive (checked when set)
#   OTELBUNDLE_REQUIRE_STACK=1
#                      fail instead of warning when the Jaeger UI cannot be had (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${OTELBUNDLE_CACHE:-$HOME/.cache/otelbundle}
OTELCOL_VERSION=0.159.0
JAEGER_VERSION=2.13.0   # Go module v1.76.0, see deploy/tools/jaeger/go.mod
LOKI_VERSION=3.7.6
JAEGER_UI_VERSION=1.76.0  # the UI release Jaeger v2.13.0 ships with
JAEGER_UI_URL=https://github.com/jaegertracing/jaeger-ui/releases/download/v$JAEGER_UI_VERSION/assets.tar.gz

proxy=$(go env GOPROXY)
proxy=${proxy%,direct}
export GOPROXY=${proxy:-https://proxy.golang.org}
export GOFLAGS=-buildvcs=false
export GOBIN=$CACHE/tools

say() { printf '[build-stack] %s\n' "$*"; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# Debian packages: Prometheus 2.42 + promtool, Alertmanager 0.25 + amtool.
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

build() {  # name version stamp-inputs... -- build-command...
  local name=$1 version=$2; shift 2
  local inputs=()
  while [ "$1" != "--" ]; do inputs+=("$1"); shift; done; shift
  local dir=$CACHE/bin/$name-$version
  local stamp; stamp=$(stamp_of "${inputs[@]}")
  if [ -x "$dir/$name" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
    say "$name $version: cached ($dir/$name)"
    return
  fi
  say "$name $version: building (first time on this machine; takes minutes)"
  local started=$SECONDS
  mkdir -p "$dir"
  "$@" "$dir/$name"
  echo "$stamp" > "$dir/.stamp"
  say "$name $version: built in $((SECONDS - started))s"
}

build_otelcol() {
  local out=$1 work=$CACHE/build/otelcol
  mkdir -p "$work"
  go install "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"
  sed "s#output_path: ./_build#output_path: $work/out#" otel-collector/builder-config.yaml > "$work/builder.yaml"
  "$GOBIN/builder" --config "$work/builder.yaml"
  cp "$work/out/otelcol-bundle" "$out"
}

build_tool() {  # module-dir package out
  (cd "$1" && go build -mod=readonly -trimpath -o "$3" "$2")
}

build otelcol-bundle "$OTELCOL_VERSION" otel-collector/builder-config.yaml -- build_otelcol
build jaeger "$JAEGER_VERSION" deploy/tools/jaeger/go.mod deploy/tools/jaeger/go.sum -- \
  build_tool "$ROOT/deploy/tools/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
build loki "$LOKI_VERSION" deploy/tools/loki/go.mod deploy/tools/loki/go.sum -- \
  build_tool "$ROOT/deploy/tools/loki" github.com/grafana/loki/v3/cmd/loki

# The Jaeger UI: the release asset of the matching jaeger-ui version, unpacked
# once into the cache; Jaeger serves it from there (jaeger_query.ui.assets_path).
fetch_jaeger_ui() {
  local dest=$CACHE/jaeger-ui/v$JAEGER_UI_VERSION
  if [ -f "$dest/build/index.html" ]; then
    say "jaeger-ui $JAEGER_UI_VERSION: cached ($dest/build)"
    return 0
  fi
  local source=${OTELBUNDLE_JAEGER_UI_ASSETS:-} work
  work=$(mktemp -d)
  if [ -z "$source" ]; then
    say "jaeger-ui $JAEGER_UI_VERSION: downloading $JAEGER_UI_URL"
    if ! curl -fsSL --connect-timeout 10 --max-time 300 -o "$work/assets.tar.gz" "$JAEGER_UI_URL"; then
      rm -rf "$work"
      return 1
    fi
    source=$work/assets.tar.gz
  fi
  if [ -d "$source" ]; then
    [ -f "$source/build/index.html" ] || { say "OTELBUNDLE_JAEGER_UI_ASSETS=$source has no build/index.html"; rm -rf "$work"; return 1; }
    mkdir -p "$work/unpacked" && cp -r "$source/build" "$work/unpacked/"
  else
    [ -f "$source" ] || { say "OTELBUNDLE_JAEGER_UI_ASSETS=$source: no such file"; rm -rf "$work"; return 1; }
    if [ -n "${OTELBUNDLE_JAEGER_UI_SHA256:-}" ]; then
      local got; got=$(sha256sum "$source" | cut -d' ' -f1)
      if [ "$got" != "$OTELBUNDLE_JAEGER_UI_SHA256" ]; then
        say "jaeger-ui archive $source: sha256 $got, expected $OTELBUNDLE_JAEGER_UI_SHA256"
        rm -rf "$work"
        return 1
      fi
    fi
    mkdir -p "$work/unpacked"
    tar -xzf "$source" -C "$work/unpacked" || { rm -rf "$work"; return 1; }
    [ -f "$work/unpacked/build/index.html" ] || { say "$source holds no build/index.html"; rm -rf "$work"; return 1; }
  fi
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest" && mv "$work/unpacked" "$dest" && rm -rf "$work"
  say "jaeger-ui $JAEGER_UI_VERSION: unpacked into $dest/build (from $source)"
}
if ! fetch_jaeger_ui; then
  say "!! The Jaeger UI $JAEGER_UI_VERSION could not be obtained: Jaeger will serve only its API and a"
  say "!! placeholder page. Download $JAEGER_UI_URL on a machine that can,"
  say "!! then run: OTELBUNDLE_JAEGER_UI_ASSETS=/path/to/assets.tar.gz make stack"
  [ "${OTELBUNDLE_REQUIRE_STACK:-}" = 1 ] && exit 1
fi

"$CACHE/bin/otelcol-bundle-$OTELCOL_VERSION/otelcol-bundle" validate --config otel-collector/config.yaml
say "collector config valid; binaries in $CACHE/bin"
