#!/usr/bin/env bash
# PipeWire 1.x for the audio tests, unpacked into a private prefix (the system keeps its own
# sound packages): Debian 12 ships PipeWire 0.3.65, which Qt Multimedia 6.11 does not use (it
# talks to pipewire-pulse through libpulse then), while Debian 13, Ubuntu 24.04 and Fedora
# desktops run PipeWire 1.x, on which Qt plays through its own native PipeWire backend. The
# tests (tests/support/pipewire.py) run the daemons from the prefix and give the app's process
# its libpipewire, so that this backend is tested too.
#
# Usage: scripts/pipewire1.sh [PREFIX]   (root; idempotent, quick when the prefix is complete)
# Source: bookworm-backports (PipeWire 1.4, WirePlumber 0.5), through a private apt state; the
# libraries they link against come from bookworm itself (apt-get install).
set -euo pipefail

PREFIX="${1:-${AGENT_DESKTOP_PIPEWIRE1:-/var/cache/agent-desktop/pipewire-1}}"
SUITE=bookworm-backports
PACKAGES=(
  pipewire pipewire-bin pipewire-pulse wireplumber libwireplumber-0.5-0
  libpipewire-0.3-0 libpipewire-0.3-common libpipewire-0.3-modules libspa-0.2-modules
)
STAMP="$PREFIX/.complete"
[ -f "$STAMP" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "pipewire1: run as root (it installs the libraries PipeWire 1.x needs)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs"
echo "deb http://deb.debian.org/debian $SUITE main" >"$work/sources.list"
apt_private=(
  -o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=-
  -o Dir::State::lists="$work/lists" -o Dir::Cache::archives="$work/archives"
  -o APT::Sandbox::User=root
)
echo "pipewire1: fetching ${PACKAGES[*]} from $SUITE"
apt-get "${apt_private[@]}" update -qq
(cd "$work/debs" && apt-get "${apt_private[@]}" download -qq "${PACKAGES[@]/%//$SUITE}")

# What the packages link against, from the system's own suite (first alternative of each
# dependency, versions dropped; the unpacked packages themselves and what only their
# maintainer scripts use are left out).
deps="$(for deb in "$work"/debs/*.deb; do dpkg-deb -f "$deb" Depends; done |
  tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | sort -u)"
need=()
for dep in dbus-daemon $deps; do  # dbus-daemon: WirePlumber needs a session bus
  case " ${PACKAGES[*]} " in *" $dep "*) continue ;; esac
  case "$dep" in
    "" | adduser | init-system-helpers | default-dbus-session-bus | dbus-session-bus | \
      dconf-gsettings-backend | gsettings-backend | libc6 | libgcc-s1 | libstdc++6) continue ;;
  esac
  dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "install ok installed" || need+=("$dep")
done
if ((${#need[@]})); then
  echo "pipewire1: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

rm -rf "$PREFIX.tmp"
mkdir -p "$PREFIX.tmp"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$PREFIX.tmp"; done
LD_LIBRARY_PATH="$PREFIX.tmp/usr/lib/x86_64-linux-gnu" "$PREFIX.tmp/usr/bin/pipewire" --version >/dev/null
rm -rf "$PREFIX"
mv "$PREFIX.tmp" "$PREFIX"
(cd "$work/debs" && ls) >"$STAMP"
echo "pipewire1: $(LD_LIBRARY_PATH="$PREFIX/usr/lib/x86_64-linux-gnu" "$PREFIX/usr/bin/pipewire" --version | tail -1) in $PREFIX"
