#!/usr/bin/env bash
# Obtain every backend binary the native stack and the e2e tests use, into a
# cache outside the repository, keyed by version and by the files that define
# the build. A warm run is a few hash checks; a cold one builds from the Go
# module proxy (collector ~5 min, Loki ~6 min, Jaeger ~2 min on 2 cores).
#
#   OTELBUNDLE_CACHE   cache root (default ~/.cache/otelbundle)
#   GOPROXY            kept, minus a trailing ",direct": a missing module must
#                      fail fast instead of waiting on a host that is unreachable
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${OTELBUNDLE_CACHE:-$HOME/.cache/otelbundle}
OTELCOL_VERSION=0.159.0
JAEGER_VERSION=2.13.0   # Go module v1.76.0, see deploy/tools/jaeger/go.mod
LOKI_VERSION=3.7.6

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
# on our own configs and ports, so make sure nothing holds 9090/9093.
pkill -x prometheus 2>/dev/null || true
pkill -x prometheus-alertmanager 2>/dev/null || true

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

"$CACHE/bin/otelcol-bundle-$OTELCOL_VERSION/otelcol-bundle" validate --config otel-collector/config.yaml
say "collector config valid; binaries in $CACHE/bin"
