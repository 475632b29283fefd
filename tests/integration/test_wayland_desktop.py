"""The client under a real Wayland compositor: headless sway, a foot window, wl-clipboard, wtype,
and the desktop portal's global shortcut through the real xdg-desktop-portal.

Everything in the session runs as a normal test user, as sway requires: the compositor, the
target window, the client and its control commands, the session bus and the portal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.client import ClientProcess
from support.requirements import require_tools, unavailable
from support.services import PulseAudio, ServiceError, stop_process, tail, wait_until
from support.wayland import SessionUser, Sway, tools_except

import turbo_whisper

pytestmark = pytest.mark.integration

PORTAL_BACKEND = Path(__file__).resolve().parent.parent / "support" / "portal_backend.py"

# Writes every byte the terminal delivers to a file at once (no line discipline to wait on).
TERMINAL_TARGET = textwrap.dedent("""
    import os, sys, tty
    tty.setcbreak(0)
    with open(sys.argv[1], "ab", buffering=0) as out:
        while data := os.read(0, 4096):
            out.write(data)
""")


@pytest.fixture(scope="module")
def test_user() -> Iterator[SessionUser]:
    if os.geteuid() != 0:
        unavailable("the Wayland tests make a test user with useradd, which needs root")
    require_tools("useradd", "userdel", "setpriv", "setfacl",
                  purpose="a normal user for the Wayland session")
    user = SessionUser().create()
    user.grant_traversal([Path(sys.executable), Path(turbo_whisper.__file__).parent,
                          PORTAL_BACKEND])
    yield user
    user.remove()


@pytest.fixture(scope="module")
def pulse(test_user: SessionUser) -> Iterator[PulseAudio]:
    """A virtual microphone the session's user can reach: its own PulseAudio outside pytest's
    temporary folders, whose modes pytest resets and so would close them to that user."""
    require_tools("pulseaudio", "pactl", "paplay", "parec", purpose="the virtual microphone")
    folder = Path(tempfile.mkdtemp(prefix="tw-wayland-pulse-"))
    server = PulseAudio(folder)
    server.start()
    test_user.grant_traversal([server.socket_path])
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sway(test_user: SessionUser) -> Iterator[Sway]:
    require_tools("sway", "swaymsg", "foot", "wl-copy", "wl-paste", "wtype",
                  purpose="the Wayland session")
    session = Sway(test_user).start()
    yield session
    session.stop()


@pytest.fixture
def wayland_client(sway: Sway, test_user: SessionUser, pulse) -> Iterator[Callable[..., ClientProcess]]:
    """Factory: wayland_client(server_url, **env) -> a ClientProcess of the session's user."""
    devices = [sys.executable, "-m", "turbo_whisper", "devices"]
    wait_until(lambda: sway.run(*devices, env=pulse_env(pulse)).returncode == 0, 30,
               "the virtual microphone, for the session's user")
    made: list[ClientProcess] = []

    def make(server_url: str, **env: str) -> ClientProcess:
        home = test_user.folder("tw-client-")
        variables = {**pulse_env(pulse), **sway.env,
                     "TURBO_WHISPER_SERVER_URL": server_url, **env}
        run = ClientProcess(home, variables, as_user=test_user.as_user)
        for name in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "PULSE_RUNTIME_PATH",
                     "PULSE_STATE_PATH", "PULSE_COOKIE"):
            if name not in env:
                run.env.pop(name, None)
        made.append(run)
        return run

    yield make
    for run in made:
        run.stop()
        subprocess.run(["rm", "-rf", str(run.home)], check=False, timeout=30)


def pulse_env(pulse) -> dict[str, str]:
    """The sound server for a client of another user: its socket, not root's folders."""
    return {"PULSE_SERVER": pulse.env["PULSE_SERVER"]}


def terminal_target(sway: Sway, name: str = "foot") -> Path:
    """A focused foot terminal whose program appends what it receives to the returned file."""
    received = sway.root / f"{name}-received.txt"
    sway.open_window(name, "foot", f"--app-id={name}", sys.executable, "-c", TERMINAL_TARGET,
                     str(received))
    wait_until(received.exists, 20, "the terminal's program")
    return received


def dictate(run: ClientProcess, pulse, wav: Path) -> None:
    assert run.command("toggle").returncode == 0
    pulse.play(wav)
    time.sleep(0.2)
    assert run.command("toggle").returncode == 0


def test_a_dictation_lands_in_the_focused_foot_window_and_in_the_clipboard(
        sway, wayland_client, pulse, speech, warm_server):
    received = terminal_target(sway)
    sway.set_clipboard("what was there before")
    run = wayland_client(warm_server.url, TURBO_WHISPER_OUTPUT="paste").start()
    run.wait_log("Ready:", timeout=60)
    assert "Pasting on Wayland: wtype will press the paste keys" in run.log()
    dictate(run, pulse, speech("open the window please"))
    run.wait(lambda: "window" in received.read_text(errors="replace").lower(), 60,
             "the words in the foot window")
    run.wait_log("Pressed Ctrl+Shift+V with wtype into foot", timeout=10)
    transcript = sway.clipboard()
    assert "window" in transcript.lower()
    assert received.read_text() == transcript  # byte for byte, once
    time.sleep(1.5)  # longer than X11's restore delay: on Wayland nothing is put back on a guess
    assert sway.clipboard() == transcript
    assert "whether the text arrived" in run.log()


