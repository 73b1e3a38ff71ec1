#!/usr/bin/env bash
# Runs an interop test (tests/interop/*.py) with the pinned venv's python: run-interop.sh SCRIPT ARGS...
venv=$("$(dirname "$0")/venv.sh")
exec "$venv/bin/python" "$@"
