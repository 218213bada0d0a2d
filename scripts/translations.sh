#!/usr/bin/env bash
# Re-extract the app's visible strings into resources/translations/*.ts and compile them to .qm.
# Usage: scripts/translations.sh
# New strings come out as type="unfinished": translate them (pyside6-linguist, or by hand),
# run this again, and commit the .ts and the .qm (tests/ui/test_translations.py checks that
# every string has a translation with the same placeholders).
#
# Extraction: pyside6-lupdate reads the Python sources; it knows the app's `tr("…")` (a free
# function: the empty context, agent_desktop.session.messages.CONTEXT) and is told that
# `tr_noop("…")` (module-level tables, translated at use) is QT_TR_NOOP.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT_DIR"
if [ -x "$ROOT_DIR/.venv/bin/pyside6-lupdate" ]; then
  BIN="$ROOT_DIR/.venv/bin/"
else
  BIN=""  # from PATH
fi

mapfile -t sources < <(find agent_desktop -name '*.py' | sort)
for ts in resources/translations/agent_desktop_*.ts; do
  "${BIN}pyside6-lupdate" -tr-function-alias QT_TR_NOOP+=tr_noop -locations relative \
    -no-obsolete "${sources[@]}" -ts "$ts"
  "${BIN}pyside6-lrelease" "$ts" -qm "${ts%.ts}.qm"
done
