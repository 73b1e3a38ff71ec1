#!/usr/bin/env bash
set -euo pipefail
venv=$("$(dirname "$0")/venv.sh")
exec "$venv/bin/python" "$@"
