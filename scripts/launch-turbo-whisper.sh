#!/usr/bin/env bash
# Start Turbo Whisper: the command run at login (see `turbo-whisper autostart install`).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: launch-turbo-whisper.sh [--foreground] [--no-server] [--cpu | --gpu] [--stop] [--help]

Starts Turbo Whisper. The first run installs the few system packages the client needs
(with sudo), creates a virtual environment and installs the client into it; later runs
reinstall only when the sources changed, and start the installed client if that fails
(e.g. offline). Then it starts the client in the background (log:
$XDG_STATE_HOME/turbo-whisper/client.log) and the transcription server's Docker stack when
it is not running: the GPU variant when Docker has an NVIDIA runtime, else the CPU one. It
does not wait for the model download: the client waits for the server itself and says what
the server is doing. A second launch while a client runs, however it was started, only
says so.

  --foreground  run the client in this terminal (or under systemd), not in the background
  --no-server   leave Docker alone (a remote server, or engine = "local")
  --gpu, --cpu  choose the server variant instead of detecting it
  --stop        stop the running client, however it was started (turbo-whisper quit; the
                server keeps running: turbo-whisper server down stops it)
  -h, --help    show this text

Environment:
  TURBO_WHISPER_VENV          the virtual environment (default $XDG_DATA_HOME/turbo-whisper/venv)
  TURBO_WHISPER_PYTHON        the Python that creates it (default python3)
  TURBO_WHISPER_VENV_OPTIONS  more options for `python -m venv` (it always gets
                              --system-site-packages, for Debian's python3-evdev)
  TURBO_WHISPER_VARIANT       gpu, cpu or auto (default), like --gpu and --cpu
EOF
}

say() { printf 'launch-turbo-whisper: %s\n' "$*"; }
warn() { printf 'launch-turbo-whisper: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

# XDG base directories; relative values are invalid and ignored, as the spec says.
xdg_dir() {
  case "${1:-}" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$HOME/$2" ;;
  esac
}

script="$(readlink -f -- "${BASH_SOURCE[0]}")"
checkout="$(dirname -- "$(dirname -- "$script")")"
data_dir="$(xdg_dir "${XDG_DATA_HOME:-}" .local/share)/turbo-whisper"
state_dir="$(xdg_dir "${XDG_STATE_HOME:-}" .local/state)/turbo-whisper"
venv="${TURBO_WHISPER_VENV:-$data_dir/venv}"
python="${TURBO_WHISPER_PYTHON:-python3}"
read -r -a venv_options <<<"${TURBO_WHISPER_VENV_OPTIONS:-}"
variant="${TURBO_WHISPER_VARIANT:-auto}"
log_file="$state_dir/client.log"
client="$venv/bin/turbo-whisper"

foreground=false
with_server=true
action=start
while (($#)); do
  case "$1" in
    --foreground) foreground=true ;;
    --no-server) with_server=false ;;
    --gpu) variant=gpu ;;
    --cpu) variant=cpu ;;
    --stop) action=stop ;;
    -h | --help) usage; exit 0 ;;
    *) warn "unknown option: $1"; usage >&2; exit 2 ;;
  esac
  shift
done
case "$variant" in
  gpu | cpu | auto) ;;
  *) warn "TURBO_WHISPER_VARIANT must be gpu, cpu or auto, not '$variant'"; exit 2 ;;
esac

# --- system packages -----------------------------------------------------------------------

# What the client needs from the system: venv for its environment, PortAudio for the
# microphone, xclip for the clipboard, and Debian's build of evdev. pynput needs evdev on
# Linux, and PyPI has no wheel of it: pip would compile it, which needs gcc, the Python
# headers and the kernel headers, which a desktop does not have (gcc python3-dev on Debian
# 12: 44 packages, 60 MB to download, 230 MB installed). The environment sees Debian's
# python3-evdev through --system-site-packages instead (1 package, 0.2 MB installed).
# Installed on Debian/Ubuntu when missing.
SYSTEM_PACKAGES=(python3-venv python3-evdev libportaudio2 xclip)

# sudo without a question: at a terminal it may ask for the password; elsewhere (autostart)
# only when it needs none.
can_sudo() {
  command -v sudo >/dev/null && { [[ -t 0 ]] || sudo -n true 2>/dev/null; }
}

ensure_system_packages() {
  command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || return 0
  local missing=() package
  for package in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  local apt=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
  say "installing system packages: ${missing[*]}"
  if [[ "$(id -u)" -eq 0 ]]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}"; } >/dev/null ||
      warn "could not install ${missing[*]}; run: apt-get install ${missing[*]}"
  elif can_sudo; then
    { sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive "${apt[@]}"; } >/dev/null ||
      warn "could not install ${missing[*]}; run: sudo apt install ${missing[*]}"
  else
    warn "missing system packages: ${missing[*]}; run: sudo apt install ${missing[*]}"
  fi
}

# --- the virtual environment ---------------------------------------------------------------

