#!/usr/bin/env bash
# Build the Linux one-folder bundle: dist/agent-desktop/ (docs/build.md).
# Usage: scripts/build.sh [--archive]   (--archive also writes dist/agent-desktop-VERSION-linux-x86_64.tar.zst)
# Environment: PYTHON (default: the project's .venv, made by scripts/bootstrap.sh),
# BUILD_DIR (PyInstaller's work folder, default build/), DIST_DIR (default dist/).
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT_DIR/.venv/bin/python}"
BUILD_DIR="${BUILD_DIR:-$ROOT_DIR/build}"
DIST_DIR="${DIST_DIR:-$ROOT_DIR/dist}"
cd "$ROOT_DIR"

"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || {
  echo "build: PyInstaller is missing: $PYTHON -m pip install -e '.[dev]'" >&2
  exit 1
}
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --workpath "$BUILD_DIR" --distpath "$DIST_DIR" build_installer.spec
bundle="$DIST_DIR/agent-desktop"
echo "build: $bundle in $(( $(date +%s) - start )) s, $(du -sh "$bundle" | cut -f1) on disk"

if [ "${1:-}" = "--archive" ]; then
  version=$("$PYTHON" -c 'import agent_desktop; print(agent_desktop.__version__)')
  archive="$DIST_DIR/agent-desktop-$version-linux-x86_64.tar.zst"
  tar -C "$DIST_DIR" -cf - agent-desktop | zstd -q -19 -T0 -f -o "$archive"
  echo "build: $archive $(du -h "$archive" | cut -f1)"
fi
