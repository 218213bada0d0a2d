#!/usr/bin/env bash
# The demo: the reference server with the demo call center on http://127.0.0.1:8080.
# Every password is "demo" (agents 1001-1004, team admin "supervisor", system admin "admin").
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT_DIR"

DATA="${AGENT_DESKTOP_DEMO_DIR:-$ROOT_DIR/var/demo}"
mkdir -p "$DATA"
DB="sqlite:///$DATA/callcenter.sqlite3"
python -m callcenter_server --db "$DB" demo-seed
echo "Serving the demo call center on http://127.0.0.1:${PORT:-8080} (Ctrl-C stops it)."
echo "API docs: http://127.0.0.1:${PORT:-8080}/docs"
exec python -m callcenter_server --db "$DB" serve --port "${PORT:-8080}"
