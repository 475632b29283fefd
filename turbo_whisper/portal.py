"""The global shortcut on Wayland, through the desktop portal's GlobalShortcuts interface.

KDE Plasma (5.27 and later), GNOME (48 and later) and Hyprland offer it: the client asks
for Ctrl+Alt+R once, the desktop may show a dialog to confirm or change it, and then it
sends Activated and Deactivated signals on the session bus (press and release, so hold
mode works too). jeepney speaks D-Bus: pure Python, maintained, in Debian and on PyPI.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable
from typing import Any

from turbo_whisper.errors import HotkeyError

log = logging.getLogger(__name__)

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SHORTCUT_ID = "dictate"
APP_ID = "turbo-whisper"
NO_PORTAL = ("the desktop portal has no GlobalShortcuts interface here (KDE Plasma 5.27+, "
             "GNOME 48+ and Hyprland have it)")
ANSWER_SECONDS = 120.0  # the desktop may ask the user to confirm the shortcut in a dialog

_MODIFIERS = {"ctrl": "CTRL", "alt": "ALT", "shift": "SHIFT", "cmd": "LOGO", "alt_gr": "ALT"}
_KEYSYMS = {"space": "space", "enter": "Return", "esc": "Escape", "backspace": "BackSpace",
            "page_up": "Prior", "page_down": "Next", "print_screen": "Print", "caps_lock": "Caps_Lock",
            "num_lock": "Num_Lock", "scroll_lock": "Scroll_Lock"}


def portal_trigger(hotkey: str) -> str:
    """pynput's "<ctrl>+<alt>+r" as the XDG shortcuts form the portal takes: "CTRL+ALT+r"."""
    parts = []
    for part in hotkey.split("+"):
        name = part.strip("<>")
        side = name.rsplit("_", 1)
        base = side[0] if len(side) == 2 and side[1] in ("l", "r") else name
        if base in _MODIFIERS:
            parts.append(_MODIFIERS[base])
        elif name in _KEYSYMS:
            parts.append(_KEYSYMS[name])
        elif len(name) > 1 and name[0] == "f" and name[1:].isdigit():
            parts.append(name.upper())
        else:
            parts.append(name.title() if len(name) > 1 else name)
    return "+".join(parts)


def session_bus_address() -> str | None:
    """The session bus: DBUS_SESSION_BUS_ADDRESS, or systemd's socket in the runtime folder."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.exists(os.path.join(runtime, "bus")):
        return f"unix:path={os.path.join(runtime, 'bus')}"
    return None


def open_session_bus() -> Any:
    """A blocking jeepney connection to the session bus; OSError where there is none."""
    from jeepney.io.blocking import open_dbus_connection

    address = session_bus_address()
    if address is None:
        raise OSError("DBUS_SESSION_BUS_ADDRESS is not set")
    try:
        return open_dbus_connection(bus=address)
    except ValueError as exc:  # jeepney's authentication and address errors
        raise OSError(str(exc)) from exc


def _connect() -> Any:
    try:
        return open_session_bus()
    except OSError as exc:
        raise HotkeyError(f"There is no session bus to reach the desktop portal ({exc}).") from exc


def portal_problem() -> str | None:
    """Why the portal's global shortcuts cannot be used here, or None when they can."""
    try:
        connection = _connect()
    except HotkeyError as exc:
        return str(exc)
    try:
        version = _shortcuts_version(connection)
    finally:
        connection.close()
    return NO_PORTAL if version is None else None


def _shortcuts_version(connection: Any) -> int | None:
    from jeepney import DBusAddress, Properties
    from jeepney.wrappers import DBusErrorResponse, unwrap_msg

    try:
        reply = connection.send_and_get_reply(
            Properties(DBusAddress(PORTAL_PATH, PORTAL, SHORTCUTS)).get("version"), timeout=10)
        return int(unwrap_msg(reply)[0][1])
    except (DBusErrorResponse, TimeoutError, OSError, IndexError, TypeError, ValueError) as exc:
        log.debug("No GlobalShortcuts portal: %s", exc)
        return None


