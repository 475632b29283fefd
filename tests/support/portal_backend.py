"""A desktop's side of the GlobalShortcuts portal, for tests: what KDE's or GNOME's backend does.

The real xdg-desktop-portal frontend talks to this backend as it would to a desktop's; the
test presses and releases the shortcut through the extra `org.turbowhisper.Test` interface,
and reads what was bound from the JSON file named on the command line.

    python portal_backend.py BOUND.json      (with DBUS_SESSION_BUS_ADDRESS set)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from jeepney import (
    DBusAddress,
    HeaderFields,
    MessageType,
    message_bus,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.impl.portal.desktop.turbotest"
PATH = "/org/freedesktop/portal/desktop"
IMPL = "org.freedesktop.impl.portal.GlobalShortcuts"
TEST = "org.turbowhisper.Test"


class Backend:
    def __init__(self, bound_file: Path):
        self.bound_file = bound_file
        self.connection = open_dbus_connection(bus="SESSION")
        self.sessions: list[str] = []
        self.shortcuts: dict[str, list] = {}

    def run(self) -> None:
        reply = self.connection.send_and_get_reply(message_bus.RequestName(NAME, 4))
        assert reply.body[0] == 1, f"could not own {NAME}: {reply.body}"
        self.bound_file.with_suffix(".ready").write_text("ready")
        while True:
            message = self.connection.receive()
            if message.header.message_type is MessageType.method_call:
                self.connection.send(self.answer(message))

    def answer(self, message):
        fields = message.header.fields
        interface, member = fields.get(HeaderFields.interface), fields.get(HeaderFields.member)
        if interface == "org.freedesktop.DBus.Properties":
            props = {"version": ("u", 1)}
            if member == "GetAll":
                return new_method_return(message, "a{sv}", (props,))
            if member == "Get":
                return new_method_return(message, "v", (props["version"],))
        if interface == IMPL:
            return self.shortcut_call(message, member)
        if interface == "org.freedesktop.impl.portal.Session" and member == "Close":
            return new_method_return(message)
        if interface == TEST and member in ("Press", "Release"):
            self.emit("Activated" if member == "Press" else "Deactivated", message.body[0])
            return new_method_return(message)
        return new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "s",
                         (f"{interface}.{member} is not here",))

    def shortcut_call(self, message, member):
        if member == "CreateSession":
            self.sessions.append(message.body[1])
            return new_method_return(message, "ua{sv}", (0, {}))
        if member in ("BindShortcuts", "ListShortcuts"):
            session = message.body[1]
            if member == "BindShortcuts":
                self.shortcuts[session] = message.body[2]
                self.save(message.body[2])
            granted = [(shortcut_id, {"description": details.get("description", ("s", "")),
                                      "trigger_description": details.get("preferred_trigger",
                                                                         ("s", ""))})
                       for shortcut_id, details in self.shortcuts.get(session, [])]
            return new_method_return(message, "ua{sv}", (0, {"shortcuts": ("a(sa{sv})", granted)}))
        return new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "s", (member,))

    def save(self, shortcuts) -> None:
        bound = {shortcut_id: {key: value[1] for key, value in details.items()}
                 for shortcut_id, details in shortcuts}
        self.bound_file.write_text(json.dumps(bound))

    def emit(self, signal: str, shortcut_id: str) -> None:
        emitter = DBusAddress(PATH, interface=IMPL)
        for session in self.sessions:
            self.connection.send(new_signal(emitter, signal, "osta{sv}",
                                            (session, shortcut_id, int(time.time() * 1000), {})))


if __name__ == "__main__":
    Backend(Path(sys.argv[1])).run()