def test_without_wtype_the_transcript_stays_in_the_clipboard_and_the_user_is_told(
        sway, wayland_client, pulse, speech, warm_server):
    received = terminal_target(sway)
    no_key_tools = tools_except(sway.root / "bin", {"wtype", "ydotool"})
    run = wayland_client(warm_server.url, TURBO_WHISPER_OUTPUT="paste", PATH=no_key_tools)
    run.start()
    run.wait_log("Ready:", timeout=60)
    assert "Not pasting on Wayland" in run.log()
    dictate(run, pulse, speech("good morning everyone"))
    run.wait(lambda: "morning" in sway.clipboard().lower(), 60, "the words in the clipboard")
    run.wait_log("was not pasted", timeout=10)
    told = run.log()
    assert "wtype: not installed" in told and "ydotool: not installed" in told
    assert "paste it with Ctrl+V" in told
    assert received.read_text() == ""


def test_doctor_names_the_paste_tool_and_why_the_one_before_it_cannot_work(
        sway, wayland_client, warm_server, pulse):
    run = wayland_client(warm_server.url, TURBO_WHISPER_OUTPUT="paste",
                         TURBO_WHISPER_PASTE_VIA="ydotool,wtype,clipboard")
    result = run.command("doctor", timeout=120)
    row = next(line for line in result.stdout.splitlines() if line.startswith("wayland paste"))
    assert "wtype will press the paste keys" in row.lower()
    assert "(ydotool: " in row
    assert "Traceback" not in result.stdout + result.stderr


# --- a paste that can be checked: a GTK field read back through the accessibility bus ------------

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which has PyGObject; the window is not ours
GTK_ENTRY = textwrap.dedent("""
    import os, sys
    import gi
    gi.require_version("Gtk", "3.0")
    from gi.repository import GLib, Gtk
    GLib.set_prgname("gtk-entry")
    window = Gtk.Window(title="paste target")
    entry = Gtk.Entry()
    window.add(entry)
    window.show_all()
    def save():
        with open(sys.argv[1] + ".part", "w", encoding="utf-8") as out:
            out.write(entry.get_text())
        os.replace(sys.argv[1] + ".part", sys.argv[1])
        return True
    GLib.timeout_add(100, save)
    Gtk.main()
""")


def test_a_paste_into_a_gtk_field_is_confirmed_by_reading_it_back_and_the_old_clipboard_returns(
        sway, session_bus, wayland_client, pulse, speech, warm_server):
    has_gtk = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Gtk', '3.0')"],
                             capture_output=True, timeout=30, check=False)
    if has_gtk.returncode != 0:
        unavailable("the GTK target needs python3-gi and gir1.2-gtk-3.0 (apt-get install them)")
    require_tools("/usr/libexec/at-spi-bus-launcher", purpose="the accessibility bus")
    field = sway.root / "gtk-entry.txt"
    bus = {"DBUS_SESSION_BUS_ADDRESS": session_bus.address, "GDK_BACKEND": "wayland"}
    sway.open_window("gtk-entry", SYSTEM_PYTHON, "-c", GTK_ENTRY, str(field), env=bus)
    sway.set_clipboard("what was there before")
    run = wayland_client(warm_server.url, TURBO_WHISPER_OUTPUT="paste", **bus).start()
    run.wait_log("Ready:", timeout=60)
    dictate(run, pulse, speech("open the window please"))
    run.wait(lambda: "window" in field.read_text().lower(), 60, "the words in the GTK field")
    run.wait_log("the focused field reads the transcript back", timeout=10)
    run.wait(lambda: sway.clipboard() == "what was there before", 10, "the old clipboard back")


# --- the global shortcut through the desktop portal ----------------------------------------------


