"""A real Wayland session for tests: a normal user, headless sway, a foot window, the clipboard.

sway refuses to run as root, and a Wayland client must be the compositor's user, so the
session belongs to a test user made here; the client under test runs as that user too
(`as_user` is the command prefix), through an interpreter and folders that user may read.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from support.services import ServiceError, stop_process, tail, wait_until

USER = "turbo-whisper-test"


class SessionUser:
    """A normal account for the session, made with useradd when missing, and removed after."""

    def __init__(self, name: str = USER):
        self.name = name
        self.made = False
        self._granted: list[Path] = []

    def create(self) -> SessionUser:
        try:
            pwd.getpwnam(self.name)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", self.name],
                           check=True, timeout=30)
            self.made = True
        return self

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid

    @property
    def as_user(self) -> list[str]:
        return [shutil.which("setpriv") or "setpriv", f"--reuid={self.name}",
                f"--regid={self.name}", "--init-groups"]

    def folder(self, prefix: str) -> Path:
        """A new folder under /tmp that belongs to the user, mode 0700."""
        path = Path(tempfile.mkdtemp(prefix=prefix))
        os.chown(path, self.uid, -1)
        return path

    def grant_traversal(self, paths: Iterable[Path]) -> None:
        """Let the user walk to each path (an ACL entry on each closed folder above it)."""
        for path in paths:
            for folder in [*reversed(Path(path).resolve().parents), Path(path).resolve()]:
                if folder.is_dir() and not folder.stat().st_mode & stat.S_IXOTH \
                        and folder not in self._granted:
                    subprocess.run(["setfacl", "-m", f"u:{self.name}:x", str(folder)],
                                   check=True, timeout=10)
                    self._granted.append(folder)

    def remove(self) -> None:
        for folder in self._granted:
            subprocess.run(["setfacl", "-x", f"u:{self.name}", str(folder)], check=False,
                           timeout=10)
        self._granted.clear()
        if self.made:
            subprocess.run(["userdel", "--remove", self.name], check=False, timeout=30,
                           capture_output=True)


class Sway:
    """Headless sway as the test user, with its own XDG_RUNTIME_DIR (mode 0700)."""

    def __init__(self, user: SessionUser):
        self.user = user
        self.root = user.folder("tw-wayland-")
        self.runtime_dir = self.root / "runtime"
        self.process: subprocess.Popen | None = None
        self.windows: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        """What a client of this session has in its environment, as sway's children do."""
        sockets = sorted(self.runtime_dir.glob("sway-ipc.*.sock"))
        return {"XDG_RUNTIME_DIR": str(self.runtime_dir), "WAYLAND_DISPLAY": "wayland-1",
                "SWAYSOCK": str(sockets[0]) if sockets else "", "XDG_CURRENT_DESKTOP": "sway",
                "XDG_SESSION_TYPE": "wayland", "LANG": "C.UTF-8"}

    def start(self) -> Sway:
        self.runtime_dir.mkdir(mode=0o700)
        os.chown(self.runtime_dir, self.user.uid, -1)
        config = self.root / "sway.conf"
        config.write_text("output HEADLESS-1 resolution 1280x720\n")
        config.chmod(0o644)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root),
               "XDG_RUNTIME_DIR": str(self.runtime_dir), "WLR_BACKENDS": "headless",
               "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman"}
        with open(self.root / "sway.log", "wb") as log:
            self.process = subprocess.Popen([*self.user.as_user, "sway", "-c", str(config)],
                                            env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.root)
        try:
            wait_until(lambda: (self.runtime_dir / "wayland-1").exists()
                       and bool(self.env["SWAYSOCK"]), 20, "sway", self.process)
        except ServiceError as exc:
            raise ServiceError(f"{exc}\n{tail(self.root / 'sway.log')}") from None
        self.plug_keyboard()
        return self

    def run(self, *command: str, stdin: bytes | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """A command as the session's user, in the session, output through files."""
        with tempfile.TemporaryFile() as out:
            done = subprocess.run([*self.user.as_user, *command], input=stdin, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=20, check=False,
                                  env={**os.environ, "HOME": str(self.root), **self.env,
                                       **(env or {})})
            out.seek(0)
            return subprocess.CompletedProcess(done.args, done.returncode, out.read(), b"")

    def clipboard(self) -> str:
        done = self.run("wl-paste", "--no-newline")
        return done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else ""

    def set_clipboard(self, text: str) -> None:
        # wl-copy forks a server that keeps the selection; its output must not be a pipe.
        assert self.run("wl-copy", stdin=text.encode()).returncode == 0

    def spawn(self, name: str, *command: str, env: Mapping[str, str] | None = None
              ) -> subprocess.Popen:
        """A program of the session's user, stopped with the session; output in NAME.log."""
        with open(self.root / f"{name}.log", "wb") as log:
            process = subprocess.Popen([*self.user.as_user, *command],
                                       env={**os.environ, "HOME": str(self.root), **self.env,
                                            **(env or {})},
                                       stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=self.root)
        self.windows.append(process)
        return process

    def open_window(self, name: str, *command: str, env: Mapping[str, str] | None = None
                    ) -> subprocess.Popen:
        """Start a window of the session's user and wait until sway focuses it (app id `name`)."""
        window = self.spawn(name, *command, env=env)
        wait_until(lambda: self.focused() == name, 20, f"the {name} window", window)
        return window

    def plug_keyboard(self) -> None:
        """A keyboard that stays, as a desktop has. Headless sway has none: a window gets its
        keyboard only when a key tool's virtual one appears, and may still be binding it when
        that tool's keys arrive (the keys are then lost); a toolkit marks no window active
        without one either."""
        keyboard = self.spawn("keyboard", "wtype", "-s", "3600000")
        wait_until(self._has_keyboard, 20, "the session's keyboard", keyboard)

    def _has_keyboard(self) -> bool:
        import json

        done = self.run("swaymsg", "-r", "-t", "get_inputs")
        try:
            inputs = json.loads(done.stdout) if done.returncode == 0 else []
        except ValueError:
            return False
        return any(device.get("type") == "keyboard" for device in inputs)

    def focused(self) -> str | None:
        import json

        from turbo_whisper.wayland import focused_in_sway_tree

        done = self.run("swaymsg", "-r", "-t", "get_tree")
        try:
            return focused_in_sway_tree(json.loads(done.stdout)) if done.returncode == 0 else None
        except ValueError:
            return None

    def stop(self) -> None:
        for window in self.windows:
            stop_process(window)
        if self.process is not None:
            stop_process(self.process)
        time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)


def tools_except(folder: Path, missing: set[str]) -> str:
    """A PATH folder with every program on PATH but the missing ones, as on a desktop
    where they were never installed."""
    folder.mkdir(parents=True, exist_ok=True)
    for place in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        try:
            names = os.listdir(place)
        except OSError:
            continue
        for name in names:
            link = folder / name
            if name not in missing and not link.exists() and not link.is_symlink():
                link.symlink_to(Path(place) / name)
    return str(folder)
