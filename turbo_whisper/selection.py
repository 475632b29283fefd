"""Owning an X selection in this process, to see whether a window asked for the text.

A clipboard tool such as xclip holds the selection for us but cannot tell whether a paste
took the text. While a paste keystroke is on its way, this process owns CLIPBOARD (and
PRIMARY, for keys that paste it) itself and answers the window's SelectionRequest: a
request for the text after the keystroke is the proof that the paste was taken.
"""

from __future__ import annotations

import logging
import select
import time
from typing import Any

log = logging.getLogger(__name__)

TEXT_TARGETS = ("UTF8_STRING", "text/plain;charset=utf-8", "TEXT", "STRING", "text/plain")
LARGEST = 200_000  # bytes one property can carry without the INCR protocol


class SelectionOwner:
    """Owns selections with one text until closed; counts the requests for that text."""

    def __init__(self, data: bytes, selections: tuple[str, ...] = ("CLIPBOARD",)):
        from Xlib import X, Xatom

        from turbo_whisper import x11

        self._data = data
        self.screen = x11.open_display()
        self._atoms = {name: self.screen.intern_atom(name)
                       for name in (*TEXT_TARGETS, "TARGETS", "TIMESTAMP", *selections)}
        self._atoms["STRING"] = Xatom.STRING
        root = self.screen.screen().root
        self.window = root.create_window(0, 0, 1, 1, 0, X.CopyFromParent,
                                         event_mask=X.PropertyChangeMask)
        self._time = self._server_time()
        self.selections = [self._atoms[name] for name in selections]
        for atom in self.selections:
            self.window.set_selection_owner(atom, self._time)
        self.screen.sync()
        self.lost = False  # another program took a selection from us
        self._cleared: set[int] = set()
        self.taken_after: float | None = None  # the first request for the text after `counting`
        self._counting_since: float | None = None
        self._last_request = 0.0

    def owns(self) -> bool:
        return all(self.screen.get_selection_owner(atom) == self.window for atom in self.selections)

    def count_from_now(self) -> None:
        """Requests from here on are pastes (earlier ones: clipboard managers, for instance)."""
        self._counting_since = time.monotonic()

    def serve(self, timeout: float, settle: float = 0.3) -> bool:
        """Answer requests until the text was taken and things are quiet, or `timeout`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.lost:
            if self.taken_after is not None and time.monotonic() - self._last_request > settle:
                break
            self._handle_pending(min(0.05, max(0.0, end - time.monotonic())))
        return self.taken_after is not None

    def let_go(self, handed_over: float = 1.0) -> None:
        """End ownership without leaving a request unanswered (xclip -o would wait forever):
        wait for the tool that took the text over, give up what nobody took, answer the rest."""
        from Xlib import X
        from Xlib.protocol import request

        end = time.monotonic() + handed_over
        while time.monotonic() < end and self._cleared != set(self.selections):
            self._handle_pending(0.05)
        for atom in set(self.selections) - self._cleared:
            request.SetSelectionOwner(display=self.screen.display, window=X.NONE,
                                      selection=atom, time=self._time)
        self.screen.sync()
        self._handle_pending(0.05)

    def close(self) -> None:
        try:
            self.window.destroy()
            self.screen.close()
        except Exception as exc:
            log.debug("Closing the selection window: %s", exc)

    def _server_time(self) -> int:
        """A real timestamp (ICCCM asks owners not to use CurrentTime): a property change's."""
        from Xlib import X, Xatom

        self.window.change_property(self._atoms["TIMESTAMP"], Xatom.INTEGER, 32, [0])
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            event = self.screen.next_event()
            if event.type == X.PropertyNotify:
                return int(event.time)
        return X.CurrentTime

    def _handle_pending(self, wait: float) -> None:
        from Xlib import X

        if not self.screen.pending_events():
            select.select([self.screen.fileno()], [], [], wait)
        while self.screen.pending_events():
            event = self.screen.next_event()
            if event.type == X.SelectionRequest:
                self._answer(event)
            elif event.type == X.SelectionClear and event.atom in self.selections:
                self.lost = True
                self._cleared.add(event.atom)

    def _answer(self, request: Any) -> None:
        from Xlib import X, Xatom
        from Xlib.protocol import event as xevent

        prop = request.property or request.target  # an obsolete requestor leaves it None
        targets = [self._atoms[name] for name in ("TARGETS", "TIMESTAMP", *TEXT_TARGETS)]
        names = {self._atoms[name]: name for name in TEXT_TARGETS}
        if request.target == self._atoms["TARGETS"]:
            request.requestor.change_property(prop, Xatom.ATOM, 32, targets)
        elif request.target == self._atoms["TIMESTAMP"]:
            request.requestor.change_property(prop, Xatom.INTEGER, 32, [self._time])
        elif request.target in names and len(self._data) <= LARGEST:
            data = self._data if names[request.target] != "STRING" else \
                self._data.decode("utf-8", "replace").encode("latin-1", "replace")
            kind = {"STRING": Xatom.STRING, "TEXT": self._atoms["UTF8_STRING"]}.get(
                names[request.target], request.target)
            request.requestor.change_property(prop, kind, 8, data)
            self._note_request()
        else:
            prop = X.NONE
        notify = xevent.SelectionNotify(time=request.time, requestor=request.requestor,
                                        selection=request.selection, target=request.target,
                                        property=prop)
        request.requestor.send_event(notify, onerror=lambda *args: None)
        self.screen.flush()

    def _note_request(self) -> None:
        self._last_request = time.monotonic()
        if self._counting_since is not None and self.taken_after is None:
            self.taken_after = self._last_request - self._counting_since
