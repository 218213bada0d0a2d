#!/usr/bin/env bash
# The whole test suite: lint, types, unit, API (SQLite + PostgreSQL) and integration tests.
# Usage: scripts/test.sh [pytest args]   (run as root on a fresh Debian machine: it installs
# what it needs).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT_DIR"

echo "== ruff"
ruff check .
echo "== mypy"
mypy
echo "== pytest"
exec pytest -q --durations=10 "$@"
