#!/usr/bin/env bash
# Sets up everything the test suite needs on a Debian machine, then runs it.
#   scripts/run-tests.sh            all tiers (unit, integration, Docker)
#   scripts/run-tests.sh -m "not docker"   any pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    python3 python3-venv python3-pip python3-evdev  # python3-evdev: the launch script's too
    xvfb xdotool xclip xsel x11-utils            # virtual screen, key presses, clipboard
    pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins  # virtual microphone
    espeak-ng sox                                 # speech to feed it
    strace                                        # a slow disk, by delaying fsync
    docker.io docker-compose debootstrap          # the compose tier
    python3-tk libnotify-bin xterm               # paste target windows; notifications
    sway wtype wl-clipboard foot                 # a headless Wayland compositor, paste, target
    dbus xdg-desktop-portal acl                  # a session bus, the portal; a test user's access
    python3-gi gir1.2-gtk-3.0 libatk-adaptor at-spi2-core  # a GTK field read back over AT-SPI
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "Installing system packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

VENV=${TURBO_WHISPER_TEST_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[test,local]'

# pytest exits 5 when it collects no test; that is a failure here too.
exec "$VENV/bin/python" -m pytest "$@"