class PortalShortcut:
    """Binds the hotkey through the portal and reports press and release from its signals.

    The callbacks run on this class's thread, so they must only post an event and return.
    """

    def __init__(self, combo: str, on_press: Callable[[], None],
                 on_release: Callable[[], None] | None = None):
        self._trigger = portal_trigger(combo)
        self._on_press = on_press
        self._on_release = on_release or (lambda: None)
        self._connection: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.session: str | None = None
        self.bound_to: str | None = None  # what the desktop says triggers it

    def start(self) -> None:
        self._connection = _connect()
        try:
            if _shortcuts_version(self._connection) is None:
                raise HotkeyError(f"{NO_PORTAL[0].upper()}{NO_PORTAL[1:]}.")
            self._register_app()
            self.session = self._create_session()
            self.bound_to = self._bind()
            subscription = self._subscribe()
        except BaseException:
            self._connection.close()
            self._connection = None
            raise
        self._thread = threading.Thread(target=self._listen, args=(subscription,),
                                        name="portal-shortcut", daemon=True)
        self._thread.start()
        log.info("Global shortcut %s is bound through the desktop portal%s.", self._trigger,
                 f" (the desktop says: {self.bound_to})" if self.bound_to else "")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._connection is not None:
            self._close_session()
            self._connection.close()
            self._connection = None

    # --- talking to the portal ---------------------------------------------------------------

    def _register_app(self) -> None:
        """Name this host program to portals that ask for it (1.19 and later); older ones
        do not have the registry, which is fine."""
        from jeepney import DBusAddress, new_method_call

        registry = DBusAddress(PORTAL_PATH, PORTAL, "org.freedesktop.host.portal.Registry")
        reply = self._connection.send_and_get_reply(
            new_method_call(registry, "Register", "sa{sv}", (APP_ID, {})), timeout=10)
        log.debug("Portal registry answered %s", reply.header.message_type.name)

    def _create_session(self) -> str:
        token = f"turbo_whisper_{secrets.token_hex(4)}"
        results = self._request("CreateSession", "a{sv}", lambda handle: (
            {"handle_token": ("s", handle), "session_handle_token": ("s", token)},))
        session = results.get("session_handle", ("s", ""))[1]
        if not session:
            raise HotkeyError("The desktop portal did not open a shortcut session.")
        return str(session)

    def _bind(self) -> str | None:
        shortcut = (SHORTCUT_ID, {"description": ("s", "Start or stop a dictation"),
                                  "preferred_trigger": ("s", self._trigger)})
        results = self._request("BindShortcuts", "oa(sa{sv})sa{sv}", lambda handle: (
            self.session, [shortcut], "", {"handle_token": ("s", handle)}))
        for shortcut_id, details in results.get("shortcuts", ("", []))[1]:
            if shortcut_id == SHORTCUT_ID:
                return str(details.get("trigger_description", ("s", ""))[1]) or None
        raise HotkeyError("The desktop did not grant the global shortcut (it was declined "
                          "in its dialog, or is taken).")

    def _request(self, method: str, signature: str,
                 body: Callable[[str], tuple[Any, ...]]) -> dict[str, Any]:
        """Call a portal method and wait for its Request's Response signal."""
        from jeepney import DBusAddress, MatchRule, message_bus, new_method_call
        from jeepney.io.blocking import Proxy
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        handle = f"turbo_whisper_{secrets.token_hex(4)}"
        sender = self._connection.unique_name.lstrip(":").replace(".", "_")
        path = f"{PORTAL_PATH}/request/{sender}/{handle}"
        rule = MatchRule(type="signal", interface=REQUEST, member="Response", path=path)
        Proxy(message_bus, self._connection).AddMatch(rule)
        with self._connection.filter(rule) as responses:
            try:
                unwrap_msg(self._connection.send_and_get_reply(new_method_call(
                    DBusAddress(PORTAL_PATH, PORTAL, SHORTCUTS), method, signature,
                    body(handle)), timeout=10))
                response = self._connection.recv_until_filtered(responses, timeout=ANSWER_SECONDS)
            except DBusErrorResponse as exc:
                raise HotkeyError(f"The desktop portal refused {method}: {exc}.") from exc
            except TimeoutError as exc:
                raise HotkeyError(f"The desktop portal did not answer {method}.") from exc
        code, results = response.body
        if code != 0:
            raise HotkeyError(f"The desktop portal's {method} ended with "
                              f"{'cancelled by the user' if code == 1 else 'an error'}.")
        return dict(results)

    def _subscribe(self) -> Any:
        """Ask the bus for the shortcut signals, before start() returns, so none is missed."""
        from jeepney import MatchRule, message_bus
        from jeepney.io.blocking import Proxy

        # No arg0 condition: the bus matches argN against strings only, and the session
        # handle is an object path; _dispatch checks it instead.
        rule = MatchRule(type="signal", interface=SHORTCUTS, path=PORTAL_PATH)
        Proxy(message_bus, self._connection).AddMatch(rule)
        return self._connection.filter(rule, bufsize=64)

    def _listen(self, subscription: Any) -> None:
        try:
            with subscription as signals:
                while not self._stopping.is_set():
                    try:
                        signal = self._connection.recv_until_filtered(signals, timeout=0.5)
                    except TimeoutError:
                        continue
                    self._dispatch(signal.header.fields, signal.body)
        except OSError as exc:
            if not self._stopping.is_set():
                log.warning("The desktop portal's shortcut stopped working (%s); "
                            "`turbo-whisper toggle` still works.", exc)

    def _dispatch(self, fields: dict[Any, Any], body: tuple[Any, ...]) -> None:
        from jeepney import HeaderFields

        member = fields.get(HeaderFields.member)
        if len(body) < 2 or body[0] != self.session or body[1] != SHORTCUT_ID:
            return
        if member == "Activated":
            self._on_press()
        elif member == "Deactivated":
            self._on_release()

    def _close_session(self) -> None:
        from jeepney import DBusAddress, new_method_call

        if not self.session:
            return
        try:
            self._connection.send(new_method_call(
                DBusAddress(self.session, PORTAL, "org.freedesktop.portal.Session"), "Close"))
        except OSError:
            pass
