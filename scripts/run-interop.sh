#!/usr/bin/env bash
# Runs an interop test (tests/interop/*.py) with the pinned venv's python: run-interop.sh SCRIPT ARGS...
venv=$("$(dirname "$0")/venv.sh") || exit 1
exec "$venv/bin/python" "$@"
