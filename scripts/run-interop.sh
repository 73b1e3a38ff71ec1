#!/usr/bin/env bash
# Runs an interop test with the pinned venv's python: run-interop.sh tests/interop/test_x.py ARGS...
venv=$("$(dirname "$0")/venv.sh") || exit 1
exec "$venv/bin/python" "$@"
