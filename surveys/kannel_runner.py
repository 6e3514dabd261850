"""A throwaway Kannel (bearerbox + smsbox) on loopback, for tests, the benchmark and local trials.

The SMSC is Kannel's ``fake`` one (a plain-text line protocol a test can speak, see FakeSmscClient) or an
upstream SMPP server. Ports are free loopback ports; the processes are stopped by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"


class KannelNotFound(RuntimeError):
    """bearerbox/smsbox are not installed (Debian: apt install kannel)."""


class KannelStartError(RuntimeError):
    """A box exited or did not open its port; the message carries the end of its log."""


def find_kannel() -> tuple[str, str]:
    """Paths of bearerbox and smsbox, or KannelNotFound."""
    bearerbox = shutil.which("bearerbox") or (BEARERBOX if os.access(BEARERBOX, os.X_OK) else None)
    smsbox = shutil.which("smsbox") or (SMSBOX if os.access(SMSBOX, os.X_OK) else None)
    if not bearerbox or not smsbox:
        raise KannelNotFound("Kannel's bearerbox/smsbox not found (Debian/Ubuntu: apt install kannel)")
    return bearerbox, smsbox


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class SmppUpstream:
    """Kannel as an SMPP client of this SMSC (transceiver)."""

    host: str
    port: int
    system_id: str = "kannel"
    password: str = "kannel"
    enquire_link_interval: int = 3


@dataclass
class KannelConfig:
    """What the generated kannel.conf says."""

    reply_url: str  # our reply webhook with Kannel's placeholders (see reply_url())
    reply_post: bool = True  # post-url (text in the body) rather than get-url (text in the URL)
    username: str = "switchboard"
    password: str = "kannel-pw"
    upstream: SmppUpstream | None = None  # None: the fake SMSC
    sendsms_port: int = field(default_factory=free_port)
    smsbox_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    fake_smsc_port: int = field(default_factory=free_port)
    log_level: int = 1  # 0 debug ... 4 panic

    def render(self, workdir: Path) -> str:
        """The kannel.conf text."""
        lines = [
            "group = core",
            f"admin-port = {self.admin_port}",
            "admin-interface = 127.0.0.1",
            "admin-password = admin",
            f"smsbox-port = {self.smsbox_port}",
            "smsbox-interface = 127.0.0.1",
            "box-allow-ip = 127.0.0.1",
            f'log-file = "{workdir / "bearerbox.log"}"',
            f"log-level = {self.log_level}",
            "dlr-storage = internal",
            "",
            "group = smsc",
        ]
        if self.upstream is None:
            lines += [
                "smsc = fake",
                "smsc-id = fake",
                f"port = {self.fake_smsc_port}",
                "our-host = 127.0.0.1",
                "connect-allow-ip = 127.0.0.1",
            ]
        else:
            up = self.upstream
            lines += [
                "smsc = smpp",
                "smsc-id = smpp",
                f"host = {up.host}",
                f"port = {up.port}",
                "transceiver-mode = true",
                f"smsc-username = {up.system_id}",
                f"smsc-password = {up.password}",
                'system-type = "sb"',
                f"enquire-link-interval = {up.enquire_link_interval}",
                "reconnect-delay = 1",
            ]
        lines += [
            "",
            "group = smsbox",
            "bearerbox-host = 127.0.0.1",
            f"bearerbox-port = {self.smsbox_port}",
            f"sendsms-port = {self.sendsms_port}",
            "sendsms-interface = 127.0.0.1",
            f'log-file = "{workdir / "smsbox.log"}"',
            f"log-level = {self.log_level}",
            "",
            "group = sendsms-user",
            f"username = {self.username}",
            f"password = {self.password}",
            "max-messages = 10",
            "",
            "group = sms-service",
            "keyword = default",
            "catch-all = true",
            "max-messages = 0",  # or Kannel texts our webhook's HTTP body back to the caller
            f'{"post-url" if self.reply_post else "get-url"} = "{self.reply_url}"',
            "",
        ]
        return "\n".join(lines)

    @property
    def sendsms_url(self) -> str:
        """smsbox's sendsms URL."""
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"


def reply_url(base: str, secret: str, user: str = "kannel", *, post: bool = True) -> str:
    """The sms-service URL for our reply webhook: the secret as HTTP Basic password, Kannel's placeholders.

    For post-url the text travels in the body; for get-url it is a query field (and so in access logs).
    """
    scheme, _, rest = base.partition("://")
    fields = "from=%p&to=%P&id=%I" if post else "from=%p&to=%P&text=%a&id=%I&charset=%C&coding=%c"
    return f"{scheme}://{user}:{quote(secret, safe='')}@{rest}?{fields}"


