#!/usr/bin/env bash
# The demo: Asterisk 22 (sandbox, SIP on 127.0.0.1:5060) driven by the reference server with the
# demo call center on http://127.0.0.1:8080, a caller simulator that rings the queues while an
# agent is checked in, and the agent app. Log in as agent 1001, password demo, check in, and
# answer the call that rings: you hear "hello world" and a tone. Closing the app (or Ctrl-C)
# stops everything.
# Every password is "demo" (agents 1001-1004, team admin "supervisor", system admin "admin";
# SIP devices 8001-8004). Run as root on Debian 12: it installs what it needs. Without a
# display (no DISPLAY/WAYLAND_DISPLAY) it runs everything but the app and says how to start it.
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
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  python pbx/sandbox.py stop --name demo
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pbx_setting() {
  python pbx/sandbox.py status --name demo | python -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}
CALLCENTER_AMI_SECRET="$(pbx_setting ami_secret)"
export CALLCENTER_AMI_SECRET
SIP="127.0.0.1:$(pbx_setting sip_port)"
SERVER="http://127.0.0.1:$PORT"

python -m callcenter_server --db "$DB" serve --port "$PORT" --log-level warning \
  --ami "127.0.0.1:$(pbx_setting ami_port)" --ami-user "$(pbx_setting ami_user)" \
  --pbx-config-dir "$(pbx_setting generated_dir)" &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "$SERVER/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$SERVER/healthz" >/dev/null || { echo "demo: the server did not start" >&2; exit 1; }

python pbx/caller.py --server "$SERVER" --sip "$SIP" &
pids+=($!)

echo "Asterisk: SIP $SIP (devices 8001-8004, password demo)."
echo "Server:   $SERVER (API docs at $SERVER/docs)."
echo "Caller:   rings the queues (sales 7001, support 7002) while an agent is checked in."
APP=(python -m agent_desktop --server "$SERVER" --team demo --agent 1001 --sip-registrar "$SIP")
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "App:      log in as 1001 / demo, check in, answer. Closing it ends the demo."
  "${APP[@]}"
else
  echo "App:      no display here. On this machine's desktop run:"
  echo "          ${APP[*]}"
  echo "Ctrl-C stops the demo."
  wait "${pids[0]}"
fi
