#!/usr/bin/env bash
# The demo: Asterisk 22 (sandbox, SIP on 127.0.0.1:5060) driven by the reference server with the
# demo call center on http://127.0.0.1:8080. Ctrl-C stops both.
# Every password is "demo" (agents 1001-1004, team admin "supervisor", system admin "admin";
# SIP devices 8001-8004). Run as root on Debian 12: it installs what it needs.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT_DIR"

DATA="${AGENT_DESKTOP_DEMO_DIR:-$ROOT_DIR/var/demo}"
PORT="${PORT:-8080}"
mkdir -p "$DATA"
DB="sqlite:///$DATA/callcenter.sqlite3"
python -m callcenter_server --db "$DB" demo-seed

# The PBX: a Debian-testing root with Asterisk 22 (built once, ~75 s; cached afterwards).
python pbx/sandbox.py build
python pbx/sandbox.py start --name demo
trap 'python pbx/sandbox.py stop --name demo' EXIT
pbx_setting() {
  python pbx/sandbox.py status --name demo | python -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}
CALLCENTER_AMI_SECRET="$(pbx_setting ami_secret)"
export CALLCENTER_AMI_SECRET

echo "Asterisk: SIP 127.0.0.1:$(pbx_setting sip_port) (devices 8001-8004, password demo)."
echo "Server:   http://127.0.0.1:$PORT (API docs at /docs). Ctrl-C stops the demo."
python -m callcenter_server --db "$DB" serve --port "$PORT" \
  --ami "127.0.0.1:$(pbx_setting ami_port)" --ami-user "$(pbx_setting ami_user)" \
  --pbx-config-dir "$(pbx_setting generated_dir)"