class KannelProcess:
    """bearerbox then smsbox, started in order and stopped by PID."""

    def __init__(self, config: KannelConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self._procs: list[subprocess.Popen[bytes]] = []

    async def start(self, within: float = 15.0) -> None:
        """Write the config, start both boxes, and wait until sendsms answers."""
        bearerbox, smsbox = find_kannel()
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "kannel.conf"
        conf.write_text(self.config.render(self.workdir))
        self._spawn(bearerbox, conf, "bearerbox")
        # smsbox panics if bearerbox is not listening yet.
        await self._wait_port(self.config.smsbox_port, within, "bearerbox")
        self._spawn(smsbox, conf, "smsbox")
        await self._wait_port(self.config.sendsms_port, within, "smsbox")

    def _spawn(self, binary: str, conf: Path, name: str) -> None:
        out = (self.workdir / f"{name}.out").open("wb")
        try:
            self._procs.append(
                subprocess.Popen(
                    [binary, str(conf)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            )
        finally:
            out.close()

    async def _wait_port(self, port: int, within: float, name: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            if any(p.poll() is not None for p in self._procs):
                raise KannelStartError(f"{name} exited during start-up: {self.log_tail(name)}")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
            except (OSError, TimeoutError):
                if loop.time() > deadline:
                    raise KannelStartError(
                        f"{name} did not open port {port}: {self.log_tail(name)}"
                    ) from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    def log_tail(self, name: str, lines: int = 8) -> str:
        """The last lines a box wrote (its .out and .log files)."""
        text = ""
        for suffix in (".out", ".log"):
            path = self.workdir / f"{name}{suffix}"
            if path.exists():
                text += path.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    @property
    def pids(self) -> list[int]:
        """PIDs of the running boxes."""
        return [p.pid for p in self._procs if p.poll() is None]

    async def stop(self, grace: float = 3.0) -> None:
        """SIGTERM smsbox then bearerbox; SIGKILL whatever is left after ``grace`` seconds."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(_wait_all, self._procs, grace)
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=5)
        self._procs.clear()


def _wait_all(procs: list[subprocess.Popen[bytes]], grace: float) -> None:
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)


@dataclass(frozen=True)
class FakeSms:
    """A message as Kannel's fake SMSC writes it."""

    sender: str
    receiver: str
    text: str


class FakeSmscClient:
    """The handset side of Kannel's fake SMSC: reads what Kannel sends, injects replies."""

    def __init__(self) -> None:
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self, port: int, within: float = 5.0) -> None:
        """Connect (Kannel accepts one fake-SMSC client at a time)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", port)
                return
            except OSError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def receive(self, within: float = 5.0) -> FakeSms:
        """The next message Kannel delivers to the phone."""
        assert self._reader is not None
        line = await asyncio.wait_for(self._reader.readline(), within)
        if not line:
            raise ConnectionError("fake SMSC closed the connection")
        return parse_fake_line(line)

    async def send(self, sender: str, receiver: str, text: str) -> None:
        """A phone sends ``text``: plain ASCII as a text line, anything else as UTF-8 bytes (data)."""
        assert self._writer is not None
        if text.isascii() and text.isprintable() and text == text.strip() and text:
            line = f"{sender} {receiver} text {text}\n"
        else:
            line = f"{sender} {receiver} data {quote(text.encode('utf-8'), safe='')}\n"
        self._writer.write(line.encode("ascii"))
        await self._writer.drain()

    async def close(self) -> None:
        """Disconnect."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None


def parse_fake_line(line: bytes) -> FakeSms:
    """``sender receiver type data``: text (raw), data (URL-encoded bytes), ucs-2 (URL-encoded UTF-16BE)."""
    parts = line.rstrip(b"\r\n").split(b" ", 3)
    if len(parts) < 4:
        raise ValueError(f"not a fake SMSC line: {line[:80]!r}")
    sender, receiver, kind, data = parts
    if kind != b"text":
        data = data.replace(b"+", b" ")  # Kannel's URL encoding writes a 0x20 byte as "+"
    if kind == b"text":
        text = data.decode("utf-8", errors="replace")
    elif kind == b"ucs-2":
        text = unquote_to_bytes(data).decode("utf-16-be", errors="replace")
    elif kind == b"udh":
        text = unquote_to_bytes(data.split(b" ", 1)[-1]).decode("utf-8", errors="replace")
    else:
        text = unquote_to_bytes(data).decode("utf-8", errors="replace")
    return FakeSms(sender.decode("ascii", "replace"), receiver.decode("ascii", "replace"), text)
