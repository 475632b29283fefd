"""Reading the focused text field through the accessibility bus (AT-SPI), to confirm a paste.

Wayland shows no client another window's contents, but applications that speak AT-SPI (GTK,
Qt with accessibility on, VTE terminals such as GNOME Terminal, browsers) publish their
focused field's text there. Where nothing answers, the answer is None: "cannot tell", never
"it worked".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

ACCESSIBLE = "org.a11y.atspi.Accessible"
TEXT = "org.a11y.atspi.Text"
REGISTRY = ("org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root")
STATE_ACTIVE, STATE_FOCUSED, STATE_SHOWING = 1, 12, 25
MOST_NODES = 3000  # a bound on the walk: a huge document is not searched for ever

Ref = tuple[str, str]  # (bus name, object path)


@contextmanager
def accessibility_bus() -> Iterator[Any]:
    """A connection to the session's accessibility bus; raises OSError where there is none."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import DBusErrorResponse, unwrap_msg

    from turbo_whisper.portal import open_session_bus

    try:
        with open_session_bus() as session:
            reply = session.send_and_get_reply(new_method_call(
                DBusAddress("/org/a11y/bus", "org.a11y.Bus", "org.a11y.Bus"), "GetAddress"),
                timeout=2)
            address = str(unwrap_msg(reply)[0])
    except (DBusErrorResponse, ValueError, TimeoutError) as exc:
        raise OSError(f"no accessibility bus ({exc})") from exc
    with open_dbus_connection(bus=address) as connection:
        yield connection


def _call(connection: Any, ref: Ref, interface: str, method: str, signature: str | None = None,
          body: tuple[Any, ...] = ()) -> Any:
    from jeepney import DBusAddress, new_method_call
    from jeepney.wrappers import unwrap_msg

    reply = connection.send_and_get_reply(
        new_method_call(DBusAddress(ref[1], ref[0], interface), method, signature, body),
        timeout=1)
    return unwrap_msg(reply)


def _states(connection: Any, ref: Ref) -> int:
    words = _call(connection, ref, ACCESSIBLE, "GetState")[0]
    return int(words[0]) | (int(words[1]) << 32 if len(words) > 1 else 0)


def _children(connection: Any, ref: Ref) -> list[Ref]:
    return [(str(name), str(path)) for name, path in _call(connection, ref, ACCESSIBLE,
                                                           "GetChildren")[0]]


def focused_object(connection: Any) -> Ref | None:
    """The focused accessible in the active window of any application, or None."""
    windows = []
    for app in _children(connection, REGISTRY):
        try:
            windows += [w for w in _children(connection, app)
                        if _states(connection, w) & (1 << STATE_ACTIVE)]
        except Exception as exc:  # an application that went away or does not answer
            log.debug("Skipping accessible application %s: %s", app, exc)
    seen = 0
    stack = windows
    while stack and seen < MOST_NODES:
        ref = stack.pop()
        seen += 1
        states = _states(connection, ref)
        if states & (1 << STATE_FOCUSED):
            return ref
        if states & (1 << STATE_SHOWING):
            stack.extend(_children(connection, ref))
    return None


def focused_text() -> str | None:
    """The whole text of the focused field, or None where it cannot be read."""
    from jeepney.wrappers import DBusErrorResponse

    try:
        with accessibility_bus() as connection:
            ref = focused_object(connection)
            if ref is None:
                return None
            return str(_call(connection, ref, TEXT, "GetText", "ii", (0, -1))[0])
    except (OSError, DBusErrorResponse, TimeoutError, IndexError, TypeError, ValueError) as exc:
        log.debug("The focused field's text cannot be read: %s", exc)
        return None


def arrived(transcript: str, before: str | None, read: Callable[[], str | None], *,
            seconds: float) -> bool | None:
    """Whether the field holds the transcript once more than before the paste, within seconds.

    None when the field could not be read before, or cannot be read now: no evidence.
    """
    if before is None:
        return None
    deadline = time.monotonic() + seconds
    after = None
    while True:
        after = read()
        if after is not None and after.count(transcript) > before.count(transcript):
            return True
        if time.monotonic() >= deadline:
            return None if after is None else False
        time.sleep(0.05)
