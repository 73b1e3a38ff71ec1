#!/usr/bin/env bash
# Creates (once) and prints the path of the Python virtual environment for the interop tests.
# The environment lives outside the checkout, in ${WF_VENV_ROOT:-~/.cache/weft}/venv-<hash>,
# keyed by the hash of tests/interop/requirements*.txt: it is reused while the pins are
# unchanged and rebuilt from nothing when they change or on a fresh machine. torch from PyPI
# brings NVIDIA's CUDA libraries (gigabytes): the first run takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/interop/requirements.txt
nodeps=tests/interop/requirements-nodeps.txt
hash=$(cat "$req" "$nodeps" | sha256sum | cut -c1-12)
root=${WF_VENV_ROOT:-$HOME/.cache/weft}
venv=$root/venv-$hash
mkdir -p "$root"
exec 9>"$root/.lock"
flock 9 # one creator at a time; later callers wait here, then find it complete
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  echo "venv: creating $venv (pinned requirements $hash)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -r "$req" >&2
  "$venv/bin/python" -m pip install -q --no-deps -r "$nodeps" >&2
  touch "$venv/.complete"
fi
echo "$venv"
