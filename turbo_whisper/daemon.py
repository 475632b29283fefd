"""The daemon, built in one place: the parts of `turbo-whisper run` and the order they start in.

`build_daemon(settings)` makes the parts the settings ask for; any part can be handed in
instead (a recorder, an engine, an output, feedback, a spool), and the parts a caller does not
want (the instance lock, the control socket, the crash marker, the indicator, the hotkey) can be
left out. `Daemon.start()` starts them in this order: lock, recorder, control server, app,
indicator, hotkey; `Daemon.stop()` stops them in reverse.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from turbo_whisper import sanitize
from turbo_whisper.errors import DeviceError, HotkeyError, TurboWhisperError

if TYPE_CHECKING:
    from turbo_whisper.app import Dictation, EngineLike
    from turbo_whisper.config import Settings
    from turbo_whisper.control import ControlServer, InstanceLock, Request
    from turbo_whisper.feedback import Feedback
    from turbo_whisper.spool import Spool
    from turbo_whisper.supervisor import RunMarker

log = logging.getLogger("turbo_whisper")

NOTHING_TO_STOP = "Nothing to stop: no recording is in progress."


def build_engine(settings: Settings) -> EngineLike:
    """The transcription engine the settings name: the server's client or the local model."""
    if settings.engine == "local":
        from turbo_whisper.local_engine import LocalEngine

        return LocalEngine(settings)
    from turbo_whisper.server import ServerClient

    return ServerClient(settings)


def build_output(settings: Settings, feedback: Feedback) -> Any:
    """The clipboard, or pasting: on Wayland through a key tool, on X11 through XTEST."""
    from turbo_whisper import wayland
    from turbo_whisper.output import Clipboard, Paster

    if settings.output != "paste":
        return Clipboard()
    if not wayland.is_wayland():
        return Paster(dict(settings.paste_keys))
    paster = wayland.WaylandPaster(settings.paste_via, feedback.tell)
    log.info("%s", paster.start_up_line())
    return paster


def container_progress(settings: Settings) -> Any:
    """A source of the local server container's progress, or None for a remote server."""
    from turbo_whisper import container

    if settings.engine != "server" or not container.is_local_server(settings):
        return None
    stack = container.ServerStack()
    return lambda: container.container_status(stack)


class NoRecorder:
    """The recorder of a daemon that only sends what is kept (`turbo-whisper retry`)."""

    recording = False

    def start(self) -> None:
        raise TurboWhisperError("This command does not record.")

    def stop(self) -> Any:
        raise TurboWhisperError("This command does not record.")


def handle_command(app: Any, request: Request,
                   quitting: threading.Event | None = None) -> dict[str, Any]:
    """The answer to one control command, with nothing in it that must not be shown."""
    name = request.command.get("cmd")
    if name == "status":
        answer = dict(app.snapshot())
    elif name == "quit" and quitting is not None:
        quitting.set()
        answer = {"ok": True, "message": "Turbo Whisper is stopping."}
    elif name in ("stop", "cancel") and app.snapshot().get("state") != "recording":
        answer = {"ok": False, "idle": True, "error": NOTHING_TO_STOP}
    elif name in ("toggle", "start", "stop", "cancel", "retry"):
        from turbo_whisper.app import Event

        answer = dict(app.request(Event(name), request.deadline - time.monotonic(),
                                  request.taken))
    else:
        answer = {"ok": False, "error": f"unknown command {name!r}"}
    return dict(sanitize.shown_data(answer))


