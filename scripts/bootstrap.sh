# Sourced by scripts/test.sh and scripts/demo.sh: make this Debian machine able to run the project.
# Installs (as root) the Debian packages it needs and a virtualenv with the project in .venv.
# Idempotent and quick when everything is already there.

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT_DIR/.venv"

APT_PACKAGES=(
  postgresql         # the API test suite also runs on PostgreSQL
  curl               # the README walk-through
  python3-venv
  # Qt Multimedia on Linux, and the virtual headsets of the audio tests (tests/support/pulse.py)
  libpulse0 libegl1 libgl1 libxkbcommon0
  pulseaudio pulseaudio-utils sox
  # two speaking voices for the echo canceller's presence tests (tests/sip/test_echo_presence.py)
  espeak-ng
  # Qt's X11 platform plugin (the app on a desktop; Xvfb screenshots and tests)
  libfontconfig1 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
  libxkbcommon-x11-0 libdbus-1-3 xvfb
  # Chinese glyphs (the zh_CN translation; docs/screenshots/*_zh_CN.png); small, unlike
  # fonts-noto-cjk
  fonts-wqy-microhei
)

need_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing Debian packages: ${need_apt[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "bootstrap: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts a system cluster on install; the tests run their own, private one.
fi

# PipeWire 1.x in a private prefix: the audio tests on Qt's native PipeWire backend
# (tests/sip/test_audio_pipewire.py).
if [ "$(id -u)" -eq 0 ]; then
  "$ROOT_DIR/scripts/pipewire1.sh"
fi

# pjsua2 wheels exist for CPython 3.11 and 3.12 only.
pick_python() {
  for candidate in python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)'; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PYTHON="$(pick_python)" || {
    echo "bootstrap: need Python 3.11 or 3.12 (Debian 12 ships 3.11: apt-get install python3)" >&2
    exit 1
  }
  echo "bootstrap: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.installed-$(sha256sum "$ROOT_DIR/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing the project and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT_DIR[server,dev]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