# Changes whenever the package's sources or metadata change.
source_stamp() {
  (
    cd "$checkout"
    find pyproject.toml turbo_whisper -type f \( -name '*.py' -o -name '*.toml' -o -name '*.typed' \) -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -d' ' -f1
}

create_venv() {
  say "creating the virtual environment $venv (first run)"
  mkdir -p "$(dirname -- "$venv")"
  if ! "$python" -m venv --system-site-packages ${venv_options[@]+"${venv_options[@]}"} \
    "$venv"; then
    rm -rf -- "$venv"
    die "could not create $venv with $python (Debian/Ubuntu: sudo apt install python3-venv)"
  fi
}

# An environment made before it saw the system's packages would compile evdev.
see_system_packages() {
  local cfg="$venv/pyvenv.cfg"
  [[ -f "$cfg" ]] && grep -q '^include-system-site-packages *= *false' "$cfg" || return 0
  "$venv/bin/python" -c 'import evdev' 2>/dev/null && return 0
  sed -i 's/^include-system-site-packages *= *false/include-system-site-packages = true/' "$cfg"
}

# pip builds this package with setuptools (pyproject.toml's build-system). With them in the
# environment it builds without isolation, so it fetches nothing: a reinstall after the
# sources changed works offline too. pip asks no index for what is already there.
BUILD_REQUIREMENTS=("setuptools>=66.1" wheel)

pip_install() {
  local pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet)
  if "${pip[@]}" "${BUILD_REQUIREMENTS[@]}"; then
    pip+=(--no-build-isolation)
  fi
  "${pip[@]}" "$checkout"
}

ensure_installed() {
  local wanted stamp_file="$venv/turbo-whisper-stamp"
  wanted="$(source_stamp)"
  if [[ -x "$client" && -f "$stamp_file" && "$(<"$stamp_file")" == "$wanted" ]]; then
    return 0
  fi
  ensure_system_packages
  [[ -x "$venv/bin/python" ]] || create_venv
  see_system_packages
  say "installing Turbo Whisper from $checkout into $venv"
  if ! pip_install; then
    [[ -x "$client" ]] || die "pip could not install Turbo Whisper (its messages are above)"
    warn "pip could not install the changed sources (its messages are above);" \
      "starting the Turbo Whisper installed before. The next launch tries again."
    return 0
  fi
  # Tells the installed client where its compose files and this script are.
  printf '%s\n' "$checkout" >"$venv/turbo-whisper-checkout"
  printf '%s\n' "$wanted" >"$stamp_file"
  link_command
}

# `turbo-whisper toggle` for desktop shortcuts, unless another turbo-whisper is there.
link_command() {
  local link="$HOME/.local/bin/turbo-whisper"
  if [[ -L "$link" || ! -e "$link" ]]; then
    mkdir -p "$(dirname -- "$link")"
    ln -sfn "$client" "$link"
  fi
  case ":$PATH:" in
    *":$HOME/.local/bin:"*) ;;
    *) say "~/.local/bin is not on your PATH yet (it is after your next login on" \
      "Debian/Ubuntu); until then run $link" ;;
  esac
}

# --- the client process ----------------------------------------------------------------------

# The client installed here, else one on PATH: either can stop a client started by hand.
any_client() {
  if [[ -x "$client" ]]; then
    printf '%s\n' "$client"
  else
    command -v turbo-whisper
  fi
}

# Prints the pid of the running client; fails when there is none. The client's instance
# lock answers, so a client started by hand counts too.
running_pid() {
  local command
  command="$(any_client)" || return 1
  "$command" pid 2>/dev/null
}

stop_client() {
  local command
  if ! command="$(any_client)"; then
    say "Turbo Whisper is not running."
    return 0
  fi
  "$command" quit
}

start_server() {
  local flags=(server up --if-needed)
  [[ "$variant" == auto ]] || flags+=("--$variant")
  if ! "$client" "${flags[@]}"; then
    warn "the server stack did not start (see above); the client runs anyway and waits for a server."
  fi
}

# The one place the client is started; the words before it say how: `exec` in this
# terminal (or under systemd), `exec setsid` in a background job detached from it.
start_client() {
  "$@" "$client" run
}

# Starts the client detached from this terminal; fails if it dies at once (it says why).
start_background() {
  local pid detach=setsid
  command -v setsid >/dev/null || detach=nohup
  printf '\n=== %s: Turbo Whisper starts ===\n' "$(date '+%Y-%m-%d %H:%M:%S')" >>"$log_file"
  start_client exec "$detach" >>"$log_file" 2>&1 </dev/null 9>&- &
  pid=$!
  for _ in $(seq 15); do
    sleep 0.1
    kill -0 "$pid" 2>/dev/null && continue
    wait "$pid" || true
    if pid="$(running_pid)"; then
      say "Turbo Whisper is already running (process $pid, started without this script)."
      exit 0
    fi
    warn "Turbo Whisper stopped at once; the end of $log_file says:"
    tail -n 5 -- "$log_file" >&2
    exit 1
  done
  say "Turbo Whisper runs in the background (process $pid); log: $log_file"
}

main() {
  umask 077  # the log and the environment are the user's alone
  mkdir -p "$state_dir"
  # One launch at a time: the autostart entry and the systemd unit may fire together.
  exec 9>"$state_dir/launch.lock"
  if command -v flock >/dev/null; then
    flock -w 60 9 || die "another launch has held $state_dir/launch.lock for a minute"
  fi

  if [[ "$action" == stop ]]; then
    stop_client
    return 0
  fi
  local pid
  if pid="$(running_pid)"; then
    say "Turbo Whisper is already running (process $pid); nothing to do."
    return 0
  fi
  ensure_installed

  if [[ "$foreground" == true ]]; then
    # The server stack comes up beside the client, which waits for it and shows progress.
    if [[ "$with_server" == true ]]; then
      (start_server 9>&- &)
    fi
    exec 9>&-
    start_client exec
  fi
  start_background
  if [[ "$with_server" == true ]]; then
    start_server
  fi
}

main
