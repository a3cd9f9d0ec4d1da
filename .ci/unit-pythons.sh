#!/usr/bin/env bash
# The unit tests again on the oldest and the newest Python that pyproject.toml's
# requires-python admits, beside the 3.11 that `make test` uses: what differs between
# versions (argparse, the re module's flags, typing) shows here, not at a user's.
# A version this machine has no interpreter for (no pythonX.Y on PATH, no pyenv build;
# nothing can be downloaded here) is said and skipped. Each version's venv is kept in
# ~/.cache/otelbundle/venvs, made again when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=${OTELBUNDLE_OTHER_PYTHONS:-"3.10 3.13"}
key=$(sha256sum pyproject.toml | cut -c1-12)
status=0
for version in $versions; do
  # A pyenv build first: pyenv's shim for pythonX.Y is on the PATH but refuses to run
  # unless that version is selected; any candidate must answer before it is used.
  python=""
  for candidate in $(ls -d "$HOME"/.pyenv/versions/"$version".*/bin/python 2>/dev/null | sort -V -r) \
                   $(command -v "python$version" || true); do
    if "$candidate" -c 'import venv' >/dev/null 2>&1; then python=$candidate; break; fi
  done
  if [ -z "$python" ]; then
    echo "== Python $version: no interpreter on this machine (python$version, ~/.pyenv); its unit tests were not run"
    continue
  fi
  venv="$HOME/.cache/otelbundle/venvs/py$version-$key"
  if [ ! -f "$venv/.installed" ]; then
    echo "== Python $version: making $venv"
    rm -rf "$HOME/.cache/otelbundle/venvs/py$version-"*  # those of earlier pyproject.toml files
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q -U pip
    "$venv/bin/python" -m pip install -q ".[dev,examples]"
    touch "$venv/.installed"
  fi
  # This checkout, editable (its entry points registered), into the cached venv.
  "$venv/bin/python" -m pip install -q --no-deps -e .
  echo "== unit tests on $("$venv/bin/python" --version)"
  "$venv/bin/python" -m pytest -q tests/unit || status=1
done
exit $status