class SessionBus:
    """A private session bus of the session's user; with start_portal(), the real
    xdg-desktop-portal on it and a small backend standing in for the desktop's shortcuts."""

    def __init__(self, sway: Sway):
        self.sway = sway
        self.root = sway.root / "bus"
        self.processes: list[subprocess.Popen] = []
        self.bound = self.root / "bound.json"

    @property
    def address(self) -> str:
        return f"unix:path={self.root / 'socket'}"

    def start(self) -> SessionBus:
        require_tools("dbus-daemon", "dbus-send", purpose="a session bus")
        self.root.mkdir(mode=0o700)
        os.chown(self.root, self.sway.user.uid, -1)
        self._spawn("dbus", "dbus-daemon", "--session", "--nofork", f"--address={self.address}")
        wait_until((self.root / "socket").exists, 10, "the session bus", self.processes[-1])
        return self

    def start_portal(self) -> SessionBus:
        if not Path("/usr/libexec/xdg-desktop-portal").exists():
            unavailable("the portal test needs xdg-desktop-portal (apt-get install xdg-desktop-portal)")
        portals = self.root / "portals"
        self.sway.run("mkdir", "-p", str(portals))
        self.sway.run("sh", "-c", f"cat > {portals / 'turbotest.portal'}",
                      stdin=b"[portal]\nDBusName=org.freedesktop.impl.portal.desktop.turbotest\n"
                            b"Interfaces=org.freedesktop.impl.portal.GlobalShortcuts;\n"
                            b"UseIn=turbotest\n")
        self._spawn("backend", sys.executable, str(PORTAL_BACKEND), str(self.bound))
        wait_until(self.bound.with_suffix(".ready").exists, 20, "the shortcut backend",
                   self.processes[-1])
        self._spawn("portal", "/usr/libexec/xdg-desktop-portal", "--verbose", "--replace",
                    env={"XDG_CURRENT_DESKTOP": "turbotest", "XDG_DESKTOP_PORTAL_DIR": str(portals)})
        try:
            wait_until(lambda: "org.freedesktop.portal.Desktop acquired"
                       in tail(self.root / "portal.log", 200), 20, "xdg-desktop-portal",
                       self.processes[-1])
        except ServiceError as exc:
            raise ServiceError(f"{exc}\n{tail(self.root / 'portal.log')}") from None
        return self

    def _spawn(self, name: str, *command: str, env: dict[str, str] | None = None) -> None:
        with open(self.root / f"{name}.log", "wb") as log:
            self.processes.append(subprocess.Popen(
                [*self.sway.user.as_user, *command], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.root,
                env={**os.environ, "HOME": str(self.sway.root), **self.sway.env,
                     "DBUS_SESSION_BUS_ADDRESS": self.address, **(env or {})}))

    def shortcut(self, action: str) -> None:
        """Press or Release the bound shortcut, as the desktop does when the keys go down/up."""
        done = self.sway.run("dbus-send", "--session", "--print-reply",
                             "--dest=org.freedesktop.impl.portal.desktop.turbotest",
                             "/org/freedesktop/portal/desktop", f"org.turbowhisper.Test.{action}",
                             "string:dictate", env={"DBUS_SESSION_BUS_ADDRESS": self.address})
        assert done.returncode == 0, done.stdout

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)


@pytest.fixture
def session_bus(sway: Sway) -> Iterator[SessionBus]:
    bus = SessionBus(sway)
    yield bus.start()
    bus.stop()


@pytest.fixture
def portal(session_bus: SessionBus) -> SessionBus:
    return session_bus.start_portal()


def test_hold_mode_records_while_the_portal_shortcut_is_held(
        sway, portal, wayland_client, pulse, speech, warm_server):
    import json

    run = wayland_client(warm_server.url, TURBO_WHISPER_MODE="hold",
                         DBUS_SESSION_BUS_ADDRESS=portal.address)
    run.start()
    run.wait_log("bound through the desktop portal", timeout=30)
    assert json.loads(portal.bound.read_text())["dictate"]["preferred_trigger"] == "CTRL+ALT+r"
    portal.shortcut("Press")
    run.wait(lambda: run.status()["state"] == "recording", 10, "recording while held")
    pulse.play(speech("good morning everyone"))
    portal.shortcut("Release")
    run.wait(lambda: run.status()["state"] != "recording", 10, "stop on release")
    run.wait(lambda: "morning" in sway.clipboard().lower(), 60, "the words in the clipboard")
    hotkey_row = next(line for line in run.command("doctor", timeout=120).stdout.splitlines()
                      if line.startswith("display / hotkey"))
    assert "the desktop portal's GlobalShortcuts binds the hotkey" in hotkey_row


def test_the_portal_shortcut_toggles_a_dictation_with_the_default_settings(
        sway, portal, wayland_client, pulse, speech, warm_server):
    run = wayland_client(warm_server.url, DBUS_SESSION_BUS_ADDRESS=portal.address)
    run.start()
    run.wait_log("bound through the desktop portal", timeout=30)
    portal.shortcut("Press")
    portal.shortcut("Release")
    run.wait(lambda: run.status()["state"] == "recording", 10, "recording after a press")
    pulse.play(speech("please send the report by friday"))
    assert run.status()["state"] == "recording"  # the release did not stop it
    portal.shortcut("Press")
    portal.shortcut("Release")
    run.wait(lambda: run.status()["state"] != "recording", 10, "stopped by the second press")
    run.wait(lambda: "report" in sway.clipboard().lower(), 60, "the words in the clipboard")


def test_without_the_portal_the_client_says_to_bind_the_control_command(
        sway, wayland_client, warm_server):
    run = wayland_client(warm_server.url).start()
    told = run.log()
    assert "no GlobalShortcuts" in told or "no session bus" in told
    assert "turbo-whisper toggle" in told
    assert "Traceback" not in told
