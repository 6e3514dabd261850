"""AGI() on an emulated channel: the FastAGI connection, the environment, and res_agi's command loop rules."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sim.agi_client import AgiConnectFailed, FastAgiClient
from sim.channels import Channel
from sim.expressions import split_args
from sim.pbx import AgiTarget, AppResult, Pbx

if TYPE_CHECKING:
    from sim.agi_commands import Command

log = logging.getLogger(__name__)

AGI_VERSION = "22.11.0-rc1"
DEFAULT_AGI_PORT = 4573
INVALID = "510 Invalid or unknown command\n"
DEAD = "511 Command Not Permitted on a dead channel or intercept routine\n"
_THREAD_IDS = itertools.count(140148667639488, 1024)


def parse_agi_args(line: str) -> list[str]:
    """Split a command line exactly like res_agi.c's parse_args (quotes, backslash escapes, blanks)."""
    argv: list[str] = []
    current: list[str] | None = None
    quoted = escaped = False
    for c in line:
        if c == '"' and not escaped:
            quoted = not quoted
            if quoted and current is None:
                current = []
            continue
        if c in " \t" and not quoted and not escaped:
            if current is not None:
                argv.append("".join(current))
                current = None
            continue
        if c == "\\" and not escaped:
            escaped = True
            continue
        if current is None:
            current = []
        current.append(c)
        escaped = False
    if current is not None:
        argv.append("".join(current))
    return argv


class AgiSessionState:
    """What the AGI loop knows about its channel: dead mode, the final AGISTATUS, a pending jump."""

    def __init__(self, pbx: Pbx, ch: Channel) -> None:
        self.pbx = pbx
        self.ch = ch
        self.dead = False
        self.status = "SUCCESS"
        self.in_flight = False
        self.jumped = False
        self.client: Any = None

    def go_dead(self) -> str:
        """The loop noticed the hang-up: dead mode from now on, and the bare HANGUP line to send."""
        self.dead = True
        if self.status == "SUCCESS":
            self.status = "HANGUP"
        return "HANGUP\n"

    def fail(self) -> None:
        """A command failed for another reason than a hang-up (AGISTATUS=FAILURE)."""
        if not self.ch.interrupted:
            self.status = "FAILURE"


class ChannelAgiResponder:
    """Answers FastAGI commands for one channel (the emulator's side of ``sim.agi_client``)."""

    def __init__(self, pbx: Pbx, ch: Channel) -> None:
        self.state = AgiSessionState(pbx, ch)

    async def __call__(self, command: str) -> str:
        state = self.state
        prefix = ""
        if not state.dead and state.ch.interrupted:
            prefix = state.go_dead()
        state.in_flight = True
        try:
            reply = await self._dispatch(command)
        finally:
            state.in_flight = False
        if not state.dead and state.ch.interrupted:
            reply += state.go_dead()
        return prefix + reply

    async def _dispatch(self, line: str) -> str:
        from sim.agi_commands import find_command, usage_block

        argv = parse_agi_args(line)
        command: Command | None = find_command(argv) if argv else None
        if command is None:
            return INVALID
        if self.state.dead and not command.dead_ok:
            return DEAD
        reply = await command.handler(self.state, argv)
        if reply is None:
            return usage_block(command)
        return reply

    async def watch_hangup(self) -> None:
        """Between commands Asterisk notices a hang-up at once and writes HANGUP unprompted."""
        state = self.state
        await state.pbx.pause(state.ch, None)
        if state.dead or state.in_flight or state.client is None:
            return
        if not getattr(state.client, "connected", True):
            return  # the first command will carry the HANGUP line
        state.go_dead()
        try:
            await state.client.send_line("HANGUP\n")
        except (RuntimeError, ConnectionError) as exc:
            log.debug("HANGUP line not sent channel=%s error=%s", state.ch.name, exc)


def agi_environment(pbx: Pbx, ch: Channel, url: str, script: str, args: list[str]) -> dict[str, str]:
    """The ``agi_*`` header lines in the order Asterisk 22 sends them."""
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": url,
        "agi_channel": ch.name,
        "agi_language": ch.language,
        "agi_type": ch.tech,
        "agi_uniqueid": ch.uniqueid,
        "agi_version": AGI_VERSION,
        "agi_callerid": ch.caller.number if ch.caller.number is not None else "unknown",
        "agi_calleridname": ch.caller.name if ch.caller.name is not None else "unknown",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": ch.dnid or "unknown",
        "agi_rdnis": "unknown",
        "agi_context": ch.context,
        "agi_extension": ch.exten,
        "agi_priority": str(ch.priority),
        "agi_enhanced": "0.0",
        "agi_accountcode": ch.accountcode,
        "agi_threadid": str(next(_THREAD_IDS)),
    }
    for index, value in enumerate(args, start=1):
        env[f"agi_arg_{index}"] = value
    return env


def parse_agi_url(url: str) -> tuple[str, int, str] | None:
    """``agi://host[:port]/script`` -> (host, port, script); None for anything but FastAGI."""
    if not url.lower().startswith(("agi://", "hagi://")):
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    script = url.split("://", 1)[1].partition("/")[2]
    try:
        port = parts.port or DEFAULT_AGI_PORT
    except ValueError:
        return None
    return parts.hostname, port, script


async def app_agi(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    args = split_args(data)
    url = args[0].strip() if args else ""
    target = parse_agi_url(url)
    status = "FAILURE"
    state: AgiSessionState | None = None
    if target is None:
        log.warning("AGI supports only agi:// in the emulator channel=%s url=%r", ch.name, url)
    else:
        host, port, script = target
        where = pbx.agi_redirects.get(f"{host}:{port}", AgiTarget(host, port))
        responder = ChannelAgiResponder(pbx, ch)
        state = responder.state
        factory = pbx.agi_client_factory or FastAgiClient
        env = agi_environment(pbx, ch, url, script, args[1:])
        client = factory(where.host, where.port, env, responder, connect_timeout=pbx.agi_connect_timeout)
        state.client = client
        watcher = pbx.spawn(responder.watch_hangup(), name=f"agi hangup watch {ch.name}")
        try:
            await client.run()
            status = "FAILURE" if getattr(client, "failed", False) else state.status
        except AgiConnectFailed as exc:
            log.warning("AGI connect failed channel=%s url=%s error=%s", ch.name, url, exc)
        finally:
            watcher.cancel()
            await asyncio.sleep(0)
        if status == "SUCCESS" and ch.interrupted:
            status = "HANGUP"
    pbx.set_var(ch, "AGISTATUS", status)
    if ch.hangup_requested:
        return AppResult.HANGUP
    if state is not None and state.jumped:
        return AppResult.JUMP
    return AppResult.CONTINUE
