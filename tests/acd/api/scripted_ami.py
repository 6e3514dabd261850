"""A small scripted AMI server (real TCP on 127.0.0.1, its own threads) for the PJSIP reload tests.

It greets and answers Login, CoreShowChannels and Logoff with the bytes of the golden transcripts
(Asterisk 22), and ``Reload`` the way Asterisk's manager.c does (``astman_send_ack(s, m, "Module
Reloaded")`` or an error). The emulator has no ``Reload`` action, hence this script. Runs in threads so
that both async tests and the synchronous CLI (which starts its own event loop) can use it.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass, field

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
FULLY_BOOTED = (
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 14\r\nLastReload: 14\r\n"
    b"Status: Fully Booted\r\n\r\n"
)


@dataclass
class AmiScript:
    secret: str = "switchboard"
    reload_error: str | None = None  # e.g. "No such module"
    actions: list[dict[str, str]] = field(default_factory=list)


def _reply(action_id: str, status: str, message: str, extra: str = "") -> bytes:
    return f"Response: {status}\r\nActionID: {action_id}\r\n{extra}Message: {message}\r\n\r\n".encode()


class _Handler(socketserver.BaseRequestHandler):
    server: ScriptedAmi

    def handle(self) -> None:
        script = self.server.script
        sock: socket.socket = self.request
        sock.sendall(BANNER)
        buffer = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                raw, buffer = buffer.split(b"\r\n\r\n", 1)
                headers = dict(
                    line.split(": ", 1) for line in raw.decode("latin-1").split("\r\n") if ": " in line
                )
                script.actions.append(headers)
                if not self._answer(sock, headers, script):
                    return

    def _answer(self, sock: socket.socket, h: dict[str, str], script: AmiScript) -> bool:
        action, action_id = h.get("Action", "").lower(), h.get("ActionID", "")
        if action == "login":
            if h.get("Secret") != script.secret:
                sock.sendall(_reply(action_id, "Error", "Authentication failed"))
                return False
            sock.sendall(_reply(action_id, "Success", "Authentication accepted") + FULLY_BOOTED)
        elif action == "coreshowchannels":
            sock.sendall(_reply(action_id, "Success", "Channels will follow", "EventList: start\r\n"))
            sock.sendall(
                f"Event: CoreShowChannelsComplete\r\nActionID: {action_id}\r\nEventList: Complete\r\n"
                "ListItems: 0\r\n\r\n".encode()
            )
        elif action == "reload":
            if script.reload_error:
                sock.sendall(_reply(action_id, "Error", script.reload_error))
            else:
                sock.sendall(_reply(action_id, "Success", "Module Reloaded"))
        elif action == "ping":
            sock.sendall(f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n\r\n".encode())
        elif action == "logoff":
            sock.sendall(_reply(action_id, "Goodbye", "Thanks for all the fish."))
            return False
        else:
            sock.sendall(_reply(action_id, "Error", f"Invalid/unknown command: {h.get('Action')}."))
        return True


class ScriptedAmi(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, script: AmiScript) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.port = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, name="scripted-ami", daemon=True)

    def __enter__(self) -> ScriptedAmi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def reloads(self) -> list[dict[str, str]]:
        return [a for a in self.script.actions if a.get("Action", "").lower() == "reload"]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
