#!/usr/bin/env bash
# Start Turbo Whisper: the command run at login (see `turbo-whisper autostart install`).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: launch-turbo-whisper.sh [--foreground] [--no-server] [--cpu | --gpu] [--stop] [--help]

Starts Turbo Whisper. The first run creates a virtual environment and installs the client
into it; later runs reinstall only when the sources changed. Then it starts the client in
the background (log: $XDG_STATE_HOME/turbo-whisper/client.log) and the transcription
server's Docker stack when it is not running: the GPU variant when Docker has an NVIDIA
runtime, else the CPU one. It does not wait for the model download: the client waits for
the server itself and says what the server is doing. A second launch while the client runs
only says so.

  --foreground  run the client in this terminal (or under systemd), not in the background
  --no-server   leave Docker alone (a remote server, or engine = "local")
  --gpu, --cpu  choose the server variant instead of detecting it
  --stop        stop the running client (the server keeps running: turbo-whisper server down)
  -h, --help    show this text

Environment:
  TURBO_WHISPER_VENV          the virtual environment (default $XDG_DATA_HOME/turbo-whisper/venv)
  TURBO_WHISPER_PYTHON        the Python that creates it (default python3)
  TURBO_WHISPER_VENV_OPTIONS  more options for `python -m venv`, e.g. --system-site-packages
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
pid_file="$state_dir/client.pid"
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
# microphone, xclip for the clipboard. Installed on Debian/Ubuntu when missing.
SYSTEM_PACKAGES=(python3-venv libportaudio2 xclip)

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
  elif command -v sudo >/dev/null && [[ -t 0 ]]; then
    { sudo apt-get update -qq && sudo "${apt[@]}"; } >/dev/null ||
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
  if ! "$python" -m venv ${venv_options[@]+"${venv_options[@]}"} "$venv"; then
    rm -rf -- "$venv"
    die "could not create $venv with $python (Debian/Ubuntu: sudo apt install python3-venv)"
  fi
}

ensure_installed() {
  local wanted stamp_file="$venv/turbo-whisper-stamp"
  wanted="$(source_stamp)"
  if [[ -x "$client" && -f "$stamp_file" && "$(<"$stamp_file")" == "$wanted" ]]; then
    return 0
  fi
  ensure_system_packages
  [[ -x "$venv/bin/python" ]] || create_venv
  say "installing Turbo Whisper from $checkout into $venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$checkout" ||
    die "pip could not install Turbo Whisper (its messages are above)"
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
}

# --- the client process ----------------------------------------------------------------------

# Prints the pid of the running client; fails when there is none.
running_pid() {
  local pid cmdline
  [[ -f "$pid_file" ]] || return 1
  pid="$(<"$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # The pid may have been reused by another program since.
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *turbo-whisper* ]] || return 1
  printf '%s\n' "$pid"
}

stop_client() {
  local pid
  if ! pid="$(running_pid)"; then
    say "Turbo Whisper is not running."
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 50); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f -- "$pid_file"
      say "stopped Turbo Whisper (process $pid)."
      return 0
    fi
    sleep 0.2
  done
  die "Turbo Whisper (process $pid) did not stop within 10 s; kill -9 $pid ends it."
}

start_server() {
  local flags=(server up --if-needed)
  [[ "$variant" == auto ]] || flags+=("--$variant")
  if ! "$client" "${flags[@]}"; then
    warn "the server stack did not start (see above); the client runs anyway and waits for a server."
  fi
}

# Starts the client detached from this terminal; fails if it dies at once (it says why).
start_background() {
  local pid
  printf '\n=== %s: Turbo Whisper starts ===\n' "$(date '+%Y-%m-%d %H:%M:%S')" >>"$log_file"
  if command -v setsid >/dev/null; then
    setsid "$client" run --supervised >>"$log_file" 2>&1 </dev/null 9>&- &
  else
    nohup "$client" run --supervised >>"$log_file" 2>&1 </dev/null 9>&- &
  fi
  pid=$!
  printf '%s\n' "$pid" >"$pid_file"
  for _ in $(seq 15); do
    sleep 0.1
    kill -0 "$pid" 2>/dev/null && continue
    rm -f -- "$pid_file"
    if grep -q "already running" <(tail -n 5 -- "$log_file"); then
      say "Turbo Whisper is already running (started without this script)."
      exit 0
    fi
    warn "Turbo Whisper stopped at once; the end of $log_file says:"
    tail -n 5 -- "$log_file" >&2
    exit 1
  done
  say "Turbo Whisper runs in the background (process $pid); log: $log_file"
}

main() {
  umask 077  # the log, pid file and environment are the user's alone
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
    printf '%s\n' "$$" >"$pid_file"
    exec 9>&-
    exec "$client" run --supervised
  fi
  start_background
  if [[ "$with_server" == true ]]; then
    start_server
  fi
}

main