class Daemon:
    """The parts of one running client, started and stopped in a fixed order."""

    def __init__(self, settings: Settings, app: Dictation, *, lock: InstanceLock | None,
                 control: ControlServer | None, marker: RunMarker | None,
                 quitting: threading.Event, indicator: bool, hotkey: bool,
                 on_press: Callable[[], None] | None) -> None:
        self.settings = settings
        self.app = app
        self.recorder = app.recorder
        self.feedback = app.feedback
        self.lock = lock
        self.control = control
        self.marker = marker
        self.quitting = quitting  # set by `turbo-whisper quit`
        self.indicator: Any = None
        self.hotkey: Any = None
        self._want_indicator = indicator
        self._want_hotkey = hotkey
        self._on_press = on_press

    def start(self) -> Daemon:
        """Lock, recorder, control server, app, indicator, hotkey."""
        if self.lock is not None:
            self.lock.acquire()
        self._open_recorder()
        if self.control is not None:
            self.control.start()
        crashed = self.marker.begin() if self.marker is not None else False
        self.app.start()
        if crashed:
            self.feedback.tell("warning", "Turbo Whisper restarted after a crash; "
                               f"{self.app.recovered} recording(s) recovered.")
        if self._want_indicator:
            self.indicator = self._start_indicator()
        if self._want_hotkey:
            self.hotkey = self._start_hotkey()
        return self

    def stop(self) -> None:
        """The parts in reverse: what is being recorded is kept by the app's shutdown."""
        if self.indicator is not None:
            self.indicator.stop()
        if self.hotkey is not None:
            self.hotkey.stop()
        if self.control is not None:
            self.control.stop()
        self.app.shutdown()
        close = getattr(self.recorder, "close", None)
        if close is not None:
            close()
        if self.marker is not None:
            self.marker.end()
        if self.lock is not None:
            self.lock.release()

    def send_kept(self) -> int:
        """Send every kept recording from this thread, holding the lock; return how many are
        left."""
        if self.lock is not None:
            self.lock.acquire()
        try:
            return self.app.send_pending_now()
        finally:
            if self.lock is not None:
                self.lock.release()

    def _open_recorder(self) -> None:
        """Look at the device now; without a named device, recording works once one is there."""
        from turbo_whisper.audio import Recorder

        if not isinstance(self.recorder, Recorder):
            return
        try:
            self.recorder.check()
            self.recorder.open_idle()
        except DeviceError as exc:
            if self.settings.device is not None:
                raise
            log.warning("%s Recording will work once an input device is there.", exc)

    def _start_indicator(self) -> Any:
        """The recording indicator on an X display, unless 'indicator' is off."""
        if not self.settings.indicator or not os.environ.get("DISPLAY"):
            return None
        from turbo_whisper.indicator import Indicator

        level = getattr(self.recorder, "level_db", lambda: None)
        indicator = Indicator(self.app.snapshot, level, self.settings.indicator_position)
        indicator.start()
        return indicator

    def _press(self) -> None:
        from turbo_whisper.app import Event

        if self._on_press is not None:
            self._on_press()
        self.app.post(Event.HOTKEY_DOWN)

    def _release(self) -> None:
        from turbo_whisper.app import Event

        self.app.post(Event.HOTKEY_UP)

    def _start_hotkey(self) -> Any:
        """The global hotkey: on Wayland the desktop portal's shortcut first, then the X grab."""
        from turbo_whisper import wayland
        from turbo_whisper.hotkey import HotkeyListener

        hotkey = self.settings.hotkey
        listeners: list[Any] = [HotkeyListener(hotkey, self._press, self._release)]
        if wayland.is_wayland():
            from turbo_whisper.portal import PortalShortcut

            listeners.insert(0, PortalShortcut(hotkey, self._press, self._release))
        problems = []
        for listener in listeners:
            try:
                listener.start()
                return listener
            except HotkeyError as exc:
                problems.append(str(exc))
        log.warning("%s", " ".join(problems))
        return None


def build_daemon(settings: Settings, *, recorder: Any = None, engine: EngineLike | None = None,
                 output: Any = None, feedback: Feedback | None = None, spool: Spool | None = None,
                 single_instance: bool = True, control: bool = True, crash_marker: bool = True,
                 progress: bool = True, indicator: bool = True, hotkey: bool = True,
                 on_press: Callable[[], None] | None = None) -> Daemon:
    """The daemon the settings describe, with the given parts in place of the built ones.

    The flags leave parts out: the instance lock, the control socket, the crash marker, the
    server container's progress, the indicator and the hotkey. `on_press` runs at each hotkey
    press before the app hears of it.
    """
    from turbo_whisper.app import Dictation, Event
    from turbo_whisper.feedback import Feedback

    if recorder is None:
        from turbo_whisper.audio import Recorder

        recorder = Recorder(settings.device, settings.max_seconds,
                            preroll_ms=settings.preroll_ms)
    if feedback is None:
        feedback = Feedback(settings.notifications, settings.sounds)
    if output is None:
        output = build_output(settings, feedback)
    if spool is None:
        from turbo_whisper.spool import default_spool

        spool = default_spool()
    app = Dictation(settings, recorder, engine or build_engine(settings), spool, output,
                    feedback, progress=container_progress(settings) if progress else None)
    if hasattr(recorder, "on_limit"):
        recorder.on_limit = functools.partial(app.post, Event.LIMIT)
    quitting = threading.Event()  # set by `turbo-whisper quit`
    lock = control_server = marker = None
    if single_instance:
        from turbo_whisper.control import InstanceLock

        lock = InstanceLock()
    if control:
        from turbo_whisper.control import ControlServer

        control_server = ControlServer(functools.partial(handle_command, app, quitting=quitting))
    if crash_marker:
        from turbo_whisper.supervisor import RunMarker

        marker = RunMarker()
    return Daemon(settings, app, lock=lock, control=control_server, marker=marker,
                  quitting=quitting, indicator=indicator, hotkey=hotkey, on_press=on_press)
